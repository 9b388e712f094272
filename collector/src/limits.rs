//! The resources this process may use: the tightest CPU quota and memory limit of its cgroup
//! and the cgroups above it (cgroup v2, as Docker/compose, Kubernetes and systemd set them),
//! else the machine's cores and memory. Exported as gauges so alert rules compare use with the
//! limit of whatever form the collector runs in, instead of a number that fits only one.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub cpu_cores: f64,
    pub memory_bytes: f64,
}

/// `cpu.max`: `"QUOTA PERIOD"` or `"max PERIOD"` (no quota).
fn cpu_max(text: &str) -> Option<f64> {
    let mut it = text.split_whitespace();
    let quota: f64 = it.next()?.parse().ok()?;
    let period: f64 = it.next()?.parse().ok()?;
    (period > 0.0).then_some(quota / period)
}

/// `memory.max`: bytes, or `"max"`.
fn memory_max(text: &str) -> Option<f64> {
    text.trim().parse().ok()
}

/// This process's cgroup folder and each one above it, deepest first.
fn cgroup_dirs(proc_cgroup: &str, root: &Path) -> Vec<PathBuf> {
    let Some(rel) = proc_cgroup.lines().find_map(|l| l.strip_prefix("0::")) else {
        return vec![];
    };
    let mut dir = root.join(rel.trim().trim_start_matches('/'));
    let mut out = vec![];
    while dir.starts_with(root) {
        out.push(dir.clone());
        if !dir.pop() {
            break;
        }
    }
    out
}

fn machine_memory() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let kb = m.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
            kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb * 1024.0)
}

/// Reads the limits now (they can change at run time: `docker update`, a VPA).
pub fn read() -> Limits {
    let dirs = std::fs::read_to_string("/proc/self/cgroup")
        .map(|c| cgroup_dirs(&c, Path::new("/sys/fs/cgroup")))
        .unwrap_or_default();
    tightest(&dirs)
}

fn tightest(dirs: &[PathBuf]) -> Limits {
    let least = |file: &str, parse: fn(&str) -> Option<f64>| {
        (dirs.iter())
            .filter_map(|d| parse(&std::fs::read_to_string(d.join(file)).ok()?))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))))
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    Limits {
        cpu_cores: least("cpu.max", cpu_max).map_or(cores, |q| q.min(cores)),
        memory_bytes: least("memory.max", memory_max).unwrap_or_else(machine_memory),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tightest_limit_of_the_cgroup_and_its_parents() {
        let root = std::env::temp_dir().join(format!("np-cgroup-{}", std::process::id()));
        let leaf = root.join("system.slice/netpulse.service");
        std::fs::create_dir_all(&leaf).unwrap();
        std::fs::write(root.join("system.slice/cpu.max"), "max 100000\n").unwrap();
        std::fs::write(root.join("system.slice/memory.max"), "268435456\n").unwrap();
        std::fs::write(leaf.join("cpu.max"), "50000 100000\n").unwrap();
        std::fs::write(leaf.join("memory.max"), "max\n").unwrap();
        let dirs = cgroup_dirs("0::/system.slice/netpulse.service\n", &root);
        assert_eq!(dirs.len(), 3);
        let l = tightest(&dirs);
        assert_eq!(
            l.cpu_cores,
            0.5f64.min(std::thread::available_parallelism().unwrap().get() as f64)
        );
        assert_eq!(l.memory_bytes, 268_435_456.0);
        let none = tightest(&[]);
        assert!(none.cpu_cores >= 1.0 && none.memory_bytes > 0.0, "{none:?}");
        assert_eq!(cpu_max("max 100000"), None);
        assert_eq!(memory_max("max"), None);
    }
}
