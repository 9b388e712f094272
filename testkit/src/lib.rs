//! netpulse-testkit: what the behaviour tests of every netpulse crate share, so services
//! start and stop the same way everywhere: free ports on 127.0.0.1, scratch folders, child
//! processes (log file, signals, bounded stop, killed when dropped), and bounded waits.
//! The services themselves (snmpd, HAProxy, …) live with the tests that use them; Redis and
//! InfluxDB are here because collector and balancer tests both need them.
#![forbid(unsafe_code)]

pub mod http;
mod influxd;
mod ports;
mod process;
mod redis;
pub mod systemd;
mod wait;

pub use influxd::Influxd;
pub use ports::{free_tcp_port, free_udp_port, tempdir};
pub use process::{Proc, rss_kib};
pub use redis::Redis;
pub use wait::{wait_tcp, wait_until};
