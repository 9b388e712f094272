//! The daemon's target sources (`[targets_from]`, and `[discovery]` standalone): files looked
//! at every `check_interval`, the HTTP SD list fetched every `refresh`, the devices discovery
//! found; whenever a source's good set changes, the merged list replaces the previous one
//! ([`Core::set_source_targets`]). The keys are read from the running configuration each
//! round, so SIGHUP changes them too.

use super::Core;
use crate::metrics::METRICS;
use crate::sources::{files::FileWatch, http_sd, merge};
use netpulse_config::TargetConfig;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// The HTTP SD source's last good list and when to fetch again.
#[derive(Default)]
struct Sd {
    targets: Vec<TargetConfig>,
    next_fetch: Option<Instant>,
    last_error: Option<String>,
}

impl Sd {
    /// Fetches when due; true when the list changed (or the source was removed).
    async fn refresh(&mut self, from: &netpulse_config::TargetsFrom) -> bool {
        let Some(s) = &from.http_sd else {
            return !std::mem::take(&mut self.targets).is_empty();
        };
        if self.next_fetch.is_some_and(|at| Instant::now() < at) {
            return false;
        }
        self.next_fetch = Some(Instant::now() + s.refresh.get());
        match http_sd::fetch(s, &from.defaults).await {
            Ok((targets, skipped)) => {
                for why in skipped {
                    tracing::warn!(url = %s.url, "HTTP SD entry left out: {why}");
                }
                if self.last_error.take().is_some() {
                    tracing::info!(url = %s.url, "HTTP SD answers again");
                }
                let changed = self.targets != targets;
                self.targets = targets;
                changed
            }
            Err(e) => {
                // Logged when the cause changes, not every refresh.
                if self.last_error.as_ref() != Some(&e) {
                    tracing::error!(url = %s.url, error = %e, targets_kept = self.targets.len(), "HTTP SD failed; its last good targets stay");
                }
                self.last_error = Some(e);
                false
            }
        }
    }
}

pub(super) async fn run(core: Arc<Core>, mut found: Option<super::discovery::Found>, mut stop: watch::Receiver<bool>) {
    let mut files = FileWatch::default();
    let mut discovered: Arc<Vec<TargetConfig>> = Arc::default();
    let mut first = true;
    let mut sd = Sd::default();
    loop {
        let cfg = core.config();
        let from = &cfg.targets_from;
        let mut changed = files.scan(&cfg, &mut |e| tracing::error!("{e}"));
        if let Some(f) = found.as_mut()
            && (first || f.has_changed().unwrap_or(false))
        {
            discovered = f.borrow_and_update().clone();
            changed = true;
        }
        first = false;
        changed |= sd.refresh(from).await;
        let failing = |source: &str, yes: bool| METRICS.source_failing.with_label_values(&[source]).set(i64::from(yes));
        failing("files", files.failing());
        failing("http_sd", sd.last_error.is_some());
        if changed {
            let file_targets: usize = files.sets().map(|(_, t)| t.len()).sum();
            METRICS
                .source_targets
                .with_label_values(&["files"])
                .set(file_targets as i64);
            METRICS
                .source_targets
                .with_label_values(&["http_sd"])
                .set(sd.targets.len() as i64);
            METRICS
                .source_targets
                .with_label_values(&["discovery"])
                .set(discovered.len() as i64);
            let merged = merge(
                &cfg,
                (files.sets()).chain([
                    ("http_sd".to_string(), sd.targets.as_slice()),
                    ("discovery".to_string(), discovered.as_slice()),
                ]),
            );
            match core.set_source_targets(merged) {
                Ok((added, removed, changed)) => {
                    tracing::info!(added, removed, changed, "targets from files and HTTP SD applied")
                }
                Err(e) => tracing::error!(error = %e, "targets from files and HTTP SD not applied"),
            }
        }
        let wait = from.check_interval.get();
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
