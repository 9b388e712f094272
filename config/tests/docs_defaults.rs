//! The defaults docs/collector-config.md and docs/balancer-config.md print are the ones the
//! config structs hold (issue 26, item 9): every key-table row whose default is a value (a
//! backticked value, a number, `true`/`false`) is compared with the struct's default,
//! serialized. Prose defaults ("from `[snmp]`", "number of cores", "—") are not values and
//! are skipped; a key the struct does not have fails.

use netpulse_config::{
    Backend, BalancerConfig, CollectorConfig, DiscoveryConfig, Frontend, HttpSd, InfluxOutput, Mirror, ServerConfig,
    TargetConfig, TrapsConfig,
};
use serde_json::Value;
use std::path::Path;

fn doc(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs").join(name)).unwrap()
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

/// A default cell's value as text, when it is one: `"60s"` → `60s`, `20` → `20`.
fn value(cell: &str) -> Option<String> {
    let c = cell.trim();
    let inner = c.strip_prefix('`').and_then(|c| c.strip_suffix('`'));
    let v = match inner {
        Some(i) if !i.contains('`') => i,
        _ if c.parse::<f64>().is_ok() || c == "true" || c == "false" => c,
        _ => return None,
    };
    Some(v.trim_matches('"').to_string())
}

/// The struct's default at `key` (`a.b` walks objects) as text.
fn struct_default(root: &Value, key: &str) -> Option<String> {
    let mut v = root;
    for part in key.split('.') {
        v = v.get(part)?;
    }
    Some(match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    })
}

/// Equal as text, or as the same duration or size written two ways (`60s` and `1m`).
fn same(want: &str, have: &str) -> bool {
    let as_dur = |s: &str| serde_json::from_value::<netpulse_config::Duration>(Value::String(s.into())).ok();
    let as_size = |s: &str| serde_json::from_value::<netpulse_config::ByteSize>(Value::String(s.into())).ok();
    want == have
        || as_dur(want).is_some_and(|w| as_dur(have) == Some(w))
        || as_size(want).is_some_and(|w| as_size(have) == Some(w))
}

/// A doc value as JSON: a number or boolean as such, else text.
fn typed(v: &str) -> Value {
    serde_json::from_str::<Value>(v)
        .ok()
        .filter(|j| j.is_number() || j.is_boolean() || j.is_array())
        .unwrap_or_else(|| Value::String(v.into()))
}

/// Deserializes a table's JSON into its struct and back (a key printed only when it is not
/// its default disappears on the way back if the value set is the default).
type Roundtrip = fn(Value) -> Result<Value, String>;

fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned>(v: Value) -> Result<Value, String> {
    let t: T = serde_json::from_value(v).map_err(|e| e.to_string())?;
    Ok(json(&t))
}

/// Compares the rows of one table: `keys` and `defaults` cells, split on ", " when several.
fn check(
    (root, rt): (&Value, Roundtrip),
    where_: &str,
    keys: &str,
    defaults: &str,
    bad: &mut Vec<String>,
    compared: &mut usize,
) {
    let keys: Vec<&str> = keys.split(", ").map(|k| k.trim().trim_matches('`')).collect();
    let defaults: Vec<&str> = if keys.len() > 1 {
        defaults.split(", ").collect()
    } else {
        vec![defaults]
    };
    if keys.len() != defaults.len() {
        return;
    }
    for (k, d) in keys.iter().zip(defaults) {
        let Some(want) = value(d) else { continue };
        match struct_default(root, k) {
            Some(have) if same(&want, &have) => *compared += 1,
            Some(have) => bad.push(format!("{where_} `{k}`: docs say {want}, the struct {have}")),
            // Not printed (a default the struct leaves out): set it to the documented value;
            // if that is the default, it is left out again.
            None => {
                let mut v = root.clone();
                let mut at = &mut v;
                let parts: Vec<&str> = k.split('.').collect();
                for p in &parts[..parts.len() - 1] {
                    at = &mut at[*p];
                }
                at[parts[parts.len() - 1]] = typed(&want);
                match rt(v) {
                    Ok(back) if struct_default(&back, k).is_none() => *compared += 1,
                    Ok(back) => bad.push(format!(
                        "{where_} `{k}`: docs say {want}, which is not the default ({:?} is printed)",
                        struct_default(&back, k)
                    )),
                    Err(e) => bad.push(format!("{where_} `{k}`: documented as {want}, refused: {e}")),
                }
            }
        }
    }
}

