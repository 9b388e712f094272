//! Address ranges as operators write them (`10.0.0.0/24`, `fd00::/120`, a bare address): one
//! parser for `[discovery]` and the `discover` command. IPv4 network and broadcast addresses
//! of prefixes shorter than /31 are outside the range (never probed).

use std::net::IpAddr;

/// An address range, `ADDRESS/PREFIX` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    first: u128,
    last: u128,
    v6: bool,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let ip: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: not an IP address or ADDRESS/PREFIX"))?;
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        let prefix: u32 = match prefix {
            None => bits,
            Some(p) => p
                .trim()
                .parse()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{text:?}: prefix must be 0 to {bits}"))?,
        };
        let value = match ip {
            IpAddr::V4(a) => u32::from(a) as u128,
            IpAddr::V6(a) => u128::from(a),
        };
        let host_bits = bits - prefix;
        let mask = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        let first = value & !mask;
        let (mut first, mut last) = (first, first | mask);
        if ip.is_ipv4() && host_bits >= 2 {
            first += 1; // network
            last -= 1; // broadcast
        }
        Ok(Self {
            first,
            last,
            v6: ip.is_ipv6(),
        })
    }

    /// Whether the address `value` (IPv6 when `v6`) lies in the range.
    pub fn contains(&self, v6: bool, value: u128) -> bool {
        self.v6 == v6 && (self.first..=self.last).contains(&value)
    }

    /// How many addresses the range holds (never none).
    pub fn addresses(&self) -> u128 {
        self.last - self.first + 1
    }

    /// `(v6, first, last)`: the range's ends as numbers.
    pub fn bounds(&self) -> (bool, u128, u128) {
        (self.v6, self.first, self.last)
    }
}
