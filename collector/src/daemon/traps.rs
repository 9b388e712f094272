//! The trap receiver in the daemon: one socket per `[traps] listen` address, bound at start
//! (a port in use stops the start, naming it) and reopened when a reload changes `[traps]`.
//! Each accepted notification becomes one point in the same durable per-replica queues as
//! polled points; in cluster mode a trap that several replicas received is written by the
//! first (Redis, per content digest within `dedup_window`); a `poll_on` notification from a
//! configured target polls its interfaces now.

use super::{Core, DaemonError, now_ns};
use crate::snmp::traps::{Gate as WireGate, Received, TrapSocket, UsmDrops};
use crate::traps::event::{self, Sender};
use crate::traps::gate::Gate;
use crate::traps::metrics::{self, METRICS};
use crate::traps::names::Names;
use netpulse_config::{TrapsConfig, engine_id_bytes};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

/// The targets' addresses as of a targets generation (None: several targets share the
/// address, so it names none of them).
type Senders = (u64, HashMap<IpAddr, Option<Sender>>);

/// What every socket's loop shares.
pub struct Receiver {
    names: Names,
    poll_on: Vec<Arc<[u32]>>,
    dedup_window: Duration,
    /// Configured targets by address, rebuilt when the targets change (`Core::generation`).
    senders: Arc<Mutex<Senders>>,
    /// The daemon's runtime, where event-driven polls run.
    main: tokio::runtime::Handle,
}

/// The receivers of one `[traps]` configuration: a thread per socket, ended together.
struct Running {
    cfg: Option<TrapsConfig>,
    stop: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    async fn launch(core: &Arc<Core>, cfg: Option<TrapsConfig>) -> Result<Self, DaemonError> {
        let (stop, rx) = watch::channel(false);
        let threads = match &cfg {
            Some(t) => bind_all(core, t, rx).await?,
            None => vec![],
        };
        Ok(Self { cfg, stop, threads })
    }

    /// Stops every socket's loop and waits for its thread (its socket closed).
    async fn end(self) {
        let _ = self.stop.send(true);
        for t in self.threads {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// Binds the receivers of `[traps]` (a port in use stops the start, naming it) and returns
/// their supervisor, which runs them until `stop` and, when a reload changes `[traps]`, closes
/// them and opens the new ones (traps arriving in those milliseconds find no socket). A new
/// set that cannot start is logged and the previous one opened again.
pub async fn start(
    core: &Arc<Core>,
    stop: watch::Receiver<bool>,
) -> Result<impl std::future::Future<Output = ()> + use<>, DaemonError> {
    let first = Running::launch(core, core.config().traps.clone()).await?;
    Ok(supervise(core.clone(), first, stop))
}

async fn supervise(core: Arc<Core>, mut running: Running, mut stop: watch::Receiver<bool>) {
    let mut generation = core.generation.subscribe();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            changed = generation.changed() => if changed.is_err() { break },
        }
        let want = core.config().traps.clone();
        if want == running.cfg {
            continue;
        }
        let before = running.cfg.clone();
        running.end().await;
        running = match Running::launch(&core, want).await {
            Ok(r) => {
                tracing::info!(sockets = r.threads.len(), "[traps] changed: the receivers reopened");
                r
            }
            Err(e) => {
                tracing::error!(error = %e, "the new [traps] could not start; the previous receivers reopened");
                match Running::launch(&core, before).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "the previous [traps] could not reopen either: no trap receiver");
                        let (stop, _) = watch::channel(false);
                        Running {
                            cfg: None,
                            stop,
                            threads: vec![],
                        }
                    }
                }
            }
        };
    }
    running.end().await;
}

