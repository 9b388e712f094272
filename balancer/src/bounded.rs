//! Timeouts on socket I/O that cost nothing when the I/O is ready at once, which on a busy
//! proxy is most reads and nearly every write: the deadline (a clock read) and the timer
//! wheel entry are made only for an operation that has to wait.

use std::future::{Future, poll_fn};
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, timeout_at};

/// `fut`, or `None` once the deadline `end()` gives has passed; `end` is asked only if
/// `fut` is not ready on its first poll.
pub async fn until<F: Future>(end: impl FnOnce() -> Instant, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    if let Poll::Ready(v) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        return Some(v);
    }
    timeout_at(end(), fut).await.ok()
}

/// `fut` bounded by `limit` from the moment it first has to wait.
pub async fn within<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    until(|| Instant::now() + limit, fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ready_at_once_or_cut_at_the_limit() {
        let asked = std::cell::Cell::new(false);
        let v = until(
            || {
                asked.set(true);
                Instant::now()
            },
            async { 7 },
        )
        .await;
        assert_eq!((v, asked.get()), (Some(7), false), "no deadline for ready work");
        let never = std::future::pending::<()>();
        let t = Instant::now();
        assert_eq!(within(Duration::from_secs(3), never).await, None);
        assert_eq!(t.elapsed(), Duration::from_secs(3));
        let slow = tokio::time::sleep(Duration::from_secs(1));
        assert_eq!(within(Duration::from_secs(3), slow).await, Some(()));
    }
}
