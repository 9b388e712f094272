//! `netpulse-balancer`: loads the native config (or an haproxy.cfg through haproxy-compat), checks it
//! (`-c`), and runs the Pingora server: one proxy service per frontend, the health
//! checker and the stats listener as background services.

// Pingora allocates per request (headers, buffers); glibc malloc was ~10 % of the proxy's CPU in
// perf (bench/balancer_vs_haproxy.sh), mimalloc a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bounded;
mod express;
mod frontend;
mod header_deadline;
mod health;
mod listeners;
mod pool;
mod proxy;
mod runtime;
mod stats;

use anyhow::Context;
use clap::Parser;
use netpulse_config::{BalancerConfig, Loader};
use pingora_core::server::Server;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::services::background::GenBackgroundService;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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
                Ok(t.config)
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
    Loader::<BalancerConfig>::new()
        .file(path)
        .load()
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info,pingora_core=warn,pingora_proxy=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
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
    let conf = ServerConf {
        threads: cfg.server.worker_threads(),
        upgrade_sock: args.upgrade_sock.clone(),
        // One current-thread runtime per worker: no cross-thread wakeups on the hot path
        // (measured in bench/balancer_vs_haproxy.sh).
        work_stealing: false,
        // Pingora drops whatever still runs once the grace period is over: it is the drain time.
        grace_period_seconds: Some(cfg.server.grace_period.get().as_secs()),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: args.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    let pool = Arc::new(pool::Pool::new(&cfg));
    let mut frontend_counters = vec![];
    for f in &cfg.frontends {
        let counters = Arc::new(pool::Counters::default());
        frontend_counters.push((f.name.clone(), counters.clone()));
        let backend = pool.backend(&f.backend).context("validated backend")?;
        let routes = f
            .routes
            .iter()
            .filter_map(|r| Some((r.clone(), pool.backend(&r.backend)?)))
            .collect();
        let frontend = Arc::new(frontend::Frontend {
            name: f.name.clone(),
            default_backend: backend,
            routes,
            client_timeout: f.timeouts.client.get(),
            http_request: f.timeouts.http_request.get(),
            keep_alive: f.timeouts.keep_alive().get(),
            max_body: f.max_body_size.map(|b| b.0),
            counters,
        });
        let express = cfg.server.express.then(|| express::Express {
            pool: pool.clone(),
            frontend: frontend.clone(),
        });
        let proxy = proxy::Proxy {
            pool: pool.clone(),
            frontend: frontend.clone(),
        };
        let app = header_deadline::HeaderDeadline {
            inner: Arc::new(pingora_proxy::http_proxy(&server.configuration, proxy)),
            frontend,
            express,
        };
        let mut svc = pingora_core::services::listening::Service::new(format!("frontend {}", f.name), app);
        for l in &f.listen {
            svc.add_tcp(l);
        }
        server.add_service(svc);
    }
    server.add_service(GenBackgroundService::new(
        "listener options".into(),
        Arc::new(listeners::DeferAccept {
            addrs: cfg
                .frontends
                .iter()
                .flat_map(|f| f.listen.iter().filter_map(|l| l.parse().ok()))
                .collect(),
            seconds: 5,
        }),
    ));
    server.add_service(GenBackgroundService::new(
        "health checks".into(),
        Arc::new(health::Checker { pool: pool.clone() }),
    ));
    let live = stats::Live {
        pool: pool.clone(),
        frontends: frontend_counters,
        proxies: netpulse_config::proxy_ids(&cfg),
        started: std::time::Instant::now(),
    };
    let settings = stats::Settings {
        listen: cfg.stats.listen.clone(),
        uri: cfg.stats.uri.clone(),
        refresh_secs: cfg.stats.refresh.get().as_secs().max(1),
        auth: (cfg.stats.auth.as_ref()).map(|a| stats::basic(&a.user, a.password.expose())),
        realm: cfg.stats.realm.clone(),
        admin: cfg.stats.admin,
    };
    let stats = stats::Stats::new(live, settings);
    let stats = Arc::new(stats);
    if let Some(path) = &cfg.runtime.socket {
        let mode = u32::from_str_radix(&cfg.runtime.mode, 8).context("validated socket mode")?;
        server.add_service(GenBackgroundService::new(
            "runtime API".into(),
            Arc::new(runtime::Runtime {
                cli: Arc::new(runtime::Cli {
                    stats: stats.clone(),
                    level: cfg.runtime.level,
                }),
                path: path.clone(),
                mode,
            }),
        ));
    }
    server.add_service(GenBackgroundService::new("stats".into(), stats));
    tracing::info!(frontends = cfg.frontends.len(), backends = cfg.backends.len(), stats = %cfg.stats.listen, "netpulse-balancer starting");
    server.run_forever();
}
