//! Error logs bounded by cause: the first occurrence of a cause is logged at once, then at most
//! one line a minute per cause saying how many were not logged — a flood of refused writes is
//! a few lines, not thousands.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(60);
/// Causes remembered at once (a new one beyond this forgets them all: still bounded).
const CAUSES: usize = 256;

#[derive(Default)]
pub struct ByCause {
    seen: Mutex<HashMap<String, (Instant, u64)>>,
}

impl ByCause {
    /// `Some(n)`: log this occurrence, `n` occurrences since the last line were not logged.
    pub fn allow(&self, cause: &str) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some((at, quiet)) = seen.get_mut(cause) {
            if now.duration_since(*at) < EVERY {
                *quiet += 1;
                return None;
            }
            let n = *quiet;
            (*at, *quiet) = (now, 0);
            return Some(n);
        }
        if seen.len() >= CAUSES {
            seen.clear();
        }
        seen.insert(cause.to_string(), (now, 0));
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_per_cause() {
        let l = super::ByCause::default();
        assert_eq!(l.allow("404"), Some(0));
        assert_eq!((0..1000).filter(|_| l.allow("404").is_some()).count(), 0);
        assert_eq!(l.allow("401"), Some(0));
    }
}
