//! A reply that arrives after its request timed out must never be taken for the answer
//! to the request sent next over the same socket (request-id / msgID matching).

mod harness;

use harness::{AUTH_PASS, PRIV_PASS, SlowAgent, Snmpd};
use netpulse_collector::snmp::{Oid, RequestPolicy, SnmpEngine, SnmpError, SnmpSession, TargetSecurity, Value};
use netpulse_config::{AuthProtocol, PrivProtocol, Secret, SnmpVersion};
use std::time::Duration;

async fn check(agent: &Snmpd, security: TargetSecurity) {
    // Request 1 is answered after 700 ms (its timeout is 500 ms); request 2, sent at ~500 ms,
    // is answered at ~900 ms, so request 1's late answer lands while request 2 waits.
    let ms = Duration::from_millis;
    let proxy = SlowAgent::start(agent.port, Duration::ZERO);
    let engine = SnmpEngine::new(1).await.unwrap();
    let policy = RequestPolicy {
        timeout: ms(500),
        retries: 0,
        max_varbinds: 10,
    };
    let s = engine
        .session("127.0.0.1", proxy.port, &security, policy)
        .await
        .unwrap();
    let sys_name = Oid::parse("1.3.6.1.2.1.1.5.0").unwrap();
    let sys_location = Oid::parse("1.3.6.1.2.1.1.6.0").unwrap();
    // Warm up: v3 discovery and time sync happen here.
    let warm = s.get(std::slice::from_ref(&sys_name)).await.unwrap();
    assert_eq!(warm[0].value, Value::OctetString("np-late".into()));
    // Request 1 is answered after 700 ms (its timeout is 500 ms); request 2, sent at ~500 ms,
    // is answered at ~900 ms, so request 1's late answer lands while request 2 waits.
    proxy.delay_next(&[ms(700), ms(400)]);
    let first = s.get(std::slice::from_ref(&sys_name)).await;
    assert!(matches!(first, Err(SnmpError::Timeout { .. })), "{first:?}");
    let second = s.get(std::slice::from_ref(&sys_location)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(
        second[0].oid, sys_location,
        "the late sysName reply was not taken for this answer"
    );
    assert_eq!(second[0].value, Value::OctetString("lab-1".into()));
}

#[tokio::test]
async fn late_reply_is_discarded_v2c() {
    let agent = Snmpd::start("np-late");
    check(
        &agent,
        TargetSecurity::Community {
            version: SnmpVersion::V2c,
            community: Secret::new("public"),
        },
    )
    .await;
}

#[tokio::test]
async fn late_reply_is_discarded_v3() {
    let agent = Snmpd::start("np-late");
    let security = TargetSecurity::Usm {
        user: "sha256_aes128".into(),
        auth: Some((AuthProtocol::Sha256, Secret::new(AUTH_PASS))),
        privacy: Some((PrivProtocol::Aes128, Secret::new(PRIV_PASS))),
        context: None,
    };
    check(&agent, security).await;
}
