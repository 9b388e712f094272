//! `netpulse-collector`: command line, config loading, logging, and the chosen mode.

mod cli;
mod cmd_discover;

use anyhow::Context;
use clap::Parser;
use netpulse_collector::registry::Registry;
use netpulse_collector::target::Target;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    cli::init_logging(&args);
    if let Some(cli::Command::Discover(d)) = &args.command {
        return match cmd_discover::run(&args, d) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("netpulse-collector discover: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    let (cfg, registry) = match cli::load_config(&args) {
        Ok(ok) => ok,
        Err(errors) => {
            eprintln!("netpulse-collector: invalid configuration:\n{errors}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        // The targets files are checked too: a broken one is what the daemon would refuse.
        let mut refused = vec![];
        netpulse_collector::sources::files::FileWatch::default().scan(&cfg, &mut |e| refused.push(e));
        if !refused.is_empty() {
            eprintln!("netpulse-collector: invalid targets files:\n{}", refused.join("\n"));
            return ExitCode::from(2);
        }
        match toml::to_string_pretty(&cfg) {
            Ok(text) => {
                print!("{text}");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("netpulse-collector: cannot print the configuration: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if !args.test && !args.once {
        return match run_daemon(cfg, registry, args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("netpulse-collector: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    let result = if args.once {
        run_once(&cfg, &registry)
    } else {
        run_test(&cfg, &registry)
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("netpulse-collector: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The configuration's targets and those of its target sources (files, HTTP SD: read once;
/// what they refuse is printed as a warning).
fn targets(
    cfg: &netpulse_config::CollectorConfig,
    registry: &Registry,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<Vec<Target>> {
    let (extra, refused) = rt.block_on(netpulse_collector::sources::load_once(cfg));
    for why in refused {
        eprintln!("warning: {why}");
    }
    let targets = (cfg.targets.iter().chain(&extra))
        .map(|t| Target::from_config(t, cfg, registry).map_err(|e| anyhow::anyhow!("target {}: {e}", t.name)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if targets.is_empty() {
        anyhow::bail!("no targets configured: add [[targets]] or [targets_from] to the config, or pass --target");
    }
    Ok(targets)
}

fn runtime(cfg: &netpulse_config::CollectorConfig) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.collector.worker_pool_size)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run_daemon(cfg: netpulse_config::CollectorConfig, registry: Registry, args: cli::Args) -> anyhow::Result<()> {
    let rt = runtime(&cfg)?;
    let reload: netpulse_collector::daemon::Reloader =
        Box::new(move || cli::load_config(&args).map_err(|e| e.to_string()));
    rt.block_on(netpulse_collector::daemon::run(cfg, registry, reload))?;
    Ok(())
}

fn run_once(cfg: &netpulse_config::CollectorConfig, registry: &Registry) -> anyhow::Result<bool> {
    if cfg.outputs.influxdb.is_empty() {
        anyhow::bail!("--once needs at least one [[outputs.influxdb]] (use --test to print line protocol)");
    }
    let rt = runtime(cfg)?;
    let targets = targets(cfg, registry, &rt)?;
    let report = rt.block_on(async {
        let outputs = netpulse_collector::output::OutputSet::open(cfg)?;
        netpulse_collector::run::once_mode(cfg, targets, &outputs).await
    })?;
    for (name, points) in &report.undelivered {
        eprintln!(
            "warning: output {name}: {points} points not delivered within {}; they stay queued for the next run",
            cfg.collector.flush_timeout
        );
    }
    tracing::info!(
        targets = report.summary.targets,
        failed = report.summary.failed,
        points = report.summary.points,
        "poll and flush finished"
    );
    Ok(report.summary.failed == 0 && report.undelivered.is_empty())
}

fn run_test(cfg: &netpulse_config::CollectorConfig, registry: &Registry) -> anyhow::Result<bool> {
    let rt = runtime(cfg)?;
    let targets = targets(cfg, registry, &rt)?;
    let summary = rt.block_on(async {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
        netpulse_collector::run::test_mode(cfg, targets, &mut out).await
    })?;
    tracing::info!(
        targets = summary.targets,
        failed = summary.failed,
        points = summary.points,
        "test poll finished"
    );
    Ok(summary.failed == 0)
}
