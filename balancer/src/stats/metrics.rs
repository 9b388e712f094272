//! `/metrics`: the pool's state as Prometheus families. The families are described once
//! (a [`Collector`] registered in the stats' own registry at start) and read from the live
//! counters at each scrape, so a scrape costs one walk over the servers and no registry.
//! Pingora's own metrics (default registry) follow.

use crate::pool::STATUS_CLASSES;
use crate::state::State;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One family: name, help, type and label names.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    labels: &'static [&'static str],
}

const SV: &[&str] = &["backend", "server"];
const BE: &[&str] = &["backend"];
const FE: &[&str] = &["frontend"];

macro_rules! families {
    ($($id:ident = $name:literal, $kind:ident, $labels:expr, $help:literal;)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy)]
        enum F { $($id),* }
        const FAMILIES: &[Family] = &[$(Family { name: $name, help: $help, kind: MetricType::$kind, labels: $labels }),*];
    };
}

families! {
    ServerUp = "netpulse_balancer_server_up", GAUGE, SV, "1 when the server takes traffic (UP, not in maintenance).";
    ServerCurrent = "netpulse_balancer_server_current_requests", GAUGE, SV, "Requests in flight at the server.";
    ServerWeight = "netpulse_balancer_server_weight", GAUGE, SV, "Current weight.";
    ServerRequests = "netpulse_balancer_server_requests_total", COUNTER, SV, "Requests sent to the server.";
    ServerResponses = "netpulse_balancer_server_responses_total", COUNTER, &["backend", "server", "code"], "Responses from the server by status class.";
    ServerConnectErrors = "netpulse_balancer_server_connect_errors_total", COUNTER, SV, "Failed connects.";
    ServerResponseErrors = "netpulse_balancer_server_response_errors_total", COUNTER, SV, "Failed or cut responses.";
    ServerReceived = "netpulse_balancer_server_received_bytes_total", COUNTER, SV, "Request body bytes sent to the server.";
    ServerSent = "netpulse_balancer_server_sent_bytes_total", COUNTER, SV, "Response body bytes from the server.";
    BackendRetries = "netpulse_balancer_backend_retries_total", COUNTER, BE, "Connection retries.";
    BackendRedispatches = "netpulse_balancer_backend_redispatches_total", COUNTER, BE, "Requests sent to another server than first chosen.";
    BackendQueue = "netpulse_balancer_backend_queue_current", GAUGE, BE, "Requests waiting for a server below its maxconn.";
    FrontendRequests = "netpulse_balancer_frontend_requests_total", COUNTER, FE, "Requests received.";
    FrontendCurrent = "netpulse_balancer_frontend_current_requests", GAUGE, FE, "Requests in progress.";
    FrontendErrors = "netpulse_balancer_frontend_request_errors_total", COUNTER, FE, "Requests refused before a backend (e.g. 408).";
    MirrorQueued = "netpulse_balancer_mirror_queued_points", GAUGE, SV, "Points in the server's mirror queue, not yet written to it.";
    MirrorBytes = "netpulse_balancer_mirror_queue_bytes", GAUGE, SV, "Bytes of the server's mirror queue on disk.";
    MirrorOldest = "netpulse_balancer_mirror_oldest_seconds", GAUGE, SV, "Age of the oldest write waiting in the server's mirror queue.";
    MirrorWritten = "netpulse_balancer_mirror_points_written_total", COUNTER, SV, "Mirrored points the server acknowledged.";
    MirrorDropped = "netpulse_balancer_mirror_points_dropped_total", COUNTER, &["backend", "server", "reason"], "Mirrored points given up for the server: rejected (400/422), too_large (413 on one line), corrupt (queue records cut).";
    MirrorSetAside = "netpulse_balancer_mirror_points_set_aside_total", COUNTER, SV, "Mirrored points the server refused permanently (unknown database, credentials: 401/403/404/405), kept in its queue's set-aside/ folder so the writes behind them go on.";
    MirrorBreaker = "netpulse_balancer_mirror_circuit_breaker_state", GAUGE, SV, "The mirror writer's circuit breaker: 0 closed, 1 open, 2 half-open.";
    MirrorAccepted = "netpulse_balancer_mirror_writes_accepted_total", COUNTER, BE, "Writes answered 204: durable in every server's queue.";
    MirrorAcceptedPoints = "netpulse_balancer_mirror_points_accepted_total", COUNTER, BE, "Points of the accepted writes.";
    MirrorCommits = "netpulse_balancer_mirror_commits_total", COUNTER, BE, "Group commits: one fsync per server queue for every write accepted since the last.";
    MirrorRefused = "netpulse_balancer_mirror_writes_refused_total", COUNTER, &["backend", "reason"], "Writes refused: invalid (400), method (405), unknown_database (404), unauthorized (401/403), too_large (413), stalled (408), full (503), unavailable (503).";
}

/// Reads the pool into the families at each scrape.
pub struct PoolMetrics {
    state: Arc<State>,
    descs: Vec<Desc>,
}

impl PoolMetrics {
    pub fn new(state: Arc<State>) -> Self {
        let descs = FAMILIES
            .iter()
            .map(|f| {
                let labels = f.labels.iter().map(|l| l.to_string()).collect();
                Desc::new(f.name.into(), f.help.into(), labels, Default::default()).expect("valid metric family")
            })
            .collect();
        Self { state, descs }
    }
}

/// The families being filled during one scrape.
struct Scrape(Vec<MetricFamily>);

impl Scrape {
    fn new() -> Self {
        Self(
            FAMILIES
                .iter()
                .map(|f| {
                    let mut mf = MetricFamily::default();
                    mf.set_name(f.name.into());
                    mf.set_help(f.help.into());
                    mf.set_field_type(f.kind);
                    mf
                })
                .collect(),
        )
    }

