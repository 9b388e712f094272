//! HAProxy's `timeout http-request` for the first request of each connection: the whole
//! request header must arrive within the deadline, or the client gets 408 and is closed.
//! Pingora only bounds each read (a slowloris trickling a byte per read is never cut), so
//! this wraps the proxy's `ServerApp`: it reads the header bytes itself, under one deadline,
//! then hands them back to the stream (rewind) and lets Pingora parse them as usual. Later
//! requests on a kept-alive connection are bounded per read by the client timeout.

use crate::pool::Counters;
use async_trait::async_trait;
use pingora_core::apps::ServerApp;
use pingora_core::protocols::Stream;
use pingora_core::protocols::l4::stream::Stream as L4Stream;
use pingora_core::server::ShutdownWatch;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Read ahead at most this much; Pingora reads the rest (and enforces its 1 MiB limit).
const MAX_AHEAD: usize = 64 * 1024;

pub struct HeaderDeadline<A> {
    pub inner: Arc<A>,
    pub deadline: Duration,
    /// The frontend's counters: a 408 counts as a request error (`ereq`).
    pub counters: Arc<Counters>,
}

/// Whether `buf` holds a complete header; `from` is where new bytes start.
fn header_complete(buf: &[u8], from: usize) -> bool {
    buf[from.saturating_sub(3)..].windows(4).any(|w| w == b"\r\n\r\n")
}

const TIMEOUT_408: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 74\r\nConnection: close\r\n\r\n408 Request Timeout: your browser didn't send a complete request in time.\n";

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for HeaderDeadline<A> {
    async fn process_new(self: &Arc<Self>, mut stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        if !stream.as_any().is::<L4Stream>() {
            return self.inner.process_new(stream, shutdown).await;
        }
        let mut buf = Vec::with_capacity(2048);
        let read = async {
            let mut chunk = [0u8; 4096];
            loop {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                let from = buf.len();
                buf.extend_from_slice(&chunk[..n]);
                if header_complete(&buf, from) || buf.len() >= MAX_AHEAD {
                    return Some(());
                }
            }
        };
        match tokio::time::timeout(self.deadline, read).await {
            Ok(Some(())) => {}
            Ok(None) => return None,
            // A connection that sent nothing (a browser's preconnect) is closed silently, as
            // HAProxy's `http-ignore-probes` does: a 408 there shows up as a failed page load.
            Err(_) if buf.is_empty() => return None,
            Err(_) => {
                self.counters.ereq.fetch_add(1, Ordering::Relaxed);
                let _ = stream.write_all(TIMEOUT_408).await;
                let _ = stream.flush().await;
                return None;
            }
        }
        let mut l4 = stream.into_any().downcast::<L4Stream>().ok()?;
        l4.rewind(&buf);
        self.inner.process_new(l4, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_end_found_across_reads() {
        assert!(super::header_complete(b"GET / HTTP/1.1\r\n\r\n", 0));
        let b = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(super::header_complete(b, b.len() - 2), "the end split over two reads");
        assert!(!super::header_complete(b"GET / HTTP/1.1\r\nHost: x\r\n", 0));
        assert!(super::TIMEOUT_408.ends_with(b"\n"));
        let body = &super::TIMEOUT_408[super::TIMEOUT_408.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        assert_eq!(body.len(), 74, "Content-Length matches the body");
    }
}
