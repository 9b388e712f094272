//! One request to a mirroring backend, on Pingora's session: the body read whole up to
//! `max_body` (Content-Length or chunked; gzip decoded within the same bound), checked and
//! stamped, the write's path, query and `Authorization` kept, then [`Mirror::accept`], and
//! InfluxDB's answers: `204`, or a JSON `{"error": …}` with 400, 401/403/404 (what the servers
//! answered the probe), 405, 408, 413 or 503 (`Retry-After`). What InfluxDB would refuse is
//! refused here, before anything is queued: a method other than POST, a v1 write without `db`
//! or a v2 write without `bucket`, a database or credentials the servers refuse (`probe`).

use super::{Mirror, Refusal, lines};
use bytes::Bytes;
use netpulse_delivery::endpoint::Target;
use netpulse_delivery::envelope;
use netpulse_delivery::gzip::gzip;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;
use std::io::Read;
use std::sync::atomic::Ordering;

/// Answers the request in `session` (the caller returns `Ok(true)`: handled).
pub async fn serve(session: &mut Session, m: &Mirror) -> pingora_error::Result<()> {
    let outcome = match take(session, m).await {
        Ok((payload, points)) => m.accept(&payload, points).await.map(|()| points),
        Err(r) => Err(r),
    };
    match outcome {
        Ok(points) => {
            let c = &m.counters;
            c.accepted_writes.fetch_add(1, Ordering::Relaxed);
            c.accepted_points.fetch_add(u64::from(points), Ordering::Relaxed);
            let resp = ResponseHeader::build(204, Some(1))?;
            session.write_response_header(Box::new(resp), true).await
        }
        Err(r) => {
            m.counters.refused(&r);
            if let Some(quiet) = m.logs.allow(r.reason()) {
                tracing::warn!(backend = %m.backend, status = r.status(), reason = r.reason(), error = %r, not_logged = quiet, "mirrored write refused (one line a minute per reason)");
            }
            let body = Bytes::from(serde_json::json!({ "error": r.to_string() }).to_string());
            let mut resp = ResponseHeader::build(r.status(), Some(4))?;
            resp.insert_header("content-type", "application/json")?;
            resp.insert_header("content-length", body.len().to_string())?;
            match r.status() {
                503 => resp.insert_header("retry-after", "1")?,
                405 => resp.insert_header("allow", "POST")?,
                _ => {}
            }
            if !session.is_body_done() {
                // The rest of the body was not read: this connection cannot carry another request.
                session.set_keepalive(None);
            }
            session.write_response_header(Box::new(resp), false).await?;
            session.write_response_body(Some(body), true).await
        }
    }
}

/// The write as it will be queued: sealed with its target (`envelope`), body stamped; points.
async fn take(session: &mut Session, m: &Mirror) -> Result<(Vec<u8>, u32), Refusal> {
    let max = m.config().max_body.0;
    let req = session.req_header();
    let precision = req.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("precision="))
            .map(str::to_string)
    });
    let gzipped = req
        .headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let declared = req
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if !gzipped && declared.is_some_and(|n| n > max) {
        return Err(Refusal::TooLarge(max));
    }
    let mut target = Target {
        path_and_query: req.uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
        headers: vec![],
    };
    if let Some(a) = req.headers.get("authorization") {
        let mut a = a.clone();
        a.set_sensitive(true);
        target.headers.push((http::header::AUTHORIZATION, a));
    }
    addressed(&req.method, &target.path_and_query)?;
    m.probe.check(&target).await?;
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(max) as usize);
    while let Some(chunk) = session.read_request_body().await.map_err(|e| match e.etype() {
        pingora_error::ErrorType::ReadTimedout => Refusal::Stalled,
        _ => Refusal::Invalid(format!("reading the request body: {e}")),
    })? {
        if body.len() as u64 + chunk.len() as u64 > max {
            return Err(Refusal::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    if gzipped {
        let mut plain = Vec::with_capacity(body.len() * 4);
        flate2::read::MultiGzDecoder::new(&body[..])
            .take(max + 1)
            .read_to_end(&mut plain)
            .map_err(|e| Refusal::Invalid(format!("gzip body: {e}")))?;
        if plain.len() as u64 > max {
            return Err(Refusal::TooLarge(max));
        }
        body = plain;
    }
    // Queued gzipped: a fifth of the bytes through the page cache and onto the disk, per
    // server, and the writers send them without compressing again.
    target
        .headers
        .push((http::header::CONTENT_ENCODING, http::HeaderValue::from_static("gzip")));
    let mut payload = envelope::header(&target, body.len() / 4 + 64).map_err(|e| Refusal::Invalid(e.to_string()))?;
    if !m.config().validate {
        let points = netpulse_delivery::count_points(&body).min(u64::from(u32::MAX)) as u32;
        if !body.ends_with(b"\n") {
            body.push(b'\n');
        }
        payload.extend_from_slice(&gzip(&body));
        return Ok((payload, points));
    }
    let unit = lines::unit_ns(precision.as_deref()).ok_or_else(|| {
        Refusal::Invalid(format!(
            "precision {:?} is not one InfluxDB knows",
            precision.unwrap_or_default()
        ))
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let mut stamped = Vec::with_capacity(body.len() + body.len() / 4);
    let points = lines::stamp(&body, now / unit, &mut stamped).map_err(|e| Refusal::Invalid(e.to_string()))?;
    payload.extend_from_slice(&gzip(&stamped));
    Ok((payload, points))
}

/// What InfluxDB refuses before reading a write: another method than POST (405), a v1 write
/// without `db`, a v2 write without `bucket` (400, InfluxDB's words).
fn addressed(method: &http::Method, path_and_query: &str) -> Result<(), Refusal> {
    if method != http::Method::POST {
        return Err(Refusal::Method(format!("method {method} not allowed: writes are POST")));
    }
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let has = |k: &str| {
        query
            .split('&')
            .any(|kv| kv.split_once('=').is_some_and(|(n, v)| n == k && !v.is_empty()))
    };
    let path = path.trim_end_matches('/');
    if path.ends_with("/api/v2/write") {
        if !has("bucket") {
            return Err(Refusal::Invalid("bucket not found: a v2 write needs ?bucket=".into()));
        }
    } else if path.ends_with("/write") && !has("db") {
        return Err(Refusal::Invalid("database is required".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_influxdb_refuses_before_the_body() {
        let post = http::Method::POST;
        assert!(addressed(&post, "/write?db=telemetry").is_ok());
        assert!(addressed(&post, "/write?db=telemetry&precision=s").is_ok());
        assert!(addressed(&post, "/api/v2/write?org=o&bucket=b").is_ok());
        for bad in ["/write", "/write?db=", "/write?precision=s", "/api/v2/write?org=o"] {
            assert_eq!(addressed(&post, bad).unwrap_err().status(), 400, "{bad}");
        }
        assert_eq!(addressed(&http::Method::GET, "/write?db=x").unwrap_err().status(), 405);
    }
}
