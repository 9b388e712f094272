//! netpulse-config: the typed configuration of every netpulse binary.
//!
//! It owns the config structs (their doc comments are the reference), the layering
//! `defaults < file < environment < flags` (figment), and validation whose errors name
//! the key, where the value came from (file:line, env var or flag) and what is wrong.
//! It never logs and never prints a secret: [`Secret`] serializes as `***`.
#![forbid(unsafe_code)]

mod balancer;
mod cidr;
mod collector;
mod error;
mod isolate;
mod load;
mod locate;
pub mod logging;
mod proxy_ids;
mod resolve;
mod units;
mod validate;

pub use balancer::{
    Backend, BackendTimeouts, Balance, BalancerConfig, BasicAuth, CheckKind, Condition, Frontend, FrontendTimeouts,
    HealthCheck, Mirror, Route, RuntimeConfig, RuntimeLevel, ServerConfig, ServerSection, StatsConfig, Sticky,
    StickyMode, Test, Tls,
};
pub use cidr::Cidr;
pub use collector::{
    ApiConfig, AuthProtocol, CircuitBreakerConfig, ClusterConfig, CollectorConfig, CollectorSection, DiscoveryConfig,
    HttpPoolConfig, HttpSd, InfluxApi, InfluxOutput, ModuleConfig, ObjectConfig, Outputs, PrivProtocol, SnmpDefaults,
    SnmpVersion, TargetAddress, TargetConfig, TargetDefaults, TargetsFrom, TrapName, TrapRateLimit, TrapUser,
    TrapsConfig, UsmKey, engine_id_bytes, read_targets_file, target_with, trap_name_ok,
};
pub use error::{ConfigError, ConfigErrors};
pub use load::{Check, Layered, Loader, Problems, SEED_ENV};
pub use logging::{LOG_FORMATS, init_logging, init_logging_with};
pub use proxy_ids::{ProxyId, proxy_ids};
pub use resolve::{resolve_host_port, resolve_servers};
pub use units::{ByteSize, Duration, Secret};
pub use validate::collector::targets as check_targets;
pub use validate::{NAME_MAX, haproxy_name};
