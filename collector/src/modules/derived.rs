//! Derived metrics: table columns (or scalars) read as a module reads them, whose fields are
//! computed from the row (`modules::expr`) into one of the normalized measurements every
//! vendor shares (docs/schema.md "Device health"): `device_cpu`, `device_memory`,
//! `device_temperature`. Device profiles (`profiles/`) are made of these; the schema below is
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
];

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
}

/// The schema entry of `measurement`, if it is a normalized one.
pub fn normalized(measurement: &str) -> Option<&'static Normalized> {
    NORMALIZED.iter().find(|n| n.measurement == measurement)
}
