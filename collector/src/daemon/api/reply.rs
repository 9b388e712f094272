//! JSON answers of the API: a body with its status, and errors that name the field.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

pub type Resp = Response<Full<Bytes>>;

pub fn json_resp(status: StatusCode, v: Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn error(status: StatusCode, message: impl Into<String>, field: Option<&str>) -> Resp {
    let mut v = json!({ "error": message.into() });
    if let Some(f) = field {
        v["field"] = json!(f);
    }
    json_resp(status, v)
}

/// A request refused with a 4xx: the status, why, the field at fault and, for load
/// shedding, when to retry (seconds).
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<&'static str>,
}

impl Refusal {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// A 400 naming the field at fault.
    pub fn bad(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::BAD_REQUEST, message)
        }
    }

    pub fn response(self) -> Resp {
        let mut r = error(self.status, self.message, self.field.as_deref());
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static(s));
        }
        r
    }
}
