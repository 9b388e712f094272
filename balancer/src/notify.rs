//! systemd readiness for the balancer (`Type=notify`): READY once every frontend listener is
//! open in this process, and, after a graceful upgrade started by `ExecReload`, MAINPID with it
//! so systemd follows the hand-over; watchdog pings while the server runs; STOPPING when the
//! shutdown begins. Outside systemd every message is a no-op.

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct Notify {
    /// Frontend listen addresses: ready means each one accepts here.
    pub addrs: Vec<SocketAddr>,
    /// This process took the listeners over from a running one (`--upgrade`).
    pub upgraded: bool,
}

/// How many of `want` are listening sockets of this process now.
fn listening(want: &HashSet<SocketAddr>) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let fds = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok());
    let found: HashSet<SocketAddr> = fds
        .filter_map(crate::listeners::listening_addr)
        .filter(|a| want.contains(a))
        .collect();
    found.len()
}

#[async_trait]
impl BackgroundService for Notify {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let want: HashSet<SocketAddr> = self.addrs.iter().copied().collect();
        // Pingora opens (or receives) the listeners as its services start; systemd's start
        // timeout bounds the wait, this loop only keeps a stuck start from pinging forever.
        let deadline = Instant::now() + Duration::from_secs(60);
        while listening(&want) < want.len() {
            if Instant::now() > deadline {
                tracing::error!("frontend listeners not open after 60s: readiness not reported");
                return;
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        if self.upgraded {
            netpulse_sdnotify::ready_as_main();
        } else {
            netpulse_sdnotify::ready();
        }
        tracing::info!(listeners = want.len(), upgraded = self.upgraded, "ready");
        let period = netpulse_sdnotify::watchdog_interval();
        let mut dog = tokio::time::interval(period.unwrap_or(Duration::from_secs(3600)));
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = dog.tick(), if period.is_some() => netpulse_sdnotify::watchdog(),
            }
        }
        netpulse_sdnotify::stopping();
    }
}
