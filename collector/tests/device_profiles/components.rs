//! The oracle for `device_component`: each recording's fans, power supplies and sensors in
//! the state their MIB gives them, read from the recording's lines with the MIB's own names for
//! the numbers (written apart from the profile files).

use super::Rec;
use netpulse_collector::lineproto::{FieldValue, Point};

const ENVMON: &[&str] = &[
    "normal",
    "warning",
    "critical",
    "shutdown",
    "notPresent",
    "notFunctioning",
];
const JNX: &[&str] = &[
    "unknown",
    "running",
    "ready",
    "reset",
    "runningAtFullSpeed",
    "down",
    "standby",
];
const H3C: &[&str] = &["active", "deactive", "notInstall", "unsupport"];
const ICF: &[&str] = &["unknown", "bad", "warning", "good", "notPresent"];
const FOUNDRY: &[&str] = &["other", "normal", "failure"];
const ENTITY_STATE: &[&str] = &["unknown", "disabled", "enabled", "testing"];

/// (state name, healthy) of each component row; None where the recording's value is not static.
pub type Expected = Vec<Option<(String, bool)>>;

/// Rows of `column` kept by `keep(row, state)`, their states named from `names` (numbers from
/// `first`), healthy when in `ok`.
fn rows(
    r: &Rec,
    column: &str,
    first: i64,
    names: &[&str],
    ok: &[i64],
    keep: impl Fn(&str, Option<i64>) -> bool,
) -> Expected {
    (r.rows(column).iter())
        .filter_map(|i| {
            let n = r.num(&format!("{column}.{i}")).map(|v| v as i64);
            keep(i, n).then(|| {
                n.map(|n| {
                    let name = usize::try_from(n - first).ok().and_then(|k| names.get(k));
                    (name.map_or(n.to_string(), |s| s.to_string()), ok.contains(&n))
                })
            })
        })
        .collect()
}

pub fn expected(profile: &str, r: &Rec) -> Expected {
    let all = |_: &str, _: Option<i64>| true;
    match profile {
        "cisco" => [4, 5]
            .iter()
            .flat_map(|t| rows(r, &format!("1.3.6.1.4.1.9.9.13.1.{t}.1.3"), 1, ENVMON, &[1], all))
            .collect(),
        "juniper" => {
            let named = |i: &str, _: Option<i64>| {
                let d = r.text(&format!("1.3.6.1.4.1.2636.3.1.13.1.5.{i}")).unwrap_or_default();
                d.contains("Fan") || d.contains("PEM") || d.contains("Power Supply")
            };
            rows(r, "1.3.6.1.4.1.2636.3.1.13.1.6", 1, JNX, &[2, 3, 5, 7], named)
        }
        "huawei" => {
            let mut e = rows(
                r,
                "1.3.6.1.4.1.2011.5.25.31.1.1.10.1.7",
                1,
                &["normal", "abnormal"],
                &[1],
                all,
            );
            let pwr = ["supply", "notSupply", "sleep", "unknown"];
            e.extend(rows(r, "1.3.6.1.4.1.2011.5.25.31.1.1.18.1.6", 1, &pwr, &[1, 3], all));
            e
        }
        "h3c" | "h3c-legacy" => {
            let present = |_: &str, n: Option<i64>| !matches!(n, Some(3 | 4));
            ["1.3.6.1.4.1.25506.8.35.9.1.1.1.2", "1.3.6.1.4.1.25506.8.35.9.1.2.1.2"]
                .iter()
                .flat_map(|c| rows(r, c, 1, H3C, &[1], present))
                .collect()
        }
        "hpe-procurve" => rows(r, "1.3.6.1.4.1.11.2.14.11.1.2.6.1.4", 1, ICF, &[4], |_, n| n != Some(5)),
        "brocade-icx" => ["1.3.6.1.4.1.1991.1.1.1.2.1.1.3", "1.3.6.1.4.1.1991.1.1.1.3.1.1.3"]
            .iter()
            .flat_map(|c| rows(r, c, 1, FOUNDRY, &[2], all))
            .collect(),
        "fortinet" => rows(r, "1.3.6.1.4.1.12356.101.4.3.2.1.4", 0, &["normal", "alarm"], &[0], all),
        // ENTITY-MIB fans (class 7) and power supplies (6) in their ENTITY-STATE-MIB state.
        _ => {
            let class =
                |i: &str, _: Option<i64>| matches!(r.num(&format!("1.3.6.1.2.1.47.1.1.1.1.5.{i}")), Some(6.0 | 7.0));
            rows(r, "1.3.6.1.2.1.131.1.1.1.3", 1, ENTITY_STATE, &[3], class)
        }
    }
}

/// netpulse's `device_component` points are as many as the MIB's rows, and every static row's
/// (state, ok) is among them.
pub fn check(name: &str, expected: &Expected, points: &[Point]) {
    let ours: Vec<(String, bool)> = (points.iter().filter(|p| &*p.measurement == "device_component"))
        .map(|p| match (p.field("state"), p.field("ok")) {
            (Some(FieldValue::Str(s)), Some(FieldValue::Bool(ok))) => (s.clone(), *ok),
            other => panic!("{name}: a device_component point without state and ok: {other:?}"),
        })
        .collect();
    assert_eq!(
        ours.len(),
        expected.len(),
        "{name}: device_component: netpulse {ours:?}, the MIB {expected:?}"
    );
    let mut left = ours.clone();
    for e in expected.iter().flatten() {
        let at = left.iter().position(|o| o == e);
        let at = at.unwrap_or_else(|| panic!("{name}: device_component {e:?} expected, netpulse has {ours:?}"));
        left.remove(at);
    }
}
