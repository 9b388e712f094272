//! netpulse-haproxy-compat: run netpulse-balancer from an existing haproxy.cfg.
//!
//! `lex` splits lines with HAProxy's quoting, `parse` groups them into sections,
//! `translate` turns the sections into the balancer's native configuration. Every directive
//! is translated, or named in a warning (`file:line`), or an error — never dropped silently.
#![forbid(unsafe_code)]

mod diag;
mod lex;
mod parse;
mod translate;

pub use diag::Diagnostic;
use netpulse_config::{BalancerConfig, Layered};
use std::path::Path;

/// A translated configuration and what was ignored on the way.
#[derive(Debug)]
pub struct Translation {
    pub config: BalancerConfig,
    pub warnings: Vec<Diagnostic>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{}", render(errors))]
    Invalid {
        errors: Vec<Diagnostic>,
        warnings: Vec<Diagnostic>,
    },
}

fn render(d: &[Diagnostic]) -> String {
    d.iter().map(|x| format!("[ALERT] {x}")).collect::<Vec<_>>().join("\n")
}

/// Reads and translates an haproxy.cfg, expanding `"${VAR}"` from the process environment.
pub fn load(path: &Path) -> Result<Translation, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    translate_str(&text, &path.display().to_string(), &|k| std::env::var(k).ok())
}

/// Translates haproxy.cfg text; `file` names it in messages.
pub fn translate_str(text: &str, file: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Translation, Error> {
    let (sections, errors) = parse::sections(text, file, env);
    let mut d = diag::Diags {
        file: file.to_string(),
        errors,
        warnings: vec![],
    };
    let config = translate::run(&sections, &mut d);
    d.errors.sort_by_key(|e| e.line);
    d.warnings.sort_by_key(|w| w.line);
    if d.errors.is_empty() {
        // What the native loader would reject (names, addresses, references).
        for (key, problem) in config.validate() {
            d.errors
                .push(Diagnostic::new(file, 0, format!("`{}`: {problem}", key.join("."))));
        }
    }
    if d.errors.is_empty() {
        Ok(Translation {
            config,
            warnings: d.warnings,
        })
    } else {
        Err(Error::Invalid {
            errors: d.errors,
            warnings: d.warnings,
        })
    }
}
