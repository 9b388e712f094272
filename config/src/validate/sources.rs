//! Checks of `[targets_from]`: patterns that can match, an HTTP SD address we can fetch,
//! intervals in range.

use super::{Problems, p};
use crate::collector::TargetsFrom;
use std::time::Duration;

pub(crate) fn sources(s: &TargetsFrom, out: &mut Problems) {
    for (i, pattern) in s.files.iter().enumerate() {
        let i = i.to_string();
        if pattern.trim().is_empty() {
            out.push((
                p(&["targets_from", "files", &i]),
                "an empty pattern matches nothing".into(),
            ));
        } else if let Err(e) = glob::Pattern::new(pattern) {
            out.push((
                p(&["targets_from", "files", &i]),
                format!("{pattern:?} is not a glob pattern: {e}"),
            ));
        }
    }
    let check = s.check_interval.get();
    if !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&check) {
        out.push((
            p(&["targets_from", "check_interval"]),
            "must be between 100ms and 1h".into(),
        ));
    }
    if let Some(sd) = &s.http_sd {
        if let Err(e) = http_url(&sd.url) {
            out.push((p(&["targets_from", "http_sd", "url"]), e));
        }
        if sd.refresh.get() < Duration::from_secs(1) {
            out.push((p(&["targets_from", "http_sd", "refresh"]), "must be at least 1s".into()));
        }
        if sd.timeout.get().is_zero() || sd.timeout.get() > sd.refresh.get().max(Duration::from_secs(1)) {
            out.push((
                p(&["targets_from", "http_sd", "timeout"]),
                "must be above 0 and at most `refresh`".into(),
            ));
        }
    }
}

/// `http://HOST[:PORT][/PATH]`: the one form the collector's HTTP client fetches.
fn http_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(if url.starts_with("https://") {
            format!("{url:?}: https is not supported here; use http:// (a local proxy can add TLS)")
        } else {
            format!("{url:?} is not an http:// address")
        });
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    if host.is_empty() || host.contains('@') || host.contains(char::is_whitespace) {
        return Err(format!(
            "{url:?}: no HOST[:PORT] after http:// (credentials in the address are not taken)"
        ));
    }
    Ok(())
}
