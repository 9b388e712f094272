//! Everything the cluster keeps in Redis, and the only file that speaks to it. Each call is
//! bounded by `redis_timeout` (≤ 1 s): a slow or dead Redis costs a poll at most that long,
//! never a stall. Times are Redis server time (`TIME` inside the scripts), so replicas'
//! clocks never decide membership or permits. Every key has a TTL; state is per target.
//!
//! Keys (`P` = `key_prefix`):
//! - `P:members` sorted set: member id → expiry (ms); `P:member:ID` hash: incarnation,
//!   state (`active`/`draining`), last heartbeat, targets owned.
//! - `P:t:TARGET` hash: `last` permit time, `owner` (`id#incarnation`), `fence`, `rates`.
//! - `P:targets` hash: run-time targets (name → JSON); `P:targets:version`: a number that
//!   every change increments (in the same script as the change: Redis orders the changes).
//! - `P:collect:TARGET` lock and `P:collect:TARGET:result` of a shared `POST /collect`.

use super::metrics::METRICS;
use super::scripts::{HEARTBEAT, PERMIT, SAVE_STATES, SET_TARGETS, UNLOCK};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected reply from Redis: {0}")]
    Reply(String),
}

impl StoreError {
    /// Redis answered, with an error (out of memory, a read-only replica, a script
    /// error): it is reachable but refuses, which calls for a different fix than a
    /// network outage.
    pub fn answered(&self) -> bool {
        match self {
            Self::Timeout(_) => false,
            Self::Redis(e) => {
                !(e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal())
            }
            Self::Reply(_) => true,
        }
    }
}

/// One member as the heartbeat reply shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub draining: bool,
    /// Redis time of its last heartbeat (ms).
    pub heartbeat_ms: u64,
    pub owned: u64,
}

/// What a heartbeat sees.
#[derive(Debug, Clone)]
pub struct View {
    pub now_ms: u64,
    /// The run-time targets' version token ("0": none written, or Redis lost them).
    pub targets_version: u64,
    pub members: Vec<Member>,
}

/// A target changing hands: who had it (`id#incarnation`, empty: nobody yet) and the rate
/// state it saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    pub from: String,
    pub rates: Vec<u8>,
}

/// The answer to a permit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permit {
    /// Poll; `fence` numbers this owner's term (state writes carry it). `takeover` is set
    /// when the target changed hands (or is polled for the first time).
    Granted { fence: u64, takeover: Option<Takeover> },
    /// Some replica polled it less than the minimum gap ago.
    Recent,
    /// This replica is not a live member (expired, or an older incarnation).
    NotMember,
}

/// How long run-time targets outlive the last heartbeat of the fleet.
const TARGETS_KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct Store {
    conn: ConnectionManager,
    timeout: Duration,
    prefix: String,
    heartbeat: Script,
    permit: Script,
    save_states: Script,
    unlock: Script,
    set_targets: Script,
}

impl Store {
    /// Connects lazily: a Redis that is down at start is retried at each call.
    pub fn new(url: &str, timeout: Duration, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        Ok(Self {
            conn: ConnectionManager::new_lazy_with_config(client, cfg)?,
            timeout,
            prefix: prefix.to_string(),
            heartbeat: Script::new(HEARTBEAT),
            permit: Script::new(PERMIT),
            save_states: Script::new(SAVE_STATES),
            unlock: Script::new(UNLOCK),
            set_targets: Script::new(SET_TARGETS),
        })
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        for p in parts {
            k.push(':');
            k.push_str(p);
        }
        k
    }

    /// Runs one command or script under the timeout, timing its round trip.
    async fn run<T, F>(&self, f: impl FnOnce(ConnectionManager) -> F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let started = Instant::now();
        let r = tokio::time::timeout(self.timeout, f(self.conn.clone())).await;
        METRICS.redis_seconds.observe(started.elapsed().as_secs_f64());
        r.map_err(|_| StoreError::Timeout(self.timeout))?
            .map_err(StoreError::from)
    }

