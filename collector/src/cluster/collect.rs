//! One poll for concurrent `POST /collect`s of a target on any replica: a short Redis lock
//! per (target, modules). The replica that takes it polls and publishes the result; the others
//! wait for that result. A result whose poll ended after a request arrived answers that request
//! too (the poll overlapped it), so a request arriving just after the lock was released still
//! shares the poll. Without Redis each replica polls on its own (its own single flight).

use super::Cluster;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The published result, if its poll ended at or after `asked_ms`.
fn fresh(text: Option<String>, asked_ms: u64) -> Option<Value> {
    let mut v: Value = serde_json::from_str(&text?).ok()?;
    let ended = v.get("ended_ms")?.as_u64()?;
    (ended >= asked_ms).then(|| {
        if let Some(o) = v.as_object_mut() {
            o.remove("ended_ms");
        }
        v
    })
}

impl Cluster {
    /// Whether this replica is the first to see a trap with this content digest within
    /// `window`. Redis unreachable: yes — every replica writes it (duplicates, never a loss).
    pub async fn first_to_see(&self, digest: &str, window: Duration) -> bool {
        // Known unreachable (the heartbeat says so): no wait for a timeout on every trap.
        if self.redis.load(Ordering::Relaxed) == 2 {
            return true;
        }
        match self.store.first_sight(digest, window).await {
            Ok(first) => first,
            Err(e) => {
                tracing::debug!(error = %e, "trap deduplication unavailable: written anyway");
                true
            }
        }
    }

    /// The result of a collect of `key` (`target|modules`), polled here by `local` or by
    /// the replica holding the lock; `None` when none arrived within `timeout`.
    pub async fn shared_collect<F, Fut>(&self, key: &str, timeout: Duration, local: F) -> Option<Value>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Value>,
    {
        let asked_ms = now_ms();
        let seq = self.collect_seq.fetch_add(1, Ordering::Relaxed);
        let token = format!("{}#{}#{seq}", self.id, self.incarnation);
        let deadline = Instant::now() + timeout;
        // A holder that died frees the lock after this; its waiters then poll themselves.
        let lock_ttl = timeout.min(Duration::from_secs(120)) + Duration::from_secs(1);
        loop {
            match self.store.lock_collect(key, &token, lock_ttl).await {
                Err(_) => return Some(local().await),
                Ok(true) => {
                    let published = self.store.collect_result(key).await.ok().flatten();
                    if let Some(v) = fresh(published.clone(), asked_ms) {
                        let _ = self
                            .store
                            .finish_collect(key, &token, &published.unwrap_or_default())
                            .await;
                        return Some(v);
                    }
                    let v = local().await;
                    let mut out = v.clone();
                    out["ended_ms"] = now_ms().into();
                    let _ = self.store.finish_collect(key, &token, &out.to_string()).await;
                    return Some(v);
                }
                Ok(false) => {}
            }
            // Another replica polls: wait for its lock to go, then read its result.
            loop {
                if Instant::now() >= deadline {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                match self.store.collect_holder(key).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(_) => return Some(local().await),
                }
            }
            if let Some(v) = fresh(self.store.collect_result(key).await.ok().flatten(), asked_ms) {
                return Some(v);
            }
        }
    }
}
