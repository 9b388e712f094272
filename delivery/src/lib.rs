//! netpulse-delivery: getting line protocol into InfluxDB replicas without losing it, one
//! implementation for the collector's outputs and the balancer's write mirroring.
//!
//! Both binaries assemble a replica (queue, then writer) through [`replicas`].
//!
//! Data flow: appenders put records in a replica's [`queue::DiskQueue`] (group-committed) →
//! that replica's [`writer::Writer`] peeks them in order, gzips ([`gzip`]) and POSTs them
//! through an [`endpoint::Endpoint`] to a [`endpoint::Target`] (fixed, or carried by each
//! record in an [`envelope`]) → the answer decides: acknowledge, split, drop and count, or
//! back off behind a [`breaker::Breaker`]. What happened is reported to an [`Observer`].
#![forbid(unsafe_code)]

pub mod answer;
pub mod aside;
pub mod breaker;
pub mod endpoint;
pub mod envelope;
pub mod gzip;
pub mod health;
pub mod logonce;
pub mod queue;
pub mod replicas;
mod run;
pub mod writer;

pub use health::Health;

/// What became of a batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub written: u64,
    pub rejected: u64,
    pub too_large: u64,
    /// Refused permanently by the server and kept aside ([`aside`]).
    pub set_aside: u64,
}

impl std::ops::Add for Outcome {
    type Output = Outcome;

    fn add(self, o: Outcome) -> Outcome {
        Outcome {
            written: self.written + o.written,
            rejected: self.rejected + o.rejected,
            too_large: self.too_large + o.too_large,
            set_aside: self.set_aside + o.set_aside,
        }
    }
}

/// Where a writer reports (each binary keeps its own metrics and stats).
pub trait Observer: Send + Sync {
    /// A batch left the queue (written, or dropped as the server asked).
    fn delivered(&self, outcome: Outcome);
    /// How long one write request took.
    fn write_seconds(&self, seconds: f64);
    /// The server's circuit breaker changed state.
    fn breaker(&self, to: breaker::State);
    /// The queue after a change (depth, bytes, oldest age).
    fn queue(&self, q: &queue::DiskQueue);
}

/// Points in line protocol: lines that are neither blank nor comments.
pub fn count_points(body: &[u8]) -> u64 {
    body.split(|&c| c == b'\n')
        .filter(|l| l.iter().find(|c| !c.is_ascii_whitespace()).is_some_and(|&c| c != b'#'))
        .count() as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn points_are_lines_that_are_not_blank_or_comments() {
        assert_eq!(super::count_points(b"a v=1\n\n# c\n  \nb v=2"), 2);
        assert_eq!(super::count_points(b""), 0);
    }
}
