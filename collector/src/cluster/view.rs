//! The member view and what follows from it: the member list the assignment uses, whether
//! this replica owns a target, draining, and the last known share on disk for a start while
//! Redis is unreachable.
//!
//! The assignment's member list changes only on a heartbeat that Redis answered, and after
//! an outage only once Redis has answered for `member_ttl` again: a replica that lost Redis
//! keeps its last known share (the shares of all replicas stay disjoint and cover every
//! target) and claims nothing of a member it could not see.

use super::assign;
use super::store::{Member, View};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The member view and what follows from it, behind the cluster's lock.
pub struct Shared {
    /// Every member in the last heartbeat reply (Redis time of that reply).
    pub seen: Vec<Member>,
    pub seen_at_ms: u64,
    /// The members the assignment is computed over.
    pub assign: Vec<String>,
    /// While an outage is not over: when Redis answered again (None: not yet).
    outage: Option<Option<Instant>>,
    pub draining_since: Option<Instant>,
    /// Run-time targets (name → JSON) and the version they came with (0: not known to
    /// match any version in Redis — loaded from the file, or a change of another replica
    /// landed between two of ours).
    pub runtime: BTreeMap<String, String>,
    pub runtime_version: u64,
    /// Changes applied here (a fetch that started before one must not overwrite it).
    pub runtime_seq: u64,
    /// Not yet written to the file (written by the membership loop, at most every 200 ms:
    /// a change costs no file write of every target).
    pub dirty: bool,
    file: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Persisted {
    members: Vec<String>,
    targets: BTreeMap<String, String>,
}

impl Shared {
    /// The persisted share of an earlier run, if any (a start without Redis uses it).
    pub fn load(dir: &str, me: &str) -> Self {
        let file = PathBuf::from(dir).join("cluster.json");
        private(Path::new(dir), &file);
        let p: Persisted = (std::fs::read(&file).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut assign = p.members;
        if !assign.is_empty() && !assign.iter().any(|m| m == me) {
            assign.push(me.to_string());
        }
        assign.sort();
        Self {
            seen: vec![],
            seen_at_ms: 0,
            assign,
            outage: None,
            draining_since: None,
            runtime_version: 0,
            runtime_seq: 0,
            dirty: false,
            runtime: p.targets,
            file,
        }
    }

    pub fn owns(&self, target: &str, me: &str, drain_window: Duration) -> bool {
        if self.draining_since.is_some_and(|d| d.elapsed() > drain_window) {
            return false;
        }
        // Nothing known (first start, Redis unreachable): poll everything rather than nothing.
        self.assign.is_empty() || assign::owner(target, &self.assign) == Some(me)
    }

    /// Redis did not answer: the assignment stays until it has answered for the grace.
    pub fn outage(&mut self) {
        self.outage = Some(None);
    }

    /// A heartbeat Redis answered; returns whether the assignment changed.
    pub fn update(&mut self, view: View, me: &str, grace: Duration) -> bool {
        self.seen = view.members;
        self.seen_at_ms = view.now_ms;
        if let Some(back) = &mut self.outage {
            let since = *back.get_or_insert_with(Instant::now);
            if since.elapsed() < grace {
                return false;
            }
            tracing::info!("Redis has answered for {grace:?}: the assignment follows the members again");
            self.outage = None;
        }
        if self.draining_since.is_some() {
            return false;
        }
        let mut active: Vec<String> = (self.seen.iter())
            .filter(|m| !m.draining)
            .map(|m| m.id.clone())
            .collect();
        if !active.iter().any(|m| m == me) {
            active.push(me.to_string());
        }
        active.sort();
        if active == self.assign {
            return false;
        }
        self.assign = active;
        true
    }

    /// Best effort: a start without Redis falls back to polling everything without it.
    /// Writes the file if something changed since the last write.
    pub fn persist_if_dirty(&mut self) {
        if std::mem::take(&mut self.dirty) {
            self.persist();
        }
    }

    pub fn persist(&self) {
        let p = Persisted {
            members: self.assign.clone(),
            targets: self.runtime.clone(),
        };
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
            if let Some(dir) = self.file.parent() {
                std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
            }
            let tmp = self.file.with_extension("tmp");
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&serde_json::to_vec(&p).unwrap_or_default())?;
            std::fs::rename(tmp, &self.file)
        };
        if let Err(e) = write() {
            tracing::debug!(file = %self.file.display(), error = %e, "cannot persist the cluster share");
        }
    }
}

/// The state folder and its file hold run-time communities and v3 passwords: 0700 and 0600,
/// made so on start when an earlier version (or a hand) left them open.
fn private(dir: &Path, file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [(dir, 0o700), (file, 0o600)] {
        let Ok(meta) = std::fs::metadata(path) else { continue };
        if meta.permissions().mode() & 0o077 != 0 {
            match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
                Ok(()) => {
                    tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the cluster state was readable by others: made private")
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "the cluster state is readable by others and cannot be made private")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_private_and_made_so_on_start() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("np-cluster-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let mut s = Shared::load(dir.to_str().unwrap(), "me");
        s.runtime.insert("sw".into(), "{\"community\":\"secret\"}".into());
        s.persist();
        assert_eq!((mode(&dir), mode(&dir.join("cluster.json"))), (0o700, 0o600));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.join("cluster.json"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let again = Shared::load(dir.to_str().unwrap(), "me");
        assert_eq!((mode(&dir), mode(&dir.join("cluster.json"))), (0o700, 0o600));
        assert_eq!(again.runtime.len(), 1);
    }

    fn view(ids: &[(&str, bool)]) -> View {
        View {
            now_ms: 1,
            targets_version: 0,
            members: (ids.iter())
                .map(|(id, draining)| Member {
                    id: id.to_string(),
                    draining: *draining,
                    heartbeat_ms: 1,
                    owned: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn draining_members_leave_the_assignment_and_an_outage_freezes_it() {
        let mut s = Shared::load("/nonexistent", "a");
        assert!(s.owns("t", "a", Duration::ZERO), "nothing known: poll everything");
        assert!(s.update(view(&[("a", false), ("b", false), ("c", true)]), "a", Duration::ZERO));
        assert_eq!(s.assign, ["a", "b"]);
        s.outage();
        assert!(
            !s.update(view(&[("a", false)]), "a", Duration::from_secs(60)),
            "grace: frozen"
        );
        assert_eq!(s.assign, ["a", "b"]);
        s.outage = Some(Some(Instant::now() - Duration::from_secs(61)));
        assert!(s.update(view(&[("a", false)]), "a", Duration::from_secs(60)));
        assert_eq!(s.assign, ["a"]);
        s.draining_since = Some(Instant::now() - Duration::from_secs(10));
        assert!(!s.owns("t", "a", Duration::from_secs(5)), "past the drain window");
    }
}
