//! Every repository path README, BENCHMARKS, ARCHITECTURE and docs/ name exists (issue 25,
//! item 10): a `code span` that starts with a top-level folder of the repository and looks like
//! a path (`collector/src/poll.rs`, `deploy/k8s/base/`, `poll.rs` under a named folder is not
//! checked) must name a file or folder of this tree. `a/b.rs` `fn` suffixes (`file.rs` `name`)
//! and globs are cut first.

use netpulse_deploy::deploy_dir;
use std::path::{Path, PathBuf};

const TOP: &[&str] = &[
    "collector/",
    "balancer/",
    "config/",
    "delivery/",
    "haproxy-compat/",
    "deploy/",
    "grafana/",
    "testkit/",
    "sdnotify/",
    "scripts/",
    "bench/",
    "docs/",
    "fuzz/",
    ".ci/",
];

fn root() -> PathBuf {
    deploy_dir().join("..").canonicalize().unwrap()
}

fn documents(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = ["README.md", "BENCHMARKS.md", "ARCHITECTURE.md"]
        .iter()
        .map(|f| root.join(f))
        .collect();
    for e in std::fs::read_dir(root.join("docs")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "md") {
            out.push(e.path());
        }
    }
    out
}

/// The path-like code spans of a Markdown text, with their line numbers.
fn named_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = vec![];
    let mut in_block = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 0 {
                continue;
            }
            let p = span.split_whitespace().next().unwrap_or("");
            let p = p.split([':', '#', '(']).next().unwrap_or("");
            let p = p.trim_end_matches(['.', ',', ';']);
            if !TOP.iter().any(|t| p.starts_with(t)) || p.contains(['*', '{', '<', '$', '…']) || p.contains("...") {
                continue;
            }
            out.push((n + 1, p.to_string()));
        }
    }
    out
}

#[test]
fn every_path_the_documents_name_exists() {
    let root = root();
    let mut missing = vec![];
    let mut checked = 0;
    for doc in documents(&root) {
        let text = std::fs::read_to_string(&doc).unwrap();
        for (line, p) in named_paths(&text) {
            checked += 1;
            if !root.join(&p).exists() {
                missing.push(format!("{}:{line}: {p}", doc.strip_prefix(&root).unwrap().display()));
            }
        }
    }
    assert!(checked > 50, "only {checked} paths found: the scan is broken");
    assert!(
        missing.is_empty(),
        "paths named in the documents that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_scan_finds_paths_and_skips_the_rest() {
    let got = named_paths(
        "see `collector/src/poll.rs` and `deploy/k8s/base/` and `config/src/units.rs:12`, not `poll.rs`\n```\n`balancer/x.rs`\n```\n`scripts/drill --short`",
    );
    let paths: Vec<&str> = got.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "collector/src/poll.rs",
            "deploy/k8s/base/",
            "config/src/units.rs",
            "scripts/drill"
        ]
    );
}
