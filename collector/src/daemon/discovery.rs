//! `[discovery]` in the daemon: a sweep at start and then every `interval`; the devices found
//! become targets. Standalone they are a target source kept in `state_dir/discovered.json`
//! (private: it holds credentials); in cluster mode the replica that owns the sweep stores them
//! as run-time targets (`PUT /targets` semantics), so every replica polls the same set.
//! Found targets are added and updated, never removed.

use super::Core;
use crate::discovery::{self, Sweep};
use netpulse_config::{DiscoveryConfig, TargetConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// The name the cluster's assignment gives the sweep: one replica sweeps at a time.
const SWEEP_OWNER_KEY: &str = "netpulse:discovery";

/// The targets found so far (standalone), for the sources loop to merge.
pub(super) type Found = watch::Receiver<Arc<Vec<TargetConfig>>>;

pub(super) fn start(core: &Arc<Core>, stop: watch::Receiver<bool>) -> Option<(Found, tokio::task::JoinHandle<()>)> {
    let d = core.config().discovery.clone()?;
    let file = PathBuf::from(&d.state_dir).join("discovered.json");
    let known = load(&file);
    let (tx, rx) = watch::channel(Arc::new(known.values().cloned().collect()));
    let task = tokio::spawn(run(core.clone(), d, file, known, tx, stop));
    Some((rx, task))
}

async fn run(
    core: Arc<Core>,
    d: DiscoveryConfig,
    file: PathBuf,
    mut known: BTreeMap<String, TargetConfig>,
    found: watch::Sender<Arc<Vec<TargetConfig>>>,
    mut stop: watch::Receiver<bool>,
) {
    let sweep = match Sweep::from_config(&d) {
        Ok(s) => s,
        Err(e) => return tracing::error!(error = %e, "discovery not started"),
    };
    loop {
        let mine = core.cluster.as_ref().is_none_or(|c| c.owns(SWEEP_OWNER_KEY));
        if mine {
            let profiles = core.registry().profiles();
            match discovery::sweep(&core.engine, &sweep, &profiles).await {
                Ok(report) => {
                    tracing::info!(
                        devices = report.devices.len(),
                        answered = report.answered,
                        probed = report.probed,
                        seconds = report.took.as_secs_f64(),
                        "discovery sweep finished"
                    );
                    let targets = discovery::targets(&report.devices, sweep.port, &sweep.credentials);
                    let targets: Vec<TargetConfig> = (targets.into_iter().zip(&report.devices))
                        .map(|(mut t, dev)| {
                            let cred = &sweep.credentials[dev.answer.credential];
                            d.defaults.fill(&mut t, &|k| cred.sets(k));
                            t
                        })
                        .collect();
                    match &core.cluster {
                        Some(c) => store_in_cluster(&core, c, &targets).await,
                        None => {
                            let before = known.clone();
                            known.extend(targets.into_iter().map(|t| (t.name.clone(), t)));
                            if known != before {
                                save(&file, &known);
                                let _ = found.send(Arc::new(known.values().cloned().collect()));
                            }
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "discovery sweep failed"),
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(d.interval.get()) => {}
        }
    }
}

/// Each found target stored as a run-time target unless Redis holds it as it is already.
async fn store_in_cluster(core: &Core, c: &crate::cluster::Cluster, targets: &[TargetConfig]) {
    let held: BTreeMap<String, String> = c.runtime_targets().into_iter().collect();
    for t in targets {
        let body = discovery::exposed_json(t);
        let same = held
            .get(&t.name)
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
            .is_some_and(|v| v == body);
        if same || core.is_config_target(&t.name) {
            continue;
        }
        match core.put_runtime_target(c, &t.name, body.to_string().as_bytes()).await {
            Ok(_) => tracing::info!(target = %t.name, address = %t.address, "discovered target stored"),
            Err(e) => tracing::warn!(target = %t.name, error = ?e, "discovered target not stored"),
        }
    }
}

fn load(file: &std::path::Path) -> BTreeMap<String, TargetConfig> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return BTreeMap::new();
    };
    match serde_json::from_str::<Vec<TargetConfig>>(&text) {
        Ok(list) => list.into_iter().map(|t| (t.name.clone(), t)).collect(),
        Err(e) => {
            tracing::error!(file = %file.display(), error = %e, "discovered targets not read; the next sweep finds them again");
            BTreeMap::new()
        }
    }
}

/// Written whole and renamed into place, private (0700 folder, 0600 file).
fn save(file: &std::path::Path, known: &BTreeMap<String, TargetConfig>) {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let list: Vec<serde_json::Value> = known.values().map(discovery::exposed_json).collect();
    let write = || -> std::io::Result<()> {
        let dir = file.parent().unwrap_or(std::path::Path::new("."));
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let tmp = file.with_extension("json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        std::io::Write::write_all(
            &mut f,
            serde_json::to_string_pretty(&list).unwrap_or_default().as_bytes(),
        )?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    };
    if let Err(e) = write() {
        tracing::error!(file = %file.display(), error = %e, "discovered targets not saved (kept in memory)");
    }
}
