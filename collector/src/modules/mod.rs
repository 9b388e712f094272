//! Modules: named sets of MIB objects and the measurement each becomes. Built-ins follow
//! docs/schema.md; user modules (`[[modules]]`, read in `registry`) use numeric OIDs or the
//! built-ins' symbolic names; device profiles (`profiles`) add derived metrics.

mod builtin;
pub mod derived;
pub mod expr;

use crate::snmp::Oid;
use std::sync::Arc;

/// One MIB object read by a module: a scalar (without `.0`) or a table column.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: Arc<str>,
    pub oid: Oid,
    /// Emitted as a tag (names such as ifName), not a field.
    pub tag: bool,
    /// A row exists when this column has a value there. `false` for lookup columns
    /// (entPhysicalName) that only label rows other columns define.
    pub defines_row: bool,
}

impl Column {
    fn new(name: &str, oid: &str, tag: bool, defines_row: bool) -> Self {
        Self {
            name: name.into(),
            oid: Oid::parse(oid).expect("built-in OIDs are valid"),
            tag,
            defines_row,
        }
    }
}

/// Scalars fetched with one GET, becoming one point.
#[derive(Debug, Clone)]
pub struct ScalarGroup {
    pub measurement: Arc<str>,
    pub objects: Vec<Column>,
}

/// Columns walked together and joined by row index, one point per row.
#[derive(Debug, Clone)]
pub struct TableGroup {
    pub measurement: Arc<str>,
    pub index_tag: Arc<str>,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone)]
pub struct Module {
    pub name: String,
    pub scalars: Option<ScalarGroup>,
    pub tables: Vec<TableGroup>,
    /// Computed into normalized measurements (a device profile's vendor metrics).
    pub derived: Vec<derived::Derived>,
}

/// A built-in module by name (device profiles name these).
pub fn builtin_module(name: &str) -> Option<Arc<Module>> {
    builtin_modules().into_iter().find(|m| m.name == name).map(Arc::new)
}

/// Every built-in module.
pub fn builtin_modules() -> Vec<Module> {
    builtin::modules()
}

/// Every built-in object by symbolic name, for user modules.
pub fn builtin_symbols() -> impl Iterator<Item = (&'static str, &'static str)> {
    builtin::symbols()
}
