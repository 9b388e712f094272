//! sd_notify without libsystemd: the READY / RELOADING / STOPPING / WATCHDOG / MAINPID datagrams
//! netpulse's daemons send to `$NOTIFY_SOCKET` when systemd runs them with `Type=notify`.
//! Outside systemd (no socket) every call is a no-op, so the daemons call these unconditionally.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

fn send(msg: &str) {
    send_to(std::env::var_os("NOTIFY_SOCKET"), msg);
}

fn send_to(path: Option<std::ffi::OsString>, msg: &str) {
    let Some(path) = path else { return };
    let Ok(sock) = UnixDatagram::unbound() else { return };
    let path = path.to_string_lossy().to_string();
    // A lost datagram only delays what systemd shows; the daemon must never stop for it.
    let _ = if let Some(abstract_name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())
            .and_then(|a| sock.send_to_addr(msg.as_bytes(), &a))
    } else {
        sock.send_to(msg.as_bytes(), &path)
    };
}

pub fn ready() {
    send("READY=1");
}

/// Ready, and this process is now the service's main process: a process started by
/// `ExecReload` that took the listeners over from the old main process says so before the
/// old one exits, so systemd follows the hand-over instead of seeing the service die.
pub fn ready_as_main() {
    send(&format!("MAINPID={}\nREADY=1", std::process::id()));
}

pub fn stopping() {
    send("STOPPING=1");
}

pub fn reloading() {
    send("RELOADING=1");
}

pub fn status(text: &str) {
    send(&format!("STATUS={text}"));
}

/// Half the watchdog period systemd asked for, if it asked.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    // systemd sets WATCHDOG_PID for the main process only; a process that took over by
    // ExecReload pings too (NotifyAccess=all), as the new main process.
    Some(Duration::from_micros(usec / 2))
}

pub fn watchdog() {
    send("WATCHDOG=1");
}

#[cfg(test)]
mod tests {
    #[test]
    fn notifies_the_socket() {
        let dir = std::env::temp_dir().join(format!("np-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        super::send_to(Some(path.into_os_string()), "READY=1");
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
