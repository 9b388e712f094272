//! SNMP values → points: type mapping (docs/schema.md), scalar groups to one point, table
//! groups joined by row index to one point per row.

mod derived;

pub use derived::{derived_points, derived_scalar_point};

use crate::lineproto::{FieldValue, Name, Point};
use crate::modules::{ScalarGroup, TableGroup};
use crate::rates::RateTracker;
use crate::snmp::walk::Column as WalkColumn;
use crate::snmp::{Value, VarBind, oid::dotted};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Field value of an SNMP value; `None` for NULL and exceptions.
pub fn field_value(v: &Value) -> Option<FieldValue> {
    Some(match v {
        Value::Integer(i) => FieldValue::Int(i64::from(*i)),
        Value::Counter32(u) | Value::Gauge32(u) | Value::TimeTicks(u) => FieldValue::Int(i64::from(*u)),
        Value::Counter64(u) => match i64::try_from(*u) {
            Ok(i) => FieldValue::Int(i),
            Err(_) => FieldValue::UInt(*u),
        },
        Value::OctetString(b) => FieldValue::Str(octets(b)),
        Value::Opaque(b) => FieldValue::Str(hex(b)),
        Value::ObjectId(o) => FieldValue::Str(o.to_string()),
        Value::IpAddress(a) => FieldValue::Str(std::net::Ipv4Addr::from(*a).to_string()),
        Value::Null | Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => {
            return None;
        }
    })
}

/// Tag value of an SNMP value; `None` when absent or empty (empty tags are omitted).
pub fn tag_value(v: &Value) -> Option<String> {
    let s = match field_value(v)? {
        FieldValue::Str(s) => s,
        FieldValue::Int(i) => i.to_string(),
        FieldValue::UInt(u) => u.to_string(),
        FieldValue::Float(f) => f.to_string(),
        FieldValue::Bool(b) => b.to_string(),
    };
    (!s.is_empty()).then_some(s)
}

/// Text when the bytes are printable UTF-8 (trailing NULs dropped, as many agents pad),
/// otherwise colon-separated hex, like MAC addresses are usually shown.
pub fn octets(b: &[u8]) -> String {
    let trimmed = match b.iter().rposition(|&c| c != 0) {
        Some(end) => &b[..=end],
        None => &b[..0],
    };
    match std::str::from_utf8(trimmed) {
        Ok(s) if !s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) => s.to_string(),
        _ => hex(b),
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, byte) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

/// Tags every point of a target carries, the poll's timestamp, and (with `rates = true`)
/// the target's rate tracker with the agent's sysUpTime.
pub struct Context<'a> {
    pub base_tags: &'a [(Name, Name)],
    pub timestamp: i64,
    pub rates: Option<(&'a std::sync::Mutex<RateTracker>, Option<u32>)>,
}

impl Context<'_> {
    /// `<name>_rate` for a counter value, when rates are on and a rate is meaningful.
    /// `discontinuity`: the row's ifCounterDiscontinuityTime, when the agent has it.
    fn rate(
        &self,
        measurement: &Name,
        index: &str,
        name: &Name,
        v: &Value,
        discontinuity: Option<u32>,
    ) -> Option<(Name, FieldValue)> {
        let (tracker, uptime) = self.rates?;
        let (value, bits) = match v {
            Value::Counter32(c) => (u64::from(*c), 32),
            Value::Counter64(c) => (*c, 64),
            _ => return None,
        };
        let mut t = tracker.lock().unwrap_or_else(|p| p.into_inner());
        let r = t.rate(
            (measurement.clone(), index.to_string(), name.clone()),
            value,
            bits,
            self.timestamp,
            crate::rates::Epoch { uptime, discontinuity },
        )?;
        Some((Name::from(format!("{name}_rate")), FieldValue::Float(r)))
    }
}

fn finish(measurement: &Name, mut tags: Vec<(Name, Name)>, fields: Vec<(Name, FieldValue)>, ctx: &Context) -> Point {
    tags.extend(ctx.base_tags.iter().cloned());
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    Point {
        measurement: measurement.clone(),
        tags,
        fields,
        timestamp: ctx.timestamp,
    }
}

