//! The HTML stats page: one table per proxy, rows coloured by state, auto-refresh, and the
//! admin form (HAProxy's `stats admin`) around each backend when enabled.

use super::rows::Row;

/// What the page shows besides the rows.
pub struct Page<'a> {
    pub uri: &'a str,
    pub refresh_secs: u64,
    pub uptime_s: u64,
    /// Draw the admin form (checkbox per server, action select).
    pub admin: bool,
}

const COLUMNS: [(&str, &str); 16] = [
    ("svname", "name"),
    ("status", "status"),
    ("weight", "weight"),
    ("check_status", "check"),
    ("check_duration", "check ms"),
    ("scur", "cur"),
    ("smax", "max"),
    ("stot", "total"),
    ("bin", "bytes in"),
    ("bout", "bytes out"),
    ("econ", "conn err"),
    ("eresp", "resp err"),
    ("wretr", "retries"),
    ("wredis", "redisp"),
    ("lastchg", "last change s"),
    ("downtime", "downtime s"),
];

/// Extra columns of a mirroring backend's table (its servers' queues).
const MIRROR_COLUMNS: [(&str, &str); 6] = [
    ("mirror_queued_points", "queued points"),
    ("mirror_queue_bytes", "queue bytes"),
    ("mirror_oldest_s", "oldest s"),
    ("mirror_written", "written"),
    ("mirror_dropped", "dropped"),
    ("mirror_breaker", "writer breaker"),
];

const STYLE: &str = "body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse;margin-bottom:16px}td,th{border:1px solid #999;padding:2px 6px}th{background:#dde}.UP{background:#c0f0c0}.DOWN{background:#f0a0a0}.MAINT{background:#c0c0f0}.DRAIN{background:#f0e0a0}";

const ACTIONS: &str = "<p>Selected servers: <select name=\"action\"><option value=\"ready\">set state to READY</option><option value=\"drain\">set state to DRAIN</option><option value=\"maint\">set state to MAINT</option></select> <input type=\"submit\" value=\"Apply\"></p></form>";

pub fn page(rows: &[Row], p: &Page) -> String {
    let mut h = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{}\"><title>netpulse-balancer statistics</title><style>{STYLE}</style></head><body><h1>netpulse-balancer statistics</h1><p>uptime {}s · <a href=\"{uri};csv\">CSV</a> · <a href=\"{uri};json\">JSON</a></p>",
        p.refresh_secs,
        p.uptime_s,
        uri = p.uri
    );
    let mut proxies: Vec<&str> = vec![];
    for r in rows {
        if !proxies.contains(&r["pxname"].as_str()) {
            proxies.push(&r["pxname"]);
        }
    }
    for name in proxies {
        let mine: Vec<&Row> = rows.iter().filter(|r| r["pxname"] == name).collect();
        let form = p.admin && mine.iter().any(|r| r["svname"] == "BACKEND");
        table(&mut h, name, &mine, form.then_some(p.uri));
    }
    h.push_str("</body></html>");
    h
}

/// One proxy's table; `form`: the admin form posting to this URI.
fn table(h: &mut String, name: &str, rows: &[&Row], form: Option<&str>) {
    if let Some(uri) = form {
        let iid = rows.first().map_or("", |r| r["iid"].as_str());
        h.push_str(&format!(
            "<form method=\"post\" action=\"{uri}\"><input type=\"hidden\" name=\"b\" value=\"#{iid}\">"
        ));
    }
    h.push_str(&format!("<table><caption><b>{}</b></caption><tr>", escape(name)));
    if form.is_some() {
        h.push_str("<th></th>");
    }
    let mirrored = rows.iter().any(|r| r.contains_key("mirror_written"));
    let extra: &[(&str, &str)] = if mirrored { &MIRROR_COLUMNS } else { &[] };
    for (_, title) in COLUMNS.iter().chain(extra) {
        h.push_str(&format!("<th>{title}</th>"));
    }
    h.push_str("</tr>");
    for r in rows {
        let class = r.get("status").and_then(|s| s.split(' ').next()).unwrap_or_default();
        h.push_str(&format!("<tr class=\"{class}\">"));
        if form.is_some() {
            match r["svname"].as_str() {
                "FRONTEND" | "BACKEND" => h.push_str("<td></td>"),
                sv => h.push_str(&format!(
                    "<td><input type=\"checkbox\" name=\"s\" value=\"{}\"></td>",
                    escape(sv)
                )),
            }
        }
        for (k, _) in COLUMNS.iter().chain(extra) {
            h.push_str(&format!("<td>{}</td>", escape(r.get(k).map_or("", String::as_str))));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    if form.is_some() {
        h.push_str(ACTIONS);
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_the_form_wraps_backends_only() {
        let r = |px: &str, sv: &str| {
            let mut r = Row::new();
            r.insert("pxname", px.into());
            r.insert("svname", sv.into());
            r.insert("iid", "2".into());
            r.insert("status", "UP 1/3".into());
            r
        };
        let rows = [r("fe", "FRONTEND"), r("be<x>", "s&1"), r("be<x>", "BACKEND")];
        let page = page(
            &rows,
            &Page {
                uri: "/stats",
                refresh_secs: 5,
                uptime_s: 1,
                admin: true,
            },
        );
        assert!(page.contains("<b>be&lt;x&gt;</b>") && page.contains("value=\"s&amp;1\""));
        assert_eq!(page.matches("<form").count(), 1, "only the backend's table");
        assert!(page.contains("<tr class=\"UP\">"));
    }
}
