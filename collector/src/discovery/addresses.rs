//! The addresses a sweep probes: CIDR ranges (IPv4, and IPv6 prefixes of /104 or longer),
//! minus the excluded ranges, in order, each once. IPv4 network and broadcast addresses of
//! prefixes shorter than /31 are not probed.

use netpulse_config::Cidr;
use std::net::IpAddr;

/// Most addresses one sweep may cover (a /12): a typing slip such as `/8` is refused
/// instead of sending 16 million probes.
pub const MAX_ADDRESSES: u128 = 1 << 20;

/// Every address of `ranges` not in `exclude`, in order and once (overlapping ranges are
/// merged). `Err` names a range too large to sweep.
pub fn expand(ranges: &[Cidr], exclude: &[Cidr]) -> Result<Vec<IpAddr>, String> {
    let total: u128 = ranges.iter().map(Cidr::addresses).sum();
    if total > MAX_ADDRESSES {
        return Err(format!(
            "{total} addresses: more than one sweep covers ({MAX_ADDRESSES}); split the ranges"
        ));
    }
    let mut spans: Vec<(bool, u128, u128)> = ranges.iter().map(Cidr::bounds).collect();
    spans.sort_unstable();
    let mut out = vec![];
    let mut next: Option<(bool, u128)> = None;
    for (v6, first, last) in spans {
        let start = match next {
            Some((nv6, n)) if nv6 == v6 => first.max(n),
            _ => first,
        };
        if start > last {
            continue;
        }
        for value in start..=last {
            if !exclude.iter().any(|x| x.contains(v6, value)) {
                out.push(to_ip(v6, value));
            }
        }
        next = last.checked_add(1).map(|n| (v6, n));
    }
    Ok(out)
}

/// Whether `ip` lies in one of `ranges` (neighbours are followed only there).
pub fn inside(ranges: &[Cidr], ip: IpAddr) -> bool {
    let (v6, value) = match ip {
        IpAddr::V4(a) => (false, u32::from(a) as u128),
        IpAddr::V6(a) => (true, u128::from(a)),
    };
    ranges.iter().any(|c| c.contains(v6, value))
}

fn to_ip(v6: bool, value: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(value.into())
    } else {
        IpAddr::V4((value as u32).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| Cidr::parse(c).unwrap()).collect()
    }

    #[test]
    fn ranges_expand_once_in_order_without_network_broadcast_or_excluded() {
        let a = expand(
            &cidrs(&["127.0.1.0/29", "127.0.1.4/30", "127.0.1.9"]),
            &cidrs(&["127.0.1.2/32"]),
        )
        .unwrap();
        let text: Vec<String> = a.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            text,
            [
                "127.0.1.1",
                "127.0.1.3",
                "127.0.1.4",
                "127.0.1.5",
                "127.0.1.6",
                "127.0.1.9"
            ]
        );
        assert_eq!(expand(&cidrs(&["10.0.0.0/22"]), &[]).unwrap().len(), 1022);
        assert_eq!(expand(&cidrs(&["10.0.0.0/31"]), &[]).unwrap().len(), 2);
        assert_eq!(expand(&cidrs(&["fd00::/126"]), &[]).unwrap().len(), 4);
        assert!(inside(&cidrs(&["127.0.1.0/24"]), "127.0.1.77".parse().unwrap()));
        assert!(!inside(&cidrs(&["127.0.1.0/24"]), "127.0.2.1".parse().unwrap()));
    }

    #[test]
    fn bad_and_huge_ranges_are_named() {
        assert!(Cidr::parse("10.0.0.0/33").unwrap_err().contains("10.0.0.0/33"));
        assert!(Cidr::parse("ten/8").unwrap_err().contains("ten/8"));
        assert!(expand(&cidrs(&["10.0.0.0/8"]), &[]).unwrap_err().contains("split"));
    }
}
