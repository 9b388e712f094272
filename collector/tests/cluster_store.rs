//! The cluster's Redis scripts against a real redis-server: permits, fencing of state
//! writes, membership by incarnation, TTLs on every key, and bounded calls when Redis is gone.

use netpulse_collector::cluster::store::{Permit, Store};
use netpulse_testkit::Redis;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(10);

fn granted(p: Permit) -> (u64, Option<Vec<u8>>) {
    match p {
        Permit::Granted { fence, takeover } => (fence, takeover.map(|t| t.rates)),
        other => panic!("expected a permit, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stale_owner_cannot_overwrite_the_new_owners_state() {
    let mut redis = Redis::start();
    let s = Store::new(&redis.url(), Duration::from_millis(300), "np").unwrap();
    for id in ["a", "b"] {
        s.heartbeat(id, "1", false, 0, TTL).await.unwrap();
    }
    let view = s.heartbeat("a", "1", false, 5, TTL).await.unwrap();
    // Members come in expiry order; the ids are what matters.
    let mut ids: Vec<&str> = view.members.iter().map(|m| m.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(view.members.iter().find(|m| m.id == "a").map(|m| m.owned), Some(5));

    let (fa, _) = granted(s.permit("a", "1", "t", Duration::ZERO, TTL).await.unwrap());
    assert_eq!(
        s.save_states("a#1", &[("t".into(), fa, b"A1".to_vec())], TTL)
            .await
            .unwrap(),
        [true]
    );
    assert_eq!(
        s.permit("b", "1", "t", Duration::from_secs(60), TTL).await.unwrap(),
        Permit::Recent,
        "polled less than the gap ago, by anyone"
    );
    let (fb, rates) = granted(s.permit("b", "1", "t", Duration::ZERO, TTL).await.unwrap());
    assert!(fb > fa, "a new owner's term has a higher fence");
    assert_eq!(rates.as_deref(), Some(&b"A1"[..]), "the new owner gets the saved state");
    assert_eq!(
        s.save_states("a#1", &[("t".into(), fa, b"stale".to_vec())], TTL)
            .await
            .unwrap(),
        [false],
        "the old owner's write is refused"
    );
    assert_eq!(
        s.save_states("b#1", &[("t".into(), fb, b"B1".to_vec())], TTL)
            .await
            .unwrap(),
        [true]
    );
    let (_, rates) = granted(s.permit("a", "1", "t", Duration::ZERO, TTL).await.unwrap());
    assert_eq!(rates.as_deref(), Some(&b"B1"[..]), "never the stale bytes");
    assert_eq!(
        s.permit("a", "2", "t", Duration::ZERO, TTL).await.unwrap(),
        Permit::NotMember,
        "another incarnation of a is not the member"
    );

    for key in redis.cmd(&["KEYS", "np:*"]).lines() {
        let ttl: i64 = redis.cmd(&["PTTL", key]).parse().unwrap();
        assert!(ttl > 0, "{key} has no TTL");
    }

    s.leave("b").await.unwrap();
    let view = s.heartbeat("a", "1", false, 0, TTL).await.unwrap();
    assert_eq!(view.members.len(), 1, "b left at once");

    redis.stop();
    let started = Instant::now();
    assert!(s.permit("a", "1", "t", Duration::ZERO, TTL).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a dead Redis costs at most the timeout"
    );
}

#[tokio::test]
async fn members_expire_after_their_ttl_by_redis_time() {
    let redis = Redis::start();
    let s = Store::new(&redis.url(), Duration::from_millis(300), "np").unwrap();
    s.heartbeat("gone", "1", false, 0, Duration::from_millis(300))
        .await
        .unwrap();
    s.heartbeat("here", "1", false, 0, TTL).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let view = s.heartbeat("here", "1", true, 0, TTL).await.unwrap();
    assert_eq!(view.members.len(), 1);
    assert!(view.members[0].draining);
}
