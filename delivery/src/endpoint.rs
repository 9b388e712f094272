//! One InfluxDB server over our own hyper client: gzip bodies POSTed to a [`Target`] (the
//! write path with its query and the headers that go with it: v1 `/write?db=&rp=&precision=`
//! with basic auth, v2 `/api/v2/write?org=&bucket=` with `Token`, or whatever a mirrored
//! writer sent), the pool limits, and the reply reduced to what the writer decides on.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use netpulse_config::{HttpPoolConfig, InfluxApi, InfluxOutput};
use std::time::Duration;

pub struct Endpoint {
    client: Client<HttpConnector, Full<Bytes>>,
    /// Requests in flight over every endpoint sharing it (`http_pool.max_connections`).
    limit: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// `http://host:port`, no trailing slash.
    base: String,
    read_timeout: Duration,
}

/// Where on the server a batch goes and the headers it carries (credentials marked sensitive).
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub path_and_query: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values can be credentials: only their names.
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Target")
            .field("path_and_query", &self.path_and_query)
            .field("headers", &names)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: String,
}

fn encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Target {
    /// The write API of a configured output: the collector's one target per replica.
    pub fn influx(o: &InfluxOutput) -> Result<Self, String> {
        let (path, auth) = match o.api {
            InfluxApi::V1 => {
                let mut q = format!(
                    "/write?db={}&precision=ns",
                    encode_query(o.database.as_deref().unwrap_or_default())
                );
                if let Some(rp) = &o.retention_policy {
                    q.push_str(&format!("&rp={}", encode_query(rp)));
                }
                let auth = o.username.as_ref().map(|u| {
                    let pw = o.password.as_ref().map(|p| p.expose()).unwrap_or("");
                    format!("Basic {}", base64(format!("{u}:{pw}").as_bytes()))
                });
                (q, auth)
            }
            InfluxApi::V2 => (
                format!(
                    "/api/v2/write?org={}&bucket={}&precision=ns",
                    encode_query(o.org.as_deref().unwrap_or_default()),
                    encode_query(o.bucket.as_deref().unwrap_or_default())
                ),
                o.token.as_ref().map(|t| format!("Token {}", t.expose())),
            ),
        };
        let mut headers = vec![];
        if let Some(a) = auth {
            let mut h = HeaderValue::from_str(&a).map_err(|_| {
                format!(
                    "output {}: credentials contain characters not allowed in a header",
                    o.name
                )
            })?;
            h.set_sensitive(true);
            headers.push((AUTHORIZATION, h));
        }
        Ok(Self {
            path_and_query: path,
            headers,
        })
    }
}

