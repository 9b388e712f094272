//! `[[targets]]`: one device to poll — its address, SNMP version and credentials (v1/v2c
//! community, v3 USM user and keys), modules, tags and per-target overrides.

use crate::units::{Duration, Secret};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::collections::BTreeMap;
use std::fmt;

/// SNMP protocol version of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnmpVersion {
    V1,
    #[default]
    V2c,
    V3,
}

impl SnmpVersion {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().trim_start_matches('v') {
            "1" => Some(Self::V1),
            "2" | "2c" => Some(Self::V2c),
            "3" => Some(Self::V3),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "1",
            Self::V2c => "2c",
            Self::V3 => "3",
        }
    }
}

impl Serialize for SnmpVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SnmpVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = SnmpVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"1\", \"2c\" or \"3\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SnmpVersion, E> {
                SnmpVersion::parse(v)
                    .ok_or_else(|| E::custom(format!("unknown SNMP version {v:?}: use \"1\", \"2c\" or \"3\"")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SnmpVersion, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SnmpVersion, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthProtocol {
    Md5,
    Sha,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrivProtocol {
    Des,
    Aes128,
    Aes192,
    Aes256,
    /// AES-192 with the Cisco/Reeder key extension (some vendors).
    Aes192c,
    /// AES-256 with the Cisco/Reeder key extension (some vendors).
    Aes256c,
}

/// A USM key: `{ protocol = "sha256", password = "..." }`, or `"sha256:..."` as on the command
/// line. Errors name the protocol or the missing part, never the password.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsmKey<P> {
    pub protocol: P,
    pub password: Secret,
}

const NOT_A_KEY: &str =
    "expected { protocol = \"...\", password = \"...\" } or \"PROTOCOL:PASSWORD\" (the value is not shown)";

impl<'de, P: de::DeserializeOwned> Deserialize<'de> for UsmKey<P> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<P>(std::marker::PhantomData<P>);
        impl<'de, P: de::DeserializeOwned> de::Visitor<'de> for V<P> {
            type Value = UsmKey<P>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "{ protocol = \"...\", password = \"...\" } or \"PROTOCOL:PASSWORD\" (the password is not shown)",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UsmKey<P>, E> {
                let (proto, password) = v
                    .split_once(':')
                    .ok_or_else(|| E::custom("expected \"PROTOCOL:PASSWORD\" (the value is not shown)"))?;
                let protocol = P::deserialize(de::value::StrDeserializer::<E>::new(proto))
                    .map_err(|_| E::custom(format!("unknown protocol {proto:?} (the password is not shown)")))?;
                Ok(UsmKey {
                    protocol,
                    password: Secret::new(password),
                })
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<UsmKey<P>, E> {
                Err(E::custom(NOT_A_KEY))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<UsmKey<P>, E> {
                Err(E::custom(NOT_A_KEY))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<UsmKey<P>, E> {
                Err(E::custom(NOT_A_KEY))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<UsmKey<P>, E> {
                Err(E::custom(NOT_A_KEY))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<UsmKey<P>, A::Error> {
                let (mut protocol, mut password) = (None, None);
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "protocol" => protocol = Some(m.next_value::<P>()?),
                        "password" => password = Some(m.next_value::<Secret>()?),
                        other => {
                            return Err(de::Error::unknown_field(other, &["protocol", "password"]));
                        }
                    }
                }
                Ok(UsmKey {
                    protocol: protocol.ok_or_else(|| de::Error::missing_field("protocol"))?,
                    password: password.ok_or_else(|| de::Error::missing_field("password"))?,
                })
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// `[[targets]]`: one SNMP agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetConfig {
    /// Unique name; the `target` tag of every point.
    pub name: String,
    /// `udp://HOST[:PORT]`; HOST is IPv4, `[IPv6]` or a DNS name; PORT defaults to 161.
    pub address: String,
    pub version: SnmpVersion,
    /// v1/v2c community.
    pub community: Option<Secret>,
    /// v3 USM user name.
    pub user: Option<String>,
    pub auth: Option<UsmKey<AuthProtocol>>,
    #[serde(rename = "priv")]
    pub privacy: Option<UsmKey<PrivProtocol>>,
    /// v3 context name.
    pub context: Option<String>,
    pub modules: Vec<String>,
    /// Device profile: `auto` chooses by sysObjectID (longest prefix) at the first poll, a
    /// profile's name fixes it, `none` polls only `modules` (docs/profiles.md).
    pub profile: String,
    /// Extra tags on every point of this target.
    pub tags: BTreeMap<String, String>,
    /// Add `<counter>_rate` fields (per second).
    pub rates: bool,
    /// Overrides `[collector] interval`.
    pub interval: Option<Duration>,
    /// Overrides `[snmp] timeout`.
    pub timeout: Option<Duration>,
    /// Overrides `[snmp] retries`.
    pub retries: Option<u32>,
    /// Overrides `[snmp] poll_deadline`.
    pub poll_deadline: Option<Duration>,
    /// Overrides `[snmp] max_repetitions`.
    pub max_repetitions: Option<u32>,
    /// Accept agents that return OIDs out of order (walks are then bounded by `walk_limit`).
    pub allow_non_increasing: bool,
    /// Most rows one table walk may return (a guard against looping agents).
    pub walk_limit: usize,
}

impl Default for TargetConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            address: String::new(),
            version: SnmpVersion::V2c,
            community: None,
            user: None,
            auth: None,
            privacy: None,
            context: None,
            modules: vec!["system".into(), "interfaces".into()],
            profile: "auto".into(),
            tags: BTreeMap::new(),
            rates: false,
            interval: None,
            timeout: None,
            retries: None,
            poll_deadline: None,
            max_repetitions: None,
            allow_non_increasing: false,
            walk_limit: 100_000,
        }
    }
}

/// A parsed `udp://host:port` target address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetAddress {
    /// Host as written, IPv6 without brackets.
    pub host: String,
    pub port: u16,
}

impl TargetAddress {
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = match text.split_once("://") {
            Some(("udp", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!("unsupported scheme {scheme:?} (only udp:// is supported)"));
            }
            None => text,
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("missing ']' after IPv6 address")?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or("expected ':PORT' after ']'")?),
            };
            h.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("{h:?} is not an IPv6 address"))?;
            (h.to_string(), port)
        } else if rest.matches(':').count() > 1 {
            return Err("an IPv6 address must be written in brackets: udp://[2001:db8::1]:161".into());
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (rest.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err("the host is empty".into());
        }
        let valid_host = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
        if !valid_host {
            return Err(format!("{host:?} is not a valid host name or address"));
        }
        let port = match port {
            None => 161,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("invalid port {p:?}"))?,
        };
        Ok(Self { host, port })
    }
}

impl fmt::Display for TargetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = TargetAddress::parse("udp://192.0.2.1:1161").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("192.0.2.1", 1161));
        let a = TargetAddress::parse("udp://[2001:db8::1]:161").unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.to_string().as_str()),
            ("2001:db8::1", 161, "[2001:db8::1]:161")
        );
        assert_eq!(TargetAddress::parse("switch.example.net").unwrap().port, 161);
        assert!(TargetAddress::parse("tcp://x").unwrap_err().contains("scheme"));
        assert!(
            TargetAddress::parse("udp://2001:db8::1")
                .unwrap_err()
                .contains("brackets")
        );
        assert!(TargetAddress::parse("udp://h:99999").unwrap_err().contains("port"));
        assert!(TargetAddress::parse("udp://[zz]:1").is_err());
    }
}
