//! Derived metrics: table columns (or scalars) read as a module reads them, whose fields are
//! computed from the row (`modules::expr`) into one of the normalized measurements every
//! vendor shares (docs/schema.md "Device health"): `device_cpu`, `device_memory`,
//! `device_temperature`, `device_component`. Device profiles (`profiles/`) are made of these; the schema below is
//! the one place that says which measurement has which tag and fields of which type.

use super::Column;
use super::expr::Expr;
use std::sync::Arc;

/// A field's line-protocol type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Rounded to an integer (bytes).
    Int,
    Float,
    /// An enumerated state: the number's name from the metric's `states` (a string field),
    /// and beside it the bool field `ok` (whether the number is one of its `ok` states).
    State,
}

/// A normalized measurement: its identifying tag and its fields.
pub struct Normalized {
    pub measurement: &'static str,
    pub tag: &'static str,
    pub fields: &'static [(&'static str, Kind)],
}

/// The normalized measurements (SPEC §11): what one dashboard query reads for every vendor.
pub const NORMALIZED: &[Normalized] = &[
    Normalized {
        measurement: "device_cpu",
        tag: "cpu",
        fields: &[("utilization", Kind::Float)],
    },
    Normalized {
        measurement: "device_memory",
        tag: "pool",
        fields: &[
            ("used_bytes", Kind::Int),
            ("free_bytes", Kind::Int),
            ("total_bytes", Kind::Int),
            ("utilization", Kind::Float),
        ],
    },
    Normalized {
        measurement: "device_temperature",
        tag: "sensor",
        fields: &[("celsius", Kind::Float)],
    },
    Normalized {
        measurement: "device_component",
        tag: "component",
        fields: &[("state", Kind::State)],
    },
];

/// The names of an enumerated state's numbers, and which numbers are healthy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct States {
    pub names: Vec<(i64, Arc<str>)>,
    pub ok: Vec<i64>,
}

impl States {
    /// The state's name (its number where the MIB names none) and whether it is healthy.
    pub fn of(&self, n: i64) -> (Arc<str>, bool) {
        let name = (self.names.iter().find(|(k, _)| *k == n)).map_or_else(|| n.to_string().into(), |(_, v)| v.clone());
        (name, self.ok.contains(&n))
    }
}

/// Where a tag's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum TagSource {
    /// The row's index (dotted).
    Index,
    /// A column's value in the row.
    Column(Arc<str>),
    /// A fixed value (scalars: `'total'`).
    Literal(Arc<str>),
}

/// A row is kept only when every condition holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Keep {
    Contains(Arc<str>, String),
    Equals(Arc<str>, String),
    NotEquals(Arc<str>, String),
    Above(Arc<str>, f64),
    Below(Arc<str>, f64),
}

#[derive(Debug, Clone)]
pub struct Derived {
    pub measurement: Arc<str>,
    /// Scalars (GET of `.0`) rather than table columns (walked and joined by index).
    pub scalar: bool,
    /// Named by the profile; lookup columns (`defines_row = false`) only label rows.
    pub columns: Vec<Column>,
    pub tags: Vec<(Arc<str>, TagSource)>,
    pub fields: Vec<(Arc<str>, Expr, Kind)>,
    pub keep: Vec<Keep>,
    /// `device_component`: what its `state` numbers mean.
    pub states: States,
}

/// The schema entry of `measurement`, if it is a normalized one.
pub fn normalized(measurement: &str) -> Option<&'static Normalized> {
    NORMALIZED.iter().find(|n| n.measurement == measurement)
}
