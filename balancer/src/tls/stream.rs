//! A terminated TLS connection as Pingora and the express lane read it: a byte stream that
//! also says which protocol ALPN chose (HTTP/2 goes to Pingora's h2 server) and which TLS
//! version and cipher it runs, and that can take back bytes read ahead (rewind), as
//! Pingora's TCP stream can.

use super::TlsCounters;
use async_trait::async_trait;
use pingora_core::protocols::l4::stream::Stream as L4Stream;
use pingora_core::protocols::raw_connect::ProxyDigest;
use pingora_core::protocols::tls::SslDigest;
use pingora_core::protocols::{
    ALPN, GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, TimingDigest, UniqueID,
    UniqueIDType,
};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

type Inner = tokio_rustls::server::TlsStream<Box<L4Stream>>;

pub struct TlsConn {
    inner: Inner,
    /// Bytes handed back with `rewind`, read before the stream's.
    rewound: Vec<u8>,
    alpn: Option<ALPN>,
    digest: Arc<SslDigest>,
    counters: Arc<TlsCounters>,
}

impl TlsConn {
    pub(super) fn new(inner: Inner, counters: Arc<TlsCounters>) -> Self {
        let conn = inner.get_ref().1;
        let alpn = match conn.alpn_protocol() {
            Some(b"h2") => Some(ALPN::H2),
            Some(b"http/1.1") => Some(ALPN::H1),
            _ => None,
        };
        let version = conn.protocol_version().and_then(|v| v.as_str()).unwrap_or("TLS");
        let cipher = (conn.negotiated_cipher_suite())
            .and_then(|s| s.suite().as_str())
            .unwrap_or("unknown");
        let digest = Arc::new(SslDigest::new(
            cipher.to_string(),
            version.to_string(),
            None,
            None,
            vec![],
        ));
        counters.current.fetch_add(1, Ordering::Relaxed);
        Self {
            inner,
            rewound: Vec::new(),
            alpn,
            digest,
            counters,
        }
    }

    /// Puts `data` back in front of what is still to be read.
    pub fn rewind(&mut self, data: &[u8]) {
        if !data.is_empty() {
            let mut v = data.to_vec();
            v.append(&mut self.rewound);
            self.rewound = v;
        }
    }

    /// Whether the client chose HTTP/2.
    pub fn is_h2(&self) -> bool {
        self.alpn == Some(ALPN::H2)
    }

    fn tcp(&self) -> &L4Stream {
        self.inner.get_ref().0
    }
}

impl Drop for TlsConn {
    fn drop(&mut self) {
        self.counters.current.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConn")
            .field("alpn", &self.alpn)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if !self.rewound.is_empty() {
            let n = self.rewound.len().min(buf.remaining());
            buf.put_slice(&self.rewound[..n]);
            self.rewound.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for TlsConn {
    async fn shutdown(&mut self) {
        // close_notify, then the TCP shutdown.
        let _ = AsyncWriteExt::shutdown(&mut self.inner).await;
    }
}

impl UniqueID for TlsConn {
    fn id(&self) -> UniqueIDType {
        self.tcp().id()
    }
}

impl Ssl for TlsConn {
    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        Some(self.digest.clone())
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.alpn.clone()
    }
}

impl GetTimingDigest for TlsConn {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.tcp().get_timing_digest()
    }
}

impl GetProxyDigest for TlsConn {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.tcp().get_proxy_digest()
    }
}

impl GetSocketDigest for TlsConn {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.tcp().get_socket_digest()
    }
}

impl Peek for TlsConn {}
