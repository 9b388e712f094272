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
