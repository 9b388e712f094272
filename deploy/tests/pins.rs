//! Versions pinned in deploy files that must agree with the source (issue 25, item 2): the
//! Dockerfile's Rust toolchain is the workspace's `rust-version` and not older than any locked
//! dependency asks (`cargo build --locked` refuses an older compiler), and the build stage's
//! Debian release is the runtime's (the binaries link the build stage's glibc).

use netpulse_deploy::deploy_dir;
use std::process::Command;

fn version(text: &str) -> (u32, u32) {
    let mut parts = text
        .trim()
        .trim_matches('"')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap_or(0))
}

#[test]
fn the_image_toolchain_builds_the_locked_workspace() {
    let dockerfile = std::fs::read_to_string(deploy_dir().join("docker/Dockerfile")).unwrap();
    let from = (dockerfile.lines())
        .find_map(|l| l.strip_prefix("FROM rust:"))
        .expect("a rust build stage");
    let (tag, _) = from.split_once(' ').unwrap();
    let image = version(tag.split('-').next().unwrap());
    let workspace = std::fs::read_to_string(deploy_dir().join("../Cargo.toml")).unwrap();
    let declared = (workspace.lines())
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(version)
        .expect("workspace rust-version");
    assert_eq!(
        image, declared,
        "the Dockerfile builds with rust:{tag}, the workspace declares {declared:?}"
    );
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(deploy_dir().join(".."))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let needs: Vec<((u32, u32), String)> = (meta["packages"].as_array().unwrap().iter())
        .filter_map(|p| Some((version(p["rust_version"].as_str()?), p["name"].as_str()?.to_string())))
        .filter(|(v, _)| *v > image)
        .collect();
    assert!(
        needs.is_empty(),
        "locked packages need a newer Rust than rust:{tag}: {needs:?}"
    );
    let debian = |stage: &str| {
        (dockerfile.lines())
            .find(|l| l.starts_with("FROM ") && l.ends_with(&format!(" AS {stage}")))
            .map(|l| ["bookworm", "trixie", "bullseye"].into_iter().find(|d| l.contains(d)))
            .unwrap_or_else(|| panic!("stage {stage}"))
    };
    assert_eq!(
        debian("build"),
        debian("runtime"),
        "build and runtime stages on one Debian release"
    );
}
