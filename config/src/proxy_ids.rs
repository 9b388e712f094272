//! Proxy ids (HAProxy's `iid`, its `id` keyword): which number each frontend, backend and
//! the stats proxy carry in the stats CSV, the runtime API and the admin form. An explicit
//! `id` is kept; the others get the lowest free number in the order frontends, backends,
//! stats, as HAProxy numbers proxies in the order it reads them. A frontend and a backend
//! with the same name and the same explicit id are one proxy (HAProxy's `listen`).

use crate::balancer::BalancerConfig;
use std::collections::BTreeMap;

/// One proxy as the stats show it: its id, and what it is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyId {
    pub id: u32,
    pub name: String,
    /// Index into `frontends`.
    pub frontend: Option<usize>,
    /// Index into `backends`.
    pub backend: Option<usize>,
    /// The stats listener's own proxy (`stats.proxy_name`).
    pub stats: bool,
}

/// A member of a proxy: its `id` key path, name, explicit id and what it is.
struct Member<'a> {
    key: Vec<String>,
    name: &'a str,
    id: Option<u32>,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Frontend(usize),
    Backend(usize),
    Stats,
}

fn members(cfg: &BalancerConfig) -> Vec<Member<'_>> {
    let f = cfg.frontends.iter().enumerate().map(|(i, f)| Member {
        key: vec!["frontends".into(), i.to_string(), "id".into()],
        name: &f.name,
        id: f.id,
        kind: Kind::Frontend(i),
    });
    let b = cfg.backends.iter().enumerate().map(|(i, b)| Member {
        key: vec!["backends".into(), i.to_string(), "id".into()],
        name: &b.name,
        id: b.id,
        kind: Kind::Backend(i),
    });
    let s = cfg.stats.proxy_name.as_deref().map(|name| Member {
        key: vec!["stats".into(), "id".into()],
        name,
        id: cfg.stats.id,
        kind: Kind::Stats,
    });
    f.chain(b).chain(s).collect()
}

/// Every proxy, in id order; a clashing id (see [`problems`]) moves the later proxy to a
/// free number, so the stats still list everything.
pub fn proxy_ids(cfg: &BalancerConfig) -> Vec<ProxyId> {
    assign(cfg).0
}

/// What is wrong with the explicit ids: (key path, message).
pub(crate) fn problems(cfg: &BalancerConfig) -> Vec<(Vec<String>, String)> {
    assign(cfg).1
}

/// One walk for both: explicit ids first (each clash or 0 reported, its proxy numbered as
/// if unset), then the lowest free numbers in member order.
fn assign(cfg: &BalancerConfig) -> (Vec<ProxyId>, Vec<(Vec<String>, String)>) {
    let members = members(cfg);
    let mut by_id: BTreeMap<u32, ProxyId> = BTreeMap::new();
    let (mut auto, mut problems) = (vec![], vec![]);
    for m in &members {
        match m.id {
            None => auto.push(m),
            Some(0) => {
                problems.push((m.key.clone(), "proxy ids start at 1".into()));
                auto.push(m);
            }
            Some(id) => match by_id.get_mut(&id) {
                Some(p) if joins(p, m) => add(p, m),
                Some(p) => {
                    problems.push((m.key.clone(), format!("{id} is already the id of {:?}", p.name)));
                    auto.push(m);
                }
                None => {
                    by_id.insert(id, new(id, m));
                }
            },
        }
    }
    let mut next = 1;
    for m in auto {
        while by_id.contains_key(&next) {
            next += 1;
        }
        by_id.insert(next, new(next, m));
    }
    (by_id.into_values().collect(), problems)
}

/// Whether `m` is the other half of `p` (a frontend and a backend of one name: a `listen`).
fn joins(p: &ProxyId, m: &Member) -> bool {
    p.name == m.name
        && match m.kind {
            Kind::Frontend(_) => p.frontend.is_none() && !p.stats,
            Kind::Backend(_) => p.backend.is_none() && !p.stats,
            Kind::Stats => false,
        }
}

fn new(id: u32, m: &Member) -> ProxyId {
    let mut p = ProxyId {
        id,
        name: m.name.to_string(),
        frontend: None,
        backend: None,
        stats: false,
    };
    add(&mut p, m);
    p
}

fn add(p: &mut ProxyId, m: &Member) {
    match m.kind {
        Kind::Frontend(i) => p.frontend = Some(i),
        Kind::Backend(i) => p.backend = Some(i),
        Kind::Stats => p.stats = true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::{Backend, Frontend};

    fn cfg(fronts: &[(&str, Option<u32>)], backs: &[(&str, Option<u32>)], stats: Option<u32>) -> BalancerConfig {
        let mut c = BalancerConfig {
            frontends: fronts
                .iter()
                .map(|(n, id)| Frontend {
                    name: n.to_string(),
                    id: *id,
                    ..Frontend::default()
                })
                .collect(),
            backends: backs
                .iter()
                .map(|(n, id)| Backend {
                    name: n.to_string(),
                    id: *id,
                    ..Backend::default()
                })
                .collect(),
            ..BalancerConfig::default()
        };
        c.stats.proxy_name = Some("stats".into());
        c.stats.id = stats;
        c
    }

    /// (id, name, frontend index, backend index, is the stats proxy).
    type Seen = (u32, String, Option<usize>, Option<usize>, bool);

    fn ids(c: &BalancerConfig) -> Vec<Seen> {
        proxy_ids(c)
            .into_iter()
            .map(|p| (p.id, p.name, p.frontend, p.backend, p.stats))
            .collect()
    }

    #[test]
    fn unset_ids_follow_frontends_backends_stats() {
        let c = cfg(&[("web", None)], &[("web", None), ("db", None)], None);
        assert_eq!(
            ids(&c),
            vec![
                (1, "web".into(), Some(0), None, false),
                (2, "web".into(), None, Some(0), false),
                (3, "db".into(), None, Some(1), false),
                (4, "stats".into(), None, None, true),
            ]
        );
        assert!(problems(&c).is_empty());
    }

    #[test]
    fn explicit_ids_are_kept_and_a_listen_shares_one() {
        // haproxy.cfg: frontend fa (1), backend bz (2), listen stats (3), listen lx (4).
        let c = cfg(
            &[("fa", Some(1)), ("lx", Some(4))],
            &[("bz", Some(2)), ("lx", Some(4))],
            Some(3),
        );
        assert_eq!(
            ids(&c),
            vec![
                (1, "fa".into(), Some(0), None, false),
                (2, "bz".into(), None, Some(0), false),
                (3, "stats".into(), None, None, true),
                (4, "lx".into(), Some(1), Some(1), false),
            ]
        );
        assert!(problems(&c).is_empty());
        // Unset ones take the lowest free numbers around the explicit ones.
        let c = cfg(&[("a", None), ("b", Some(1))], &[("c", None)], None);
        let got: Vec<(u32, String)> = proxy_ids(&c).into_iter().map(|p| (p.id, p.name)).collect();
        assert_eq!(
            got,
            vec![(1, "b".into()), (2, "a".into()), (3, "c".into()), (4, "stats".into())]
        );
    }

    #[test]
    fn clashing_ids_are_named_and_still_listed() {
        let c = cfg(&[("a", Some(2))], &[("b", Some(2)), ("c", Some(0))], None);
        let p = problems(&c);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].0, vec!["backends", "0", "id"]);
        assert!(p[0].1.contains("already the id of \"a\""), "{}", p[0].1);
        assert_eq!(p[1].0, vec!["backends", "1", "id"]);
        assert_eq!(proxy_ids(&c).len(), 4, "every proxy still has an id");
    }
}
