//! The collector's and the balancer's TOML configuration loaders on arbitrary files: a config
//! or errors naming key and place, never a panic; secrets never echoed in an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netpulse_config::{BalancerConfig, CollectorConfig, Loader};

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
});
