//! The durable per-replica queue: an append-only log of records (one record = a batch of
//! line-protocol lines) in segment files, plus an `ack` file naming the first record the
//! replica has not acknowledged. Appends are buffered and made durable by [`DiskQueue::sync`]
//! (group commit); a record leaves only when acknowledged; on open, a torn or corrupt
//! tail is cut off and counted; when full, whole oldest segments are dropped and counted.
//!
//! Record: `len u32 LE | crc32(points ‖ payload) u32 LE | points u32 LE | payload`.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

mod record;

pub use record::MAX_RECORD;
use record::{HEADER, read_ack, read_record, scan, write_ack};

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
    /// Records cut off as torn or corrupt (their points are lost and counted).
    pub corrupt: u64,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    /// Valid bytes (the file is truncated to this on open).
    len: u64,
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
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

impl DiskQueue {
    /// Opens (or creates) the queue in `dir`, bounded by `max_bytes` on disk.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Self, Recovery), QueueError> {
        let io = |op: &'static str| {
            let dir = dir.display().to_string();
            move |source| QueueError::Io {
                dir: dir.clone(),
                op,
                source,
            }
        };
        std::fs::create_dir_all(dir).map_err(io("create directory"))?;
        let ack = read_ack(dir).map_err(io("read ack file"))?;
        let mut ids: Vec<u64> = std::fs::read_dir(dir)
            .map_err(io("list"))?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        ids.sort_unstable();
        let mut recovery = Recovery::default();
        let mut segments = VecDeque::new();
        let last = ids.last().copied();
        for id in ids {
            if id < ack.segment {
                std::fs::remove_file(seg_path(dir, id)).map_err(io("remove acknowledged segment"))?;
                continue;
            }
            let start = if id == ack.segment { ack.offset } else { 0 };
            let (len, records, points, corrupt) = scan(&seg_path(dir, id), start).map_err(io("scan segment"))?;
            if corrupt > 0 && Some(id) == last {
                // A torn tail (crash mid-append): cut it so appends continue after valid data.
                OpenOptions::new()
                    .write(true)
                    .open(seg_path(dir, id))
                    .and_then(|f| f.set_len(len))
                    .map_err(io("truncate torn tail"))?;
            }
            recovery.records += records;
            recovery.points += points;
            recovery.corrupt += corrupt;
            segments.push_back(Segment { id, len });
        }
        if segments.is_empty() {
            let id = ack.segment.max(1);
            File::create(seg_path(dir, id)).map_err(io("create segment"))?;
            segments.push_back(Segment { id, len: 0 });
        }
        let tail = segments.back().expect("one segment");
        let file = OpenOptions::new()
            .append(true)
            .open(seg_path(dir, tail.id))
            .map_err(io("open segment"))?;
        let ack = if ack.segment < segments[0].id {
            Cursor {
                segment: segments[0].id,
                offset: 0,
            }
        } else {
            ack
        };
        let q = Self {
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
        self.writer.write_all(&head).map_err(self.io("append"))?;
        self.writer.write_all(payload).map_err(self.io("append"))?;
        self.segments.back_mut().expect("one segment").len += size;
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
        self.segments.push_back(Segment { id, len: 0 });
        Ok(())
    }

    fn enforce_bound(&mut self) -> Result<u64, QueueError> {
        let mut dropped = 0;
        while self.bytes() > self.max_bytes && self.segments.len() > 1 {
            let oldest = self.segments.pop_front().expect("checked");
            let from = if oldest.id == self.ack.segment {
                self.ack.offset
            } else {
                0
            };
            let (_, _, points, _) = scan(&seg_path(&self.dir, oldest.id), from).map_err(self.io("scan segment"))?;
            dropped += points;
            self.pending_points = self.pending_points.saturating_sub(points);
            self.ack = Cursor {
                segment: self.segments[0].id,
                offset: 0,
            };
            write_ack(&self.dir, self.ack).map_err(self.io("write ack file"))?;
            std::fs::remove_file(seg_path(&self.dir, oldest.id)).map_err(self.io("remove segment"))?;
        }
        Ok(dropped)
    }

    /// Records from the first unacknowledged one, in order, up to `max_points` points and
    /// about `max_bytes` of payload (always at least one record). Nothing is removed.
    pub fn peek(&mut self, max_points: u64, max_bytes: usize) -> Result<Vec<Record>, QueueError> {
        self.writer.flush().map_err(self.io("flush"))?;
        let mut out: Vec<Record> = vec![];
        let (mut bytes, mut points) = (0usize, 0u64);
        let mut at = self.ack;
        'segments: for seg in self.segments.iter().filter(|s| s.id >= self.ack.segment) {
            if seg.id > at.segment {
                at = Cursor {
                    segment: seg.id,
                    offset: 0,
                };
            }
            if at.offset >= seg.len {
                continue;
            }
            let mut f = File::open(seg_path(&self.dir, seg.id)).map_err(self.io("open segment"))?;
            f.seek(SeekFrom::Start(at.offset)).map_err(self.io("seek"))?;
            let mut r = std::io::BufReader::with_capacity(256 * 1024, f.take(seg.len - at.offset));
            while at.offset < seg.len {
                if !out.is_empty() && (points >= max_points || bytes >= max_bytes) {
                    break 'segments;
                }
                let Some((p, payload)) = read_record(&mut r).map_err(self.io("read"))? else {
                    break;
                };
                let size = HEADER + payload.len() as u64;
                let next = Cursor {
                    segment: seg.id,
                    offset: at.offset + size,
                };
                bytes += payload.len();
                points += u64::from(p);
                out.push(Record {
                    at,
                    next,
                    points: p,
                    payload,
                });
                at = next;
            }
        }
        Ok(out)
    }

    /// The replica has everything before `upto`; `points` of them left the queue.
    /// Acknowledgements never move backwards (a drop may have passed them).
    pub fn ack(&mut self, upto: Cursor, points: u64) -> Result<(), QueueError> {
        if upto <= self.ack {
            return Ok(());
        }
        self.ack = upto;
        self.pending_points = self.pending_points.saturating_sub(points);
        write_ack(&self.dir, upto).map_err(self.io("write ack file"))?;
        while self.segments.len() > 1 && self.segments[0].id < upto.segment {
            let gone = self.segments.pop_front().expect("checked");
            std::fs::remove_file(seg_path(&self.dir, gone.id)).map_err(self.io("remove segment"))?;
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("np-queue-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn payloads(q: &mut DiskQueue) -> Vec<String> {
        q.peek(u64::MAX, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|r| String::from_utf8(r.payload).unwrap())
            .collect()
    }

    #[test]
    fn append_peek_ack_and_reopen_in_order() {
        let d = dir("order");
        let (mut q, rec) = DiskQueue::open(&d, 1 << 20).unwrap();
        assert_eq!(rec, Recovery::default());
        for i in 0..10 {
            q.append(format!("m v={i}i").as_bytes(), 1).unwrap();
        }
        q.sync().unwrap();
        let first = q.peek(3, usize::MAX).unwrap();
        assert_eq!(first.len(), 3);
        q.ack(first[2].next, 3).unwrap();
        assert_eq!(q.pending_points(), 7);
        drop(q);
        let (mut q, rec) = DiskQueue::open(&d, 1 << 20).unwrap();
        assert_eq!((rec.records, rec.points, rec.corrupt), (7, 7, 0));
        let got = payloads(&mut q);
        assert_eq!(
            got.first().map(String::as_str),
            Some("m v=3i"),
            "acknowledged records are not replayed"
        );
        assert_eq!(got.len(), 7);
        let last = q.peek(u64::MAX, usize::MAX).unwrap().last().unwrap().next;
        q.ack(last, 7).unwrap();
        assert!(q.is_empty());
    }

    #[test]
    fn torn_tail_is_cut_and_counted() {
        let d = dir("torn");
        let (mut q, _) = DiskQueue::open(&d, 1 << 20).unwrap();
        q.append(b"a v=1i", 1).unwrap();
        q.append(b"b v=2i", 1).unwrap();
        q.sync().unwrap();
        drop(q);
        let seg = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "seg"))
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes.truncate(bytes.len() - 3); // crash mid-append
        std::fs::write(&seg, &bytes).unwrap();
        let (mut q, rec) = DiskQueue::open(&d, 1 << 20).unwrap();
        assert_eq!((rec.records, rec.corrupt), (1, 1));
        q.append(b"c v=3i", 1).unwrap();
        assert_eq!(payloads(&mut q), ["a v=1i", "c v=3i"]);
        // A flipped bit in the middle of the last record is caught by the CRC.
        drop(q);
        let mut bytes = std::fs::read(&seg).unwrap();
        let n = bytes.len();
        bytes[n - 2] ^= 0x40;
        std::fs::write(&seg, &bytes).unwrap();
        let (mut q, rec) = DiskQueue::open(&d, 1 << 20).unwrap();
        assert_eq!((rec.records, rec.corrupt), (1, 1));
        assert_eq!(payloads(&mut q), ["a v=1i"]);
    }

    #[test]
    fn full_queue_drops_oldest_and_counts() {
        let d = dir("full");
        let (mut q, _) = DiskQueue::open(&d, 64 * 1024).unwrap(); // 8 KiB segments
        let line = vec![b'x'; 1000];
        let mut dropped = 0;
        for _ in 0..200 {
            dropped += q.append(&line, 10).unwrap();
        }
        assert!(dropped > 0);
        assert!(q.bytes() <= 64 * 1024 + 8192, "{}", q.bytes());
        let left: u64 = q
            .peek(u64::MAX, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| u64::from(r.points))
            .sum();
        assert_eq!(
            left + dropped,
            2000,
            "every point is delivered-pending or counted as dropped"
        );
        assert_eq!(q.pending_points(), left);
        assert!(matches!(q.append(&vec![0; 40 * 1024], 1), Err(QueueError::TooLarge(_))));
    }
}
