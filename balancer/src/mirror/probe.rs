//! Refusing up front what every server would refuse later. A write to a database the servers
//! do not have, or with credentials they do not take, would be answered 204 and then refused by
//! every server; so the first write of each (path, credentials) asks the servers once — an
//! empty write to the same path with the same `Authorization`, which InfluxDB answers 204, or
//! 404/401/403 without storing anything — and the answer is cached: a known-good target for
//! [`GOOD_FOR`], a refused one for [`REFUSED_FOR`] (a database created meanwhile is taken
//! within seconds). Unreachable or erring servers decide nothing: the write is taken and their
//! writers deal with it (a permanent refusal then sets the batch aside).

use super::Refusal;
use netpulse_delivery::endpoint::{Endpoint, Target};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const GOOD_FOR: Duration = Duration::from_secs(300);
pub const REFUSED_FOR: Duration = Duration::from_secs(5);
/// Targets remembered at once (beyond: forgotten and asked again).
const ENTRIES: usize = 4096;

/// `None`: the servers take writes to this target; else their status and words.
type Verdict = Option<(u16, String)>;

pub struct Probe {
    servers: Vec<Endpoint>,
    cache: Mutex<HashMap<u64, (Verdict, Instant)>>,
}

/// The cache key: the path and query without `precision` (it does not change the answer) and
/// the credentials, hashed (no secret is kept in the cache).
fn key(t: &Target) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let (path, query) = t.path_and_query.split_once('?').unwrap_or((&t.path_and_query, ""));
    path.hash(&mut h);
    let mut q: Vec<&str> = query.split('&').filter(|kv| !kv.starts_with("precision=")).collect();
    q.sort_unstable();
    q.hash(&mut h);
    for (n, v) in &t.headers {
        if n == http::header::AUTHORIZATION {
            v.as_bytes().hash(&mut h);
        }
    }
    h.finish()
}

/// InfluxDB's text in an error answer (`{"error": …}` in 1.x, `{"message": …}` in 2.x).
fn error_text(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| Some(v.get("error").or_else(|| v.get("message"))?.as_str()?.to_string()))
        .unwrap_or_else(|| body.trim().chars().take(300).collect())
}

impl Probe {
    pub fn new(servers: Vec<Endpoint>) -> Self {
        Self {
            servers,
            cache: Mutex::default(),
        }
    }

    /// `Err` when the servers refuse writes to `target` (InfluxDB's status and words).
    pub async fn check(&self, target: &Target) -> Result<(), Refusal> {
        let k = key(target);
        if let Some((verdict, at)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&k) {
            let ttl = if verdict.is_some() { REFUSED_FOR } else { GOOD_FOR };
            if at.elapsed() < ttl {
                return refusal(verdict);
            }
        }
        let empty = netpulse_delivery::gzip::gzip(b"");
        let answers = futures::future::join_all(self.servers.iter().map(|s| s.post(target, empty.clone()))).await;
        let mut refused = None;
        for a in answers {
            match a {
                Ok(r) if (200..300).contains(&r.status) => {
                    refused = None;
                    break;
                }
                Ok(r) if matches!(r.status, 401 | 403 | 404) => {
                    refused.get_or_insert((r.status, error_text(&r.body)));
                }
                // Unreachable or erring: this probe decides nothing and is not remembered.
                _ => return Ok(()),
            }
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= ENTRIES {
            cache.clear();
        }
        cache.insert(k, (refused.clone(), Instant::now()));
        refusal(&refused)
    }
}

fn refusal(verdict: &Verdict) -> Result<(), Refusal> {
    match verdict {
        None => Ok(()),
        Some((status, error)) => Err(Refusal::Known {
            status: *status,
            error: error.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_does_not_change_the_key_credentials_do() {
        let t = |p: &str, auth: &str| Target {
            path_and_query: p.into(),
            headers: vec![(http::header::AUTHORIZATION, http::HeaderValue::from_str(auth).unwrap())],
        };
        assert_eq!(key(&t("/write?db=a&precision=s", "x")), key(&t("/write?db=a", "x")));
        assert_ne!(key(&t("/write?db=a", "x")), key(&t("/write?db=a", "y")));
        assert_ne!(key(&t("/write?db=a", "x")), key(&t("/write?db=b", "x")));
        assert_eq!(
            error_text("{\"error\":\"database not found: \\\"x\\\"\"}"),
            "database not found: \"x\""
        );
    }
}
