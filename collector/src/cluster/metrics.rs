//! Cluster metrics: members seen, targets owned, takeovers, permits denied, whether Redis
//! answers and how fast. No per-target or per-member labels.

use crate::prom::must;
use prometheus::{Histogram, IntCounter, IntGauge, Registry, histogram_opts, opts};
use std::sync::LazyLock;

pub struct ClusterMetrics {
    pub members: IntGauge,
    pub owned: IntGauge,
    pub takeovers: IntCounter,
    pub permits_denied: IntCounter,
    pub redis_up: IntGauge,
    pub redis_seconds: Histogram,
    pub stale_writes: IntCounter,
}

pub static METRICS: LazyLock<ClusterMetrics> = LazyLock::new(|| ClusterMetrics {
    members: must(IntGauge::with_opts(opts!(
        "netpulse_cluster_members",
        "Live collector replicas seen in Redis (this one included)"
    ))),
    owned: must(IntGauge::with_opts(opts!(
        "netpulse_cluster_targets_owned",
        "Targets this replica polls on schedule"
    ))),
    takeovers: must(IntCounter::with_opts(opts!(
        "netpulse_cluster_takeovers_total",
        "Targets this replica took over from another (its first poll of them)"
    ))),
    permits_denied: must(IntCounter::with_opts(opts!(
        "netpulse_cluster_permits_denied_total",
        "Scheduled polls not made because the target was polled within 0.8 interval by any replica"
    ))),
    redis_up: must(IntGauge::with_opts(opts!(
        "netpulse_cluster_redis_up",
        "1 while Redis answers, 0 while this replica polls its last known share without it"
    ))),
    redis_seconds: must(Histogram::with_opts(histogram_opts!(
        "netpulse_cluster_redis_roundtrip_seconds",
        "Round trip of one Redis command",
        vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]
    ))),
    stale_writes: must(IntCounter::with_opts(opts!(
        "netpulse_cluster_state_writes_rejected_total",
        "Target state writes refused because another replica owns the target now (fencing)"
    ))),
});

pub fn register(r: &Registry) -> prometheus::Result<()> {
    let m = &*METRICS;
    r.register(Box::new(m.members.clone()))?;
    r.register(Box::new(m.owned.clone()))?;
    r.register(Box::new(m.takeovers.clone()))?;
    r.register(Box::new(m.permits_denied.clone()))?;
    r.register(Box::new(m.redis_up.clone()))?;
    r.register(Box::new(m.redis_seconds.clone()))?;
    r.register(Box::new(m.stale_writes.clone()))?;
    Ok(())
}
