//! Credentials never leave through an error or a printout (issue 19, defect 2): type errors on
//! communities, USM keys, passwords and tokens do not echo the value; digits are accepted as a
//! secret's text (with their leading zeros, from a file or the environment); a password in an
//! output URL is redacted when the config is printed.

use netpulse_config::{CollectorConfig, Loader};
use std::path::PathBuf;

fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("np-secrets-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("collector.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn load(name: &str, text: &str) -> Result<CollectorConfig, String> {
    Loader::<CollectorConfig>::new()
        .file(file(name, text))
        .load()
        .map_err(|e| e.to_string())
}

const TARGET: &str = "[[targets]]\nname = \"sw1\"\naddress = \"udp://192.0.2.1\"\n";

#[test]
fn type_errors_never_show_the_secret() {
    let cfg = load("digits", &format!("{TARGET}community = 987654321\n")).unwrap();
    assert_eq!(cfg.targets[0].community.as_ref().unwrap().expose(), "987654321");
    for (name, text, secret) in [
        ("float", format!("{TARGET}community = 98765.4321\n"), "98765"),
        (
            "auth-proto",
            format!("{TARGET}version = \"3\"\nuser = \"u\"\nauth = \"sha999:topsecretpw\"\n"),
            "topsecretpw",
        ),
        (
            "auth-shape",
            format!("{TARGET}version = \"3\"\nuser = \"u\"\nauth = \"topsecretpw\"\n"),
            "topsecretpw",
        ),
        (
            "auth-number",
            format!("{TARGET}version = \"3\"\nuser = \"u\"\nauth = 12345678\n"),
            "12345678",
        ),
        (
            "priv-pw",
            format!(
                "{TARGET}version = \"3\"\nuser = \"u\"\npriv = {{ protocol = \"aes128\", password = 55555555.5 }}\n"
            ),
            "55555555",
        ),
        ("token", "[api]\ntoken = 31415926.5\n".to_string(), "31415926"),
    ] {
        let err = load(name, &text).err().unwrap_or_else(|| panic!("{name}: accepted"));
        assert!(!err.contains(secret), "{name}: the error shows the secret: {err}");
        assert!(err.contains("collector.toml:"), "{name}: the error names where: {err}");
    }
    let err = load(
        "auth-proto2",
        &format!("{TARGET}version = \"3\"\nuser = \"u\"\nauth = \"sha999:topsecretpw\"\n"),
    )
    .unwrap_err();
    assert!(err.contains("sha999"), "the unknown protocol is named: {err}");
    // The command line's form works in the file too.
    let cfg = load(
        "auth-cli",
        &format!("{TARGET}version = \"3\"\nuser = \"u\"\nauth = \"sha256:authpass1\"\n"),
    )
    .unwrap();
    let auth = cfg.targets[0].auth.as_ref().unwrap();
    assert_eq!(
        (format!("{:?}", auth.protocol), auth.password.expose()),
        ("Sha256".into(), "authpass1")
    );
}

#[test]
fn output_url_passwords_are_redacted_when_printed() {
    let cfg = load(
        "url",
        "[[outputs.influxdb]]\nname = \"a\"\nurl = \"http://writer:hunter2secret@192.0.2.9:8086\"\ndatabase = \"t\"\n",
    )
    .unwrap();
    let shown = toml::to_string(&cfg).unwrap();
    assert!(!shown.contains("hunter2secret"), "{shown}");
    assert!(shown.contains("http://writer:***@192.0.2.9:8086"), "{shown}");
    assert_eq!(
        cfg.outputs.influxdb[0].url, "http://writer:hunter2secret@192.0.2.9:8086",
        "the real URL is kept"
    );
}

/// One test touches the environment (process-wide): digits-only tokens, leading zeros kept.
#[test]
fn numeric_secrets_from_the_environment_keep_their_text() {
    // SAFETY of the test: no other test in this binary reads NETPULSE_API__TOKEN.
    unsafe { std::env::set_var("NETPULSE_API__TOKEN", "0012345") };
    let cfg = load("env", "").unwrap();
    unsafe { std::env::remove_var("NETPULSE_API__TOKEN") };
    assert_eq!(cfg.api.token.as_ref().unwrap().expose(), "0012345");
}
