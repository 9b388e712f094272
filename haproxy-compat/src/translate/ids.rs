//! Proxy ids as HAProxy 2.6 numbers proxies, so the stats and runtime API show the same ids.

use crate::diag::Diags;

/// HAProxy 2.6's proxy ids for the proxy sections in declaration order (`check_config_validity`):
/// an `id` is kept (a second use of one is an error, as in HAProxy); the others take the
/// lowest free number from a counter that every proxy moves on by one, explicit ids included.
/// `Some((line, 0))` is the internal GLOBAL proxy a `stats socket` creates: it has id 0 and
/// moves the counter too, which is why HAProxy's first proxy is 2 with a stats socket.
pub fn haproxy_ids(declared: &[Option<(usize, u32)>], d: &mut Diags) -> Vec<u32> {
    let mut used = std::collections::HashSet::new();
    for (line, id) in declared.iter().flatten().filter(|(_, id)| *id > 0) {
        if !used.insert(*id) {
            d.error(*line, format!("id {id}: already the id of another proxy"));
        }
    }
    let mut next = 1;
    declared
        .iter()
        .map(|explicit| {
            let id = match explicit {
                Some((_, id)) => *id,
                None => {
                    while used.contains(&next) {
                        next += 1;
                    }
                    used.insert(next);
                    next
                }
            };
            next += 1;
            id
        })
        .collect()
}
