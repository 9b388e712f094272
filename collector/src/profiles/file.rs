//! The profile file format (docs/profiles.md): TOML, one file per vendor family, each with
//! `[[profile]]` tables and their `[[profile.metric]]`s. Read here into checked definitions;
//! every error names the file and line, and what is wrong.

use crate::modules::Column;
use crate::modules::derived::{Derived, Keep, Kind, States, TagSource, normalized};
use crate::modules::expr::Expr;
use crate::snmp::Oid;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    profile: Vec<Spanned<ProfileDef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileDef {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    extends: Vec<String>,
    #[serde(default)]
    sys_object_ids: Vec<String>,
    #[serde(default)]
    modules: Vec<String>,
    #[serde(default)]
    quirks: Quirks,
    #[serde(default)]
    metric: Vec<Spanned<MetricDef>>,
}

/// An agent's known deviations, applied where the target does not set its own value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quirks {
    /// GETBULK max-repetitions the agent copes with.
    pub max_repetitions: Option<u32>,
    /// Varbinds per request the agent copes with.
    pub max_varbinds: Option<usize>,
    /// The agent returns OIDs out of order.
    pub allow_non_increasing: Option<bool>,
    /// The agent's GETBULK is broken: walk with GETNEXT on v2c/v3 too.
    pub no_getbulk: Option<bool>,
    /// The agent answers slowly: the wait per request (applied from the poll after the one
    /// that identified it, which opened its session before the profile was known).
    pub timeout: Option<netpulse_config::Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricDef {
    measurement: String,
    /// The MIB objects read, for people (`CISCO-PROCESS-MIB::cpmCPUTotal5minRev`).
    #[serde(default)]
    mib: String,
    #[serde(default)]
    scalar: bool,
    columns: BTreeMap<String, String>,
    #[serde(default)]
    lookups: BTreeMap<String, String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    fields: BTreeMap<String, String>,
    #[serde(default)]
    keep: Vec<KeepDef>,
    /// `device_component`: each state number's name (`{ 1 = "normal", 2 = "warning" }`).
    #[serde(default)]
    states: BTreeMap<String, String>,
    /// `device_component`: the state numbers that are healthy (`ok = true`).
    #[serde(default)]
    ok: Vec<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeepDef {
    column: String,
    contains: Option<String>,
    equals: Option<String>,
    not_equals: Option<String>,
    above: Option<f64>,
    below: Option<f64>,
}

/// A profile as its file defines it (before `extends` is resolved).
pub struct Def {
    pub name: String,
    pub description: String,
    pub extends: Vec<String>,
    pub sys_object_ids: Vec<Oid>,
    pub modules: Vec<String>,
    pub quirks: Quirks,
    pub metrics: Vec<Derived>,
    /// `file:line`, for errors and `--test`.
    pub origin: String,
}

/// Reads one file's profiles; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<Def>, String> {
    let line = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
    let parsed: File = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(String::new(), |s| format!(":{}", line(s.start)));
        format!("{file}{at}: {}", e.message())
    })?;
    let mut out = vec![];
    for p in parsed.profile {
        let origin = format!("{file}:{}", line(p.span().start));
        let p = p.into_inner();
        let mut metrics = vec![];
        for m in p.metric {
            let at = format!("{file}:{}", line(m.span().start));
            metrics.push(metric(m.into_inner(), &p.name).map_err(|e| format!("{at}: profile {:?}: {e}", p.name))?);
        }
        let oids = (p.sys_object_ids.iter())
            .map(|o| Oid::parse(o).ok_or_else(|| format!("{origin}: sys_object_ids: {o:?} is not a numeric OID")))
            .collect::<Result<_, _>>()?;
        if p.name.is_empty() {
            return Err(format!("{origin}: a profile needs a name"));
        }
        out.push(Def {
            name: p.name,
            description: p.description,
            extends: p.extends,
            sys_object_ids: oids,
            modules: p.modules,
            quirks: p.quirks,
            metrics,
            origin,
        });
    }
    Ok(out)
}

