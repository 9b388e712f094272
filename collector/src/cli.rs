//! Command-line flags (Telegraf's names where the meaning is the same) and how they
//! become the top configuration layer.

use clap::Parser;
use netpulse_collector::registry::Registry;
use netpulse_config::{
    AuthProtocol, CollectorConfig, ConfigErrors, Loader, PrivProtocol, Secret, SnmpVersion, TargetConfig, UsmKey,
};
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "netpulse-collector",
    version,
    about = "Polls SNMP agents and writes InfluxDB line protocol"
)]
pub struct Args {
    /// TOML configuration file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Poll every target once, print line protocol to stdout, write nothing.
    #[arg(long, conflicts_with_all = ["once", "check_config"])]
    pub test: bool,
    /// Poll once, write to the outputs (queues included), flush, exit.
    #[arg(long, conflicts_with = "check_config")]
    pub once: bool,
    /// Validate the configuration and print it, secrets as ***.
    #[arg(long)]
    pub check_config: bool,
    /// Ad-hoc target `udp://HOST:PORT` (repeatable); replaces the file's targets.
    #[arg(long, value_name = "URL")]
    pub target: Vec<String>,
    /// Community for ad-hoc v1/v2c targets.
    #[arg(long, value_name = "C", env = "NETPULSE_COMMUNITY", hide_env_values = true)]
    pub community: Option<String>,
    /// SNMP version of ad-hoc targets: 1, 2c or 3.
    #[arg(long, value_name = "V", default_value = "2c", value_parser = ["1", "2c", "3"])]
    pub snmp_version: String,
    /// Modules for ad-hoc targets, comma separated.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "system,interfaces"
    )]
    pub module: Vec<String>,
    #[command(flatten)]
    pub v3: V3Flags,
    /// Log format on stderr.
    #[arg(long, value_name = "FORMAT", env = "NETPULSE_LOG_FORMAT", default_value = "human", value_parser = netpulse_config::LOG_FORMATS)]
    pub log_format: String,
    /// Log filter (tracing EnvFilter syntax); RUST_LOG also works.
    #[arg(long, value_name = "FILTER", env = "NETPULSE_LOG")]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Sweep address ranges for SNMP agents and print each device found once, as targets.
    Discover(DiscoverArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct DiscoverArgs {
    /// Address ranges: CIDR (10.0.0.0/24, fd00::/120) or single addresses.
    #[arg(required = true, value_name = "CIDR")]
    pub ranges: Vec<String>,
    /// Ranges not to probe (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub exclude: Vec<String>,
    /// Community to try (repeatable, tried in order; default: public unless a v3 user is given).
    #[arg(long = "community", value_name = "C")]
    pub communities: Vec<String>,
    /// SNMP version of the communities: 1 or 2c.
    #[arg(long, value_name = "V", default_value = "2c", value_parser = ["1", "2c"])]
    pub snmp_version: String,
    /// A v3 user, tried after the communities.
    #[command(flatten)]
    pub v3: V3Flags,
    /// UDP port asked on every address.
    #[arg(long, default_value_t = 161)]
    pub port: u16,
    /// Requests per second over the whole sweep.
    #[arg(long, value_name = "PPS", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: u32,
    /// Wait for each answer (one try: a sweep costs one timeout).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// Also probe the LLDP and CDP neighbours the devices report, round after round, when
    /// inside the ranges (or `--within`).
    #[arg(long)]
    pub neighbors: bool,
    /// Where neighbours may be followed (repeatable; default: the swept ranges), so a few
    /// seed addresses can lead through a larger network without sweeping it.
    #[arg(long, value_name = "CIDR", requires = "neighbors")]
    pub within: Vec<String>,
    /// Output: toml (a targets file) or json.
    #[arg(long, default_value = "toml", value_parser = ["toml", "json"])]
    pub format: String,
    /// Print the credentials that answered (not printed by default).
    #[arg(long)]
    pub show_secrets: bool,
}

/// An SNMPv3 user and its keys from flags: ad-hoc targets and `discover` read them alike.
#[derive(Debug, Clone, clap::Args)]
pub struct V3Flags {
    /// v3 user (ad-hoc targets; `discover` tries it after the communities).
    #[arg(long, value_name = "U")]
    pub v3_user: Option<String>,
    /// v3 authentication, PROTOCOL:PASSWORD (md5 sha sha224 sha256 sha384 sha512).
    #[arg(long, value_name = "PROTO:PASS", env = "NETPULSE_V3_AUTH", hide_env_values = true)]
    pub v3_auth: Option<String>,
    /// v3 privacy, PROTOCOL:PASSWORD (des aes128 aes192 aes256 aes192c aes256c; the `c` forms
    /// extend keys as Cisco does).
    #[arg(long, value_name = "PROTO:PASS", env = "NETPULSE_V3_PRIV", hide_env_values = true)]
    pub v3_priv: Option<String>,
}

/// The keys `--v3-auth` and `--v3-priv` give, each error naming its flag.
type V3Keys = (Option<UsmKey<AuthProtocol>>, Option<UsmKey<PrivProtocol>>);

impl V3Flags {
    pub fn keys(&self) -> Result<V3Keys, ConfigErrors> {
        let auth = (self.v3_auth.as_deref())
            .map(|a| usm_key::<AuthProtocol>("--v3-auth", a))
            .transpose()?;
        let privacy = (self.v3_priv.as_deref())
            .map(|p| usm_key::<PrivProtocol>("--v3-priv", p))
            .transpose()?;
        Ok((auth, privacy))
    }
}

pub fn init_logging(args: &Args) {
    // async-snmp's errors reach the operator as ours, with the target name.
    netpulse_config::init_logging_with(
        &args.log_format,
        args.log_level.as_deref(),
        "info,async_snmp=off",
        vec![netpulse_collector::traps::metrics::malformed_counter()],
    );
}

fn flag_error(flag: &str, message: String) -> ConfigErrors {
    ConfigErrors(vec![netpulse_config::ConfigError {
        key: "(flag)".into(),
        origin: format!("flag {flag}"),
        message,
    }])
}

fn usm_key<P: serde::de::DeserializeOwned>(flag: &str, text: &str) -> Result<UsmKey<P>, ConfigErrors> {
    let (proto, pass) = text
        .split_once(':')
        .ok_or_else(|| flag_error(flag, "expected PROTOCOL:PASSWORD, e.g. sha256:secret123".into()))?;
    let protocol: P = serde::Deserialize::deserialize(
        serde::de::value::StrDeserializer::<serde::de::value::Error>::new(&proto.to_ascii_lowercase()),
    )
    .map_err(|e| flag_error(flag, format!("unknown protocol {proto:?}: {e}")))?;
    Ok(UsmKey {
        protocol,
        password: Secret::new(pass),
    })
}

fn adhoc_targets(args: &Args) -> Result<Vec<TargetConfig>, ConfigErrors> {
    let version = SnmpVersion::parse(&args.snmp_version)
        .ok_or_else(|| flag_error("--snmp-version", format!("{:?} is not 1, 2c or 3", args.snmp_version)))?;
    let (auth, privacy) = args.v3.keys()?;
    Ok(args
        .target
        .iter()
        .map(|addr| TargetConfig {
            name: addr.trim_start_matches("udp://").to_string(),
            address: addr.clone(),
            version,
            community: match version {
                SnmpVersion::V3 => None,
                _ => Some(Secret::new(args.community.clone().unwrap_or_else(|| "public".into()))),
            },
            user: args.v3.v3_user.clone(),
            auth: auth.clone(),
            privacy: privacy.clone(),
            modules: args.module.clone(),
            ..TargetConfig::default()
        })
        .collect())
}

/// Loads and validates every layer; module names are checked against the registry.
pub fn load_config(args: &Args) -> Result<(CollectorConfig, Registry), ConfigErrors> {
    let mut loader = Loader::<CollectorConfig>::new();
    if let Some(path) = &args.config {
        loader = loader.file(path);
    } else if args.target.is_empty() {
        return Err(flag_error(
            "--config",
            "give a config file with --config FILE, or an ad-hoc --target udp://HOST:PORT".into(),
        ));
    }
    if !args.target.is_empty() {
        let targets = adhoc_targets(args)?;
        loader = loader.replace("--target", "targets", move |cfg: &mut CollectorConfig| {
            cfg.targets = targets.clone()
        });
    }
    let loader = loader.check(Box::new(|cfg: &CollectorConfig| {
        let registry = match Registry::builtin().with_user_modules(&cfg.modules) {
            Ok(r) => r,
            Err(problems) => return problems,
        };
        let registry = match registry.with_profiles_dir(cfg.collector.profiles_dir.as_deref()) {
            Ok(r) => r,
            Err(e) => return vec![(vec!["collector".into(), "profiles_dir".into()], e)],
        };
        let mut problems = vec![];
        let profiles = registry.profiles();
        for (i, t) in cfg.targets.iter().enumerate() {
            if !matches!(t.profile.as_str(), "auto" | "none") && profiles.get(&t.profile).is_none() {
                let known: Vec<_> = profiles.names().collect();
                problems.push((
                    vec!["targets".into(), i.to_string(), "profile".into()],
                    format!(
                        "unknown profile {:?} (auto, none, or one of: {})",
                        t.profile,
                        known.join(", ")
                    ),
                ));
            }
            for (j, m) in t.modules.iter().enumerate() {
                if registry.get(m).is_none() {
                    let known = Registry::builtin_names().join(", ");
                    problems.push((
                        vec!["targets".into(), i.to_string(), "modules".into(), j.to_string()],
                        format!("unknown module {m:?} (built-in: {known}; or define it in [[modules]])"),
                    ));
                }
            }
        }
        problems
    }));
    let cfg = loader.load()?;
    let problem = |key: String, message: String| netpulse_config::ConfigError {
        key,
        origin: "config".into(),
        message,
    };
    let registry = Registry::builtin()
        .with_user_modules(&cfg.modules)
        .map_err(|p| ConfigErrors(p.into_iter().map(|(k, m)| problem(k.join("."), m)).collect()))?
        .with_profiles_dir(cfg.collector.profiles_dir.as_deref())
        .map_err(|e| ConfigErrors(vec![problem("collector.profiles_dir".into(), e)]))?;
    Ok((cfg, registry))
}
