//! HAProxy's runtime API on a unix socket (`stats socket`): line commands, one per
//! connection or many after `prompt` (as `hatop` does). It reads and changes the shared
//! [`Pool`](crate::pool::Pool): server admin states and weights take effect on the next request.

use crate::pool::{Backend, Server};
use crate::state::State;
use async_trait::async_trait;
use netpulse_config::RuntimeLevel;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The socket: where it lives and who may open it.
pub struct Runtime {
    pub cli: Arc<Cli>,
    pub path: String,
    pub mode: u32,
}

/// The command interpreter, shared by every connection.
pub struct Cli {
    pub state: Arc<State>,
    pub level: RuntimeLevel,
}

mod admin;
mod commands;
mod show;

/// What one command line did.
enum Outcome {
    Text(String),
    Prompt,
    Quit,
}

impl Cli {
    fn acceptors(&self) -> Vec<&crate::tls::Acceptor> {
        let fronts = self.state.frontends.iter();
        fronts.filter_map(|f| f.tls.as_deref()).collect()
    }

    fn backend(&self, name: &str) -> Option<(usize, &Backend)> {
        let pool = &self.state.pool;
        pool.backend(name).map(|i| (i, &pool.backends[i]))
    }

    fn server(&self, arg: Option<&str>) -> Result<(&Backend, &Server), String> {
        let (b, s) = arg.and_then(|a| a.split_once('/')).ok_or("Require 'backend/server'.")?;
        let (_, b) = self.backend(b).ok_or("No such backend.")?;
        let (_, s) = b.server_named(s).ok_or("No such server.")?;
        Ok((b, s))
    }

    fn admin_only(&self) -> Result<(), String> {
        (self.level == RuntimeLevel::Admin)
            .then_some(())
            .ok_or_else(|| "Permission denied".to_string())
    }

    fn set_weight(s: &Server, v: &str) -> Result<(), String> {
        let w = match v.strip_suffix('%') {
            Some(p) => {
                let p: u64 = p.parse().map_err(|_| "Relative weight must be positive.")?;
                (u64::from(s.initial_weight) * p / 100).min(256) as u32
            }
            None => match v.parse::<u32>() {
                Ok(w) if w <= 256 => w,
                _ => return Err("Absolute weight can only be between 0 and 256 inclusive.".into()),
            },
        };
        s.weight.store(w, Ordering::Relaxed);
        Ok(())
    }

    fn execute(&self, line: &str) -> Result<Outcome, String> {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.is_empty() {
            return Ok(Outcome::Text(String::new()));
        }
        let Some((command, args)) = commands::find(&w) else {
            return Err(format!(
                "Unknown command, but maybe one of the following ones is a better match:\n{}\n",
                commands::help()
            ));
        };
        // The level is checked once, for every command that changes something.
        if command.admin {
            self.admin_only()?;
        }
        (command.run)(self, args)
    }

    fn show_backend(&self) -> String {
        let names: Vec<&str> = (self.state.proxies.iter())
            .filter(|p| p.backend.is_some() || p.stats)
            .map(|p| p.name.as_str())
            .collect();
        format!("# name\n{}\n", names.join("\n"))
    }
}

/// `add server B/S ADDR [weight N] [check] [backup] [cookie V] [maxconn N]`.
fn server_config(name: &str, addr: &str, opts: &[&str]) -> Result<netpulse_config::ServerConfig, String> {
    let mut c = netpulse_config::ServerConfig {
        name: name.to_string(),
        address: addr.to_string(),
        check: false,
        ..Default::default()
    };
    let mut it = opts.iter();
    while let Some(o) = it.next() {
        let mut value = || it.next().copied().ok_or_else(|| format!("'{o}' expects an argument."));
        match *o {
            "check" => c.check = true,
            "backup" => c.backup = true,
            "weight" => {
                c.weight = value()?
                    .parse()
                    .ok()
                    .filter(|w| *w <= 256)
                    .ok_or("weight must be between 0 and 256.")?
            }
            "cookie" => c.cookie = Some(value()?.to_string()),
            "maxconn" => c.maxconn = Some(value()?.parse().map_err(|_| "maxconn expects a number.")?),
            other => return Err(format!("'{other}' is not supported by add server here.")),
        }
    }
    Ok(c)
}

#[async_trait]
impl BackgroundService for Runtime {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        // A socket file left by a previous (or the upgraded-from) process is replaced, as HAProxy does.
        let _ = std::fs::remove_file(&self.path);
        let listener = match tokio::net::UnixListener::bind(&self.path) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(path = %self.path, error = %e, "cannot open the runtime API socket");
                return;
            }
        };
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(self.mode)) {
            tracing::warn!(path = %self.path, error = %e, "cannot set the runtime API socket's mode");
        }
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let stream = tokio::select! {
                _ = shutdown.changed() => return,
                r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            };
            let cli = self.cli.clone();
            conns.spawn(async move { cli.serve(stream).await });
        }
    }
}

/// The longest command line the socket takes (HAProxy's CLI buffer is of this order): a client
/// sending bytes without a newline is cut off, never buffered without bound.
const MAX_LINE: usize = 16 * 1024;

struct LineTooLong;

/// The next line (without its end), `None` at the end of input; over [`MAX_LINE`] an error.
async fn read_line(r: &mut (impl tokio::io::AsyncBufRead + Unpin)) -> Result<Option<String>, LineTooLong> {
    let mut line = Vec::new();
    loop {
        let Ok(buf) = r.fill_buf().await else { return Ok(None) };
        if buf.is_empty() {
            return Ok((!line.is_empty()).then(|| String::from_utf8_lossy(&line).into_owned()));
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > MAX_LINE + 1 {
            return Err(LineTooLong);
        }
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
        }
    }
}

impl Cli {
    async fn serve(&self, stream: tokio::net::UnixStream) {
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        let mut prompt = false;
        loop {
            let idle = std::time::Duration::from_secs(if prompt { 600 } else { 10 });
            let line = match tokio::time::timeout(idle, read_line(&mut r)).await {
                Ok(Ok(Some(l))) => l,
                Ok(Err(LineTooLong)) => {
                    let _ = w
                        .write_all(format!("Line too long (over {MAX_LINE} bytes).\n\n").as_bytes())
                        .await;
                    return;
                }
                _ => return,
            };
            let mut out = String::new();
            for cmd in line.split(';') {
                match self.execute(cmd.trim()) {
                    Ok(Outcome::Text(t)) => out.push_str(&t),
                    Ok(Outcome::Prompt) => prompt = !prompt,
                    Ok(Outcome::Quit) => return,
                    Err(e) => {
                        out.push_str(e.trim_end_matches('\n'));
                        out.push('\n');
                    }
                }
            }
            out.push('\n');
            if prompt {
                out.push_str("> ");
            }
            if w.write_all(out.as_bytes()).await.is_err() || !prompt {
                return;
            }
        }
    }
}
