//! SNMP messages as the collector receives them: the v1/v2c response path the collector
//! decodes itself, and async-snmp's message decoding (v1/v2c/v3, the v3 envelope with its USM
//! parameters). Any bytes: a value or an error, never a panic, never unbounded work.
#![no_main]

use async_snmp::DecodeConfig;
use async_snmp::message::{Message, RawV3Message};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = netpulse_collector::snmp::decode_community_response(data);
    let bytes = Bytes::copy_from_slice(data);
    let _ = Message::decode(bytes.clone(), DecodeConfig::default());
    let _ = Message::decode(bytes.clone(), DecodeConfig::STRICT);
    let _ = RawV3Message::decode(bytes, DecodeConfig::default());
});
