//! The rows as HAProxy's CSV (its header and field order, so HAProxy tooling reads it
//! unchanged) and as JSON.

use super::rows::{CSV_HEADER, Row, fields};

/// HAProxy's CSV of `rows`; commas inside values become spaces, as HAProxy writes them.
pub fn csv(rows: impl IntoIterator<Item = Row>) -> String {
    let names = fields();
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        for n in &names {
            out.push_str(&r.get(n).map(|v| v.replace(',', " ")).unwrap_or_default());
            out.push(',');
        }
        out.push('\n');
    }
    out
}

pub fn json(rows: Vec<Row>, uptime_s: u64) -> serde_json::Value {
    serde_json::json!({ "uptime_s": uptime_s, "stats": rows })
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_has_haproxys_header_and_one_column_per_field() {
        let mut r = super::Row::new();
        r.insert("pxname", "a,b".into());
        r.insert("svname", "FRONTEND".into());
        let text = super::csv([r]);
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("# pxname,svname,qcur,"));
        let row = lines.next().unwrap();
        assert!(row.starts_with("a b,FRONTEND,,"));
        assert_eq!(row.matches(',').count(), super::fields().len());
    }
}
