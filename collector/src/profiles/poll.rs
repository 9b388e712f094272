//! A profile's metrics in one poll: its scalars in one GET (split only by max_varbinds), its
//! table columns walked once each however many metrics read them (ENTITY-MIB names label
//! temperatures, fans and supplies alike), and a metric's lookup columns walked only when its
//! own columns have rows (an agent without the MIB costs one empty walk, not its lookups too).

use crate::lineproto::Point;
use crate::mapping::{Context, derived_points, derived_scalar_point};
use crate::modules::Module;
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
    let mut walked: HashMap<Oid, Column> = HashMap::new();
    for d in m.derived.iter().filter(|d| !d.scalar) {
        let oids = |rows: bool| -> Vec<Oid> {
            (d.columns.iter().filter(|c| c.defines_row == rows))
                .map(|c| c.oid.clone())
                .collect()
        };
        let rows = oids(true);
        varbinds += walk_missing(s, &rows, &mut walked, target, requests).await?;
        if rows.iter().all(|o| walked[o].is_empty()) {
            continue;
        }
        varbinds += walk_missing(s, &oids(false), &mut walked, target, requests).await?;
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
    let mut missing: Vec<Oid> = oids.iter().filter(|o| !walked.contains_key(*o)).cloned().collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(0);
    }
    let cols = walk_columns(s, &missing, &target.limits, requests).await?;
    let n = cols.iter().map(Vec::len).sum();
    walked.extend(missing.into_iter().zip(cols));
    Ok(n)
}