/// Starts one receiving thread per listen address of `t` (each binds its socket first); they
/// end on `stop`.
async fn bind_all(
    core: &Arc<Core>,
    t: &TrapsConfig,
    stop: watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, DaemonError> {
    let names = Names::new(&t.names).map_err(|e| DaemonError::Setup(format!("traps.names: {e}")))?;
    let poll_on = (t.poll_on.iter())
        .map(|p| {
            names.lookup(p).ok_or_else(|| {
                DaemonError::Setup(format!(
                    "traps.poll_on: {p:?} is neither a known notification nor a dotted OID"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let engine_id = (t.engine_id.as_deref().and_then(engine_id_bytes))
        .unwrap_or_else(|| crate::traps::default_engine_id(&core.replica));
    let gate = Arc::new(Gate::new(t));
    let wire: WireGate = Arc::new(move |env| match gate.admit(env) {
        Ok(()) => true,
        Err(why) => {
            METRICS.dropped.with_label_values(&[why.as_str()]).inc();
            false
        }
    });
    let r = Arc::new(Receiver {
        names,
        poll_on,
        dedup_window: t.dedup_window.get(),
        senders: Arc::new(Mutex::new((u64::MAX, HashMap::new()))),
        main: tokio::runtime::Handle::current(),
    });
    let spec = Arc::new(SocketSpec {
        users: t.users.clone(),
        engine_id,
        boots: crate::traps::engine_boots(),
        gate: wire,
        receive_buffer: t.receive_buffer.0,
    });
    let (mut bound, mut threads) = (Vec::<SocketAddr>::new(), vec![]);
    for addr in bind_order(&t.listen) {
        let port = addr.port();
        // A bound `[::]` socket is dual-stack: it receives IPv4 too, and `0.0.0.0` on its
        // port could not be bound beside it.
        if addr.is_ipv4()
            && addr.ip().is_unspecified()
            && bound.iter().any(|b| b.ip().is_unspecified() && b.port() == port)
        {
            tracing::info!(listen = %addr, "covered by the dual-stack [::] socket on the same port");
            continue;
        }
        match socket_thread(core.clone(), r.clone(), spec.clone(), addr, stop.clone()).await {
            Ok((local, thread)) => {
                tracing::info!(listen = %local, users = t.users.len(), "trap receiver listening");
                bound.push(local);
                threads.push(thread);
            }
            // No IPv6 on this host: the IPv4 wildcard of the same port takes over.
            Err(e)
                if addr.is_ipv6() && addr.ip().is_unspecified() && t.listen.iter().any(|l| ipv4_wildcard(l, port)) =>
            {
                tracing::warn!(listen = %addr, error = %e, "no IPv6 trap socket; IPv4 only");
            }
            Err(e) => return Err(DaemonError::Setup(format!("traps.listen {addr}: {e}"))),
        }
    }
    Ok(threads)
}

/// What every socket is opened with.
struct SocketSpec {
    users: Vec<netpulse_config::TrapUser>,
    engine_id: Vec<u8>,
    boots: u32,
    gate: WireGate,
    receive_buffer: u64,
}

/// A thread of its own per socket, with a single-threaded runtime that owns the socket: a
/// datagram wakes the thread that decodes it, with no hand-over between worker threads (at
/// 100,000 traps/s those wake-ups cost more than the decoding). Returns once bound.
async fn socket_thread(
    core: Arc<Core>,
    r: Arc<Receiver>,
    spec: Arc<SocketSpec>,
    addr: SocketAddr,
    stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), String> {
    let (ready, bound) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(format!("traps-{}", addr.port()))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return drop(ready.send(Err(e.to_string()))),
            };
            rt.block_on(async move {
                let at = addr.to_string();
                match TrapSocket::bind(&at, &spec.users, &spec.engine_id, spec.boots, spec.gate.clone()).await {
                    Ok(s) => {
                        size_buffer(&s, spec.receive_buffer);
                        let _ = ready.send(Ok(s.local_addr()));
                        serve(core, r, s, stop).await;
                    }
                    Err(e) => drop(ready.send(Err(e.to_string()))),
                }
            });
        })
        .map_err(|e| e.to_string())?;
    match bound.await {
        Ok(Ok(local)) => Ok((local, thread)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the trap thread ended before binding".into()),
    }
}

/// Asks for `[traps] receive_buffer` on the socket; says what it got when the kernel capped it.
fn size_buffer(s: &TrapSocket, want: u64) {
    match s.set_receive_buffer(want) {
        Some(got) if got >= want => {
            tracing::debug!(listen = %s.local_addr(), bytes = got, "trap socket receive buffer")
        }
        Some(got) => tracing::warn!(
            listen = %s.local_addr(),
            asked = want,
            granted = got,
            "trap socket receive buffer capped by net.core.rmem_max: bursts may overflow it (raise the sysctl, or grant CAP_NET_ADMIN)"
        ),
        None => {
            tracing::warn!(listen = %s.local_addr(), "trap socket not found in /proc/self/fd: receive buffer left at the kernel's default")
        }
    }
}

/// The listen addresses (validated by the config check), IPv6 wildcards first.
fn bind_order(listen: &[String]) -> Vec<SocketAddr> {
    let mut a: Vec<SocketAddr> = listen.iter().filter_map(|l| l.parse().ok()).collect();
    a.sort_by_key(|s| !(s.is_ipv6() && s.ip().is_unspecified()));
    a
}

fn ipv4_wildcard(l: &str, port: u16) -> bool {
    l.parse::<SocketAddr>()
        .is_ok_and(|s| s.is_ipv4() && s.ip().is_unspecified() && s.port() == port)
}

/// One socket's loop until `stop`. (Stopping abandons a datagram being processed: an
/// inform answered in that instant is not written; its sender saw an answer.)
async fn serve(core: Arc<Core>, r: Arc<Receiver>, socket: TrapSocket, mut stop: watch::Receiver<bool>) {
    let socket = Arc::new(socket);
    // The USM layer's refusals, sampled apart: `recv` returns only accepted notifications,
    // and cancelling it to sample could lose one.
    let sampler = {
        let (socket, mut stop) = (socket.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut seen, mut overflowed) = (UsmDrops::default(), socket.overflow_drops().unwrap_or(0));
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tick.tick() => {}
                }
                let now = socket.usm_drops();
                metrics::usm_drops(seen, now);
                seen = now;
                if let Some(n) = socket.overflow_drops() {
                    metrics::overflow_drops(overflowed, n);
                    overflowed = n;
                }
            }
        })
    };
    loop {
        let got = tokio::select! {
            _ = stop.changed() => break,
            got = socket.recv() => got,
        };
        match got {
            Ok(n) => r.take(&core, n).await,
            Err(e) => {
                tracing::debug!(error = %e, "trap socket");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let _ = sampler.await;
}

impl Receiver {
    async fn take(&self, core: &Arc<Core>, n: Received) {
        if n.inform {
            METRICS.informs_acked.inc();
        }
        if let Some(c) = &core.cluster
            && !c.first_to_see(&digest(&n), self.dedup_window).await
        {
            METRICS.deduplicated.inc();
            return;
        }
        let (trap, known) = event::trap_name(&n, &self.names);
        METRICS
            .received
            .with_label_values(&[n.version, if known { &trap } else { "other" }])
            .inc();
        let sender = self.sender(core, n.source.ip());
        let point = event::point(&n, &trap, &self.names, sender.as_ref(), now_ns());
        core.outputs.enqueue(std::slice::from_ref(&point));
        if let (Some(s), Some(oid)) = (&sender, &n.trap_oid)
            && self.poll_on.iter().any(|p| **p == *oid.arcs())
        {
            let _main = self.main.enter();
            let polled = super::api::collect::trigger(core, &s.target, vec!["interfaces".into()]);
            tracing::debug!(target = %s.target, trap = %trap, polled, "event-driven poll");
        }
    }

    fn sender(&self, core: &Core, ip: IpAddr) -> Option<Sender> {
        let generation = *core.generation.borrow();
        let mut s = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 != generation {
            let targets = core.targets.read().unwrap_or_else(|p| p.into_inner());
            let (mut by_ip, mut named) = (HashMap::new(), vec![]);
            for e in targets.values() {
                let t = e.target();
                let sender = Sender {
                    target: t.name.clone(),
                    tags: t.tags.clone(),
                };
                match t.address.host.parse::<IpAddr>() {
                    Ok(ip) => add_sender(&mut by_ip, ip, sender),
                    Err(_) => named.push((t.address.host.clone(), sender)),
                }
            }
            *s = (generation, by_ip);
            if !named.is_empty() {
                // Names resolve off the trap thread (a slow DNS must not stall receiving):
                // their traps name the target once the answers are in.
                let senders = self.senders.clone();
                self.main.spawn(resolve(named, generation, senders));
            }
        }
        s.1.get(&ip).cloned().flatten()
    }
}

/// One target more at `ip`: a second one makes the address name neither.
fn add_sender(by_ip: &mut HashMap<IpAddr, Option<Sender>>, ip: IpAddr, sender: Sender) {
    by_ip.entry(ip).and_modify(|s| *s = None).or_insert(Some(sender));
}

/// Resolves the targets addressed by name and adds their addresses to the senders of
/// `generation` (unless the targets changed meanwhile).
async fn resolve(named: Vec<(String, Sender)>, generation: u64, senders: Arc<Mutex<Senders>>) {
    let mut found = vec![];
    for (host, sender) in named {
        match tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host.as_str(), 0))).await {
            Ok(Ok(addrs)) => found.extend(addrs.map(|a| (a.ip(), sender.clone()))),
            _ => tracing::debug!(host = %host, "a target's name did not resolve: its traps name no target"),
        }
    }
    let mut s = senders.lock().unwrap_or_else(|p| p.into_inner());
    if s.0 == generation {
        let mut seen = std::collections::HashSet::new();
        for (ip, sender) in found {
            // A name resolving to an address twice (A and AAAA of one host) is still one target.
            if seen.insert((ip, sender.target.clone())) {
                add_sender(&mut s.1, ip, sender);
            }
        }
    }
}

/// What makes two receptions the same trap: sender, notification, uptime and bindings (an
/// inform retried, or one trap sent to several replicas), with the cluster's fixed hash, so
/// every replica computes the same key.
fn digest(n: &Received) -> String {
    let text = format!("{}|{}|{:?}|{:?}", n.source.ip(), n.uptime, n.trap_oid, n.varbinds);
    format!("{:016x}", crate::cluster::assign::hash(text.as_bytes()))
}
