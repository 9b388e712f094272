//! Batches set aside: a mirrored write that a server refuses permanently (an unknown database,
//! wrong credentials — [`crate::answer::is_permanent`]) must not block the writes queued behind
//! it, and must not vanish. It is kept in a `set-aside/` folder beside the server's queue, as
//! the gzip body it was sent as (`<ms>-<status>.lp.gz`) and what it was sent to
//! (`<ms>-<status>.json`: path with passwords blanked, status, answer, points) for inspection
//! or a replay by hand, and as the queue record it was (`.rec`, credentials included, like the
//! queue's own files) for the writer's own replays: the refusal may end (a replica rebuilt
//! before its database is created, credentials restored), so the writer tries the oldest again
//! every [`REPLAY_EVERY`] and removes what is delivered. The folder is bounded: the oldest go first.

use crate::endpoint::Target;
use crate::envelope;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a writer tries its set-aside batches again.
pub const REPLAY_EVERY: Duration = Duration::from_secs(10);

/// Where a writer keeps what it sets aside.
pub struct SetAside {
    dir: PathBuf,
    max_bytes: u64,
}

/// A query string with its credentials blanked (InfluxDB 1.x takes `u=` and `p=`).
pub fn redacted(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_string();
    };
    let kept: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if matches!(k, "p" | "password" | "token") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}?{}", kept.join("&"))
}

impl SetAside {
    pub fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self { dir, max_bytes }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps `gzipped` (what was sent) with its description; returns the body's file.
    pub fn keep(
        &self,
        target: &Target,
        status: u16,
        why: &str,
        gzipped: &[u8],
        points: u64,
    ) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut stem = format!("{ms:015}-{status}");
        let mut n = 1;
        while self.dir.join(format!("{stem}.lp.gz")).exists() {
            n += 1;
            stem = format!("{ms:015}-{status}-{n}");
        }
        let meta = format!(
            "{{\"status\":{status},\"error\":{},\"path_and_query\":{},\"points\":{points},\"unix_ms\":{ms}}}\n",
            json_string(why),
            json_string(&redacted(&target.path_and_query)),
        );
        let body = self.dir.join(format!("{stem}.lp.gz"));
        let record = envelope::seal(target, gzipped).map_err(std::io::Error::other)?;
        // Room for all three files of the batch, whole older batches removed.
        self.make_room((gzipped.len() + meta.len() + record.len()) as u64)?;
        // The record last: its presence is what makes a batch one to replay.
        let written = std::fs::write(&body, gzipped)
            .and_then(|()| std::fs::write(self.dir.join(format!("{stem}.json")), meta))
            .and_then(|()| std::fs::write(self.dir.join(format!("{stem}.rec")), record));
        if let Err(e) = written {
            self.remove(&stem);
            return Err(e);
        }
        Ok(body)
    }

    /// The oldest batch kept: its name (without extension), target and gzip body.
    pub fn oldest(&self) -> Option<(String, Target, bytes::Bytes)> {
        let mut recs: Vec<String> = std::fs::read_dir(&self.dir)
            .ok()?
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .into_string()
                    .ok()?
                    .strip_suffix(".rec")
                    .map(str::to_string)
            })
            .collect();
        recs.sort();
        for stem in recs {
            let Ok(record) = std::fs::read(self.dir.join(format!("{stem}.rec"))) else {
                continue;
            };
            match envelope::split(&record).and_then(|(meta, body)| Ok((envelope::target(meta)?, body))) {
                Ok((target, body)) => return Some((stem, target, bytes::Bytes::copy_from_slice(body))),
                // Not ours to read (damaged): left for the operator, never retried.
                Err(_) => {
                    let _ = std::fs::rename(
                        self.dir.join(format!("{stem}.rec")),
                        self.dir.join(format!("{stem}.rec.unreadable")),
                    );
                }
            }
        }
        None
    }

    /// Forgets a batch (delivered, or given up).
    pub fn remove(&self, stem: &str) {
        for ext in ["rec", "lp.gz", "json"] {
            let _ = std::fs::remove_file(self.dir.join(format!("{stem}.{ext}")));
        }
    }

    /// Removes the oldest batches (all their files) until `incoming` more bytes fit.
    fn make_room(&self, incoming: u64) -> std::io::Result<()> {
        let mut batches: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        for e in std::fs::read_dir(&self.dir)?.flatten() {
            let (Ok(name), Ok(meta)) = (e.file_name().into_string(), e.metadata()) else {
                continue;
            };
            let stem = name.split('.').next().unwrap_or(&name).to_string();
            *batches.entry(stem).or_default() += meta.len();
        }
        let mut total: u64 = batches.values().sum();
        for (stem, len) in batches {
            if total + incoming <= self.max_bytes {
                break;
            }
            self.remove(&stem);
            total -= len;
        }
        Ok(())
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_blanked() {
        assert_eq!(redacted("/write?db=x&u=bob&p=hunter2"), "/write?db=x&u=bob&p=***");
        assert_eq!(redacted("/write"), "/write");
    }

    #[test]
    fn kept_batches_are_bounded_oldest_first() {
        let dir = std::env::temp_dir().join(format!("np-aside-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = SetAside::new(dir.clone(), 3000);
        let t = Target {
            path_and_query: "/write?db=nope&p=secret".into(),
            headers: vec![],
        };
        for _ in 0..5 {
            a.keep(&t, 404, "database not found: \"nope\"", &[7u8; 1000], 10)
                .unwrap();
        }
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        let total: u64 = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.metadata().unwrap().len())
            .sum();
        assert!(total <= 3000, "{total} bytes kept");
        let meta = names.iter().find(|n| n.to_string_lossy().ends_with(".json")).unwrap();
        let text = std::fs::read_to_string(dir.join(meta)).unwrap();
        assert!(
            text.contains("\"status\":404") && text.contains("db=nope&p=***"),
            "{text}"
        );
        assert!(!text.contains("secret"));
    }
}
