//! A queued write that carries where it goes: the mirrored writer's path and query (db, rp,
//! precision, org, bucket) and the headers that must reach the server with it (credentials),
//! in front of the line-protocol body, so a replayed write lands exactly as the writer sent it.
//!
//! Record payload: `meta_len u16 LE | meta | body`; meta is `path?query\n` then one
//! `name: value\n` per header. With `content-encoding: gzip` among them the body is one gzip
//! member (queues and page cache hold a fifth of the bytes; the writer sends them unchanged). Queue files holding envelopes hold credentials: the queue
//! directory is created private (0700).

use crate::endpoint::Target;
use hyper::header::{HeaderName, HeaderValue};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("the write's path, query and headers take {0} bytes (at most 65535)")]
    TooLarge(usize),
    #[error("the queued record is not an envelope")]
    Malformed,
}

/// Whether a target's records hold their body gzipped (a `Content-Encoding: gzip` header in
/// the envelope): the writer sends them as they are, several members in one body.
pub fn is_gzip(target: &Target) -> bool {
    target
        .headers
        .iter()
        .any(|(n, v)| *n == hyper::header::CONTENT_ENCODING && v.as_bytes().eq_ignore_ascii_case(b"gzip"))
}

/// `target` + `body` as one record payload.
pub fn seal(target: &Target, body: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut out = header(target, body.len())?;
    out.extend_from_slice(body);
    Ok(out)
}

/// The start of a payload for `target`, with room for `body_len` bytes of body: appending the
/// body to it seals it (no copy of a large body).
pub fn header(target: &Target, body_len: usize) -> Result<Vec<u8>, EnvelopeError> {
    let mut meta = Vec::with_capacity(target.path_and_query.len() + 64);
    meta.extend_from_slice(target.path_and_query.as_bytes());
    meta.push(b'\n');
    for (name, value) in &target.headers {
        meta.extend_from_slice(name.as_str().as_bytes());
        meta.extend_from_slice(b": ");
        meta.extend_from_slice(value.as_bytes());
        meta.push(b'\n');
    }
    let len = u16::try_from(meta.len()).map_err(|_| EnvelopeError::TooLarge(meta.len()))?;
    let mut out = Vec::with_capacity(2 + meta.len() + body_len);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&meta);
    Ok(out)
}

/// The meta bytes and the body of a sealed payload (the meta compares equal for writes that
/// can share one request).
pub fn split(payload: &[u8]) -> Result<(&[u8], &[u8]), EnvelopeError> {
    let len = usize::from(u16::from_le_bytes(
        payload
            .get(..2)
            .ok_or(EnvelopeError::Malformed)?
            .try_into()
            .expect("2 bytes"),
    ));
    let meta = payload.get(2..2 + len).ok_or(EnvelopeError::Malformed)?;
    Ok((meta, &payload[2 + len..]))
}

/// The target a meta names.
pub fn target(meta: &[u8]) -> Result<Target, EnvelopeError> {
    let text = std::str::from_utf8(meta).map_err(|_| EnvelopeError::Malformed)?;
    let mut lines = text.split_terminator('\n');
    let path_and_query = lines.next().ok_or(EnvelopeError::Malformed)?.to_string();
    if !path_and_query.starts_with('/') {
        return Err(EnvelopeError::Malformed);
    }
    let mut headers = vec![];
    for l in lines {
        let (n, v) = l.split_once(": ").ok_or(EnvelopeError::Malformed)?;
        let name = HeaderName::from_bytes(n.as_bytes()).map_err(|_| EnvelopeError::Malformed)?;
        let mut value = HeaderValue::from_str(v).map_err(|_| EnvelopeError::Malformed)?;
        value.set_sensitive(true);
        headers.push((name, value));
    }
    Ok(Target {
        path_and_query,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::AUTHORIZATION;

    #[test]
    fn seal_split_target_round_trip() {
        let t = Target {
            path_and_query: "/write?db=telemetry&precision=s".into(),
            headers: vec![(AUTHORIZATION, HeaderValue::from_static("Basic dTpw"))],
        };
        let p = seal(&t, b"cpu v=1 1\n").unwrap();
        let (meta, body) = split(&p).unwrap();
        assert_eq!(body, b"cpu v=1 1\n");
        assert_eq!(target(meta).unwrap(), t);
        assert_eq!(split(&[5]), Err(EnvelopeError::Malformed));
        assert_eq!(split(&[5, 0, b'/']), Err(EnvelopeError::Malformed));
        assert_eq!(target(b"write\n"), Err(EnvelopeError::Malformed));
        assert!(!format!("{t:?}").contains("dTpw"), "credentials never printed");
    }
}