    fn add(&mut self, f: F, values: &[&str], v: f64) {
        let family = &FAMILIES[f as usize];
        let mut label: Vec<LabelPair> = (family.labels.iter().zip(values))
            .map(|(k, v)| {
                let mut l = LabelPair::default();
                l.set_name(k.to_string());
                l.set_value(v.to_string());
                l
            })
            .collect();
        // Sorted by name, as the prometheus crate's own vectors print them.
        label.sort_by(|a, b| a.name().cmp(b.name()));
        let mut m = Metric::from_label(label);
        if family.kind == MetricType::COUNTER {
            let mut c = Counter::default();
            c.set_value(v);
            m.set_counter(c);
        } else {
            let mut g = Gauge::default();
            g.set_value(v);
            m.set_gauge(g);
        }
        self.0[f as usize].mut_metric().push(m);
    }

    fn count(&mut self, f: F, values: &[&str], a: &AtomicU64) {
        self.add(f, values, a.load(Ordering::Relaxed) as f64);
    }
}

impl Collector for PoolMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut s = Scrape::new();
        for b in &self.state.pool.backends {
            for (_, sv) in b.live_servers() {
                let l = [b.name.as_str(), sv.name.as_str()];
                let up = sv.is_up() && sv.admin() != crate::pool::Admin::Maint;
                s.add(F::ServerUp, &l, f64::from(u8::from(up)));
                s.add(F::ServerCurrent, &l, sv.counters.current() as f64);
                s.add(F::ServerWeight, &l, f64::from(sv.weight()));
                s.count(F::ServerRequests, &l, &sv.counters.total);
                for (code, a) in STATUS_CLASSES.iter().zip(&sv.counters.hrsp) {
                    s.count(F::ServerResponses, &[l[0], l[1], code], a);
                }
                s.count(F::ServerConnectErrors, &l, &sv.counters.econ);
                s.count(F::ServerResponseErrors, &l, &sv.counters.eresp);
                s.count(F::ServerReceived, &l, &sv.counters.bytes_in);
                s.count(F::ServerSent, &l, &sv.counters.bytes_out);
            }
            let l = [b.name.as_str()];
            s.count(F::BackendRetries, &l, &b.counters.retries);
            s.count(F::BackendRedispatches, &l, &b.counters.redispatches);
            s.add(F::BackendQueue, &l, b.queue_len() as f64);
        }
        for m in self.state.mirrors.all() {
            mirror(&mut s, m);
        }
        for f in &self.state.frontends {
            let (l, c) = ([f.name()], f.counters());
            s.count(F::FrontendRequests, &l, &c.total);
            s.add(F::FrontendCurrent, &l, c.current() as f64);
            s.count(F::FrontendErrors, &l, &c.ereq);
        }
        s.0
    }
}

fn mirror(s: &mut Scrape, m: &crate::mirror::Mirror) {
    let b = m.backend.as_str();
    for v in m.view() {
        let l = [b, v.server.as_str()];
        if let (Some(p), Some(bytes)) = (v.queued_points, v.queue_bytes) {
            s.add(F::MirrorQueued, &l, p as f64);
            s.add(F::MirrorBytes, &l, bytes as f64);
            s.add(F::MirrorOldest, &l, v.oldest_s.unwrap_or(0.0));
        }
        s.add(F::MirrorWritten, &l, v.written as f64);
        s.add(F::MirrorSetAside, &l, v.set_aside as f64);
        for (reason, n) in [
            ("rejected", v.dropped_rejected),
            ("too_large", v.dropped_too_large),
            ("corrupt", v.dropped_corrupt),
        ] {
            s.add(F::MirrorDropped, &[b, &v.server, reason], n as f64);
        }
        let state = match v.breaker {
            "open" => 1.0,
            "half_open" => 2.0,
            _ => 0.0,
        };
        s.add(F::MirrorBreaker, &l, state);
    }
    s.count(F::MirrorAccepted, &[b], &m.counters.accepted_writes);
    s.count(F::MirrorAcceptedPoints, &[b], &m.counters.accepted_points);
    s.add(F::MirrorCommits, &[b], m.commits() as f64);
    for (reason, n) in m.counters.refusals() {
        s.add(F::MirrorRefused, &[b, reason], n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_registered_once_and_read_live() {
        let cfg = netpulse_config::BalancerConfig {
            backends: vec![netpulse_config::Backend {
                name: "b".into(),
                servers: vec![netpulse_config::ServerConfig {
                    name: "s".into(),
                    address: "127.0.0.1:1".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let state = Arc::new(State::new(&cfg, Arc::new(crate::pool::Pool::new(&cfg)), vec![]));
        let reg = prometheus::Registry::new();
        reg.register(Box::new(PoolMetrics::new(state.clone()))).unwrap();
        state.pool.backends[0].servers[0].counters.begin();
        let text = prometheus::TextEncoder::new().encode_to_string(&reg.gather()).unwrap();
        assert!(
            text.contains("netpulse_balancer_server_requests_total{backend=\"b\",server=\"s\"} 1"),
            "{text}"
        );
        assert!(text.contains("# TYPE netpulse_balancer_server_up gauge"));
        assert!(text.contains("netpulse_balancer_server_up{backend=\"b\",server=\"s\"} 1"));
        assert!(text.contains("netpulse_balancer_server_responses_total{backend=\"b\",code=\"2xx\",server=\"s\"} 0"));
        state.pool.backends[0].servers[0].counters.begin();
        let text = prometheus::TextEncoder::new().encode_to_string(&reg.gather()).unwrap();
        assert!(text.contains("netpulse_balancer_server_requests_total{backend=\"b\",server=\"s\"} 2"));
    }
}