/// The answer for scalar `oid` (its `.0` instance) among `vbs`.
fn instance_zero<'a>(vbs: &'a [VarBind], oid: &crate::snmp::Oid) -> Option<&'a VarBind> {
    vbs.iter().find(|vb| vb.oid.suffix_after(oid) == Some(&[0][..]))
}

/// One point from a scalar group; `None` when the agent had none of its objects.
pub fn scalar_point(group: &ScalarGroup, vbs: &[VarBind], ctx: &Context) -> Option<Point> {
    let mut tags = vec![];
    let mut fields = vec![];
    for obj in &group.objects {
        let Some(vb) = instance_zero(vbs, &obj.oid) else {
            continue;
        };
        if obj.tag {
            if let Some(t) = tag_value(&vb.value) {
                tags.push((obj.name.clone(), Arc::from(t)));
            }
        } else if let Some(f) = field_value(&vb.value) {
            fields.push((obj.name.clone(), f));
            fields.extend(ctx.rate(&group.measurement, "", &obj.name, &vb.value, None));
        }
    }
    (!fields.is_empty() || !tags.is_empty()).then(|| finish(&group.measurement, tags, fields, ctx))
}

/// The IF-MIB column whose change marks a discontinuity of the row's counters.
const DISCONTINUITY: &str = "ifCounterDiscontinuityTime";

#[derive(Default)]
struct Row {
    tags: Vec<(Name, Name)>,
    fields: Vec<(Name, FieldValue)>,
}

/// One point per row of a walked table group; `columns` is in `group.columns` order.
pub fn table_points(group: &TableGroup, columns: Vec<WalkColumn>, ctx: &Context) -> Vec<Point> {
    let mut rows: BTreeMap<Vec<u32>, Row> = BTreeMap::new();
    // IF-MIB: a row whose counters were discontinued gets no rate across the change.
    let discontinuity: BTreeMap<Vec<u32>, u32> = (group.columns.iter().zip(&columns))
        .filter(|(c, _)| &*c.name == DISCONTINUITY)
        .flat_map(|(_, values)| values.iter())
        .filter_map(|(i, v)| match v {
            Value::TimeTicks(t) => Some((i.clone(), *t)),
            _ => None,
        })
        .collect();
    // Row-defining columns first, so lookup columns only label rows that exist.
    let (defining, lookup): (Vec<_>, Vec<_>) = group.columns.iter().zip(columns).partition(|(c, _)| c.defines_row);
    for (pass, list) in [defining, lookup].into_iter().enumerate() {
        for (col, values) in list {
            for (index, value) in values {
                let rate = ctx.rates.and_then(|_| {
                    let disc = discontinuity.get(&index).copied();
                    ctx.rate(&group.measurement, &dotted(&index), &col.name, &value, disc)
                });
                let row = if pass == 0 {
                    rows.entry(index).or_default()
                } else {
                    match rows.get_mut(&index) {
                        Some(r) => r,
                        None => continue,
                    }
                };
                if col.tag {
                    if let Some(t) = tag_value(&value) {
                        row.tags.push((col.name.clone(), Arc::from(t)));
                    }
                } else if let Some(f) = field_value(&value) {
                    row.fields.push((col.name.clone(), f));
                    row.fields.extend(rate);
                }
            }
        }
    }
    rows.into_iter()
        .map(|(index, mut row)| {
            row.tags.push((group.index_tag.clone(), Arc::from(dotted(&index))));
            if &*group.measurement == "entity_sensor" {
                row.fields.extend(sensor_scaled(&row.fields));
            }
            finish(&group.measurement, row.tags, row.fields, ctx)
        })
        .collect()
}

