//! Free loopback ports and scratch folders named so that parallel tests never collide.

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;

/// A UDP port nobody listens on right now.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A TCP port on 127.0.0.1 nobody listens on right now.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A new folder under the temp dir, unique to this process and call.
pub fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netpulse-{tag}-{}-{}", std::process::id(), free_udp_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
