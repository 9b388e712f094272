//! netpulse-testkit: what the behaviour tests of every netpulse crate share, so services
//! start and stop the same way everywhere: free ports on 127.0.0.1, scratch folders, child
//! processes (log file, signals, bounded stop, killed when dropped), and bounded waits.
//! The services themselves (snmpd, InfluxDB, HAProxy, Redis, …) live with the tests that
//! use them; Redis is here because collector and balancer tests both need it.
#![forbid(unsafe_code)]

mod ports;
mod process;
mod redis;
pub mod systemd;
mod wait;

pub use ports::{free_tcp_port, free_udp_port, tempdir};
pub use process::{Proc, rss_kib};
pub use redis::Redis;
pub use wait::{wait_tcp, wait_until};
