//! The one logging set-up of every netpulse binary: human text (colours only on a terminal,
//! so journald and log files get plain text) or JSON lines on stderr, filtered by the
//! `--log-level` flag, else `RUST_LOG`, else the binary's default filter.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// `--log-format`'s values.
pub const LOG_FORMATS: [&str; 2] = ["human", "json"];

/// Installs the global subscriber. `filter` is the flag's value; an invalid filter falls back
/// to `info` rather than leave the daemon silent.
pub fn init_logging(format: &str, filter: Option<&str>, default_filter: &str) {
    let filter = (filter.map(str::to_string))
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| default_filter.to_string());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
