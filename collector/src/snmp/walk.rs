//! Request strategies over any [`SnmpSession`]: scalar GETs in as few PDUs as the agent
//! allows, and table walks that fetch several columns per request (GETBULK on v2c/v3,
//! multi-OID GETNEXT on v1), with end-of-column, exception and ordering guards.

use super::{AgentStatus, Oid, SnmpError, SnmpResult, SnmpSession, SnmpVersion, Value, VarBind};

/// Limits of one walk.
#[derive(Clone, Copy, Debug)]
pub struct WalkLimits {
    /// Most bindings per request (the columns of a round share it).
    pub max_varbinds: usize,
    /// GETBULK max-repetitions ceiling.
    pub max_repetitions: u32,
    /// Most rows per column; also the loop bound when misordered OIDs are allowed.
    pub max_rows: usize,
    /// Accept OIDs that do not increase (agents known to misorder).
    pub allow_non_increasing: bool,
    /// Walk with GETNEXT on v2c/v3 too (agents whose GETBULK is broken).
    pub no_getbulk: bool,
}

/// Values of scalars (instances, usually `x.0`). Missing objects are simply absent.
/// Counts the requests sent in `requests`.
pub async fn get_scalars<S: SnmpSession>(
    s: &S,
    oids: &[Oid],
    limits: &WalkLimits,
    requests: &mut u32,
) -> SnmpResult<Vec<VarBind>> {
    let mut out = Vec::with_capacity(oids.len());
    for chunk in oids.chunks(limits.max_varbinds.max(1)) {
        let mut pending: Vec<Oid> = chunk.to_vec();
        // v1 answers a GET with a missing object by failing the whole PDU with
        // noSuchName at that index: drop it and ask again (bounded by the chunk size).
        loop {
            if pending.is_empty() {
                break;
            }
            *requests += 1;
            match s.get(&pending).await {
                Ok(vbs) => {
                    out.extend(vbs.into_iter().filter(|vb| !vb.value.is_absent()));
                    break;
                }
                Err(SnmpError::Agent {
                    status: AgentStatus::NoSuchName,
                    index,
                }) if index >= 1 && (index as usize) <= pending.len() => {
                    pending.remove(index as usize - 1);
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}

/// One column's rows: (index arcs after the column OID, value).
pub type Column = Vec<(Vec<u32>, Value)>;

/// Walks `columns` together. Returns one [`Column`] per requested column, in order.
pub async fn walk_columns<S: SnmpSession>(
    s: &S,
    columns: &[Oid],
    limits: &WalkLimits,
    requests: &mut u32,
) -> SnmpResult<Vec<Column>> {
    let mut result: Vec<Column> = vec![Vec::new(); columns.len()];
    // (column number, cursor) for columns not finished yet.
    let mut active: Vec<(usize, Oid)> = columns.iter().cloned().enumerate().collect();
    let per_round = limits.max_varbinds.max(1);
    while !active.is_empty() {
        // More columns than fit in one request: walk them in groups.
        let take = active.len().min(per_round);
        let group: Vec<Oid> = active[..take].iter().map(|(_, c)| c.clone()).collect();
        *requests += 1;
        let next = s.version() == SnmpVersion::V1 || limits.no_getbulk;
        let vbs = match next {
            true => match s.get_next(&group).await {
                Ok(v) => v,
                // v1 signals "past the end of the MIB" for one OID as noSuchName at its index.
                Err(SnmpError::Agent {
                    status: AgentStatus::NoSuchName,
                    index,
                }) if index >= 1 && (index as usize) <= take => {
                    active.remove(index as usize - 1);
                    continue;
                }
                Err(e) => return Err(e),
            },
            false => {
                let reps = ((per_round / take) as u32).clamp(1, limits.max_repetitions.max(1));
                s.get_bulk(&group, reps).await?
            }
        };
        if vbs.is_empty() {
            return Err(SnmpError::Malformed("empty response to a table walk".into()));
        }
        let mut done = vec![false; take];
        let mut progressed = false;
        // Responses are row-major: binding r*take + c belongs to group column c.
        for (i, vb) in vbs.into_iter().enumerate() {
            let c = i % take;
            if done[c] {
                continue;
            }
            let (col_no, cursor) = &mut active[c];
            let prefix = &columns[*col_no];
            let suffix = match vb.oid.suffix_after(prefix) {
                Some(sfx) if !sfx.is_empty() && !matches!(vb.value, Value::EndOfMibView) => sfx.to_vec(),
                _ => {
                    done[c] = true;
                    continue;
                }
            };
            if vb.oid <= *cursor && !limits.allow_non_increasing {
                return Err(SnmpError::Walk {
                    column: prefix.to_string(),
                    reason: format!(
                        "agent returned {} after {} (OIDs not increasing); set allow_non_increasing for this target",
                        vb.oid, cursor
                    ),
                });
            }
            let rows = &mut result[*col_no];
            if rows.len() >= limits.max_rows {
                return Err(SnmpError::Walk {
                    column: prefix.to_string(),
                    reason: format!("more than {} rows (walk_limit)", limits.max_rows),
                });
            }
            if !vb.value.is_absent() {
                rows.push((suffix, vb.value));
            }
            *cursor = vb.oid;
            progressed = true;
        }
        if !progressed && done.iter().all(|d| !d) {
            return Err(SnmpError::Malformed("table walk made no progress".into()));
        }
        let mut k = 0;
        active.retain(|_| {
            let keep = k >= take || !done[k];
            k += 1;
            keep
        });
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// An in-memory agent: a sorted MIB, answering like RFC 3416 says.
    struct Mib {
        version: SnmpVersion,
        data: BTreeMap<Oid, Value>,
        max_response: usize,
        requests: Mutex<u32>,
    }

    fn o(s: &str) -> Oid {
        Oid::parse(s).unwrap()
    }

    impl Mib {
        fn next(&self, oid: &Oid) -> VarBind {
            use std::ops::Bound::Excluded;
            match self
                .data
                .range((Excluded(oid.clone()), std::ops::Bound::Unbounded))
                .next()
            {
                Some((k, v)) => VarBind {
                    oid: k.clone(),
                    value: v.clone(),
                },
                None => VarBind {
                    oid: oid.clone(),
                    value: Value::EndOfMibView,
                },
            }
        }
    }

    impl SnmpSession for Mib {
        fn version(&self) -> SnmpVersion {
            self.version
        }
        async fn get(&self, oids: &[Oid]) -> SnmpResult<Vec<VarBind>> {
            *self.requests.lock().unwrap() += 1;
            let mut out = vec![];
            for (i, oid) in oids.iter().enumerate() {
                match self.data.get(oid) {
                    Some(v) => out.push(VarBind {
                        oid: oid.clone(),
                        value: v.clone(),
                    }),
                    None if self.version == SnmpVersion::V1 => {
                        return Err(SnmpError::Agent {
                            status: AgentStatus::NoSuchName,
                            index: i as u32 + 1,
                        });
                    }
                    None => out.push(VarBind {
                        oid: oid.clone(),
                        value: Value::NoSuchObject,
                    }),
                }
            }
            Ok(out)
        }
        async fn get_next(&self, oids: &[Oid]) -> SnmpResult<Vec<VarBind>> {
            *self.requests.lock().unwrap() += 1;
            let mut out = vec![];
            for (i, oid) in oids.iter().enumerate() {
                let vb = self.next(oid);
                if vb.value == Value::EndOfMibView {
                    return Err(SnmpError::Agent {
                        status: AgentStatus::NoSuchName,
                        index: i as u32 + 1,
                    });
                }
                out.push(vb);
            }
            Ok(out)
        }
        async fn get_bulk(&self, oids: &[Oid], reps: u32) -> SnmpResult<Vec<VarBind>> {
            *self.requests.lock().unwrap() += 1;
            let mut cursors = oids.to_vec();
            let mut out = vec![];
            'rows: for _ in 0..reps {
                for c in cursors.iter_mut() {
                    if out.len() >= self.max_response {
                        break 'rows;
                    }
                    let vb = self.next(c);
                    *c = vb.oid.clone();
                    out.push(vb);
                }
            }
            Ok(out)
        }
    }

    fn if_mib(version: SnmpVersion, rows: u32) -> Mib {
        let mut data = BTreeMap::new();
        data.insert(o("1.3.6.1.2.1.1.5.0"), Value::OctetString("sw1".into()));
        for i in 1..=rows {
            data.insert(
                o(&format!("1.3.6.1.2.1.2.2.1.2.{i}")),
                Value::OctetString(format!("eth{i}").into()),
            );
            data.insert(o(&format!("1.3.6.1.2.1.2.2.1.10.{i}")), Value::Counter32(i * 100));
        }
        data.insert(o("1.3.6.1.2.1.4.1.0"), Value::Integer(1));
        Mib {
            version,
            data,
            max_response: 1000,
            requests: Mutex::new(0),
        }
    }

    fn limits() -> WalkLimits {
        WalkLimits {
            max_varbinds: 10,
            max_repetitions: 25,
            max_rows: 1000,
            allow_non_increasing: false,
            no_getbulk: false,
        }
    }

    async fn walk(m: &Mib) -> SnmpResult<Vec<Column>> {
        let mut n = 0;
        walk_columns(
            m,
            &[o("1.3.6.1.2.1.2.2.1.2"), o("1.3.6.1.2.1.2.2.1.10")],
            &limits(),
            &mut n,
        )
        .await
    }

    #[tokio::test]
    async fn bulk_walk_fetches_columns_together() {
        let m = if_mib(SnmpVersion::V2c, 12);
        let cols = walk(&m).await.unwrap();
        assert_eq!(cols[0].len(), 12);
        assert_eq!(cols[1][11], (vec![12], Value::Counter32(1200)));
        // 2 columns × 5 rows per request: 12 rows + the end need 3 requests, not 26.
        assert_eq!(*m.requests.lock().unwrap(), 3);
    }

    #[tokio::test]
    async fn truncated_bulk_responses_still_complete() {
        let mut m = if_mib(SnmpVersion::V2c, 7);
        m.max_response = 3; // an agent that trims responses to fit its buffer
        let cols = walk(&m).await.unwrap();
        assert_eq!((cols[0].len(), cols[1].len()), (7, 7));
    }

    #[tokio::test]
    async fn the_no_getbulk_quirk_walks_v2c_with_getnext() {
        let m = if_mib(SnmpVersion::V2c, 4);
        let lim = WalkLimits {
            no_getbulk: true,
            ..limits()
        };
        let mut n = 0;
        let cols = walk_columns(&m, &[o("1.3.6.1.2.1.2.2.1.2"), o("1.3.6.1.2.1.2.2.1.10")], &lim, &mut n)
            .await
            .unwrap();
        assert_eq!(cols, walk(&if_mib(SnmpVersion::V2c, 4)).await.unwrap());
        // One GETNEXT per row and one past the end (a GETBULK walk takes 1 here).
        assert_eq!(*m.requests.lock().unwrap(), 5);
    }

    #[tokio::test]
    async fn v1_uses_getnext_and_stops_on_no_such_name() {
        let mut m = if_mib(SnmpVersion::V1, 4);
        m.data.remove(&o("1.3.6.1.2.1.4.1.0")); // the table is the end of the MIB
        let cols = walk(&m).await.unwrap();
        assert_eq!((cols[0].len(), cols[1].len()), (4, 4));
    }

    #[tokio::test]
    async fn non_increasing_oids_are_refused() {
        struct Loop(Mib);
        impl SnmpSession for Loop {
            fn version(&self) -> SnmpVersion {
                SnmpVersion::V2c
            }
            async fn get(&self, o: &[Oid]) -> SnmpResult<Vec<VarBind>> {
                self.0.get(o).await
            }
            async fn get_next(&self, o: &[Oid]) -> SnmpResult<Vec<VarBind>> {
                self.0.get_next(o).await
            }
            async fn get_bulk(&self, oids: &[Oid], _: u32) -> SnmpResult<Vec<VarBind>> {
                // Always answers the same row: a looping agent.
                Ok(oids
                    .iter()
                    .map(|_| VarBind {
                        oid: o("1.3.6.1.2.1.2.2.1.2.1"),
                        value: Value::Integer(1),
                    })
                    .collect())
            }
        }
        let m = Loop(if_mib(SnmpVersion::V2c, 1));
        let mut n = 0;
        let err = walk_columns(&m, &[o("1.3.6.1.2.1.2.2.1.2")], &limits(), &mut n)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not increasing"), "{err}");
        let lim = WalkLimits {
            allow_non_increasing: true,
            max_rows: 50,
            ..limits()
        };
        let err = walk_columns(&m, &[o("1.3.6.1.2.1.2.2.1.2")], &lim, &mut n)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("more than 50 rows"), "{err}");
    }

    #[tokio::test]
    async fn scalars_skip_missing_objects_on_every_version() {
        for v in [SnmpVersion::V1, SnmpVersion::V2c] {
            let m = if_mib(v, 1);
            let mut n = 0;
            let got = get_scalars(&m, &[o("1.3.6.1.2.1.1.1.0"), o("1.3.6.1.2.1.1.5.0")], &limits(), &mut n)
                .await
                .unwrap();
            assert_eq!(got.len(), 1, "{v:?}");
            assert_eq!(got[0].value, Value::OctetString("sw1".into()));
        }
    }
}
