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
use std::path::PathBuf;
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
    /// Run-time targets (name → JSON) and the version token they came with.
    pub runtime: BTreeMap<String, String>,
    pub runtime_version: String,
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
            runtime_version: if p.targets.is_empty() {
                "0".into()
            } else {
                "file".into()
            },
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
    pub fn persist(&self) {
        let p = Persisted {
            members: self.assign.clone(),
            targets: self.runtime.clone(),
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = self.file.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec(&p).unwrap_or_default())?;
            std::fs::rename(tmp, &self.file)
        };
        if let Err(e) = write() {
            tracing::debug!(file = %self.file.display(), error = %e, "cannot persist the cluster share");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(ids: &[(&str, bool)]) -> View {
        View {
            now_ms: 1,
            targets_version: "0".into(),
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
