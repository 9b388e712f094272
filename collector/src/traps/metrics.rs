//! Trap receiver metrics. The `trap` label is a known notification's name or `other`, so a
//! sender inventing OIDs cannot grow the series.

use crate::prom::must;
use crate::snmp::traps::UsmDrops;
use netpulse_config::logging::ExtraLayer;
use prometheus::{IntCounter, IntCounterVec, Registry, opts};
use std::sync::LazyLock;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;

pub struct TrapMetrics {
    pub received: IntCounterVec,
    pub dropped: IntCounterVec,
    pub informs_acked: IntCounter,
    pub deduplicated: IntCounter,
}

pub static METRICS: LazyLock<TrapMetrics> = LazyLock::new(|| TrapMetrics {
    received: must(IntCounterVec::new(
        opts!(
            "netpulse_traps_received_total",
            "Notifications accepted and queued, by SNMP version and notification (name, or other)"
        ),
        &["version", "trap"],
    )),
    dropped: must(IntCounterVec::new(
        opts!(
            "netpulse_traps_dropped_total",
            "Notifications refused, by reason (unknown_community, unknown_user, bad_auth, decrypt_failure, not_in_time_window, unknown_engine, unsupported_level, rate_limited, socket_overflow: the kernel's receive buffer was full, malformed: not a decodable SNMP message)"
        ),
        &["reason"],
    )),
    informs_acked: must(IntCounter::with_opts(opts!(
        "netpulse_traps_informs_acked_total",
        "Informs answered with a Response-PDU"
    ))),
    deduplicated: must(IntCounter::with_opts(opts!(
        "netpulse_traps_deduplicated_total",
        "Notifications another replica had written already (cluster mode)"
    ))),
});

pub const DROP_REASONS: [&str; 10] = [
    "unknown_community",
    "unknown_user",
    "bad_auth",
    "decrypt_failure",
    "not_in_time_window",
    "unknown_engine",
    "unsupported_level",
    "rate_limited",
    "socket_overflow",
    "malformed",
];

pub fn register(r: &Registry) -> prometheus::Result<()> {
    let m = &*METRICS;
    r.register(Box::new(m.received.clone()))?;
    r.register(Box::new(m.dropped.clone()))?;
    r.register(Box::new(m.informs_acked.clone()))?;
    r.register(Box::new(m.deduplicated.clone()))?;
    // The series the alert rules watch exist from the start (increase() needs a first sample).
    for reason in DROP_REASONS {
        m.dropped.with_label_values(&[reason]);
    }
    for version in ["1", "2c", "3"] {
        for trap in ["linkDown", "linkUp", "authenticationFailure"] {
            m.received.with_label_values(&[version, trap]);
        }
    }
    Ok(())
}

/// Adds what the kernel dropped on a socket since `before` (its count then) to the counters.
pub fn overflow_drops(before: u64, now: u64) {
    if now > before {
        METRICS
            .dropped
            .with_label_values(&["socket_overflow"])
            .inc_by(now - before);
    }
}

/// Adds what the USM layer refused since `before` to the dropped counters.
pub fn usm_drops(before: UsmDrops, now: UsmDrops) {
    for (reason, b, n) in [
        ("unknown_user", before.unknown_user, now.unknown_user),
        ("bad_auth", before.bad_auth, now.bad_auth),
        ("decrypt_failure", before.decrypt, now.decrypt),
        ("not_in_time_window", before.not_in_time, now.not_in_time),
        ("unknown_engine", before.unknown_engine, now.unknown_engine),
        ("unsupported_level", before.unsupported_level, now.unsupported_level),
    ] {
        if n > b {
            METRICS.dropped.with_label_values(&[reason]).inc_by(n - b);
        }
    }
}

/// Counts datagrams the trap decoder could not decode. async-snmp skips them in its receive
/// loop and reports each only as a log event (not printed: the collector's filter silences the
/// library), so this layer, with a filter of its own, counts those events.
struct Malformed;

#[derive(Default)]
struct Fields {
    message: String,
    error: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "error" => self.error = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: Subscriber> Layer<S> for Malformed {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        if f.message == "failed to parse notification" && f.error.starts_with("decode error") {
            METRICS.dropped.with_label_values(&["malformed"]).inc();
        }
    }
}

/// The layer counting malformed datagrams, for the logging set-up.
pub fn malformed_counter() -> ExtraLayer {
    let only = Targets::new().with_target("async_snmp::notification", Level::WARN);
    Box::new(Malformed.with_filter(only))
}
