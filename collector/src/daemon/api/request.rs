//! What every API request is checked for before its route looks at it: the bearer token
//! (constant-time compare; the scheme is case-insensitive, RFC 9110) and the body: over the
//! size limit 413, malformed framing or cut short 400, not complete within the read deadline
//! 408 (a client dripping its body must not hold a connection and a task for long).

use super::Core;
use super::reply::Refusal;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Request, StatusCode};
use std::time::Duration;

/// How long a request body may take to arrive once its header is in.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// Whether the bearer token matches (no token set: always).
pub fn token_ok(core: &Core, req: &Request<Incoming>) -> bool {
    let cfg = core.config();
    let Some(token) = &cfg.api.token else { return true };
    let value = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let Some(given) = value
        .and_then(|v| v.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
    else {
        return false;
    };
    let (a, b) = (given.as_bytes(), token.expose().as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The whole body, within the size limit and the read deadline.
pub async fn body(core: &Core, req: Request<Incoming>) -> Result<Bytes, Refusal> {
    let limit = core.config().api.max_body_bytes.0 as usize;
    let read = Limited::new(req.into_body(), limit).collect();
    match tokio::time::timeout(BODY_DEADLINE, read).await {
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("request body not complete within {}s", BODY_DEADLINE.as_secs()),
        )),
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {limit} bytes"),
        )),
        Ok(Err(e)) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("malformed or incomplete request body: {e}"),
        )),
    }
}
