//! A derived metric's answers → points of its normalized measurement: rows joined by index
//! (lookup columns only label rows that exist), kept when every `keep` condition holds, each
//! field computed by its expression over the row's numbers, tags from the index, a column or
//! a fixed value. A row whose fields all lack a value gives no point.

use super::{Context, field_value, finish, instance_zero, tag_value};
use crate::lineproto::{FieldValue, Point};
use crate::modules::derived::{Derived, Keep, Kind, TagSource};
use crate::snmp::walk::Column as WalkColumn;
use crate::snmp::{Value, VarBind, oid::dotted};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One point per kept row of a walked derived metric; `columns` in `d.columns` order.
pub fn derived_points(d: &Derived, columns: Vec<WalkColumn>, ctx: &Context) -> Vec<Point> {
    let n = d.columns.len();
    let mut rows: BTreeMap<Vec<u32>, Vec<Option<Value>>> = BTreeMap::new();
    let (defining, lookup): (Vec<_>, Vec<_>) =
        (d.columns.iter().enumerate().zip(columns)).partition(|((_, c), _)| c.defines_row);
    for (pass, list) in [defining, lookup].into_iter().enumerate() {
        for ((i, _), values) in list {
            for (index, value) in values {
                let row = match pass {
                    0 => rows.entry(index).or_insert_with(|| vec![None; n]),
                    _ => match rows.get_mut(&index) {
                        Some(r) => r,
                        None => continue,
                    },
                };
                row[i] = Some(value);
            }
        }
    }
    (rows.iter())
        .filter_map(|(index, row)| point(d, index, row, ctx))
        .collect()
}

/// The point of a scalar derived metric (`vbs` from a GET of each column's `.0`).
pub fn derived_scalar_point(d: &Derived, vbs: &[VarBind], ctx: &Context) -> Option<Point> {
    let row: Vec<Option<Value>> = (d.columns.iter())
        .map(|c| {
            let vb = instance_zero(vbs, &c.oid)?;
            field_value(&vb.value).map(|_| vb.value.clone())
        })
        .collect();
    point(d, &[0], &row, ctx)
}

fn point(d: &Derived, index: &[u32], row: &[Option<Value>], ctx: &Context) -> Option<Point> {
    let value = |name: &str| {
        let i = d.columns.iter().position(|c| &*c.name == name)?;
        row[i].as_ref()
    };
    let number = |name: &str| value(name).and_then(number);
    let text = |name: &str| value(name).and_then(tag_value);
    let kept = d.keep.iter().all(|k| match k {
        Keep::Contains(c, s) => text(c).is_some_and(|t| t.contains(s.as_str())),
        Keep::Equals(c, s) => text(c).is_some_and(|t| t == *s),
        Keep::NotEquals(c, s) => text(c).is_some_and(|t| t != *s),
        Keep::Above(c, x) => number(c).is_some_and(|v| v > *x),
        Keep::Below(c, x) => number(c).is_some_and(|v| v < *x),
    });
    if !kept {
        return None;
    }
    let mut fields = vec![];
    for (name, expr, kind) in &d.fields {
        let Some(v) = expr.eval(&number) else {
            continue;
        };
        match kind {
            Kind::Int => fields.push((name.clone(), FieldValue::Int(v.round() as i64))),
            Kind::Float => fields.push((name.clone(), FieldValue::Float(v))),
            Kind::State => {
                let (state, ok) = d.states.of(v.round() as i64);
                fields.push((name.clone(), FieldValue::Str(state.to_string())));
                fields.push(("ok".into(), FieldValue::Bool(ok)));
            }
        }
    }
    if fields.is_empty() {
        return None;
    }
    let tags = (d.tags.iter())
        .map(|(name, src)| {
            let v: Arc<str> = match src {
                TagSource::Index => dotted(index).into(),
                TagSource::Column(c) => text(c).unwrap_or_else(|| dotted(index)).into(),
                TagSource::Literal(l) => l.clone(),
            };
            (name.clone(), v)
        })
        .collect();
    Some(finish(&d.measurement, tags, fields, ctx))
}

/// A value as a number: integers and counters, and numbers written as text (some agents do).
fn number(v: &Value) -> Option<f64> {
    match field_value(v)? {
        FieldValue::Int(i) => Some(i as f64),
        FieldValue::UInt(u) => Some(u as f64),
        FieldValue::Float(f) => Some(f),
        FieldValue::Str(s) => s.trim().parse().ok(),
        FieldValue::Bool(_) => None,
    }
}