impl Endpoint {
    /// A server at `url` (`http://host:port`; a path after it is ignored: targets carry theirs).
    pub fn new(name: &str, url: &str, pool: &HttpPoolConfig) -> Result<Self, String> {
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(format!(
                "output {name}: url {url:?}: only http:// is supported in this release"
            ));
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let base = format!("http://{authority}");
        base.parse::<hyper::Uri>()
            .map_err(|e| format!("output {name}: url {url:?}: {e}"))?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(pool.connect_timeout.get()));
        connector.set_nodelay(true);
        connector.set_keepalive(Some(pool.keepalive_timeout.get()));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(pool.keepalive_timeout.get())
            .pool_max_idle_per_host(pool.max_connections_per_host.min(pool.max_connections))
            .build(connector);
        Ok(Self {
            client,
            limit: None,
            base,
            read_timeout: pool.read_timeout.get(),
        })
    }

    /// Shares `limit` (one per process: `http_pool.max_connections`) with other endpoints: a
    /// request holds one of its permits while it is on a connection.
    pub fn with_limit(mut self, limit: std::sync::Arc<tokio::sync::Semaphore>) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The collector's replica: its configured server and write target.
    pub fn for_output(o: &InfluxOutput, pool: &HttpPoolConfig) -> Result<(Self, Target), String> {
        let base = o.url.trim_end_matches('/');
        let endpoint = Self::new(&o.name, base, pool)?;
        // A path prefix in the URL (InfluxDB behind a reverse proxy) stays in front of the API path.
        let prefix = base
            .strip_prefix("http://")
            .and_then(|r| r.find('/').map(|i| &r[i..]))
            .unwrap_or("");
        let mut target = Target::influx(o)?;
        target.path_and_query = format!("{prefix}{}", target.path_and_query);
        format!("{}{}", endpoint.base, target.path_and_query)
            .parse::<hyper::Uri>()
            .map_err(|e| format!("output {}: url {:?}: {e}", o.name, o.url))?;
        Ok((endpoint, target))
    }

    /// POSTs a gzip body. `Err` is a request that got no answer (`SendError` says whose
    /// side failed and whether another try can succeed).
    pub async fn post(&self, target: &Target, gzipped: Bytes) -> Result<Reply, SendError> {
        let mut req = hyper::Request::post(format!("{}{}", self.base, target.path_and_query))
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(CONTENT_ENCODING, "gzip")
            .body(Full::new(gzipped))
            .map_err(|e| SendError::Request(e.to_string()))?;
        for (name, value) in &target.headers {
            req.headers_mut().insert(name.clone(), value.clone());
        }
        let exchange = async {
            let _permit = match &self.limit {
                Some(l) => Some(l.acquire().await.map_err(|e| SendError::Closed(e.to_string()))?),
                None => None,
            };
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| SendError::Transport(format!("{e}: {}", source_chain(&e))))?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = (resp.into_body().collect().await)
                .map_err(|e| SendError::Transport(format!("reading the answer: {e}")))?
                .to_bytes();
            let body = String::from_utf8_lossy(&body[..body.len().min(2048)]).into_owned();
            Ok(Reply {
                status,
                retry_after,
                body,
            })
        };
        tokio::time::timeout(self.read_timeout, exchange)
            .await
            .map_err(|_| SendError::Timeout(self.read_timeout))?
    }

    /// `http://host:port` of the server.
    pub fn base(&self) -> &str {
        &self.base
    }
}

/// A write request that got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Ours: the request could not be built from its target (a header or path it cannot carry).
    #[error("cannot build the request: {0}")]
    Request(String),
    /// Ours: the writes' connection bound was closed (the process is stopping; the batch
    /// stays queued for the next start).
    #[error("no write slot: {0}")]
    Closed(String),
    /// The network's or the server's: refused, reset, cut short.
    #[error("{0}")]
    Transport(String),
    /// The server's: no whole answer within the read timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Whose side a failure is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// This process: another try of the same request fails the same way.
    Ours,
    /// The network or the server: a later try can succeed.
    Theirs,
}

impl SendError {
    pub fn side(&self) -> Side {
        match self {
            Self::Request(_) | Self::Closed(_) => Side::Ours,
            Self::Transport(_) | Self::Timeout(_) => Side::Theirs,
        }
    }

    /// Whether sending the same request again can succeed (after a restart, for `Closed`).
    pub fn retryable(&self) -> bool {
        !matches!(self, Self::Request(_))
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = String::new();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&c.to_string());
        cur = c.source();
        if cur.is_some() {
            s.push_str(": ");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failure_knows_its_side_and_whether_to_retry() {
        let pool = HttpPoolConfig {
            connect_timeout: netpulse_config::Duration(Duration::from_millis(500)),
            ..HttpPoolConfig::default()
        };
        // Nothing listens on port 1: refused, the other side's failure, worth another try.
        let e = Endpoint::new("x", "http://127.0.0.1:1", &pool).unwrap();
        let target = Target {
            path_and_query: "/write?db=x".into(),
            headers: vec![],
        };
        let err = e.post(&target, Bytes::new()).await.unwrap_err();
        assert!(matches!(err, SendError::Transport(_)), "{err:?}");
        assert_eq!((err.side(), err.retryable()), (Side::Theirs, true));
        let ours = SendError::Request("bad header".into());
        assert_eq!((ours.side(), ours.retryable()), (Side::Ours, false));
        assert!(
            SendError::Closed("stopping".into()).retryable(),
            "kept for the next start"
        );
        assert_eq!(SendError::Timeout(Duration::from_secs(1)).side(), Side::Theirs);
    }

    #[test]
    fn base64_and_query() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(encode_query("tele metry&x"), "tele%20metry%26x");
    }
}