/// `entPhySensorValue_scaled`: the reading in its unit (ENTITY-SENSOR-MIB: value × 10^(3 ×
/// (scale − 9)) / 10^precision), which dashboards cannot compute (InfluxQL has no power of a
/// field).
fn sensor_scaled(fields: &[(Name, FieldValue)]) -> Option<(Name, FieldValue)> {
    let get = |name: &str| {
        fields.iter().find(|(n, _)| &**n == name).and_then(|(_, v)| match v {
            FieldValue::Int(i) => Some(*i),
            _ => None,
        })
    };
    let (value, scale, precision) = (
        get("entPhySensorValue")?,
        get("entPhySensorScale")?,
        get("entPhySensorPrecision")?,
    );
    if !(1..=17).contains(&scale) || !(-8..=9).contains(&precision) {
        return None;
    }
    let exp = 3 * (scale as i32 - 9) - precision as i32;
    // Dividing by an exact power of ten keeps 3300 mV at 3.3, not 3.3000000000000003.
    let v = value as f64;
    let scaled = if exp >= 0 {
        v * 10f64.powi(exp)
    } else {
        v / 10f64.powi(-exp)
    };
    Some(("entPhySensorValue_scaled".into(), FieldValue::Float(scaled)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn sensor_readings_are_scaled() {
        let f = |v: i64, s: i64, p: i64| {
            let fields: Vec<(Name, FieldValue)> = vec![
                ("entPhySensorValue".into(), FieldValue::Int(v)),
                ("entPhySensorScale".into(), FieldValue::Int(s)),
                ("entPhySensorPrecision".into(), FieldValue::Int(p)),
            ];
            match sensor_scaled(&fields) {
                Some((_, FieldValue::Float(x))) => Some(x),
                _ => None,
            }
        };
        assert_eq!(f(425, 9, 1), Some(42.5), "42.5 units (e.g. celsius)");
        assert_eq!(f(3300, 8, 0), Some(3.3), "3300 milli-volts");
        assert_eq!(f(12, 10, 0), Some(12000.0), "12 kilo-units");
        assert_eq!(f(1, 99, 0), None, "not a scale");
    }

    #[test]
    fn octet_strings() {
        assert_eq!(octets(b"Gi0/1\0\0"), "Gi0/1");
        assert_eq!(octets(&[0x00, 0x1b, 0x21, 0xff, 0x00, 0x01]), "00:1b:21:ff:00:01");
        assert_eq!(octets(b""), "");
    }

    #[test]
    fn values() {
        assert_eq!(
            field_value(&Value::Counter64(u64::MAX)),
            Some(FieldValue::UInt(u64::MAX))
        );
        assert_eq!(field_value(&Value::Counter64(5)), Some(FieldValue::Int(5)));
        assert_eq!(
            field_value(&Value::IpAddress([10, 0, 0, 1])),
            Some(FieldValue::Str("10.0.0.1".into()))
        );
        assert_eq!(field_value(&Value::NoSuchInstance), None);
        assert_eq!(tag_value(&Value::OctetString("".into())), None);
    }

    #[test]
    fn tables_join_by_index_and_lookup_columns_only_label() {
        let r = Registry::builtin();
        let m = r.get("entity_sensors").unwrap();
        let g = &m.tables[0];
        let mut cols: Vec<WalkColumn> = vec![vec![]; g.columns.len()];
        let value_col = g.columns.iter().position(|c| &*c.name == "entPhySensorValue").unwrap();
        let name_col = g.columns.iter().position(|c| &*c.name == "entPhysicalName").unwrap();
        cols[value_col] = vec![(vec![1001], Value::Integer(42))];
        cols[name_col] = vec![
            (vec![1], Value::OctetString("chassis".into())),
            (vec![1001], Value::OctetString("CPU temp".into())),
        ];
        let base: Vec<(Name, Name)> = vec![("target".into(), "r1".into())];
        let pts = table_points(
            g,
            cols,
            &Context {
                base_tags: &base,
                timestamp: 7,
                rates: None,
            },
        );
        assert_eq!(pts.len(), 1);
        assert_eq!(pts[0].tag("entPhysicalName"), Some("CPU temp"));
        assert_eq!(pts[0].tag("entPhysicalIndex"), Some("1001"));
        assert_eq!(pts[0].field("entPhySensorValue"), Some(&FieldValue::Int(42)));
        let keys: Vec<&str> = pts[0].tags.iter().map(|(k, _)| &**k).collect();
        assert_eq!(keys, ["entPhysicalIndex", "entPhysicalName", "target"]);
    }
}
