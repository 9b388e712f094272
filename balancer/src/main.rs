//! `netpulse-balancer`: flags, logging, loading the native config (or an haproxy.cfg through
//! haproxy-compat), checking it (`-c`); `services` builds and runs the Pingora server.

// Pingora allocates per request (headers, buffers); glibc malloc was ~10 % of the proxy's CPU in
// perf (bench/balancer_vs_haproxy.sh), mimalloc a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use netpulse_balancer::{check, services};
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
    #[arg(long, env = "NETPULSE_LOG_FORMAT", default_value = "human", value_parser = netpulse_config::LOG_FORMATS)]
    log_format: String,
    /// Log filter (tracing EnvFilter syntax); RUST_LOG also works.
    #[arg(long, value_name = "FILTER", env = "NETPULSE_LOG")]
    log_level: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Pingora's connectors log at ERROR when a pooled connection is still held by its idle
    // watcher (it then connects anew): hundreds a second under load, harmless. Real connect
    // failures reach the proxy as errors, which it logs and counts itself.
    let quiet = "info,pingora_core=warn,pingora_proxy=warn,pingora_core::connectors=off";
    netpulse_config::init_logging(&args.log_format, args.log_level.as_deref(), quiet);
    let cfg = match check::load(args.config.as_deref(), args.haproxy.as_deref()) {
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
    match services::run(cfg, args.upgrade, &args.upgrade_sock) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netpulse-balancer: {e:#}");
            ExitCode::from(1)
        }
    }
}
