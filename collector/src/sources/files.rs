//! Watched targets files: the glob patterns of `[targets_from] files` expanded on every check,
//! each file read again only when its size, modification time and then content changed. A
//! broken file is refused as a whole and its previous targets kept.

use crate::metrics::METRICS;
use netpulse_config::{CollectorConfig, TargetConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::SystemTime;

/// Largest targets file read (100,000 targets fit in a few MiB): a bigger one is refused.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

struct Seen {
    stamp: (u64, Option<SystemTime>),
    digest: u64,
    /// The last good reading (empty when the file was broken from the start).
    targets: Vec<TargetConfig>,
    /// Its current version was refused (`targets` is an older one).
    broken: bool,
}

/// The targets files matched so far, each with its last good targets.
#[derive(Default)]
pub struct FileWatch {
    files: BTreeMap<PathBuf, Seen>,
}

impl FileWatch {
    /// Each file's last good targets, in path order.
    pub fn sets(&self) -> impl Iterator<Item = (String, &[TargetConfig])> {
        self.files
            .iter()
            .map(|(p, s)| (p.display().to_string(), s.targets.as_slice()))
    }

    /// Whether a file's current version is refused (its older targets are what is polled).
    pub fn failing(&self) -> bool {
        self.files.values().any(|s| s.broken)
    }

    /// A version of `path` refused: counted and reported once, its last good targets kept.
    fn refuse(
        &mut self,
        path: PathBuf,
        (stamp, digest): ((u64, Option<SystemTime>), u64),
        why: String,
        refused: &mut dyn FnMut(String),
    ) {
        METRICS.source_errors.with_label_values(&["files"]).inc();
        refused(why);
        let targets = self.files.remove(&path).map(|s| s.targets).unwrap_or_default();
        let seen = Seen {
            stamp,
            digest,
            targets,
            broken: true,
        };
        self.files.insert(path, seen);
    }

    /// Looks at every matching file; true when a file's good targets changed, came or went.
    /// `refused` hears each problem once per version of a file.
    pub fn scan(&mut self, cfg: &CollectorConfig, refused: &mut dyn FnMut(String)) -> bool {
        let paths = matching(&cfg.targets_from.files, refused);
        let before = self.files.len();
        self.files.retain(|p, _| paths.contains(p));
        let mut changed = self.files.len() != before;
        for path in paths {
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            let stamp = (meta.len(), meta.modified().ok());
            if self.files.get(&path).is_some_and(|s| s.stamp == stamp) {
                continue;
            }
            if meta.len() > MAX_FILE_BYTES {
                let why = format!(
                    "{}: {} bytes, over the {} MiB a targets file may hold: refused, its previous targets stay",
                    path.display(),
                    meta.len(),
                    MAX_FILE_BYTES >> 20
                );
                self.refuse(path, (stamp, 0), why, refused);
                continue;
            }
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    refused(format!("{}: cannot read: {e}", path.display()));
                    continue;
                }
            };
            let digest = {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                text.hash(&mut h);
                h.finish()
            };
            if let Some(seen) = self.files.get_mut(&path)
                && seen.digest == digest
            {
                seen.stamp = stamp; // touched, not changed
                continue;
            }
            let origin = path.display().to_string();
            match netpulse_config::read_targets_file(&origin, &text, cfg) {
                Ok(targets) => {
                    tracing::info!(file = %origin, targets = targets.len(), "targets file read");
                    changed = true;
                    let seen = Seen {
                        stamp,
                        digest,
                        targets,
                        broken: false,
                    };
                    self.files.insert(path, seen);
                }
                Err(e) => {
                    let why = format!("targets file refused, its previous targets stay:\n{e}");
                    self.refuse(path, (stamp, digest), why, refused);
                }
            }
        }
        changed
    }
}

/// Regular files matching any pattern (a pattern that matches nothing is not a problem: the
/// folder may be filled later).
fn matching(patterns: &[String], refused: &mut dyn FnMut(String)) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for pattern in patterns {
        match glob::glob(pattern) {
            Ok(paths) => out.extend(paths.flatten().filter(|p| p.is_file())),
            Err(e) => refused(format!("targets_from.files {pattern:?}: {e}")),
        }
    }
    out
}
