//! Every problem of a configuration at once (issue 19, defect 1): type errors, unknown keys
//! and bad environment values, each with its key and where it came from (file:line or the
//! environment variable), not one per run.

use netpulse_config::{CollectorConfig, Loader};

#[test]
fn every_type_error_unknown_key_and_bad_env_value_is_reported_together() {
    let dir = std::env::temp_dir().join(format!("np-all-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("collector.toml");
    std::fs::write(
        &file,
        "[collector]\ninterval = \"30s\"\nbatch_size = \"x\"\nunknown_key = 1\n\
         [[targets]]\nname = \"a\"\naddress = \"udp://192.0.2.1\"\n\
         [[targets]]\nname = \"b\"\naddresss = \"udp://192.0.2.2\"\n\
         [[targets]]\nname = \"c\"\naddress = \"udp://192.0.2.3\"\nretries = \"x\"\n",
    )
    .unwrap();
    // SAFETY of the test: the only test of this binary touching the environment.
    unsafe { std::env::set_var("MAX_CONCURRENT_TARGETS", "abc") };
    let err = Loader::<CollectorConfig>::new()
        .file(&file)
        .load()
        .unwrap_err()
        .to_string();
    unsafe { std::env::remove_var("MAX_CONCURRENT_TARGETS") };
    for want in [
        "collector.toml:3: `collector.batch_size`",
        "env MAX_CONCURRENT_TARGETS: `collector.max_concurrent_targets`",
        "collector.toml:4: `collector.unknown_key`: unknown key",
        "collector.toml:10: `targets[1].addresss`: unknown key (did you mean `address`?)",
        "collector.toml:14: `targets[2].retries`",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert_eq!(err.lines().filter(|l| l.contains(": `")).count(), 5, "{err}");
}

#[test]
fn target_values_that_would_flood_an_agent_are_refused_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("np-bounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("collector.toml");
    let modules: Vec<String> = (0..5000).map(|_| "\"system\"".to_string()).collect();
    std::fs::write(
        &file,
        format!(
            "[collector]\ninterval = \"0s\"\n\
             [[targets]]\nname = \"a\"\naddress = \"udp://192.0.2.1\"\ncommunity = \"public\"\ninterval = \"0s\"\ntimeout = \"0s\"\nmax_repetitions = 0\n\
             [[targets]]\nname = \"b\"\naddress = \"udp://192.0.2.2\"\ncommunity = \"public\"\nmodules = [{}]\n",
            modules.join(",")
        ),
    )
    .unwrap();
    let err = Loader::<CollectorConfig>::new()
        .file(&file)
        .load()
        .unwrap_err()
        .to_string();
    for want in [
        "`collector.interval`: 0s: must be between 100ms and 24h",
        "`targets[0].interval`: 0s: must be between 100ms and 24h",
        "`targets[0].timeout`: 0s: must be longer than 0s",
        "`targets[0].max_repetitions`: must be between 1 and 10000",
        "`targets[1].modules`: 5000 modules: at most 64",
        "`targets[1].modules`: module \"system\" is listed more than once",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}
