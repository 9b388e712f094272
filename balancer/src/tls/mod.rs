//! TLS termination for a frontend's TLS listeners, with rustls: the certificates (`certs`),
//! the one that answers each client by the name it asks for (SNI), modern defaults (TLS 1.2
//! and 1.3, AEAD suites only, the server's preference order), session resumption (session
//! ids and tickets), ALPN (h2, http/1.1), and the handshake of each accepted connection into
//! a [`TlsConn`] the request paths read like a TCP stream. Certificates and ticket keys
//! (`tickets`) are read when the process starts, so an upgrade (`--upgrade`) is how they are
//! replaced — the new process handshakes with the new ones while the old one finishes its
//! connections — except that a ticket key can also be added at run time (`set ssl tls-key`).

pub mod certs;
pub mod show;
mod stream;
pub mod tickets;

use crate::bounded::within;
use certs::{CertError, Loaded};
use netpulse_config::Tls;
use pingora_core::protocols::l4::stream::Stream as L4Stream;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
pub use stream::TlsConn;

/// Handshakes of one frontend's TLS listeners, as HAProxy's ssl counters count them.
#[derive(Debug, Default)]
pub struct TlsCounters {
    /// Completed handshakes (HAProxy `ssl_sess`).
    pub sessions: AtomicU64,
    /// Of those, resumed ones (`ssl_reused_sess`).
    pub reused: AtomicU64,
    /// Failed or timed-out handshakes (`ssl_failed_handshake`).
    pub failed: AtomicU64,
    /// TLS connections open now (`CurrSslConns`).
    pub current: AtomicU64,
}

pub struct Acceptor {
    inner: tokio_rustls::TlsAcceptor,
    pub counters: Arc<TlsCounters>,
    /// The whole handshake within this (the frontend's `http_request` deadline).
    timeout: Duration,
    pub loaded: Vec<Loaded>,
    /// The `ticket_keys` file and its keys, when set (`show tls-keys`, `set ssl tls-key`).
    pub ticket_keys: Option<(std::path::PathBuf, Arc<tickets::TicketKeys>)>,
}

/// Why a frontend's TLS cannot start; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error(transparent)]
    TicketKeys(#[from] tickets::TicketKeysError),
}

impl Acceptor {
    /// Loads and checks `cfg`'s certificates; any problem names its file.
    pub fn new(cfg: &Tls, timeout: Duration) -> Result<Self, TlsError> {
        let loaded = certs::load(&cfg.cert, cfg.key.as_deref())?;
        let shared = cfg
            .ticket_keys
            .as_deref()
            .map(tickets::TicketKeys::load)
            .transpose()?
            .map(Arc::new);
        // ring, not aws-lc-rs: no second C toolchain build; its only lack is post-quantum
        // key exchange, which HAProxy 2.6 (OpenSSL 3.0) does not offer either.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Sni::new(&loaded)));
        config.alpn_protocols = cfg.alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
        config.ignore_client_order = true;
        config.session_storage = ServerSessionMemoryCache::new(20_000);
        // Stateless tickets: resumption survives the session cache's size and costs no lock.
        let ticket_keys = cfg.ticket_keys.clone().zip(shared.clone());
        if let Some(keys) = shared {
            config.ticketer = keys;
        } else if let Ok(t) = rustls::crypto::ring::Ticketer::new() {
            config.ticketer = t;
        }
        Ok(Self {
            inner: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            counters: Arc::default(),
            timeout,
            loaded,
            ticket_keys,
        })
    }

    /// The handshake on an accepted connection; `None` (counted) when it fails or times
    /// out — plain HTTP sent to a TLS port ends here, with the connection closed.
    pub async fn accept(&self, l4: Box<L4Stream>) -> Option<TlsConn> {
        let c = &self.counters;
        match within(self.timeout, self.inner.accept(l4)).await {
            Some(Ok(tls)) => {
                c.sessions.fetch_add(1, Ordering::Relaxed);
                if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    c.reused.fetch_add(1, Ordering::Relaxed);
                }
                Some(TlsConn::new(tls, c.clone()))
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                c.failed.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

/// Picks the certificate for the name a client asks for: exact, then wildcard (one label),
/// else the first certificate loaded (HAProxy's default certificate).
#[derive(Debug)]
struct Sni {
    names: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl Sni {
    fn new(loaded: &[Loaded]) -> Self {
        let mut names = HashMap::new();
        for l in loaded {
            for n in &l.names {
                names.entry(n.clone()).or_insert_with(|| l.key.clone());
            }
        }
        Self {
            names,
            default: loaded[0].key.clone(),
        }
    }

    fn pick(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = name.map(str::to_ascii_lowercase) else {
            return self.default.clone();
        };
        let wildcard = || {
            let (_, parent) = name.split_once('.')?;
            self.names.get(&format!("*.{parent}"))
        };
        (self.names.get(&name).or_else(wildcard))
            .unwrap_or(&self.default)
            .clone()
    }
}

impl ResolvesServerCert for Sni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(hello.server_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_picks_exact_then_wildcard_then_the_default() {
        let key = |n: &str| {
            let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let cert = rcgen::CertificateParams::new(vec![n.to_string()])
                .unwrap()
                .self_signed(&kp)
                .unwrap();
            let der = rustls_pki_types::PrivateKeyDer::try_from(kp.serialize_der()).unwrap();
            let signer = rustls::crypto::ring::sign::any_supported_type(&der).unwrap();
            Loaded {
                key: Arc::new(CertifiedKey::new(vec![cert.der().clone()], signer)),
                names: vec![n.to_string()],
                path: n.into(),
                not_before: 0,
                not_after: 0,
                validity: Default::default(),
                subject: n.into(),
            }
        };
        let loaded = [key("first.example"), key("*.influx.example"), key("grafana.example")];
        let sni = Sni::new(&loaded);
        let is = |got: Arc<CertifiedKey>, i: usize| Arc::ptr_eq(&got, &loaded[i].key);
        assert!(is(sni.pick(Some("Grafana.Example")), 2));
        assert!(is(sni.pick(Some("a.influx.example")), 1));
        assert!(
            is(sni.pick(Some("a.b.influx.example")), 0),
            "a wildcard covers one label"
        );
        assert!(is(sni.pick(Some("other.example")), 0));
        assert!(is(sni.pick(None), 0));
    }
}
