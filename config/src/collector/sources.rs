//! `[targets_from]`: targets kept outside the configuration file — watched targets files and a
//! Prometheus HTTP SD inventory — the defaults such targets inherit, and the one reading of a
//! targets file (its errors name `file:line`).

use super::defaults::TargetDefaults;
use super::{CollectorConfig, TargetConfig};
use crate::error::{ConfigError, ConfigErrors, key_path};
use crate::locate::line_of;
use crate::units::Duration;
use serde::{Deserialize, Serialize};

/// `[targets_from]`: where targets come from besides `[[targets]]`, without a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetsFrom {
    /// Glob patterns of targets files (`[defaults]` and `[[targets]]`, docs/targets.md): added,
    /// changed and removed files take effect within `check_interval`, no SIGHUP; a broken file
    /// is refused with `file:line` and its previous targets kept.
    pub files: Vec<String>,
    /// How often the files are looked at for changes (size, modification time, then content).
    pub check_interval: Duration,
    /// A Prometheus HTTP SD endpoint (NetBox and other inventories): its JSON list of target
    /// groups, refreshed every `refresh`; the last good list is kept while it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_sd: Option<HttpSd>,
    /// Keys every target from these sources takes when it does not set them (credentials,
    /// modules, tags): an inventory never needs to carry a community or a v3 key.
    pub defaults: TargetDefaults,
}

impl Default for TargetsFrom {
    fn default() -> Self {
        Self {
            files: vec![],
            check_interval: Duration::from_secs(1),
            http_sd: None,
            defaults: TargetDefaults::default(),
        }
    }
}

/// `[targets_from] http_sd`: Prometheus's HTTP service discovery, polled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSd {
    /// `http://HOST[:PORT]/PATH` answering `[{"targets": ["HOST[:PORT]", …], "labels": {…}}]`.
    pub url: String,
    /// How often the list is fetched.
    pub refresh: Duration,
    /// Longest wait for one answer.
    pub timeout: Duration,
}

impl Default for HttpSd {
    fn default() -> Self {
        Self {
            url: String::new(),
            refresh: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The targets of one targets file, each with its defaults applied (the file's `[defaults]`,
/// then `[targets_from] defaults`) and checked as `[[targets]]` are. Every problem is named by
/// its key and `file:line`; one broken target refuses the whole file, so a half-read file never
/// removes the targets it did not get to.
pub fn read_targets_file(origin: &str, text: &str, cfg: &CollectorConfig) -> Result<Vec<TargetConfig>, ConfigErrors> {
    let at = |path: &[String], message: String| ConfigError {
        key: key_path(path),
        origin: match line_of(text, path) {
            Some(line) => format!("{origin}:{line}"),
            None => origin.to_string(),
        },
        message,
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        ConfigErrors(vec![ConfigError {
            key: String::new(),
            origin: line.map_or_else(|| origin.to_string(), |l| format!("{origin}:{l}")),
            message: format!("not TOML: {}", e.message()),
        }])
    })?;
    let mut errors = vec![];
    for key in table.keys().filter(|k| !matches!(k.as_str(), "defaults" | "targets")) {
        errors.push(at(
            std::slice::from_ref(key),
            "unknown key (a targets file holds [defaults] and [[targets]])".into(),
        ));
    }
    let file_defaults = match table.get("defaults") {
        None => TargetDefaults::default(),
        Some(v) => match deserialize_at::<TargetDefaults>(v.clone(), &["defaults".into()]) {
            Ok(d) => d,
            Err((path, message)) => return Err(ConfigErrors(vec![at(&path, message)])),
        },
    };
    let raw = match table.get("targets") {
        None => &vec![],
        Some(toml::Value::Array(a)) => a,
        Some(_) => {
            return Err(ConfigErrors(vec![at(
                &["targets".into()],
                "must be [[targets]] tables".into(),
            )]));
        }
    };
    let mut targets = Vec::with_capacity(raw.len());
    for (i, value) in raw.iter().enumerate() {
        let here = vec!["targets".to_string(), i.to_string()];
        match deserialize_at::<TargetConfig>(value.clone(), &here) {
            Ok(mut t) => {
                let set = |k: &str| value.get(k).is_some();
                file_defaults.fill(&mut t, &set);
                cfg.targets_from
                    .defaults
                    .fill(&mut t, &|k| set(k) || file_defaults.sets(k));
                targets.push(t);
            }
            Err((path, message)) => errors.push(at(&path, message)),
        }
    }
    if errors.is_empty() {
        let mut problems = vec![];
        crate::validate::collector::targets(&targets, &mut problems);
        errors.extend(problems.into_iter().map(|(path, message)| at(&path, message)));
    }
    if errors.is_empty() {
        Ok(targets)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Deserializes `value` (found at `base`), naming the full key path of what is wrong.
fn deserialize_at<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    base: &[String],
) -> Result<T, (Vec<String>, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = base.to_vec();
        path.extend(
            e.path()
                .to_string()
                .split(['.', '[', ']'])
                .filter(|s| !s.is_empty() && *s != "?")
                .map(String::from),
        );
        (path, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<TargetConfig>, String> {
        read_targets_file("t.toml", text, &CollectorConfig::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn file_defaults_fill_what_a_target_leaves_out() {
        let text = "[defaults]\ncommunity = \"c1\"\nmodules = [\"system\"]\ntags = { site = \"a\" }\n\n\
                    [[targets]]\nname = \"r1\"\naddress = \"udp://127.0.0.1\"\n\n\
                    [[targets]]\nname = \"r2\"\naddress = \"udp://127.0.0.2\"\nmodules = [\"interfaces\"]\n";
        let t = read(text).unwrap();
        assert_eq!(t[0].community.as_ref().unwrap().expose(), "c1");
        assert_eq!(t[0].modules, ["system"]);
        assert_eq!(t[0].tags["site"], "a");
        assert_eq!(t[1].modules, ["interfaces"]);
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let text = "[[targets]]\nname = \"r1\"\naddress = \"udp://127.0.0.1\"\ncommunity = \"c\"\n\n\
                    [[targets]]\nname = \"r2\"\naddress = \"tcp://x\"\ncommunity = \"c\"\n";
        let e = read(text).unwrap_err();
        assert!(e.contains("t.toml:8") && e.contains("targets[1].address"), "{e}");
        let e = read("[[targets]]\nname = \"r1\"\nadress = \"udp://x\"\n").unwrap_err();
        assert!(e.contains("t.toml:") && e.contains("adress"), "{e}");
        let e = read("[[targets]]\nname = \"r1\n").unwrap_err();
        assert!(e.contains("t.toml:2") && e.contains("not TOML"), "{e}");
        let e = read("[[target]]\nname = \"r1\"\n").unwrap_err();
        assert!(e.contains("t.toml:1") && e.contains("unknown key"), "{e}");
    }

    #[test]
    fn a_secret_in_a_broken_file_is_never_echoed() {
        let e =
            read("[[targets]]\nname = \"r1\"\naddress = \"udp://127.0.0.1\"\ncommunity = 12345678\nversion = \"9\"\n")
                .unwrap_err();
        assert!(!e.contains("12345678"), "{e}");
    }
}
