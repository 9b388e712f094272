//! Layering: built-in defaults < TOML file < environment < command-line flags.
//! Also owns the answer to "where did this key's value come from?" for error messages.

use crate::balancer::BalancerConfig;
use crate::collector::CollectorConfig;
pub use crate::error::Problems;
use crate::error::{ConfigError, ConfigErrors, key_path};
use crate::locate::line_of;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, error::Kind};
use std::path::{Path, PathBuf};

/// Keys that hold credentials ([`crate::Secret`]): read from the environment as text.
const SECRET_KEYS: [&str; 4] = ["token", "password", "community", "redis_url"];

/// Plain environment variables operators already set, and the key each one feeds.
pub const SEED_ENV: &[(&str, &str)] = &[
    ("MAX_CONCURRENT_TARGETS", "collector.max_concurrent_targets"),
    ("MAX_CONCURRENT_OPERATIONS", "collector.max_concurrent_operations"),
    ("BATCH_SIZE", "collector.batch_size"),
    ("WORKER_POOL_SIZE", "collector.worker_pool_size"),
    ("CIRCUIT_FAILURE_THRESHOLD", "circuit_breaker.failure_threshold"),
    ("CIRCUIT_RECOVERY_TIMEOUT", "circuit_breaker.recovery_timeout"),
    ("CIRCUIT_SUCCESS_THRESHOLD", "circuit_breaker.success_threshold"),
    ("MAX_CONNECTIONS", "http_pool.max_connections"),
    ("MAX_CONNECTIONS_PER_HOST", "http_pool.max_connections_per_host"),
    ("KEEPALIVE_TIMEOUT", "http_pool.keepalive_timeout"),
    ("CONNECTION_TIMEOUT", "http_pool.connect_timeout"),
    ("READ_TIMEOUT", "http_pool.read_timeout"),
    ("REDIS_URL", "cluster.redis_url"),
];

/// A configuration that can be layered: its environment names and its own checks.
pub trait Layered: serde::de::DeserializeOwned {
    /// Plain environment variables operators already set, and the key each one feeds.
    const SEED_ENV: &'static [(&'static str, &'static str)] = &[];
    /// Prefix of the `<PREFIX><SECTION>__<KEY>` environment variables.
    const ENV_PREFIX: &'static str;
    /// Semantic checks serde cannot express.
    fn validate(&self) -> Problems;
}

impl Layered for CollectorConfig {
    const SEED_ENV: &'static [(&'static str, &'static str)] = SEED_ENV;
    const ENV_PREFIX: &'static str = "NETPULSE_";
    fn validate(&self) -> Problems {
        crate::validate::collector::validate(self)
    }
}

impl Layered for BalancerConfig {
    const ENV_PREFIX: &'static str = "NETPULSE_BALANCER_";
    fn validate(&self) -> Problems {
        crate::validate::balancer::validate(self)
    }
}

/// Extra validation supplied by the binary (e.g. module names only the collector knows).
pub type Check<T> = Box<dyn Fn(&T) -> Problems>;

/// A change made by a flag after the layers are merged, for keys under `key`.
struct Replace<T> {
    flag: String,
    key: String,
    apply: Box<dyn Fn(&mut T)>,
}

/// Builds a configuration from its layers.
pub struct Loader<T = CollectorConfig> {
    file: Option<PathBuf>,
    flags: Vec<(String, String, figment::value::Value)>,
    replaces: Vec<Replace<T>>,
    checks: Vec<Check<T>>,
}

impl<T: Layered> Default for Loader<T> {
    fn default() -> Self {
        Self {
            file: None,
            flags: vec![],
            replaces: vec![],
            checks: vec![],
        }
    }
}

