//! The trap sockets' kernel side: their receive buffer and the datagrams the kernel dropped on
//! them. async-snmp binds its receiver's socket itself and does not expose it, and bursts of
//! traps overflow the kernel's default buffer (208 KiB, about 270 traps) whenever the process is
//! busy elsewhere for a moment. So the socket is found among the process' descriptors by its
//! local address (the only place that touches a descriptor by number, hence the only unsafe
//! code of the crate), its buffer sized, and its drop count read from `/proc/net/udp{,6}`.
#![allow(unsafe_code)]

use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A UDP socket of this process: its descriptor and inode.
#[derive(Debug, Clone, Copy)]
pub struct OsSocket {
    fd: i32,
    inode: u64,
}

/// The UDP socket of this process bound to exactly `local`, if there is one.
pub fn find(local: SocketAddr) -> Option<OsSocket> {
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(link) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let inode = (link.to_str())
            .and_then(|l| l.strip_prefix("socket:["))
            .and_then(|l| l.strip_suffix(']'))
            .and_then(|n| n.parse().ok());
        if let Some(inode) = inode
            && int_opt(fd, libc::SO_TYPE) == Some(libc::SOCK_DGRAM)
            && sockname(fd) == Some(local)
        {
            return Some(OsSocket { fd, inode });
        }
    }
    None
}

impl OsSocket {
    /// Asks for a receive buffer of `bytes` — beyond `net.core.rmem_max` too when the process may
    /// (CAP_NET_ADMIN) — and returns what the kernel granted (as `SO_RCVBUF` is set: the kernel
    /// reports twice that, its bookkeeping included).
    pub fn set_receive_buffer(&self, bytes: u64) -> Option<u64> {
        let want = bytes.min(i32::MAX as u64 / 2) as i32;
        if !set_int_opt(self.fd, libc::SO_RCVBUFFORCE, want) {
            set_int_opt(self.fd, libc::SO_RCVBUF, want);
        }
        int_opt(self.fd, libc::SO_RCVBUF).map(|v| v as u64 / 2)
    }

    /// Datagrams the kernel dropped on this socket since it opened (its buffer was full).
    pub fn drops(&self) -> Option<u64> {
        ["/proc/net/udp", "/proc/net/udp6"]
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .find_map(|text| drops_of(&text, self.inode))
    }
}

/// The `drops` column of the line of `inode` in a `/proc/net/udp` table.
fn drops_of(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        (cols.get(9)?.parse::<u64>().ok()? == inode).then(|| cols.last()?.parse().ok())?
    })
}

fn int_opt(fd: i32, name: libc::c_int) -> Option<i32> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of the sizes given; a descriptor that is not a
    // socket (or no longer open) makes the call fail, which is handled.
    let rc = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, name, (&raw mut v).cast(), &mut len) };
    (rc == 0).then_some(v)
}

fn set_int_opt(fd: i32, name: libc::c_int, v: i32) -> bool {
    // SAFETY: `v` is valid for reads of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&raw const v).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

fn sockname(fd: i32) -> Option<SocketAddr> {
    // SAFETY: a zeroed sockaddr_storage is a valid value; `ss` and `len` are valid for writes
    // of the sizes given, and the family read decides which view of it is read.
    unsafe {
        let mut ss: libc::sockaddr_storage = zeroed();
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        if libc::getsockname(fd, (&raw mut ss).cast(), &mut len) != 0 {
            return None;
        }
        match ss.ss_family as libc::c_int {
            libc::AF_INET => {
                let a = &*(&raw const ss).cast::<libc::sockaddr_in>();
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 => {
                let a = &*(&raw const ss).cast::<libc::sockaddr_in6>();
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                let port = u16::from_be(a.sin6_port);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    port,
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_socket_is_found_sized_and_its_drops_read() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let os = find(s.local_addr().unwrap()).expect("found by its address");
        let granted = os.set_receive_buffer(4 << 20).unwrap();
        // Without CAP_NET_ADMIN the kernel caps it at net.core.rmem_max.
        assert!(granted >= 4 << 20 || granted > 100_000, "{granted}");
        assert_eq!(os.drops(), Some(0));
        assert!(find("127.0.0.1:1".parse().unwrap()).is_none());
    }

    #[test]
    fn what_overflows_a_small_buffer_is_counted_as_the_kernel_dropped_it() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let os = find(rx.local_addr().unwrap()).unwrap();
        os.set_receive_buffer(64 << 10);
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // Nobody reads: 2,000 datagrams of 200 bytes (about 1.5 MiB as the kernel counts them)
        // cannot all wait in 64 KiB.
        for _ in 0..2000 {
            tx.send_to(&[0u8; 200], rx.local_addr().unwrap()).unwrap();
        }
        let drops = os.drops().unwrap();
        assert!((1000..=2000).contains(&drops), "{drops}");
        let mut queued = 0;
        rx.set_nonblocking(true).unwrap();
        while rx.recv(&mut [0u8; 512]).is_ok() {
            queued += 1;
        }
        assert_eq!(queued + drops, 2000, "every datagram either queued or counted");
    }

    #[test]
    fn the_drops_column_is_read_from_the_inode_s_line() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                 1: 0100007F:00A2 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n";
        assert_eq!(drops_of(t, 4242), Some(17));
        assert_eq!(drops_of(t, 1), None);
    }
}