    /// Renews this member (`draining` or active), reports `owned`, and reads every member.
    pub async fn heartbeat(
        &self,
        id: &str,
        incarnation: &str,
        draining: bool,
        owned: usize,
        ttl: Duration,
    ) -> Result<View, StoreError> {
        let keys = [
            self.key(&["members"]),
            self.key(&["member", id]),
            self.key(&["targets"]),
            self.key(&["targets", "version"]),
        ];
        let state = if draining { "draining" } else { "active" };
        let reply: Vec<Value> = self
            .run(|mut c| async move {
                let mut inv = self.heartbeat.prepare_invoke();
                inv.key(&keys[..]).arg(id).arg(incarnation).arg(state);
                inv.arg(ttl.as_millis() as u64).arg(owned).arg(&self.prefix);
                inv.arg(TARGETS_KEEP.as_millis() as u64);
                inv.invoke_async(&mut c).await
            })
            .await?;
        let mut it = reply.iter();
        let now_ms = num(it.next())?;
        let targets_version = version_number(Some(&text(it.next())?));
        let mut members = vec![];
        while let Some(idv) = it.next() {
            members.push(Member {
                id: text(Some(idv))?,
                draining: text(it.next())? == "draining",
                heartbeat_ms: num(it.next())?,
                owned: num(it.next())?,
            });
        }
        Ok(View {
            now_ms,
            targets_version,
            members,
        })
    }

