//! `netpulse-balancer`: flags, logging, loading the native config (or an haproxy.cfg through
//! haproxy-compat), checking it (`-c`); `services` builds and runs the Pingora server.

// Pingora allocates per request (headers, buffers); glibc malloc was ~10 % of the proxy's CPU in
// perf (bench/balancer_vs_haproxy.sh), mimalloc a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bounded;
mod express;
mod frontend;
mod head_edit;
mod header_deadline;
mod health;
mod listeners;
mod mirror;
mod notify;
mod pool;
mod proxy;
mod redirect;
mod request_head;
mod runtime;
mod services;
mod stats;
mod sticky;
mod tls;

use clap::Parser;
use netpulse_config::{BalancerConfig, Loader};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "netpulse-balancer",
    version,
    about = "HA edge load balancer for InfluxDB and Grafana (Pingora)"
)]
struct Args {
    /// Native TOML configuration.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// An HAProxy configuration file (haproxy-compat).
    #[arg(short = 'f', value_name = "HAPROXY_CFG")]
    haproxy: Option<PathBuf>,
    /// Check the configuration and exit: 0 valid, 1 invalid (like `haproxy -c`).
    #[arg(short = 'c')]
    check: bool,
    /// Print the configuration as native TOML and exit (with `-f`: the translation of an
    /// haproxy.cfg, to keep as `balancer.toml` and extend, e.g. with write mirroring).
    /// Secrets print as `***`.
    #[arg(long)]
    print_config: bool,
    /// Take the listening sockets over from a running instance (graceful upgrade).
    #[arg(long)]
    upgrade: bool,
    /// Socket used to hand listeners to a new process on upgrade.
    #[arg(long, value_name = "PATH", default_value = "/tmp/netpulse-balancer-upgrade.sock")]
    upgrade_sock: String,
    /// Log format on stderr.
    #[arg(long, env = "NETPULSE_LOG_FORMAT", default_value = "human", value_parser = ["human", "json"])]
    log_format: String,
}

fn load(args: &Args) -> Result<BalancerConfig, String> {
    if let Some(h) = &args.haproxy {
        if args.config.is_some() {
            return Err("give either --config (native) or -f (haproxy.cfg), not both".into());
        }
        return match netpulse_haproxy_compat::load(h) {
            Ok(t) => {
                for w in &t.warnings {
                    eprintln!("[WARNING] {w}");
                }
                resolvable(t.config, h)
            }
            Err(netpulse_haproxy_compat::Error::Invalid { errors, warnings }) => {
                for w in &warnings {
                    eprintln!("[WARNING] {w}");
                }
                Err(errors
                    .iter()
                    .map(|e| format!("[ALERT] {e}"))
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
            Err(e) => Err(e.to_string()),
        };
    }
    let Some(path) = &args.config else {
        return Err("give a configuration with --config FILE".into());
    };
    let cfg = Loader::<BalancerConfig>::new()
        .file(path)
        .load()
        .map_err(|e| e.to_string())?;
    resolvable(cfg, path)
}

/// Like `haproxy -c`, the check resolves server names too: an unchecked server whose name does
/// not resolve is an invalid configuration; a checked one a warning (it starts DOWN).
fn resolvable(cfg: BalancerConfig, path: &std::path::Path) -> Result<BalancerConfig, String> {
    let (mut warnings, mut errors) = netpulse_config::resolve_servers(&cfg);
    certificates(&cfg, &mut warnings, &mut errors);
    for w in &warnings {
        eprintln!("[WARNING] {}: {w}", path.display());
    }
    if errors.is_empty() {
        return Ok(cfg);
    }
    let lines = errors.iter().map(|e| format!("[ALERT] {}: {e}", path.display()));
    Err(lines.collect::<Vec<_>>().join("\n"))
}

/// Every TLS frontend's certificates are read and checked as the running balancer would:
/// unreadable, unparsable, a key that does not match, expired or not yet valid — each an
/// error naming the file; one expiring within 30 days is a warning. Ticket-key files too.
fn certificates(cfg: &BalancerConfig, warnings: &mut Vec<String>, errors: &mut Vec<String>) {
    let now = tls::certs::now();
    for (i, f) in cfg.frontends.iter().enumerate() {
        let Some(t) = &f.tls else { continue };
        let at = format!("frontends[{i}].tls.cert");
        match tls::certs::load(&t.cert, t.key.as_deref()) {
            Err(e) => errors.push(format!("`{at}`: {e}")),
            Ok(loaded) => {
                for l in loaded {
                    if let Some(e) = l.invalid_at(now) {
                        errors.push(format!("`{at}`: {e}"));
                    } else if l.not_after < now + 30 * 86_400 {
                        let days = (l.not_after - now) / 86_400;
                        warnings.push(format!(
                            "`{at}`: {}: the certificate expires in {days} days ({})",
                            l.path.display(),
                            l.validity.1
                        ));
                    }
                }
            }
        }
        if let Some(keys) = &t.ticket_keys
            && let Err(e) = tls::tickets::TicketKeys::load(keys)
        {
            errors.push(format!("`frontends[{i}].tls.ticket_keys`: {e}"));
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Pingora's connectors log at ERROR when a pooled connection is still held by its idle
    // watcher (it then connects anew): hundreds a second under load, harmless. Real connect
    // failures reach the proxy as errors, which it logs and counts itself.
    let filter = std::env::var("RUST_LOG")
        .unwrap_or_else(|_| "info,pingora_core=warn,pingora_proxy=warn,pingora_core::connectors=off".into());
    use std::io::IsTerminal;
    // Colours only on a terminal: a log file or journald gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    let cfg = match load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("netpulse-balancer: invalid configuration:\n{e}");
            return ExitCode::from(if args.check { 1 } else { 2 });
        }
    };
    if args.print_config {
        return match toml::to_string(&cfg) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("netpulse-balancer: cannot print the configuration: {e}");
                ExitCode::from(1)
            }
        };
    }
    if args.check {
        println!("Configuration file is valid");
        return ExitCode::SUCCESS;
    }
    match run(cfg, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netpulse-balancer: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cfg: BalancerConfig, args: &Args) -> anyhow::Result<()> {
    services::run(cfg, args.upgrade, &args.upgrade_sock)
}