/// One metric, checked against the normalized schema; every point carries `profile`.
fn metric(m: MetricDef, profile: &str) -> Result<Derived, String> {
    let schema = normalized(&m.measurement).ok_or_else(|| {
        let known: Vec<_> = crate::modules::derived::NORMALIZED
            .iter()
            .map(|n| n.measurement)
            .collect();
        format!("measurement {:?} is not one of {}", m.measurement, known.join(", "))
    })?;
    let _ = &m.mib;
    let mut columns = vec![];
    for (lookup, defs) in [(false, &m.columns), (true, &m.lookups)] {
        for (name, oid) in defs {
            let oid = Oid::parse(oid).ok_or_else(|| format!("column {name:?}: {oid:?} is not a numeric OID"))?;
            columns.push(Column {
                name: name.as_str().into(),
                oid,
                tag: false,
                defines_row: !lookup,
            });
        }
    }
    if columns.iter().all(|c| !c.defines_row) {
        return Err("a metric needs columns".into());
    }
    let known = |c: &str| columns.iter().any(|k| &*k.name == c);
    let mut fields = vec![];
    for (name, text) in &m.fields {
        let kind = (schema.fields.iter().find(|(f, _)| f == name).map(|(_, k)| *k)).ok_or_else(|| {
            let names: Vec<_> = schema.fields.iter().map(|(f, _)| *f).collect();
            format!("{}: field {name:?} is not one of {}", m.measurement, names.join(", "))
        })?;
        let expr = Expr::parse(text).map_err(|e| format!("field {name:?}: {e}"))?;
        let mut used = vec![];
        expr.columns(&mut used);
        if let Some(c) = used.iter().find(|c| !known(c)) {
            return Err(format!(
                "field {name:?} reads {c:?}, which is not a column of the metric"
            ));
        }
        fields.push((Arc::from(name.as_str()), expr, kind));
    }
    if fields.is_empty() {
        return Err("a metric needs fields".into());
    }
    let mut tags = vec![(Arc::from("profile"), TagSource::Literal(profile.into()))];
    for (name, src) in &m.tags {
        let src = match src.as_str() {
            "index" => TagSource::Index,
            s if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') => {
                TagSource::Literal(s[1..s.len() - 1].into())
            }
            s if known(s) => TagSource::Column(s.into()),
            s => return Err(format!("tag {name:?}: {s:?} is not \"index\", a 'literal' or a column")),
        };
        tags.push((Arc::from(name.as_str()), src));
    }
    if !m.tags.contains_key(schema.tag) {
        return Err(format!("{} needs the tag {:?}", m.measurement, schema.tag));
    }
    let keep = (m.keep.into_iter())
        .map(|k| keep(k, &known))
        .collect::<Result<_, _>>()?;
    let states = states(&m.states, m.ok, schema.fields.iter().any(|(_, k)| *k == Kind::State))?;
    Ok(Derived {
        measurement: m.measurement.into(),
        scalar: m.scalar,
        columns,
        tags,
        fields,
        keep,
        states,
    })
}

/// A state measurement's names and healthy numbers (both required there, refused elsewhere).
fn states(names: &BTreeMap<String, String>, ok: Vec<i64>, stateful: bool) -> Result<States, String> {
    if !stateful {
        return match names.is_empty() && ok.is_empty() {
            true => Ok(States::default()),
            false => Err("states and ok belong to device_component only".into()),
        };
    }
    if names.is_empty() || ok.is_empty() {
        return Err("device_component needs states (number = \"name\") and ok (the healthy numbers)".into());
    }
    let names = (names.iter())
        .map(|(k, v)| match k.parse::<i64>() {
            Ok(n) if !v.is_empty() => Ok((n, Arc::from(v.as_str()))),
            _ => Err(format!("states: {k:?} = {v:?} is not a number = \"name\"")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(n) = ok.iter().find(|n| !names.iter().any(|(k, _)| k == *n)) {
        return Err(format!("ok: {n} is not one of the states"));
    }
    Ok(States { names, ok })
}

fn keep(k: KeepDef, known: &dyn Fn(&str) -> bool) -> Result<Keep, String> {
    if !known(&k.column) {
        return Err(format!("keep: {:?} is not a column of the metric", k.column));
    }
    let c: Arc<str> = k.column.into();
    let given = [
        k.contains.is_some(),
        k.equals.is_some(),
        k.not_equals.is_some(),
        k.above.is_some(),
        k.below.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err("keep: give exactly one of contains, equals, not_equals, above, below".into());
    }
    Ok(match (k.contains, k.equals, k.not_equals, k.above) {
        (Some(s), ..) => Keep::Contains(c, s),
        (_, Some(s), ..) => Keep::Equals(c, s),
        (_, _, Some(s), _) => Keep::NotEquals(c, s),
        (.., Some(x)) => Keep::Above(c, x),
        _ => Keep::Below(c, k.below.unwrap_or_default()),
    })
}