impl<T: Layered> Loader<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The TOML file; it must exist.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// A command-line flag that sets `key` (dotted path); `flag` is its name for errors.
    pub fn flag(mut self, key: &str, flag: &str, value: impl serde::Serialize) -> Self {
        match figment::value::Value::serialize(value) {
            Ok(v) => self.flags.push((key.to_string(), flag.to_string(), v)),
            Err(e) => self.flags.push((
                key.to_string(),
                flag.to_string(),
                figment::value::Value::from(e.to_string()),
            )),
        }
        self
    }

    /// A flag that rewrites everything under `key` after merging (e.g. ad-hoc targets
    /// replacing the file's); errors under `key` then name the flag.
    pub fn replace(mut self, flag: &str, key: &str, apply: impl Fn(&mut T) + 'static) -> Self {
        self.replaces.push(Replace {
            flag: flag.to_string(),
            key: key.to_string(),
            apply: Box::new(apply),
        });
        self
    }

    pub fn check(mut self, check: Check<T>) -> Self {
        self.checks.push(check);
        self
    }

    pub fn load(&self) -> Result<T, ConfigErrors> {
        let file_text = match &self.file {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                ConfigErrors(vec![ConfigError {
                    key: "(file)".into(),
                    origin: format!("flag --config {}", p.display()),
                    message: format!("cannot read the config file: {e}"),
                }])
            })?),
            None => None,
        };
        let fig = self.layers(file_text.as_deref())?;
        let mut cfg: T = fig
            .extract()
            .map_err(|first| self.extract_errors(&fig, first, file_text.as_deref()))?;
        for r in &self.replaces {
            (r.apply)(&mut cfg);
        }
        let mut problems = cfg.validate();
        for check in &self.checks {
            problems.extend(check(&cfg));
        }
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors(
                problems
                    .into_iter()
                    .map(|(path, msg)| self.error(&path, msg, file_text.as_deref()))
                    .collect(),
            ))
        }
    }

    /// Defaults < file < seed variables < `NETPULSE_*` variables < flags, as one figment.
    fn layers(&self, file_text: Option<&str>) -> Result<Figment, ConfigErrors> {
        let mut fig = Figment::new();
        if let (Some(p), Some(text)) = (&self.file, file_text) {
            if let Err(e) = text.parse::<toml::Table>() {
                let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1).unwrap_or(1);
                let msg = e.message().to_string();
                return Err(ConfigErrors(vec![ConfigError {
                    key: "(syntax)".into(),
                    origin: format!("{}:{line}", p.display()),
                    message: format!("invalid TOML: {msg}"),
                }]));
            }
            fig = fig.merge(Toml::file_exact(p));
        }
        let seeds: Vec<&str> = T::SEED_ENV.iter().map(|(v, _)| *v).collect();
        fig = fig.merge(Env::raw().only(&seeds).map(|k| {
            T::SEED_ENV
                .iter()
                .find(|(v, _)| k.as_str().eq_ignore_ascii_case(v))
                .map(|(_, key)| (*key).into())
                .unwrap_or_else(|| k.into())
        }));
        fig = fig.merge(
            Env::prefixed(T::ENV_PREFIX)
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        // Secrets from the environment stay text: figment reads `NETPULSE_API__TOKEN=00123` as
        // the number 123, which would lose the zeros.
        for (var, value) in std::env::vars() {
            let Some(rest) = var.strip_prefix(T::ENV_PREFIX).filter(|r| r.contains("__")) else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if path.last().is_some_and(|k| SECRET_KEYS.contains(&k.as_str())) {
                fig = fig.merge(Serialized::default(&path.join("."), value));
            }
        }
        for (key, _, value) in &self.flags {
            fig = fig.merge(Serialized::default(key, value.clone()));
        }
        Ok(fig)
    }

    /// Every error of the layers' values, each with its origin (figment stops at the first:
    /// each setting alone finds them all).
    fn extract_errors(&self, fig: &Figment, first: figment::Error, file_text: Option<&str>) -> ConfigErrors {
        let every = (fig.extract::<figment::value::Value>().ok())
            .map(|v| crate::isolate::every_error::<T>(&v))
            .filter(|e| !e.is_empty());
        let errs: Vec<figment::Error> = every.unwrap_or_else(|| first.into_iter().collect());
        ConfigErrors(
            errs.into_iter()
                .map(|e| {
                    let mut path = e.path.clone();
                    let message = match &e.kind {
                        Kind::UnknownField(field, expected) => {
                            if path.last() != Some(field) {
                                path.push(field.clone());
                            }
                            let hint = closest(field, expected)
                                .map(|s| format!(" (did you mean `{s}`?)"))
                                .unwrap_or_default();
                            format!("unknown key{hint}")
                        }
                        Kind::MissingField(field) => {
                            if path.last().map(String::as_str) != Some(field.as_ref()) {
                                path.push(field.to_string());
                            }
                            "required key is missing".to_string()
                        }
                        other => other.to_string(),
                    };
                    self.error(&path, message, file_text)
                })
                .collect(),
        )
    }

    fn error(&self, path: &[String], message: String, file_text: Option<&str>) -> ConfigError {
        ConfigError {
            key: key_path(path),
            origin: self.origin(path, file_text),
            message,
        }
    }

    /// Where the value at `path` came from, checked from the highest layer down.
    fn origin(&self, path: &[String], file_text: Option<&str>) -> String {
        let dotted = path.join(".");
        if let Some(r) = self.replaces.iter().rev().find(|r| path.first() == Some(&r.key)) {
            return format!("flag {}", r.flag);
        }
        if let Some((_, flag, _)) = self.flags.iter().rev().find(|(k, _, _)| *k == dotted) {
            return format!("flag {flag}");
        }
        let netpulse_var = format!("{}{}", T::ENV_PREFIX, path.join("__").to_ascii_uppercase());
        if std::env::var_os(&netpulse_var).is_some() {
            return format!("env {netpulse_var}");
        }
        if let Some((var, _)) = T::SEED_ENV.iter().find(|(_, k)| *k == dotted)
            && std::env::var_os(var).is_some()
        {
            return format!("env {var}");
        }
        match (&self.file, file_text) {
            (Some(p), Some(text)) => match line_of(text, path) {
                Some(line) => format!("{}:{line}", p.display()),
                None => format!("{} (default)", display(p)),
            },
            _ => "default".into(),
        }
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// The expected name closest to `got`, if it is plausibly a typo.
fn closest<'a>(got: &str, expected: &[&'a str]) -> Option<&'a str> {
    expected
        .iter()
        .map(|e| (edit_distance(got, e), *e))
        .filter(|(d, e)| *d <= 2.max(e.len() / 4))
        .min()
        .map(|(_, e)| e)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
