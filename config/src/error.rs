//! Configuration errors: each names the key, where its value came from, and the problem.

use std::fmt;

/// `(key path, problem)` pairs found by validation, before the loader adds their origin.
pub type Problems = Vec<(Vec<String>, String)>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Dotted key path, e.g. `targets[1].community`.
    pub key: String,
    /// Where the value came from: `path/to/file.toml:14`, `env MAX_CONCURRENT_TARGETS`,
    /// `flag --community`, or `default`.
    pub origin: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: `{}`: {}", self.origin, self.key, self.message)
    }
}

/// Every problem found in one load, so an operator fixes them in one round.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Renders a key path: `["targets","1","community"]` → `targets[1].community`.
pub(crate) fn key_path(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}