    /// Leaves the member set at once (graceful stop), so nobody waits for the TTL.
    pub async fn leave(&self, id: &str) -> Result<(), StoreError> {
        let (members, member) = (self.key(&["members"]), self.key(&["member", id]));
        self.run(|mut c| async move {
            redis::pipe()
                .zrem(&members, id)
                .ignore()
                .del(&member)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// Asks to poll `target` now: granted unless it was polled less than `min_gap` ago (by
    /// anyone) or this replica is not a live member under `incarnation`.
    pub async fn permit(
        &self,
        id: &str,
        incarnation: &str,
        target: &str,
        min_gap: Duration,
        keep: Duration,
    ) -> Result<Permit, StoreError> {
        let keys = [
            self.key(&["t", target]),
            self.key(&["members"]),
            self.key(&["member", id]),
        ];
        let reply: Vec<Value> = self
            .run(|mut c| async move {
                let mut inv = self.permit.prepare_invoke();
                inv.key(&keys[..]).arg(id).arg(incarnation);
                inv.arg(min_gap.as_millis() as u64).arg(keep.as_millis() as u64);
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(match num_signed(reply.first())? {
            -2 => Permit::NotMember,
            -1 => Permit::Recent,
            0 => Permit::Granted {
                fence: num(reply.get(1))?,
                takeover: None,
            },
            _ => Permit::Granted {
                fence: num(reply.get(1))?,
                takeover: Some(Takeover {
                    rates: bytes(reply.get(2)),
                    from: String::from_utf8_lossy(&bytes(reply.get(3))).into_owned(),
                }),
            },
        })
    }

    /// Saves each target's rate state if this owner's term (`fence`) is still the current
    /// one; returns, per entry, whether it was written (false: a newer owner has it).
    pub async fn save_states(
        &self,
        owner: &str,
        states: &[(String, u64, Vec<u8>)],
        keep: Duration,
    ) -> Result<Vec<bool>, StoreError> {
        if states.is_empty() {
            return Ok(vec![]);
        }
        let keys: Vec<String> = states.iter().map(|(t, _, _)| self.key(&["t", t])).collect();
        let reply: Vec<i64> = self
            .run(|mut c| async move {
                let mut inv = self.save_states.prepare_invoke();
                inv.key(&keys[..]).arg(owner).arg(keep.as_millis() as u64);
                for (_, fence, blob) in states {
                    inv.arg(fence.to_string()).arg(&blob[..]);
                }
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(reply.into_iter().map(|w| w == 1).collect())
    }

    /// The run-time targets: (version, name → JSON), read atomically.
    pub async fn targets(&self) -> Result<(u64, BTreeMap<String, String>), StoreError> {
        let (h, v) = (self.key(&["targets"]), self.key(&["targets", "version"]));
        self.run(|mut c| async move {
            let (map, version): (BTreeMap<String, String>, Option<String>) =
                redis::pipe().atomic().hgetall(&h).get(&v).query_async(&mut c).await?;
            Ok((version_number(version.as_deref()), map))
        })
        .await
    }

    /// Writes (`Some`) or deletes (`None`) run-time targets and increments the version, in
    /// one script. Returns the new version and, per change, whether the name existed.
    pub async fn set_targets(&self, changes: &[(String, Option<String>)]) -> Result<(u64, Vec<bool>), StoreError> {
        let keys = [self.key(&["targets"]), self.key(&["targets", "version"])];
        let reply: Vec<i64> = self
            .run(|mut c| async move {
                let mut inv = self.set_targets.prepare_invoke();
                inv.key(&keys[..]).arg(TARGETS_KEEP.as_millis() as u64);
                for (name, json) in changes {
                    inv.arg(name).arg(json.as_deref().unwrap_or(""));
                }
                inv.invoke_async(&mut c).await
            })
            .await?;
        let Some((&v, existed)) = reply.split_first() else {
            return Err(StoreError::Reply("set_targets: empty reply".into()));
        };
        Ok((v.max(0) as u64, existed.iter().map(|e| *e == 1).collect()))
    }

    /// Takes the shared-collect lock of `target` for `ttl`; false when another holds it.
    pub async fn lock_collect(&self, target: &str, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        let k = self.key(&["collect", target]);
        self.run(|mut c| async move {
            let r: Option<String> = redis::cmd("SET")
                .arg(&k)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis() as u64)
                .query_async(&mut c)
                .await?;
            Ok(r.is_some())
        })
        .await
    }

    /// Marks `digest` seen for `ttl`; true when no replica had marked it (trap deduplication).
    pub async fn first_sight(&self, digest: &str, ttl: Duration) -> Result<bool, StoreError> {
        let k = self.key(&["trap", digest]);
        self.run(|mut c| async move {
            let r: Option<String> = redis::cmd("SET")
                .arg(&k)
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .query_async(&mut c)
                .await?;
            Ok(r.is_some())
        })
        .await
    }

    /// Who holds the shared-collect lock of `target`, if anyone.
    pub async fn collect_holder(&self, target: &str) -> Result<Option<String>, StoreError> {
        let k = self.key(&["collect", target]);
        self.run(|mut c| async move { redis::cmd("GET").arg(&k).query_async(&mut c).await })
            .await
    }

    /// Publishes the result of a shared collect and releases the lock held with `token`.
    pub async fn finish_collect(&self, target: &str, token: &str, result: &str) -> Result<(), StoreError> {
        let (k, r) = (self.key(&["collect", target]), self.key(&["collect", target, "result"]));
        self.run(|mut c| async move {
            redis::cmd("SET")
                .arg(&r)
                .arg(result)
                .arg("PX")
                .arg(60_000)
                .query_async::<()>(&mut c)
                .await?;
            self.unlock
                .key(&k)
                .arg(token)
                .invoke_async::<i64>(&mut c)
                .await
                .map(drop)
        })
        .await
    }

    /// The last published shared-collect result of `target`.
    pub async fn collect_result(&self, target: &str) -> Result<Option<String>, StoreError> {
        let r = self.key(&["collect", target, "result"]);
        self.run(|mut c| async move { redis::cmd("GET").arg(&r).query_async(&mut c).await })
            .await
    }
}

/// The run-time targets' version as Redis holds it (absent, or an older collector's token: 0).
pub fn version_number(v: Option<&str>) -> u64 {
    v.and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn text(v: Option<&Value>) -> Result<String, StoreError> {
    match v {
        Some(Value::BulkString(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
        Some(Value::SimpleString(s)) => Ok(s.clone()),
        Some(Value::Int(i)) => Ok(i.to_string()),
        other => Err(StoreError::Reply(format!("expected text, got {other:?}"))),
    }
}

fn bytes(v: Option<&Value>) -> Vec<u8> {
    match v {
        Some(Value::BulkString(b)) => b.clone(),
        _ => vec![],
    }
}

fn num_signed(v: Option<&Value>) -> Result<i64, StoreError> {
    match v {
        Some(Value::Int(i)) => Ok(*i),
        other => text(other)?
            .parse()
            .map_err(|_| StoreError::Reply(format!("expected a number, got {other:?}"))),
    }
}

fn num(v: Option<&Value>) -> Result<u64, StoreError> {
    u64::try_from(num_signed(v)?).map_err(|_| StoreError::Reply("negative number".into()))
}
