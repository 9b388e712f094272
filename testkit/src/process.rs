//! A child process of a test: its stderr (and stdout) in a log file, signals by name,
//! a stop that asks first (SIGTERM) and kills after a bound, and a kill when dropped so no
//! test leaves a server behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Proc {
    child: Option<Child>,
    pub log: PathBuf,
    what: String,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log`; `what` names it in panics.
    pub fn spawn(what: &str, mut cmd: Command, log: &Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("{what}: cannot open log {}: {e}", log.display()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} (scripts/test installs it): {e}"));
        Self {
            child: Some(child),
            log: log.to_path_buf(),
            what: what.into(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The exit status if it has exited (`Child::try_wait`).
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => c.try_wait(),
            None => Ok(None),
        }
    }

    /// Sends `sig` (`"TERM"`, `"KILL"`, `"HUP"`, `"USR2"`, …) by name.
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let status = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(c.id().to_string())
                .status();
            assert!(
                status.is_ok_and(|s| s.success()) || sig == "KILL",
                "kill -{sig} {}",
                self.what
            );
        }
    }

    /// Waits at most `timeout` for it to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.child.as_ref()?;
        self.signal("TERM");
        let status = self.wait_exit(grace).or_else(|| {
            self.kill();
            None
        });
        self.child = None;
        status
    }

    /// SIGKILL now, and reaped.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS`), for tests that bound a daemon's memory.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_asks_then_kills_and_the_log_holds_the_output() {
        let dir = crate::tempdir("proc");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; trap '' TERM; sleep 30"]);
        let mut p = Proc::spawn("sh", cmd, &dir.join("log"));
        crate::wait_until(
            "the echo",
            Duration::from_secs(5),
            || p.log_text().contains("started"),
            String::new,
        );
        assert!(p.running());
        let t = Instant::now();
        assert!(p.stop(Duration::from_millis(300)).is_none(), "TERM ignored: killed");
        assert!(t.elapsed() < Duration::from_secs(5));
        let mut q = Proc::spawn("sleep", Command::new("sleep").tap_arg("30"), &dir.join("log2"));
        assert!(q.stop(Duration::from_secs(5)).is_some(), "sleep exits on TERM");
    }

    trait TapArg {
        fn tap_arg(self, a: &str) -> Self;
    }
    impl TapArg for Command {
        fn tap_arg(mut self, a: &str) -> Self {
            self.arg(a);
            self
        }
    }
}
