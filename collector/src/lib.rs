//! netpulse-collector: polls SNMP agents and turns the answers into InfluxDB line protocol.
//!
//! Data flow: `config` → [`target::Target`] → [`poll`] (over [`snmp`] sessions, using
//! [`modules`]) → [`mapping`] → [`lineproto`] → stdout (`--test`) or outputs.
//! It must never let one target's slowness delay another's poll, and never log a secret.
#![forbid(unsafe_code)]

pub mod lineproto;
pub mod mapping;
pub mod modules;
pub mod output;
pub mod poll;
pub mod run;
pub mod snmp;
pub mod target;
