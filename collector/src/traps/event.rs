//! A received notification as one `snmp_trap` point (docs/schema.md): who sent it (the
//! configured target at that address and its tags), what it is (name or dotted OID), and one
//! field per variable binding, named by its object and typed as the poller types values.

use super::names::Names;
use crate::lineproto::{FieldValue, Name, Point};
use crate::mapping::field_value;
use crate::snmp::oid::dotted;
use crate::snmp::traps::Received;

/// The configured target a notification came from.
#[derive(Debug, Clone)]
pub struct Sender {
    pub target: Name,
    pub tags: Vec<(Name, Name)>,
}

pub const MEASUREMENT: &str = "snmp_trap";

/// Bindings kept as fields: a datagram can carry thousands, and each new OID would be a new
/// field key in InfluxDB for good. The rest are counted in `varbinds_dropped`.
pub const MAX_FIELDS: usize = 256;

/// The notification's `trap` tag — its name, else its dotted OID — and whether it is a
/// known name (metrics label only those).
pub fn trap_name(r: &Received, names: &Names) -> (String, bool) {
    match &r.trap_oid {
        Some(o) => match names.notification(o) {
            Some(n) => (n.to_string(), true),
            None => (dotted(o.arcs()), false),
        },
        None => ("unknown".into(), false),
    }
}

/// The keys every trap point has, allocated once (a point per trap, 100,000 a second).
struct Keys {
    agent_host: Name,
    trap: Name,
    version: Name,
    target: Name,
    uptime: Name,
    inform: Name,
    measurement: Name,
}

static KEYS: std::sync::LazyLock<Keys> = std::sync::LazyLock::new(|| Keys {
    agent_host: "agent_host".into(),
    trap: "trap".into(),
    version: "version".into(),
    target: "target".into(),
    uptime: "uptime".into(),
    inform: "inform".into(),
    measurement: MEASUREMENT.into(),
});

pub fn point(r: &Received, trap: &str, names: &Names, sender: Option<&Sender>, timestamp: i64) -> Point {
    let k = &*KEYS;
    let mut tags: Vec<(Name, Name)> = Vec::with_capacity(4 + sender.map_or(0, |s| s.tags.len()));
    tags.extend([
        (k.agent_host.clone(), r.source.ip().to_string().into()),
        (k.trap.clone(), trap.into()),
        (k.version.clone(), r.version.into()),
    ]);
    if let Some(s) = sender {
        tags.push((k.target.clone(), s.target.clone()));
        // The target's own tags never replace the event's.
        for (k, v) in &s.tags {
            if !tags.iter().any(|(t, _)| t == k) {
                tags.push((k.clone(), v.clone()));
            }
        }
    }
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    let mut fields: Vec<(Name, FieldValue)> = Vec::with_capacity(r.varbinds.len() + 2);
    fields.push((k.uptime.clone(), FieldValue::Int(i64::from(r.uptime))));
    fields.push((k.inform.clone(), FieldValue::Bool(r.inform)));
    let mut dropped = 0i64;
    for vb in &r.varbinds {
        if fields.len() >= MAX_FIELDS + 2 {
            dropped += 1;
            continue;
        }
        let Some(v) = field_value(&vb.value) else { continue };
        // Two instances of one object in one notification: the second is named by its OID.
        let key: Name = match names.object(&vb.oid) {
            Some(n) if !fields.iter().any(|(k, _)| k == n) => n.clone(),
            _ => dotted(vb.oid.arcs()).into(),
        };
        if !fields.iter().any(|(k, _)| *k == key) {
            fields.push((key, v));
        }
    }
    if dropped > 0 {
        fields.push(("varbinds_dropped".into(), FieldValue::Int(dropped)));
    }
    Point {
        measurement: k.measurement.clone(),
        tags,
        fields,
        timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snmp::{Oid, Value, VarBind};

    #[test]
    fn a_link_down_is_named_and_its_bindings_are_fields() {
        let names = Names::new(&[]).unwrap();
        let oid = |s: &str| Oid::parse(s).unwrap();
        let r = Received {
            source: "127.0.0.7:40000".parse().unwrap(),
            version: "2c",
            inform: false,
            trap_oid: Some(oid("1.3.6.1.6.3.1.1.5.3")),
            uptime: 4200,
            varbinds: vec![
                VarBind {
                    oid: oid("1.3.6.1.2.1.2.2.1.1.3"),
                    value: Value::Integer(3),
                },
                VarBind {
                    oid: oid("1.3.6.1.2.1.2.2.1.7.3"),
                    value: Value::Integer(1),
                },
                VarBind {
                    oid: oid("1.3.6.1.2.1.2.2.1.8.3"),
                    value: Value::Integer(2),
                },
                VarBind {
                    oid: oid("1.3.6.1.4.1.99999.5"),
                    value: Value::OctetString("x".into()),
                },
            ],
        };
        let (trap, known) = trap_name(&r, &names);
        assert!(known);
        let sender = Sender {
            target: "core-1".into(),
            tags: vec![("site".into(), "lab".into()), ("trap".into(), "no".into())],
        };
        let p = point(&r, &trap, &names, Some(&sender), 1);
        assert_eq!(p.tag("trap"), Some("linkDown"));
        assert_eq!(
            (p.tag("target"), p.tag("site"), p.tag("agent_host"), p.tag("version")),
            (Some("core-1"), Some("lab"), Some("127.0.0.7"), Some("2c"))
        );
        assert_eq!(p.field("ifOperStatus"), Some(&FieldValue::Int(2)));
        assert_eq!(p.field("ifIndex"), Some(&FieldValue::Int(3)));
        assert_eq!(p.field("uptime"), Some(&FieldValue::Int(4200)));
        assert_eq!(p.field("1.3.6.1.4.1.99999.5"), Some(&FieldValue::Str("x".into())));
        assert!(p.tags.windows(2).all(|w| w[0].0 < w[1].0), "tags sorted: {:?}", p.tags);
    }
}
