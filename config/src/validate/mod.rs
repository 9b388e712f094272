//! Semantic checks serde cannot express (required-together keys, ranges, uniqueness,
//! references), one module per binary's configuration, side by side. Each problem is a
//! key path and a sentence; the loader adds where the value came from.

pub(crate) mod balancer;
pub(crate) mod collector;

pub(crate) use crate::error::Problems;

/// A key path from its parts.
fn p(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn socket_addr(s: &str) -> bool {
    s.parse::<std::net::SocketAddr>().is_ok()
}