fn cells(line: &str) -> Option<Vec<String>> {
    let l = line.trim();
    if !l.starts_with('|') || l.starts_with("|---") {
        return None;
    }
    // `\|` inside a cell is text, not a column.
    let l = l.replace("\\|", "\u{1}");
    Some(
        l.trim_matches('|')
            .split('|')
            .map(|c| c.trim().replace('\u{1}', "|"))
            .collect(),
    )
}

#[test]
fn collector_docs_print_the_structs_defaults() {
    let cfg = json(&CollectorConfig::default());
    let mut sections = cfg.clone();
    sections["targets"] = json(&TargetConfig::default());
    sections["outputs.influxdb"] = json(&InfluxOutput::default());
    sections["traps"] = json(&TrapsConfig::default());
    sections["discovery"] = json(&DiscoveryConfig::default());
    sections["targets_from.http_sd"] = json(&HttpSd::default());
    let (mut bad, mut compared, mut section) = (vec![], 0, String::new());
    for line in doc("collector-config.md").lines() {
        let Some(c) = cells(line) else { continue };
        if c.len() != 4 || c[1] == "key" {
            continue;
        }
        if let Some(s) = c[0].split('`').nth(1) {
            section = s.trim_matches(|ch| ch == '[' || ch == ']').to_string();
        }
        let table: (&Value, Roundtrip) = match section.as_str() {
            "targets" => (&sections["targets"], roundtrip::<TargetConfig>),
            "outputs.influxdb" => (&sections["outputs.influxdb"], roundtrip::<InfluxOutput>),
            "traps" => (&sections["traps"], roundtrip::<TrapsConfig>),
            "discovery" => (&sections["discovery"], roundtrip::<DiscoveryConfig>),
            "targets_from.http_sd" => (&sections["targets_from.http_sd"], roundtrip::<HttpSd>),
            "modules" | "traps.users" | "traps.names" => continue,
            s => (&cfg[s], |v| Ok(v)),
        };
        check(table, &section, &c[1], &c[2], &mut bad, &mut compared);
    }
    assert!(
        bad.is_empty(),
        "docs/collector-config.md differs from the code:\n{}",
        bad.join("\n")
    );
    assert!(compared >= 30, "only {compared} defaults compared");
}

#[test]
fn balancer_docs_print_the_structs_defaults() {
    let cfg = json(&BalancerConfig::default());
    let (mut bad, mut compared) = (vec![], 0);
    let mut root = Value::Null;
    let mut rt: Roundtrip = |v| Ok(v);
    let mut where_ = String::new();
    for line in doc("balancer-config.md").lines() {
        if line.starts_with('#') {
            where_ = line.trim_start_matches('#').trim().to_string();
            let name = line.split('`').nth(1).unwrap_or("");
            (root, rt) = match name {
                "[[frontends]]" => (json(&Frontend::default()), roundtrip::<Frontend> as Roundtrip),
                "[[backends]]" => (json(&Backend::default()), roundtrip::<Backend> as Roundtrip),
                "servers = [ … ]" => (json(&ServerConfig::default()), roundtrip::<ServerConfig> as Roundtrip),
                "mirror = { … }" => (json(&Mirror::default()), roundtrip::<Mirror> as Roundtrip),
                "[server]" => (
                    cfg["server"].clone(),
                    roundtrip::<netpulse_config::ServerSection> as Roundtrip,
                ),
                "[stats]" => (
                    cfg["stats"].clone(),
                    roundtrip::<netpulse_config::StatsConfig> as Roundtrip,
                ),
                "[runtime]" => (
                    cfg["runtime"].clone(),
                    roundtrip::<netpulse_config::RuntimeConfig> as Roundtrip,
                ),
                _ => (Value::Null, rt),
            };
            continue;
        }
        let Some(c) = cells(line) else { continue };
        if c.len() != 3 || c[0] == "key" || root.is_null() {
            continue;
        }
        check((&root, rt), &where_, &c[0], &c[1], &mut bad, &mut compared);
    }
    assert!(
        bad.is_empty(),
        "docs/balancer-config.md differs from the code:\n{}",
        bad.join("\n")
    );
    assert!(compared >= 25, "only {compared} defaults compared");
}
