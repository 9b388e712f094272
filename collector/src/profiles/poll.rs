//! A profile's metrics in one poll: its scalars in one GET (split only by max_varbinds), every
//! metric's own table columns in one walk (the columns of MIBs the agent lacks end in its first
//! answer), each column walked once however many metrics read it (ENTITY-MIB names label
//! temperatures, fans and supplies alike), and lookup columns walked only for the metrics
//! that have rows.

use crate::lineproto::Point;
use crate::mapping::{Context, derived_points, derived_scalar_point};
use crate::modules::Module;
use crate::modules::derived::Derived;
use crate::snmp::walk::{Column, get_scalars, walk_columns};
use crate::snmp::{Oid, SnmpError, SnmpSession};
use crate::target::Target;
use std::collections::HashMap;

/// The points of `m`'s derived metrics, and the bindings read.
pub async fn points<S: SnmpSession>(
    s: &S,
    target: &Target,
    m: &Module,
    ctx: &Context<'_>,
    requests: &mut u32,
) -> Result<(Vec<Point>, usize), SnmpError> {
    let (mut points, mut varbinds) = (vec![], 0);
    let scalars: Vec<Oid> = (m.derived.iter().filter(|d| d.scalar))
        .flat_map(|d| d.columns.iter().map(|c| c.oid.child(0)))
        .collect();
    if !scalars.is_empty() {
        let vbs = get_scalars(s, &scalars, &target.limits, requests).await?;
        varbinds += vbs.len();
        for d in m.derived.iter().filter(|d| d.scalar) {
            points.extend(derived_scalar_point(d, &vbs, ctx));
        }
    }
    // Every metric's own columns in one walk (one GETBULK covers several columns: the columns
    // of MIBs the agent lacks end in the first answer), then the lookups of those with rows.
    let tables: Vec<_> = m.derived.iter().filter(|d| !d.scalar).collect();
    let columns = |d: &Derived, rows: bool| -> Vec<Oid> {
        (d.columns.iter().filter(|c| c.defines_row == rows))
            .map(|c| c.oid.clone())
            .collect()
    };
    let mut walked: HashMap<Oid, Column> = HashMap::new();
    let own: Vec<Oid> = tables.iter().flat_map(|d| columns(d, true)).collect();
    varbinds += walk_missing(s, &own, &mut walked, target, requests).await?;
    let has_rows = |d: &Derived, walked: &HashMap<Oid, Column>| columns(d, true).iter().any(|o| !walked[o].is_empty());
    let lookups: Vec<Oid> = (tables.iter().filter(|d| has_rows(d, &walked)))
        .flat_map(|d| columns(d, false))
        .collect();
    varbinds += walk_missing(s, &lookups, &mut walked, target, requests).await?;
    for d in tables.into_iter().filter(|d| has_rows(d, &walked)) {
        let cols = d.columns.iter().map(|c| walked[&c.oid].clone()).collect();
        points.extend(derived_points(d, cols, ctx));
    }
    Ok((points, varbinds))
}

/// Walks the columns of `oids` not walked yet in this poll; the bindings read.
async fn walk_missing<S: SnmpSession>(
    s: &S,
    oids: &[Oid],
    walked: &mut HashMap<Oid, Column>,
    target: &Target,
    requests: &mut u32,
) -> Result<usize, SnmpError> {
    let mut missing: Vec<Oid> = vec![];
    for o in oids {
        if !walked.contains_key(o) && !missing.contains(o) {
            missing.push(o.clone());
        }
    }
    if missing.is_empty() {
        return Ok(0);
    }
    let cols = walk_columns(s, &missing, &target.limits, requests).await?;
    let n = cols.iter().map(Vec::len).sum();
    walked.extend(missing.into_iter().zip(cols));
    Ok(n)
}
