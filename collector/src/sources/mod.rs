//! Targets from outside the configuration file (`[targets_from]`): watched targets files and
//! a Prometheus HTTP SD inventory. Each source keeps its last good set; [`merge`] makes the
//! one list the daemon adds to its configured targets.

pub mod files;
pub mod http_sd;

use netpulse_config::{CollectorConfig, TargetConfig};
use std::collections::HashSet;

/// One list from every source, in a fixed order (files by path, then HTTP SD): the first
/// target of a name wins, a configuration-file target beats them all, and each name lost
/// to another source is logged.
pub fn merge<'a>(
    cfg: &CollectorConfig,
    sources: impl IntoIterator<Item = (String, &'a [TargetConfig])>,
) -> Vec<TargetConfig> {
    let mut names: HashSet<&str> = cfg.targets.iter().map(|t| t.name.as_str()).collect();
    let mut out = vec![];
    for (origin, targets) in sources {
        for t in targets {
            if names.insert(t.name.as_str()) {
                out.push(t.clone());
            } else {
                tracing::warn!(target = %t.name, source = %origin, "target name already taken (by the configuration or an earlier source); this one is ignored");
            }
        }
    }
    out
}

/// Every source read once (`--test`, `--once` and the daemon's start): the targets, and the
/// problems that kept some out.
pub async fn load_once(cfg: &CollectorConfig) -> (Vec<TargetConfig>, Vec<String>) {
    let mut errors = vec![];
    let mut watch = files::FileWatch::default();
    watch.scan(cfg, &mut |e| errors.push(e));
    let sd = match &cfg.targets_from.http_sd {
        Some(sd) => match http_sd::fetch(sd, &cfg.targets_from.defaults).await {
            Ok((targets, skipped)) => {
                errors.extend(skipped);
                targets
            }
            Err(e) => {
                errors.push(format!("http_sd {}: {e}", sd.url));
                vec![]
            }
        },
        None => vec![],
    };
    let merged = merge(cfg, watch.sets().chain([("http_sd".to_string(), sd.as_slice())]));
    (merged, errors)
}
