//! `netpulse-collector discover`: the flags made into a sweep, the devices printed as targets
//! (stdout) and what the sweep cost (stderr).

use crate::cli::{Args, DiscoverArgs};
use anyhow::Context;
use netpulse_collector::discovery::{self, Sweep};
use netpulse_collector::registry::Registry;
use netpulse_config::{Cidr, Secret, SnmpVersion, TargetDefaults};

/// The credentials of the flags, in the order they are tried: communities, then the v3 user.
fn credentials(d: &DiscoverArgs) -> anyhow::Result<Vec<TargetDefaults>> {
    let version = SnmpVersion::parse(&d.snmp_version).unwrap_or_default();
    let mut out: Vec<TargetDefaults> = (d.communities.iter())
        .map(|c| TargetDefaults {
            version: Some(version),
            community: Some(Secret::new(c.clone())),
            ..TargetDefaults::default()
        })
        .collect();
    if let Some(user) = &d.v3.v3_user {
        let (auth, privacy) = d.v3.keys()?;
        out.push(TargetDefaults {
            version: Some(SnmpVersion::V3),
            user: Some(user.clone()),
            auth,
            privacy,
            ..TargetDefaults::default()
        });
    }
    if out.is_empty() {
        out.push(TargetDefaults {
            version: Some(version),
            community: Some(Secret::new("public")),
            ..TargetDefaults::default()
        });
    }
    Ok(out)
}

fn ranges(list: &[String]) -> anyhow::Result<Vec<Cidr>> {
    list.iter()
        .map(|r| Cidr::parse(r).map_err(anyhow::Error::msg))
        .collect()
}

/// Runs the sweep; `Ok(false)` when no device answered.
pub fn run(args: &Args, d: &DiscoverArgs) -> anyhow::Result<bool> {
    let registry = match &args.config {
        Some(_) => crate::cli::load_config(args).map_err(|e| anyhow::anyhow!("{e}"))?.1,
        None => Registry::builtin(),
    };
    let sweep = Sweep {
        ranges: ranges(&d.ranges)?,
        exclude: ranges(&d.exclude).context("--exclude")?,
        port: d.port,
        credentials: credentials(d)?,
        rate: d.rate,
        timeout: d.timeout,
        concurrency: 1024,
        neighbors: d.neighbors,
        within: ranges(&d.within).context("--within")?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (report, targets) = rt.block_on(async {
        let engine = netpulse_collector::snmp::SnmpEngine::new(4)
            .await
            .map_err(|e| anyhow::anyhow!("SNMP sockets: {e}"))?;
        let profiles = registry.profiles();
        let report = discovery::sweep(&engine, &sweep, &profiles)
            .await
            .map_err(anyhow::Error::msg)?;
        let targets = discovery::targets(&report.devices, sweep.port, &sweep.credentials);
        anyhow::Ok((report, targets))
    })?;
    let command = format!("netpulse-collector discover {}", d.ranges.join(" "));
    let text = match d.format.as_str() {
        "json" => discovery::render::json(&report, &targets, d.show_secrets) + "\n",
        _ => discovery::render::toml(&report, &targets, &command, d.show_secrets),
    };
    print!("{text}");
    eprintln!(
        "netpulse-collector discover: {} devices ({} by following neighbours), {} answering addresses, {} probed in {:.1} s",
        report.devices.len(),
        report.by_neighbors,
        report.answered,
        report.probed,
        report.took.as_secs_f64()
    );
    if !report.outside.is_empty() {
        let list: Vec<String> = report.outside.iter().take(20).map(|a| a.to_string()).collect();
        eprintln!(
            "netpulse-collector discover: {} neighbour addresses outside the ranges, not probed: {}{}",
            report.outside.len(),
            list.join(", "),
            if report.outside.len() > 20 { ", …" } else { "" }
        );
    }
    Ok(!report.devices.is_empty())
}