mod tests {
    use super::*;
    use figment::Jail;

    const FILE: &str = r#"
[collector]
interval = "30s"
max_concurrent_targets = 7

[[targets]]
name = "sw1"
address = "udp://127.0.0.1:1161"
community = "public"
"#;

    #[test]
    fn layers_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file("c.toml", FILE)?;
            jail.set_env("MAX_CONCURRENT_TARGETS", "9");
            jail.set_env("NETPULSE_COLLECTOR__BATCH_SIZE", "3");
            jail.set_env("NETPULSE_CIRCUIT_BREAKER__RECOVERY_TIMEOUT", "2m");
            let cfg = Loader::<CollectorConfig>::new()
                .file("c.toml")
                .flag("collector.batch_size", "--batch-size", 4)
                .load()
                .unwrap();
            assert_eq!(cfg.collector.interval.get().as_secs(), 30); // file over default
            assert_eq!(cfg.collector.max_concurrent_targets, 9); // env over file
            assert_eq!(cfg.collector.batch_size, 4); // flag over env
            assert_eq!(cfg.circuit_breaker.recovery_timeout.get().as_secs(), 120);
            assert_eq!(cfg.collector.max_concurrent_operations, 50); // default
            Ok(())
        });
    }

    #[test]
    fn unknown_key_names_file_line_and_suggests() {
        Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[collector]\ninterval = \"30s\"\nmax_concurent_targets = 3\n")?;
            let err = Loader::<CollectorConfig>::new().file("c.toml").load().unwrap_err();
            let e = &err.0[0];
            assert_eq!(e.key, "collector.max_concurent_targets");
            assert_eq!(e.origin, "c.toml:3");
            assert!(
                e.message.contains("did you mean `max_concurrent_targets`"),
                "{}",
                e.message
            );
            Ok(())
        });
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        Jail::expect_with(|jail| {
            jail.create_file("c.toml", FILE)?;
            jail.set_env("CIRCUIT_RECOVERY_TIMEOUT", "soon");
            let err = Loader::<CollectorConfig>::new().file("c.toml").load().unwrap_err();
            assert_eq!(err.0[0].origin, "env CIRCUIT_RECOVERY_TIMEOUT");
            assert_eq!(err.0[0].key, "circuit_breaker.recovery_timeout");
            assert!(err.0[0].message.contains("invalid duration"), "{}", err.0[0].message);
            Ok(())
        });
    }

    #[test]
    fn semantic_errors_point_at_the_line() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "[[targets]]\nname = \"a\"\naddress = \"udp://h\"\nversion = \"3\"\ncommunity = \"x\"\n",
            )?;
            let err = Loader::<CollectorConfig>::new().file("c.toml").load().unwrap_err();
            let msgs: Vec<String> = err.0.iter().map(|e| e.to_string()).collect();
            assert!(
                msgs.iter().any(|m| m.starts_with("c.toml:5: `targets[0].community`")),
                "{msgs:?}"
            );
            assert!(
                msgs.iter()
                    .any(|m| m.contains("`targets[0].user`") && m.contains("required")),
                "{msgs:?}"
            );
            Ok(())
        });
    }

    #[test]
    fn syntax_error_has_a_line() {
        Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[collector]\ninterval = \n")?;
            let err = Loader::<CollectorConfig>::new().file("c.toml").load().unwrap_err();
            assert_eq!(err.0[0].origin, "c.toml:2");
            Ok(())
        });
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Loader::<CollectorConfig>::new()
            .file("/nonexistent/netpulse.toml")
            .load()
            .unwrap_err();
        assert!(err.to_string().contains("cannot read the config file"));
    }
}
