//! netpulse-balancer: an HA edge load balancer for InfluxDB and Grafana on Pingora, configured
//! by its own TOML or an existing haproxy.cfg.
//!
//! A request travels: `door` (accept, TLS, read the head, choose the lane) →
//! `express` (plain HTTP/1 to an unmirrored backend) or `proxy` (Pingora's path: retries,
//! redispatch, queueing, HTTP/2, mirroring through `mirror`). Both choose servers from the
//! `pool`; everything that runs reads one [`state::State`] built by [`services`].

mod bounded;
pub mod check;
mod door;
mod express;
mod frontend;
mod head_edit;
mod health;
mod listeners;
mod mirror;
mod monitor;
mod notify;
pub mod pool;
mod proxy;
mod redirect;
mod runtime;
pub mod services;
pub mod state;
mod stats;
mod sticky;
mod tls;
