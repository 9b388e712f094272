//! The one logging set-up of every netpulse binary: human text (colours only on a terminal,
//! so journald and log files get plain text) or JSON lines on stderr, filtered by the
//! `--log-level` flag, else `RUST_LOG`, else the binary's default filter. A binary may add
//! layers of its own with their own filters (the collector counts a library's events it does
//! not print).

use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// `--log-format`'s values.
pub const LOG_FORMATS: [&str; 2] = ["human", "json"];

/// A layer a binary adds beside the printing one.
pub type ExtraLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the global subscriber. `filter` is the flag's value; an invalid filter falls back
/// to `info` rather than leave the daemon silent.
pub fn init_logging(format: &str, filter: Option<&str>, default_filter: &str) {
    init_logging_with(format, filter, default_filter, vec![]);
}

/// As [`init_logging`], with `extra` layers: the filter applies to printing only, each extra
/// layer filters for itself.
pub fn init_logging_with(format: &str, filter: Option<&str>, default_filter: &str, extra: Vec<ExtraLayer>) {
    let filter = (filter.map(str::to_string))
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| default_filter.to_string());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let print: ExtraLayer = if format == "json" {
        fmt.json().with_filter(filter).boxed()
    } else {
        fmt.with_filter(filter).boxed()
    };
    let mut layers = vec![print];
    layers.extend(extra);
    let _ = tracing_subscriber::registry().with(layers).try_init();
}
