//! The durable per-replica queue: an append-only log of records (one record = a batch of
//! line-protocol lines) in segment files, plus an `ack` file naming the first record the
//! replica has not acknowledged. Appends are buffered and made durable by [`DiskQueue::sync`]
//! (group commit); a record leaves only when acknowledged; on open, a torn or corrupt
//! tail is cut off and counted; when full, whole oldest segments are dropped and counted.
//!
//! Record: `len u32 LE | crc32(points ‖ payload) u32 LE | points u32 LE | payload`.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[cfg(test)]
mod full_disk_tests;
mod open;
mod publish;
mod read;
mod record;
#[cfg(test)]
mod recovery_tests;
mod space;
mod undo;

pub use record::MAX_RECORD;
use record::{HEADER, scan, write_ack};

pub use record::{Scan, scan_bytes};
pub use undo::Mark;

/// Position of a record: (segment id, byte offset). Ordered like the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    pub segment: u64,
    pub offset: u64,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub at: Cursor,
    /// Where the record after this one starts: acknowledging up to here removes it.
    pub next: Cursor,
    pub points: u32,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue {dir}: {op}: {source}")]
    Io {
        dir: String,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("a record of {0} bytes is larger than the queue can hold")]
    TooLarge(usize),
}

/// What opening found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    pub records: u64,
    pub points: u64,
    /// Stretches of torn or corrupt bytes skipped (each lost at least one record).
    pub corrupt: u64,
    /// The ack file did not name a record of the queue; delivery restarted before it.
    pub ack_reset: bool,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    /// Bytes written (the last segment is truncated to its valid data on open).
    len: u64,
    /// Offsets and points of the valid records of a segment found damaged on open; reading
    /// goes from one to the next, past the damage. `None`: whole, read in sequence.
    records: Option<Vec<(u64, u32)>>,
}

pub struct DiskQueue {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segments: VecDeque<Segment>,
    writer: BufWriter<File>,
    ack: Cursor,
    pending_points: u64,
    unsynced: bool,
    /// When records were appended: (end of the last record of a one-second window, unix ms of
    /// its first append), oldest first; entries at or before the ack are gone.
    ages: VecDeque<(Cursor, u64)>,
    /// Held queues (`publish`): readers stop here.
    visible: Option<Cursor>,
    /// Held queues: the end and points of each record appended but not yet published.
    unpublished: VecDeque<(Cursor, u32)>,
}

fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A fully delivered segment this large is replaced by a fresh one on the next acknowledgement.
const RECLAIM_AT: u64 = 16 * 1024;

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

impl DiskQueue {
    fn io(&self, op: &'static str) -> impl Fn(std::io::Error) -> QueueError + '_ {
        move |source| QueueError::Io {
            dir: self.dir.display().to_string(),
            op,
            source,
        }
    }

    /// Appends one record (buffered). Returns the points dropped to stay under the bound.
    pub fn append(&mut self, payload: &[u8], points: u32) -> Result<u64, QueueError> {
        let size = HEADER + payload.len() as u64;
        if payload.len() as u64 > u64::from(MAX_RECORD) || size > self.max_bytes / 2 {
            return Err(QueueError::TooLarge(payload.len()));
        }
        if self
            .segments
            .back()
            .is_some_and(|s| s.len > 0 && s.len + size > self.segment_bytes)
        {
            self.roll()?;
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&points.to_le_bytes());
        crc.update(payload);
        let mut head = [0u8; HEADER as usize];
        head[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        head[4..8].copy_from_slice(&crc.finalize().to_le_bytes());
        head[8..12].copy_from_slice(&points.to_le_bytes());
        // Room in the buffer first: a write that fails (a full disk) then never leaves half a
        // record behind. After the flush the file holds exactly the segment's records, so a
        // record too large for the buffer, written through and failing, is cut off again.
        if self.writer.buffer().len() as u64 + size > self.writer.capacity() as u64 {
            self.writer.flush().map_err(self.io("append"))?;
        }
        let tail_len = self.segments.back().expect("one segment").len;
        if let Err(e) = self
            .writer
            .write_all(&head)
            .and_then(|()| self.writer.write_all(payload))
        {
            let _ = self.writer.get_ref().set_len(tail_len);
            return Err(self.io("append")(e));
        }
        let tail = self.segments.back_mut().expect("one segment");
        tail.len += size;
        let end = Cursor {
            segment: tail.id,
            offset: tail.len,
        };
        let now = unix_ms(std::time::SystemTime::now());
        match self.ages.back_mut() {
            Some((last, at)) if now < *at + 1000 => *last = end,
            _ => self.ages.push_back((end, now)),
        }
        self.pending_points += u64::from(points);
        self.note_unpublished(end, points);
        self.unsynced = true;
        self.enforce_bound()
    }

    /// Makes every append so far durable (one fdatasync for many records).
    /// Returns whether there was anything to make durable.
    pub fn sync(&mut self) -> Result<bool, QueueError> {
        if !self.unsynced {
            return Ok(false);
        }
        self.writer.flush().map_err(self.io("flush"))?;
        self.writer.get_ref().sync_data().map_err(self.io("fsync"))?;
        self.unsynced = false;
        Ok(true)
    }

    /// Group commit in two steps, for appenders that must not wait behind an fsync holding
    /// the queue: flushes the appends so far and returns the file to fsync outside the lock
    /// (`None`: nothing new). Records in earlier segments were made durable when they rolled.
    pub fn flush_for_sync(&mut self) -> Result<Option<File>, QueueError> {
        if !self.unsynced {
            return Ok(None);
        }
        self.writer.flush().map_err(self.io("flush"))?;
        let file = self.writer.get_ref().try_clone().map_err(self.io("fsync"))?;
        self.unsynced = false;
        Ok(Some(file))
    }

    fn roll(&mut self) -> Result<(), QueueError> {
        self.writer.flush().map_err(self.io("flush"))?;
        if self.unsynced {
            self.writer.get_ref().sync_data().map_err(self.io("fsync"))?;
        }
        let id = self.segments.back().expect("one segment").id + 1;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(seg_path(&self.dir, id))
            .map_err(self.io("create segment"))?;
        self.writer = BufWriter::with_capacity(256 * 1024, file);
        self.segments.push_back(Segment {
            id,
            len: 0,
            records: None,
        });
        Ok(())
    }

    /// Bytes on disk not yet acknowledged (roughly: whole segments count).
    pub fn bytes(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.len)
            .sum::<u64>()
            .saturating_sub(self.ack.offset)
    }

    pub fn pending_points(&self) -> u64 {
        self.pending_points
    }

    pub fn is_empty(&self) -> bool {
        self.segments.iter().filter(|s| s.id >= self.ack.segment).all(|s| {
            if s.id == self.ack.segment {
                s.len <= self.ack.offset
            } else {
                s.len == 0
            }
        })
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// How long the oldest record not yet acknowledged has waited (to the second).
    pub fn oldest_age(&self) -> Option<std::time::Duration> {
        if self.is_empty() {
            return None;
        }
        let (_, at) = self.ages.front()?;
        let now = unix_ms(std::time::SystemTime::now());
        Some(std::time::Duration::from_millis(now.saturating_sub(*at)))
    }

    /// Forgets the append times of records before the ack.
    fn trim_ages(&mut self) {
        while self.ages.front().is_some_and(|(end, _)| *end <= self.ack) {
            self.ages.pop_front();
        }
    }
}

#[cfg(test)]
mod tests;
