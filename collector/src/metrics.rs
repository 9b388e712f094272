//! The collector's Prometheus metrics and the registry `/metrics` serves. Label sets are
//! bounded: no per-target labels (10,000 targets must not mean 10,000 series per metric).

use crate::prom::must;
use prometheus::{
    Encoder, Gauge, Histogram, IntCounterVec, IntGauge, IntGaugeVec, Registry, TextEncoder, histogram_opts, opts,
};
use std::sync::LazyLock;

pub struct CollectorMetrics {
    pub registry: Registry,
    /// The HPA custom metric: time of one target's poll.
    pub collection_duration: Histogram,
    pub polls: IntCounterVec,
    pub polls_skipped: IntCounterVec,
    pub breaker_transitions: IntCounterVec,
    pub breaker_open: IntGauge,
    pub pool_sockets: IntGauge,
    pub pool_in_flight: IntGauge,
    pub pool_capacity: IntGauge,
    pub targets: IntGauge,
    pub collects: IntCounterVec,
    /// Target sources (`[targets_from]`): targets each gives now, and its refusals.
    pub source_targets: IntGaugeVec,
    pub source_errors: IntCounterVec,
    /// 1 while a source's latest reading is refused (its older targets are polled).
    pub source_failing: IntGaugeVec,
    /// Datagrams the SNMP sockets dropped as malformed (read from the engine at each scrape).
    pub snmp_malformed: IntGauge,
    /// The limits alert rules compare use with (`limits`: cgroup, else the machine).
    pub cpu_limit: Gauge,
    pub memory_limit: Gauge,
}

pub static METRICS: LazyLock<CollectorMetrics> = LazyLock::new(|| {
    let m = CollectorMetrics {
        registry: Registry::new(),
        collection_duration: must(Histogram::with_opts(histogram_opts!(
            "telemetry_collection_duration_seconds",
            "Duration of one target's poll (all its modules)",
            vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]
        ))),
        polls: must(IntCounterVec::new(
            opts!("netpulse_polls_total", "Target polls by result (ok, partial, failed)"),
            &["result"],
        )),
        polls_skipped: must(IntCounterVec::new(
            opts!(
                "netpulse_polls_skipped_total",
                "Polls not started, by reason (still_running, circuit_open, missed_slot, stopping, deleted)"
            ),
            &["reason"],
        )),
        breaker_transitions: must(IntCounterVec::new(
            opts!(
                "netpulse_circuit_breaker_transitions_total",
                "Target circuit breaker transitions, by new state"
            ),
            &["state"],
        )),
        breaker_open: must(IntGauge::with_opts(opts!(
            "netpulse_circuit_breaker_open_targets",
            "Targets whose breaker is open or half-open"
        ))),
        pool_sockets: must(IntGauge::with_opts(opts!(
            "netpulse_connection_pool_sockets",
            "Shared SNMP UDP sockets per address family"
        ))),
        pool_in_flight: must(IntGauge::with_opts(opts!(
            "netpulse_connection_pool_requests_in_flight",
            "SNMP requests in flight"
        ))),
        pool_capacity: must(IntGauge::with_opts(opts!(
            "netpulse_connection_pool_requests_max",
            "Bound on SNMP requests in flight"
        ))),
        targets: must(IntGauge::with_opts(opts!("netpulse_targets", "Configured targets"))),
        snmp_malformed: must(IntGauge::with_opts(opts!(
            "netpulse_snmp_malformed_datagrams",
            "Datagrams received on the SNMP sockets that were not matchable responses (since start)"
        ))),
        cpu_limit: must(Gauge::with_opts(opts!(
            "netpulse_cpu_limit_cores",
            "CPU this process may use: its cgroup's quota (container, pod, systemd unit), else the machine's cores"
        ))),
        memory_limit: must(Gauge::with_opts(opts!(
            "netpulse_memory_limit_bytes",
            "Memory this process may use: its cgroup's memory.max, else the machine's memory"
        ))),
        collects: must(IntCounterVec::new(
            opts!(
                "netpulse_collect_requests_total",
                "POST /collect requests by HTTP status"
            ),
            &["status"],
        )),
        source_targets: must(IntGaugeVec::new(
            opts!(
                "netpulse_target_source_targets",
                "Targets a source gives now (files, http_sd, discovery; its last good reading)"
            ),
            &["source"],
        )),
        source_errors: must(IntCounterVec::new(
            opts!(
                "netpulse_target_source_errors_total",
                "Readings of a target source refused (a broken file, a failed or malformed HTTP SD answer)"
            ),
            &["source"],
        )),
        source_failing: must(IntGaugeVec::new(
            opts!(
                "netpulse_target_source_failing",
                "1 while a target source's latest reading is refused (a broken targets file, a failing HTTP SD): its previous targets are polled"
            ),
            &["source"],
        )),
    };
    let r = &m.registry;
    must(r.register(Box::new(m.collection_duration.clone())));
    must(r.register(Box::new(m.polls.clone())));
    must(r.register(Box::new(m.snmp_malformed.clone())));
    must(r.register(Box::new(m.polls_skipped.clone())));
    must(r.register(Box::new(m.breaker_transitions.clone())));
    must(r.register(Box::new(m.breaker_open.clone())));
    must(r.register(Box::new(m.pool_sockets.clone())));
    must(r.register(Box::new(m.pool_in_flight.clone())));
    must(r.register(Box::new(m.pool_capacity.clone())));
    must(r.register(Box::new(m.targets.clone())));
    must(r.register(Box::new(m.collects.clone())));
    must(r.register(Box::new(m.source_targets.clone())));
    must(r.register(Box::new(m.source_errors.clone())));
    must(r.register(Box::new(m.source_failing.clone())));
    must(r.register(Box::new(m.cpu_limit.clone())));
    must(r.register(Box::new(m.memory_limit.clone())));
    must(crate::output::metrics::register(r));
    must(crate::cluster::metrics::register(r));
    must(crate::traps::metrics::register(r));
    // process_cpu_seconds_total, process_resident_memory_bytes, … (alert rules use them).
    must(r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self())));
    // Known label values exist from the start, so rates and alerts see them before the first event.
    for result in ["ok", "partial", "failed"] {
        m.polls.with_label_values(&[result]);
    }
    for source in ["files", "http_sd", "discovery"] {
        m.source_targets.with_label_values(&[source]);
        m.source_errors.with_label_values(&[source]);
        m.source_failing.with_label_values(&[source]);
    }
    for reason in ["still_running", "circuit_open"] {
        m.polls_skipped.with_label_values(&[reason]);
    }
    m
});

/// Prometheus text exposition of every collector metric.
pub fn render() -> String {
    let limits = crate::limits::read();
    METRICS.cpu_limit.set(limits.cpu_cores);
    METRICS.memory_limit.set(limits.memory_bytes);
    let mut buf = vec![];
    let _ = TextEncoder::new().encode(&METRICS.registry.gather(), &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}
