//! What a replica's answer means for the batch it was given — the one place status codes are
//! read. Permanent answers are the ones InfluxDB gives a request that will never succeed as
//! addressed, whatever is retried: 401/403 (credentials), 404 (no such database or bucket, or
//! an API the server does not have), 405/410/414/415/501 (a request it cannot serve). 400/422
//! refuse the points themselves, 413 the size; 429, 5xx and transport failures are temporary.

use std::time::Duration;

/// The batch's fate after one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Written,
    /// 413 for several points: send the halves.
    Split,
    /// 413 for one point: it never fits.
    TooLarge,
    /// 400/422: `n` points refused as written (a partial write names them); the rest written.
    Rejected(u64),
    /// A permanent refusal of the request as addressed (see the module doc).
    Refused {
        status: u16,
        why: String,
    },
    /// Try again later (at least `after`, when the server said).
    Retry {
        after: Option<Duration>,
        why: String,
    },
}

/// Statuses that no retry can change (the module doc says why each).
pub fn is_permanent(status: u16) -> bool {
    matches!(status, 401 | 403 | 404 | 405 | 410 | 414 | 415 | 501)
}

/// Classifies an answer to a request of `points` points.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str, points: u64) -> Answer {
    match status {
        200..=299 => Answer::Written,
        413 if points <= 1 => Answer::TooLarge,
        413 => Answer::Split,
        400 | 422 => Answer::Rejected(dropped_in(body).unwrap_or(points).min(points)),
        s if is_permanent(s) => Answer::Refused {
            status: s,
            why: first_line(body),
        },
        s => Answer::Retry {
            after: retry_after,
            why: format!("HTTP {s}: {}", first_line(body)),
        },
    }
}

/// InfluxDB 1.x reports partial writes as `partial write: … dropped=N`.
fn dropped_in(body: &str) -> Option<u64> {
    let rest = &body[body.find("dropped=")? + "dropped=".len()..];
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

fn first_line(body: &str) -> String {
    body.trim().lines().next().unwrap_or("").chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_write_count() {
        assert_eq!(
            classify(
                400,
                None,
                "{\"error\":\"partial write: field type conflict: ... dropped=3\"}",
                10
            ),
            Answer::Rejected(3)
        );
        assert_eq!(classify(400, None, "unable to parse", 10), Answer::Rejected(10));
    }

    #[test]
    fn every_status_has_one_meaning() {
        assert_eq!(classify(204, None, "", 5), Answer::Written);
        assert_eq!(classify(413, None, "", 5), Answer::Split);
        assert_eq!(classify(413, None, "", 1), Answer::TooLarge);
        for s in [401, 403, 404, 405] {
            assert!(matches!(classify(s, None, "x", 5), Answer::Refused { status, .. } if status == s));
        }
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(matches!(classify(s, None, "x", 5), Answer::Retry { .. }), "{s}");
        }
    }
}
