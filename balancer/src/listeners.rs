//! A socket option Pingora 0.9 does not expose for its listeners: `TCP_DEFER_ACCEPT`, so a
//! connection reaches the proxy only once its first bytes have arrived. Two reasons: a client
//! that connects and sends nothing never holds a task, and during a graceful upgrade the old
//! process never accepts a connection whose request is still on its way (pingora-proxy drops
//! connections waiting for a request header when shutdown starts).
//!
//! Pingora binds the listeners itself when its services start, so this service finds them in
//! `/proc/self/fd` by their local address and sets the option once. The option lives on the
//! socket, which a graceful upgrade hands over as is.

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct DeferAccept {
    pub addrs: Vec<SocketAddr>,
    /// Seconds the kernel waits for data before handing a silent connection over anyway.
    pub seconds: i32,
}

/// The local address of `fd` if it is a listening TCP socket.
pub(crate) fn listening_addr(fd: i32) -> Option<SocketAddr> {
    let mut accepting: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: plain syscalls on an integer descriptor with buffers sized for them; a descriptor
    // that is not a socket, or was closed meanwhile, makes them fail, which is handled.
    let ok = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut accepting as *mut libc::c_int).cast(),
            &mut len,
        )
    } == 0;
    if !ok || accepting == 0 {
        return None;
    }
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut slen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: as above; `storage` is large enough for any address family.
    if unsafe { libc::getsockname(fd, (&mut storage as *mut libc::sockaddr_storage).cast(), &mut slen) } != 0 {
        return None;
    }
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let a: libc::sockaddr_in = unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6.
            let a: libc::sockaddr_in6 = unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::from((ip, u16::from_be(a.sin6_port))))
        }
        _ => None,
    }
}

pub(crate) fn set_defer_accept(fd: i32, seconds: i32) -> bool {
    // SAFETY: a plain setsockopt with an int-sized value.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&seconds as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        ) == 0
    }
}

#[async_trait]
impl BackgroundService for DeferAccept {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let want: HashSet<SocketAddr> = self.addrs.iter().copied().collect();
        let mut done = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while done.len() < want.len() && Instant::now() < deadline {
            if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
                for fd in dir
                    .flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                {
                    if let Some(a) = listening_addr(fd).filter(|a| want.contains(a) && !done.contains(a))
                        && set_defer_accept(fd, self.seconds)
                    {
                        tracing::info!(listen = %a, "TCP_DEFER_ACCEPT set");
                        done.insert(a);
                    }
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
        for a in want.difference(&done) {
            tracing::warn!(listen = %a, "listener not found: TCP_DEFER_ACCEPT not set");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_listener_by_address_and_sets_the_option() {
        use std::os::fd::AsRawFd;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert_eq!(listening_addr(l.as_raw_fd()), Some(addr));
        assert!(set_defer_accept(l.as_raw_fd(), 1));
        let c = std::net::TcpStream::connect(addr).unwrap();
        assert_eq!(listening_addr(c.as_raw_fd()), None, "not a listener");
    }
}
