//! netpulse-collector: polls SNMP agents and turns the answers into InfluxDB line protocol.
//!
//! Data flow: `config` → [`target::Target`] → [`poll`] (over [`snmp`] sessions, using
//! [`modules`]) → [`mapping`] → [`lineproto`] → stdout (`--test`) or outputs.
//! It must never let one target's slowness delay another's poll, and never log a secret.
// Unsafe only in `snmp::sockbuf` (a socket reached by its descriptor), allowed there alone.
#![deny(unsafe_code)]

pub mod align;
/// The circuit breaker targets and outputs share (it lives with the outputs' delivery).
pub use netpulse_delivery::breaker;
pub mod cluster;
pub mod daemon;
pub mod discovery;
pub mod limits;
pub mod lineproto;
pub mod mapping;
pub mod metrics;
pub mod modules;
pub mod output;
pub mod poll;
pub mod profiles;
mod prom;
pub mod rates;
pub mod registry;
pub mod run;
pub mod snmp;
pub mod sources;
pub mod target;
pub mod traps;
pub mod varint;
