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
mod read;
mod record;
#[cfg(test)]
mod recovery_tests;
mod space;
mod undo;

pub use record::MAX_RECORD;
use record::{HEADER, read_ack, scan, write_ack};

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
    /// Opens (or creates) the queue in `dir`, bounded by `max_bytes` on disk. Damage never
    /// stops the open: corrupt records are skipped (each stretch counted) and delivery goes on
    /// with the next valid record; an ack file that does not name a record of the queue is not
    /// trusted and delivery restarts at the record before it (a replayed write is idempotent in
    /// InfluxDB; a skipped one would be lost); entries that are not segment files are left
    /// alone. Only I/O errors (permissions, a full disk) fail.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Self, Recovery), QueueError> {
        let io = |op: &'static str| {
            let dir = dir.display().to_string();
            move |source| QueueError::Io {
                dir: dir.clone(),
                op,
                source,
            }
        };
        // Private: queued writes can carry the writers' credentials (a mirror's envelopes).
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io("create directory"))?;
        }
        let mut recovery = Recovery::default();
        let ack = match read_ack(dir).map_err(io("read ack file"))? {
            Ok(a) => a,
            Err(why) => {
                tracing::warn!(queue = %dir.display(), why, "ack file unreadable: delivery restarts at the oldest record");
                recovery.ack_reset = true;
                None
            }
        };
        let (mut ids, mut highest) = (vec![], 0);
        for e in std::fs::read_dir(dir).map_err(io("list"))?.flatten() {
            let Some(id) = e
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".seg")?.parse::<u64>().ok())
            else {
                continue;
            };
            highest = highest.max(id);
            if e.file_type().is_ok_and(|t| t.is_file()) {
                ids.push(id);
            } else {
                tracing::warn!(queue = %dir.display(), entry = %e.path().display(), "not a segment file: left alone");
            }
        }
        ids.sort_unstable();
        let mut scans = Vec::with_capacity(ids.len());
        for &id in &ids {
            scans.push((id, scan(&seg_path(dir, id)).map_err(io("scan segment"))?));
        }
        // Where delivery resumes: the ack when it names a record boundary of a segment.
        let resume = match ack {
            None => None,
            Some(a) => match scans.iter().find(|(id, _)| *id == a.segment) {
                Some((_, s)) if s.is_boundary(a.offset) => Some(a),
                Some((_, s)) => {
                    let at = s.boundary_before(a.offset);
                    tracing::warn!(queue = %dir.display(), ack = a.offset, resume = at, "ack inside or past a segment's records: delivery restarts at the record before it");
                    recovery.ack_reset = true;
                    Some(Cursor {
                        segment: a.segment,
                        offset: at,
                    })
                }
                None if scans.iter().all(|(id, _)| *id < a.segment)
                    && scans.iter().all(|(_, s)| s.records.is_empty()) =>
                {
                    Some(a) // everything before was delivered and removed
                }
                None => {
                    tracing::warn!(queue = %dir.display(), ack_segment = a.segment, "ack names no segment of the queue: delivery restarts at the oldest record");
                    recovery.ack_reset = true;
                    None
                }
            },
        };
        let resume = resume.unwrap_or(Cursor {
            segment: ids.first().copied().unwrap_or(0),
            offset: 0,
        });
        let mut segments = VecDeque::new();
        let last = ids.last().copied();
        for (id, s) in scans {
            if id < resume.segment {
                std::fs::remove_file(seg_path(dir, id)).map_err(io("remove acknowledged segment"))?;
                continue;
            }
            let from = if id == resume.segment { resume.offset } else { 0 };
            let (records, points) = s.after(from);
            let len = std::fs::metadata(seg_path(dir, id)).map_err(io("scan segment"))?.len();
            if Some(id) == last && s.end < len {
                // A torn tail (crash mid-append): cut it so appends continue after valid data.
                OpenOptions::new()
                    .write(true)
                    .open(seg_path(dir, id))
                    .and_then(|f| f.set_len(s.end))
                    .map_err(io("truncate torn tail"))?;
            }
            recovery.records += records;
            recovery.points += points;
            recovery.corrupt += s.corrupt;
            segments.push_back(Segment {
                id,
                len: if Some(id) == last { s.end } else { len },
                records: (s.corrupt > 0).then_some(s.records),
            });
        }
        let damaged_tail = segments.back().is_some_and(|s| s.records.is_some());
        if segments.is_empty() || damaged_tail || highest > segments.back().map_or(0, |s| s.id) {
            // New appends go to a fresh segment above every name in the folder: a damaged
            // segment is only read (past its damage), never appended to.
            let id = highest.max(resume.segment).max(segments.back().map_or(0, |s| s.id)) + 1;
            File::create(seg_path(dir, id)).map_err(io("create segment"))?;
            segments.push_back(Segment {
                id,
                len: 0,
                records: None,
            });
        }
        let tail = segments.back().expect("one segment");
        let file = OpenOptions::new()
            .append(true)
            .open(seg_path(dir, tail.id))
            .map_err(io("open segment"))?;
        let ack = if resume.segment < segments[0].id {
            Cursor {
                segment: segments[0].id,
                offset: 0,
            }
        } else {
            resume
        };
        if recovery.ack_reset {
            write_ack(dir, ack).map_err(io("write ack file"))?;
        }
        // Recovered records are as old as their segment (its creation, else its last change).
        let mut ages = VecDeque::new();
        if recovery.records > 0 {
            let born = std::fs::metadata(seg_path(dir, segments[0].id))
                .and_then(|m| m.created().or_else(|_| m.modified()))
                .map_or(0, unix_ms);
            let tail = segments.back().expect("one segment");
            ages.push_back((
                Cursor {
                    segment: tail.id,
                    offset: tail.len,
                },
                born,
            ));
        }
        let q = Self {
            ages,
            dir: dir.to_path_buf(),
            max_bytes,
            // Several segments fit in the bound, so dropping the oldest frees a fraction.
            segment_bytes: (max_bytes / 8).clamp(4096, 64 << 20),
            segments,
            writer: BufWriter::with_capacity(256 * 1024, file),
            ack,
            pending_points: recovery.points,
            unsynced: false,
        };
        Ok((q, recovery))
    }

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
