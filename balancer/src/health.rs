//! Active health checks with HAProxy's semantics: every server is checked on its own
//! schedule, in parallel with the others (`interval`; `fast_interval` while it is between
//! states; `down_interval` while DOWN). HTTP: status `expect_status`, or any 2xx/3xx; TCP:
//! connect. `fall` consecutive failures take a server DOWN, `rise` successes bring it UP;
//! each transition is logged once.

use crate::pool::{Backend, CheckResult, CheckStatus, Pool, Server};
use async_trait::async_trait;
use netpulse_config::{CheckKind, HealthCheck};
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Checker {
    pub pool: Arc<Pool>,
}

/// One check of one server.
pub async fn check(server: &Server, hc: &HealthCheck) -> (bool, CheckResult) {
    let started = Instant::now();
    let result = |ok: bool, status: CheckStatus, code: Option<u16>| {
        (
            ok,
            CheckResult {
                status,
                code,
                duration: started.elapsed(),
            },
        )
    };
    let Some(addr) = server.addr.get() else {
        return result(false, CheckStatus::L4Con, None);
    };
    let stream = match tokio::time::timeout(hc.timeout.get(), tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => return result(false, CheckStatus::L4Con, None),
        Err(_) => return result(false, CheckStatus::L4Tout, None),
    };
    if hc.kind == CheckKind::Tcp {
        return result(true, CheckStatus::L4Ok, None);
    }
    let exchange = async {
        let mut stream = stream;
        let req = format!(
            "{} {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: netpulse-balancer-check\r\nConnection: close\r\n\r\n",
            hc.method, hc.path, addr
        );
        stream.write_all(req.as_bytes()).await.ok()?;
        let mut buf = vec![0u8; 512];
        let mut n = 0;
        while n < 12 {
            let m = stream.read(&mut buf[n..]).await.ok()?;
            if m == 0 {
                break;
            }
            n += m;
        }
        let head = std::str::from_utf8(&buf[..n]).ok()?;
        head.strip_prefix("HTTP/1.")?.get(2..5)?.parse::<u16>().ok()
    };
    match tokio::time::timeout(hc.timeout.get(), exchange).await {
        Err(_) => result(false, CheckStatus::L7Tout, None),
        Ok(None) => result(false, CheckStatus::L7Rsp, None),
        Ok(Some(code)) => {
            let ok = match hc.expect_status {
                Some(want) => code == want,
                None => (200..400).contains(&code),
            };
            result(ok, if ok { CheckStatus::L7Ok } else { CheckStatus::L7Sts }, Some(code))
        }
    }
}

/// Checks one server and records the result; returns how long to wait before the next check.
async fn check_server(b: &Backend, s: &Server, hc: &HealthCheck) -> std::time::Duration {
    let failed_last = s.health().last.status.is_failure();
    s.addr.refresh(failed_last).await;
    let (ok, res) = check(s, hc).await;
    let status = res.status.as_str();
    if let Some(up) = s.record_check(ok, res, hc.rise, hc.fall) {
        b.changed();
        let left = b.up_servers();
        if up {
            tracing::info!(backend = %b.name, server = %s.name, check = status, up_servers = left, "server is UP");
        } else {
            tracing::warn!(backend = %b.name, server = %s.name, check = status, up_servers = left, "server is DOWN");
            if left == 0 {
                tracing::error!(backend = %b.name, "backend has no server available");
            }
        }
    }
    let h = s.health();
    match (h.up, h.streak > 0) {
        (_, true) => hc.interval_while_changing().get(),
        (false, false) => hc.interval_while_down().get(),
        (true, false) => hc.interval.get(),
    }
}

/// The check loop of server `j` of backend `i`; it ends on shutdown or when the server is
/// deleted (servers added at run time have no shutdown watch: the process end stops them).
pub fn spawn_server_loop(
    pool: Arc<Pool>,
    i: usize,
    j: usize,
    hc: HealthCheck,
    shutdown: Option<ShutdownWatch>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut shutdown = shutdown;
        loop {
            let b = &pool.backends[i];
            if b.servers[j].removed.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let wait = check_server(b, &b.servers[j], &hc).await;
            match &mut shutdown {
                Some(s) => tokio::select! {
                    _ = s.changed() => return,
                    _ = tokio::time::sleep(wait) => {}
                },
                None => tokio::time::sleep(wait).await,
            }
        }
    })
}

#[async_trait]
impl BackgroundService for Checker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut loops = vec![];
        // One loop per server (Pingora's own checker goes one server after another).
        for (i, b) in self.pool.backends.iter().enumerate() {
            let Some(hc) = b.health_check.clone() else { continue };
            for (j, _) in b.servers.iter().enumerate().filter(|(_, s)| s.checked) {
                loops.push(spawn_server_loop(
                    self.pool.clone(),
                    i,
                    j,
                    hc.clone(),
                    Some(shutdown.clone()),
                ));
            }
        }
        let _ = shutdown.changed().await;
        for l in loops {
            l.abort();
        }
    }
}
