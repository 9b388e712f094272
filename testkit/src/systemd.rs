//! What systemd does to a `Type=notify` service, done by a test: a notify socket that
//! collects the daemon's datagrams, and the checks `systemd-analyze` makes of a unit file
//! (`verify` with the unit's binaries replaced by the ones under test, `security --offline`).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The socket systemd would pass as `$NOTIFY_SOCKET`.
pub struct NotifySocket {
    pub path: PathBuf,
    sock: UnixDatagram,
}

impl NotifySocket {
    pub fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let sock = UnixDatagram::bind(&path).unwrap();
        Self { path, sock }
    }

    /// The next datagram, if one comes within `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<String> {
        self.sock.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 4096];
        let n = self.sock.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Datagrams until one contains `want` (returned with everything before it), or panics
    /// naming what came instead.
    pub fn wait_for(&self, want: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = vec![];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.recv(left) {
                Some(m) if m.split('\n').any(|l| l == want) => {
                    seen.push(m);
                    return seen;
                }
                Some(m) => seen.push(m),
                None => break,
            }
        }
        panic!("no {want:?} on the notify socket within {timeout:?}; got {seen:?}");
    }
}

/// `unit` (a file under deploy/systemd) with each `(from, to)` replaced, written to `dir`
/// under the same name: the test's binaries and paths in place of the installed ones.
pub fn unit_copy(unit: &Path, dir: &Path, replace: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(unit).unwrap();
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    let out = dir.join(unit.file_name().unwrap());
    std::fs::write(&out, text).unwrap();
    out
}

/// `systemd-analyze verify`: Ok, or what it printed.
pub fn verify(unit: &Path) -> Result<(), String> {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() && text.trim().is_empty() {
        Ok(())
    } else {
        Err(text)
    }
}

/// `systemd-analyze security --offline=true`: the overall exposure and the full table.
pub fn exposure(unit: &Path) -> (f64, String) {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let level = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for ").nth(1))
        .and_then(|rest| rest.split(": ").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    (level, text)
}

/// The values of `key=` lines in a unit file, in order.
pub fn unit_values(unit: &Path, key: &str) -> Vec<String> {
    let text = std::fs::read_to_string(unit).unwrap();
    let prefix = format!("{key}=");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}
