//! `[[frontends]]`: where clients connect, their timeouts and body limit, and the routes
//! (path and Host conditions, HAProxy ACL semantics) that pick a backend per request.

use crate::units::Duration;
use serde::{Deserialize, Serialize};

/// `[[frontends]]`: where clients connect.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Frontend {
    pub name: String,
    /// The proxy id (`iid`) in the stats and the runtime API (HAProxy's `id`); unset: the
    /// lowest free number, in the order frontends, backends, stats. A frontend and a backend
    /// of the same name given the same id are one proxy, as a HAProxy `listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    pub listen: Vec<String>,
    /// Default backend.
    pub backend: String,
    /// Path-prefix routes, first match wins.
    pub routes: Vec<Route>,
    pub timeouts: FrontendTimeouts,
    /// Largest request body accepted (413 above it); none: unlimited.
    pub max_body_size: Option<crate::units::ByteSize>,
    /// TLS termination (HAProxy `bind … ssl crt …`); absent: plain HTTP only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// A request that came in over plain HTTP is redirected to `https://` with this status
    /// (301, 302, 303, 307 or 308; HAProxy `redirect scheme https`); absent: served as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_https: Option<u16>,
    /// A request for exactly this URI (e.g. `/healthz`) is answered by the balancer itself —
    /// 200 while it serves, 503 once it stops — and never reaches a backend (HAProxy
    /// `monitor-uri`): what keepalived or an outer load balancer asks (deploy/keepalived).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor_uri: Option<String>,
}

impl Frontend {
    /// Every address this frontend listens on, with whether it speaks TLS.
    pub fn listeners(&self) -> Vec<(&str, bool)> {
        let tls_all = self.tls.as_ref().is_some_and(|t| t.listen.is_empty());
        let plain = self.listen.iter().map(|l| (l.as_str(), tls_all));
        let tls = self
            .tls
            .iter()
            .flat_map(|t| t.listen.iter().map(|l| (l.as_str(), true)));
        plain.chain(tls).collect()
    }
}

/// `frontends.tls`: certificates and protocols of a frontend's TLS listeners.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// A PEM file holding the certificate chain (leaf first) and, unless `key` is set, its
    /// private key — or a directory of such files (`*.pem`, `*.crt`), one certificate each,
    /// picked by the name the client asks for (SNI); the first in name order is the default.
    pub cert: std::path::PathBuf,
    /// The private key (PEM) when it is not in the `cert` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<std::path::PathBuf>,
    /// Protocols offered by ALPN, in preference order: "h2" and/or "http/1.1".
    #[serde(default = "default_alpn")]
    pub alpn: Vec<String>,
    /// Addresses served with TLS in addition to the plain `listen` ones; empty: every
    /// `listen` address speaks TLS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<String>,
    /// A file of session-ticket keys (HAProxy's `tls-ticket-keys` format: one base64 key of
    /// 48 or 80 bytes per line, at least three) shared by every balancer that should resume
    /// the others' sessions — and by the process an upgrade starts. Unset: keys of the
    /// process's own, so resumption ends with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_keys: Option<std::path::PathBuf>,
}

fn default_alpn() -> Vec<String> {
    vec!["h2".into(), "http/1.1".into()]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendTimeouts {
    /// Longest wait for the client while reading a request body (HAProxy `timeout client`).
    pub client: Duration,
    /// A request's whole header must arrive within this, else 408 (HAProxy `timeout
    /// http-request`; slowloris defence): from the accept for a connection's first request,
    /// from the first byte for later ones.
    pub http_request: Duration,
    /// Longest idle wait for the next request on a kept-alive connection, then a silent close
    /// (HAProxy `timeout http-keep-alive`); unset: `http_request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_keep_alive: Option<Duration>,
}

impl FrontendTimeouts {
    /// The idle limit between kept-alive requests: `http_keep_alive`, else `http_request`.
    pub fn keep_alive(&self) -> Duration {
        self.http_keep_alive.unwrap_or(self.http_request)
    }
}

impl Default for FrontendTimeouts {
    fn default() -> Self {
        Self {
            client: Duration::from_secs(60),
            http_request: Duration::from_secs(10),
            http_keep_alive: None,
        }
    }
}

/// A route: the first whose conditions all hold picks the backend. `path_prefix` is the
/// short form; `when` holds any number of conditions (HAProxy `use_backend B if a !b`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Route {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path_prefix: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
    pub backend: String,
}

/// One test of a request; it holds when any of `values` matches (and `negate` is false).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub test: Test,
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub negate: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_case: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// The path starts with the value (HAProxy `path_beg`).
    PathPrefix,
    /// The path equals the value (`path`).
    Path,
    /// The Host header equals the value (`hdr(host)`).
    Host,
    /// The Host header contains the value as whole dot-separated labels (`hdr_dom(host)`).
    HostDomain,
}
