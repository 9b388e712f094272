//! Every type error of a configuration at once. figment stops at the first error, so when a
//! configuration does not deserialize, each setting is tried alone — a scalar or inline value
//! on its own, an array element (a `[[targets]]` entry) as a whole — with everything else left
//! at its default, and each one that fails is reported with its own path.

use figment::value::{Dict, Value};
use figment::{Figment, providers::Serialized};
use serde::de::DeserializeOwned;

/// One setting: its path (array positions as indices) and value.
type Unit = (Vec<Seg>, Value);

#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn units(v: &Value, path: &mut Vec<Seg>, out: &mut Vec<Unit>) {
    match v {
        Value::Dict(_, d) if !d.is_empty() => {
            for (k, child) in d {
                path.push(Seg::Key(k.clone()));
                units(child, path, out);
                path.pop();
            }
        }
        Value::Array(_, items)
            if path.len() <= 2 && items.iter().all(|i| matches!(i, Value::Dict(..))) && !items.is_empty() =>
        {
            for (i, item) in items.iter().enumerate() {
                out.push(([path.clone(), vec![Seg::Index(i)]].concat(), item.clone()));
            }
        }
        other => out.push((path.clone(), other.clone())),
    }
}

/// The whole configuration holding only `unit` (an array holds it as its one element).
fn alone(path: &[Seg], value: Value) -> Value {
    match path.split_last() {
        None => value,
        Some((Seg::Key(k), rest)) => {
            let mut d = Dict::new();
            d.insert(k.clone(), value);
            alone(rest, Value::from(d))
        }
        Some((Seg::Index(_), rest)) => alone(rest, Value::from(vec![value])),
    }
}

/// The errors of each setting tried alone, with array indices as in the whole configuration.
pub(crate) fn every_error<T: DeserializeOwned>(merged: &Value) -> Vec<figment::Error> {
    let mut all = vec![];
    units(merged, &mut vec![], &mut all);
    let mut out: Vec<figment::Error> = vec![];
    for (path, value) in all {
        let Value::Dict(_, whole) = alone(&path, value) else {
            continue;
        };
        let Err(errs) = Figment::from(Serialized::defaults(whole)).extract::<T>() else {
            continue;
        };
        for mut e in errs {
            for (i, seg) in path.iter().enumerate() {
                if let (Seg::Index(n), Some(p)) = (seg, e.path.get_mut(i)) {
                    *p = n.to_string();
                }
            }
            if !out
                .iter()
                .any(|o| o.path == e.path && o.kind.to_string() == e.kind.to_string())
            {
                out.push(e);
            }
        }
    }
    out
}
