//! The collector's and the balancer's TOML configuration loaders, and the targets-file reader
//! (`[targets_from] files`), on arbitrary files: a config or errors naming key and place, never
//! a panic; secrets never echoed in an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netpulse_config::{BalancerConfig, CollectorConfig, Loader, read_targets_file};

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("netpulse-fuzz-config-{}.toml", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Err(e) = Loader::<CollectorConfig>::new().file(&path).load() {
        assert!(!e.to_string().is_empty());
    }
    if let Err(e) = Loader::<BalancerConfig>::new().file(&path).load() {
        assert!(!e.to_string().is_empty());
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(e) = read_targets_file("fuzz.toml", text, &CollectorConfig::default())
    {
        assert!(e.to_string().contains("fuzz.toml"));
    }
});
