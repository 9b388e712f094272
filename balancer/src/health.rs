//! Active health checks with HAProxy's semantics: every `interval`, all servers of a
//! backend are checked in parallel (HTTP: status `expect_status`, or any 2xx/3xx; TCP:
//! connect); `fall` consecutive failures take a server DOWN, `rise` successes bring it UP;
//! each transition is logged once.

use crate::pool::{Backend, CheckResult, Pool, Server};
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
    let result = |ok: bool, status: &'static str, code: Option<u16>| {
        (
            ok,
            CheckResult {
                status,
                code,
                duration: started.elapsed(),
            },
        )
    };
    let stream = match tokio::time::timeout(hc.timeout.get(), tokio::net::TcpStream::connect(server.addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => return result(false, "L4CON", None),
        Err(_) => return result(false, "L4TOUT", None),
    };
    if hc.kind == CheckKind::Tcp {
        return result(true, "L4OK", None);
    }
    let exchange = async {
        let mut stream = stream;
        let req = format!(
            "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: netpulse-balancer-check\r\nConnection: close\r\n\r\n",
            hc.path, server.addr
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
        Err(_) => result(false, "L7TOUT", None),
        Ok(None) => result(false, "L7RSP", None),
        Ok(Some(code)) => {
            let ok = match hc.expect_status {
                Some(want) => code == want,
                None => (200..400).contains(&code),
            };
            result(ok, if ok { "L7OK" } else { "L7STS" }, Some(code))
        }
    }
}

async fn check_backend(b: &Backend, hc: &HealthCheck) {
    let checks = b.servers.iter().map(|s| async move {
        let (ok, res) = check(s, hc).await;
        let status = res.status;
        if let Some(up) = s.record_check(ok, res, hc.rise, hc.fall) {
            *b.last_change.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
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
    });
    // All servers at once (Pingora's own checker goes one after another by default).
    futures::future::join_all(checks).await;
}

#[async_trait]
impl BackgroundService for Checker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut loops = vec![];
        for (i, b) in self.pool.backends.iter().enumerate() {
            let Some(hc) = b.health_check.clone() else { continue };
            let pool = self.pool.clone();
            let mut shutdown = shutdown.clone();
            loops.push(tokio::spawn(async move {
                loop {
                    check_backend(&pool.backends[i], &hc).await;
                    tokio::select! {
                        _ = shutdown.changed() => return,
                        _ = tokio::time::sleep(hc.interval.get()) => {}
                    }
                }
            }));
        }
        let _ = shutdown.changed().await;
        for l in loops {
            l.abort();
        }
    }
}
