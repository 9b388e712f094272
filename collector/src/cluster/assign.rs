//! Which replica polls which target: rendezvous (highest random weight) hashing over the
//! replicas that are members, computed by every replica for itself from the same member
//! list. A target moves only when its owner leaves or a new member outbids it: scaling N → M
//! moves about |M − N| / max(N, M) of the targets, and never one between two replicas that
//! stayed. The hash is fixed (FNV-1a, splitmix64 finish), the same in every build.

/// A stable 64-bit hash of `bytes`.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// splitmix64's finisher: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The member that polls `target`: the highest weight of (member, target); ties (never in
/// practice) go to the smaller name so every replica agrees.
pub fn owner<'a>(target: &str, members: &'a [String]) -> Option<&'a str> {
    let t = hash(target.as_bytes());
    members
        .iter()
        .map(|m| (mix(hash(m.as_bytes()) ^ t), m.as_str()))
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)))
        .map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("collector-{i}")).collect()
    }

    fn targets(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("sw-{i:05}")).collect()
    }

    #[test]
    fn shares_are_even_and_every_replica_agrees() {
        let (m, t) = (members(3), targets(3000));
        let mut counts = std::collections::HashMap::new();
        for x in &t {
            *counts.entry(owner(x, &m).unwrap()).or_insert(0) += 1;
        }
        assert!(counts.values().all(|&c| (850..=1150).contains(&c)), "{counts:?}");
        let mut shuffled = m.clone();
        shuffled.reverse();
        assert!(
            t.iter().all(|x| owner(x, &m) == owner(x, &shuffled)),
            "order does not matter"
        );
        assert_eq!(owner("x", &[]), None);
    }

    #[test]
    fn scaling_moves_only_what_must_move() {
        let t = targets(2000);
        let (three, five) = (members(3), members(5));
        let moved_up = t.iter().filter(|x| owner(x, &three) != owner(x, &five)).count();
        // 3 → 5: the two new members take their share, about 2/5; nothing else moves.
        assert!(moved_up as f64 <= t.len() as f64 * (0.4 + 0.05), "{moved_up}");
        for x in &t {
            let (before, after) = (owner(x, &three).unwrap(), owner(x, &five).unwrap());
            assert!(
                before == after || !three.iter().any(|m| m == after),
                "{x} moved between survivors"
            );
        }
        // 5 → 3: only the targets of the two that left move (the minimum).
        let gone = t
            .iter()
            .filter(|x| !three.iter().any(|m| Some(m.as_str()) == owner(x, &five)))
            .count();
        let moved_down = t.iter().filter(|x| owner(x, &five) != owner(x, &three)).count();
        assert_eq!(moved_down, gone);
    }

    #[test]
    fn the_hash_is_fixed() {
        // Replicas of different builds must agree: the function never changes.
        assert_eq!(hash(b""), mix(0xcbf2_9ce4_8422_2325));
        assert_eq!(hash(b"sw1"), hash(b"sw1"));
        assert_ne!(hash(b"sw1"), hash(b"sw2"));
    }
}
