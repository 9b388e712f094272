//! Whatever arrives on the socket, decoding answers with a value or an error, never a
//! panic: random bytes and mutations of a valid response (the fuzzing stand-in that runs
//! in every `scripts/test`; the BER decoder itself is async-snmp's).

use netpulse_collector::snmp::decode_community_response;
use proptest::prelude::*;

/// A valid v2c response: sysName.0 = "sw1", ifHCInOctets.1 = Counter64.
const VALID: &[u8] = &[
    0x30, 0x3c, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa2, 0x2f, 0x02, 0x01, 0x07, 0x02,
    0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x24, 0x30, 0x0f, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x05, 0x00,
    0x04, 0x03, b's', b'w', b'1', 0x30, 0x11, 0x06, 0x0b, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x1f, 0x01, 0x01, 0x01, 0x06,
    0x01, 0x46, 0x02, 0x01, 0x00,
];

#[test]
fn the_valid_datagram_decodes() {
    let vbs = decode_community_response(VALID).unwrap();
    assert_eq!(vbs.len(), 2);
    assert_eq!(vbs[0].oid.to_string(), "1.3.6.1.2.1.1.5.0");
    assert_eq!(vbs[1].value, netpulse_collector::snmp::Value::Counter64(256));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_community_response(&bytes);
    }

    #[test]
    fn mutated_responses_never_panic(flips in proptest::collection::vec((0..VALID.len(), any::<u8>()), 1..6), cut in 0..=VALID.len()) {
        let mut bytes = VALID.to_vec();
        for (i, b) in flips {
            bytes[i] = b;
        }
        bytes.truncate(cut.max(1));
        let _ = decode_community_response(&bytes);
    }
}
