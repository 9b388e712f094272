//! The Pingora server built from a validated config: one listening service per frontend
//! (the front door → express lane or Pingora's proxy), and the background services: listener
//! options, health checks, the stats listener and the runtime API. Runs until shut down.

use crate::state::{FrontendState, State};
use crate::{door, express, frontend, health, listeners, mirror, notify, pool, proxy, runtime, stats, tls};
use anyhow::Context;
use netpulse_config::{BalancerConfig, Frontend as FrontendConfig};
use pingora_core::server::Server;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::services::background::GenBackgroundService;
use std::sync::Arc;

pub fn run(cfg: BalancerConfig, upgrade: bool, upgrade_sock: &str) -> anyhow::Result<()> {
    let conf = ServerConf {
        threads: cfg.server.worker_threads(),
        upgrade_sock: upgrade_sock.to_string(),
        // One current-thread runtime per worker: no cross-thread wakeups on the hot path
        // (measured in bench/balancer_vs_haproxy.sh).
        work_stealing: false,
        // Pingora drops whatever still runs once the grace period is over: it is the drain time.
        grace_period_seconds: Some(cfg.server.grace_period.get().as_secs()),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    let state = Arc::new(state_of(&cfg)?);
    for (f, fe) in cfg.frontends.iter().zip(&state.frontends) {
        add_frontend(&mut server, f, fe, &state, cfg.server.express);
    }
    let queues = mirror::Service {
        mirrors: state.mirrors.clone(),
    };
    server.add_service(GenBackgroundService::new("mirror queues".into(), Arc::new(queues)));
    let addrs = (cfg.frontends.iter()).flat_map(|f| f.listeners().into_iter().filter_map(|(l, _)| l.parse().ok()));
    let addrs: Vec<std::net::SocketAddr> = addrs.collect();
    let ready = notify::Notify {
        addrs: addrs.clone(),
        upgraded: upgrade,
    };
    server.add_service(GenBackgroundService::new("systemd notify".into(), Arc::new(ready)));
    let defer = listeners::DeferAccept { addrs, seconds: 5 };
    server.add_service(GenBackgroundService::new("listener options".into(), Arc::new(defer)));
    let checker = health::Checker {
        pool: state.pool.clone(),
    };
    server.add_service(GenBackgroundService::new("health checks".into(), Arc::new(checker)));
    let stats = Arc::new(stats_of(&cfg, state.clone()));
    if let Some(path) = &cfg.runtime.socket {
        let mode = u32::from_str_radix(&cfg.runtime.mode, 8).context("validated socket mode")?;
        let cli = Arc::new(runtime::Cli {
            state: state.clone(),
            level: cfg.runtime.level,
        });
        let rt = runtime::Runtime {
            cli,
            path: path.clone(),
            mode,
        };
        server.add_service(GenBackgroundService::new("runtime API".into(), Arc::new(rt)));
    }
    server.add_service(GenBackgroundService::new("stats".into(), stats));
    tracing::info!(frontends = cfg.frontends.len(), backends = cfg.backends.len(), stats = %cfg.stats.listen, "netpulse-balancer starting");
    server.run_forever();
}

/// The live state: the pool, mirror queues and every frontend with its TLS acceptor.
fn state_of(cfg: &BalancerConfig) -> anyhow::Result<State> {
    let pool = Arc::new(pool::Pool::new(cfg));
    let mut frontends = vec![];
    for f in &cfg.frontends {
        let fe = Arc::new(frontend_of(f, &pool)?);
        let acceptor = (f.tls.as_ref())
            .map(|t| tls::Acceptor::new(t, fe.http_request).map(Arc::new))
            .transpose()
            .with_context(|| format!("frontend {:?}: TLS", f.name))?;
        for l in acceptor.iter().flat_map(|a| &a.loaded) {
            if let Some(problem) = l.invalid_at(tls::certs::now()) {
                tracing::warn!(frontend = %f.name, "{problem}: clients will refuse it");
            }
        }
        frontends.push(FrontendState {
            frontend: fe,
            tls: acceptor,
        });
    }
    Ok(State::new(cfg, pool, frontends))
}

/// A frontend as both request paths use it, its backends resolved to pool indices.
fn frontend_of(f: &FrontendConfig, pool: &pool::Pool) -> anyhow::Result<frontend::Frontend> {
    let backend = pool.backend(&f.backend).context("validated backend")?;
    let routes = (f.routes.iter()).filter_map(|r| Some((r.clone(), pool.backend(&r.backend)?)));
    Ok(frontend::Frontend {
        name: f.name.clone(),
        default_backend: backend,
        routes: routes.collect(),
        client_timeout: f.timeouts.client.get(),
        http_request: f.timeouts.http_request.get(),
        keep_alive: f.timeouts.keep_alive().get(),
        max_body: f.max_body_size.map(|b| b.0),
        counters: Arc::default(),
    })
}

/// The listening services of one frontend: the front door (after the TLS handshake on
/// its TLS listeners), then the express lane (when on), then Pingora's proxy. Plain and TLS
/// listeners are two services sharing the frontend and its counters.
fn add_frontend(server: &mut Server, f: &FrontendConfig, fe: &FrontendState, state: &Arc<State>, express: bool) {
    let listeners = f.listeners();
    for tls in [false, true] {
        let addrs: Vec<&str> = (listeners.iter()).filter(|(_, t)| *t == tls).map(|(a, _)| *a).collect();
        if addrs.is_empty() {
            continue;
        }
        let express = express.then(|| express::Express {
            state: state.clone(),
            frontend: fe.frontend.clone(),
        });
        let proxy = proxy::Proxy {
            state: state.clone(),
            frontend: fe.frontend.clone(),
        };
        let app = door::Door {
            inner: Arc::new(pingora_proxy::http_proxy(&server.configuration, proxy)),
            frontend: fe.frontend.clone(),
            express,
            tls: if tls { fe.tls.clone() } else { None },
            redirect_https: if tls { None } else { f.redirect_https },
            monitor_uri: f.monitor_uri.as_deref().map(Arc::from),
        };
        let name = format!("frontend {}{}", f.name, if tls { " (TLS)" } else { "" });
        let mut svc = pingora_core::services::listening::Service::new(name, app);
        for l in addrs {
            svc.add_tcp(l);
        }
        server.add_service(svc);
    }
}

fn stats_of(cfg: &BalancerConfig, state: Arc<State>) -> stats::Stats {
    let s = &cfg.stats;
    let settings = stats::Settings {
        listen: s.listen.clone(),
        uri: s.uri.clone(),
        refresh_secs: s.refresh.get().as_secs().max(1),
        auth: (s.auth.as_ref()).map(|a| stats::basic(&a.user, a.password.expose())),
        realm: s.realm.clone(),
        admin: s.admin,
    };
    stats::Stats::new(state, settings)
}
