//! Object identifiers: inline storage for the common short case, numeric parse and print.

use smallvec::SmallVec;
use std::fmt;

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Oid(SmallVec<[u32; 16]>);

impl Oid {
    pub fn from_slice(arcs: &[u32]) -> Self {
        Self(SmallVec::from_slice(arcs))
    }
    /// Parses `1.3.6.1.2.1` or `.1.3.6.1.2.1`.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim().trim_start_matches('.');
        if t.is_empty() {
            return None;
        }
        let arcs: Option<SmallVec<[u32; 16]>> = t.split('.').map(|a| a.parse::<u32>().ok()).collect();
        arcs.filter(|a| a.len() >= 2 && a.len() <= 128).map(Self)
    }
    pub fn arcs(&self) -> &[u32] {
        &self.0
    }
    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }
    /// The arcs after `prefix`, if `self` is below it.
    pub fn suffix_after(&self, prefix: &Oid) -> Option<&[u32]> {
        self.0.strip_prefix(prefix.0.as_slice())
    }
    pub fn child(&self, arc: u32) -> Oid {
        let mut v = self.0.clone();
        v.push(arc);
        Oid(v)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Dotted form of an index suffix (`5`, `1.2`), used as a tag value.
pub fn dotted(arcs: &[u32]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(arcs.len() * 3);
    for (i, a) in arcs.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        let _ = write!(s, "{a}");
    }
    s
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&dotted(&self.0))
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        let a = Oid::parse(".1.3.6.1.2.1.2.2.1.10").unwrap();
        assert_eq!(a.to_string(), "1.3.6.1.2.1.2.2.1.10");
        let col = Oid::parse("1.3.6.1.2.1.2.2.1.10").unwrap();
        assert!(a.child(5).starts_with(&col));
        assert_eq!(a.child(5).suffix_after(&col), Some(&[5u32][..]));
        assert!(Oid::parse("1.3.x").is_none());
        assert!(Oid::parse("").is_none());
        // Lexicographic order is SNMP order: 1.3.6.1.2 < 1.3.6.1.2.1 < 1.3.6.1.3
        assert!(Oid::parse("1.3.6.1.2").unwrap() < Oid::parse("1.3.6.1.2.1").unwrap());
        assert!(Oid::parse("1.3.6.1.2.1").unwrap() < Oid::parse("1.3.6.1.3").unwrap());
    }
}
