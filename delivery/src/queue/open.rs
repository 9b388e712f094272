//! Opening a queue folder: list the segments, decide where delivery resumes (the ack only
//! when it names a record boundary), keep what is not yet delivered (a torn tail cut off,
//! damage counted), and start appending in a segment that is safe to append to.

use super::record::{Scan, read_ack, scan, write_ack};
use super::{Cursor, DiskQueue, QueueError, Recovery, Segment, seg_path, unix_ms};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::Path;

/// An I/O error of `op` in `dir`.
fn io(dir: &Path, op: &'static str) -> impl Fn(std::io::Error) -> QueueError {
    let dir = dir.display().to_string();
    move |source| QueueError::Io {
        dir: dir.clone(),
        op,
        source,
    }
}

impl DiskQueue {
    /// Opens (or creates) the queue in `dir`, bounded by `max_bytes` on disk. Damage never
    /// stops the open: corrupt records are skipped (each stretch counted) and delivery goes on
    /// with the next valid record; an ack file that does not name a record of the queue is not
    /// trusted and delivery restarts at the record before it (a replayed write is idempotent in
    /// InfluxDB; a skipped one would be lost); entries that are not segment files are left
    /// alone. Only I/O errors (permissions, a full disk) fail.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Self, Recovery), QueueError> {
        // Private: queued writes can carry the writers' credentials (a mirror's envelopes).
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io(dir, "create directory"))?;
        }
        let mut recovery = Recovery::default();
        let ack = match read_ack(dir).map_err(io(dir, "read ack file"))? {
            Ok(a) => a,
            Err(why) => {
                tracing::warn!(queue = %dir.display(), why, "ack file unreadable: delivery restarts at the oldest record");
                recovery.ack_reset = true;
                None
            }
        };
        let (ids, highest) = segment_ids(dir)?;
        let mut scans = Vec::with_capacity(ids.len());
        for &id in &ids {
            scans.push((id, scan(&seg_path(dir, id)).map_err(io(dir, "scan segment"))?));
        }
        let resume = resume_at(dir, ack, &scans, &mut recovery).unwrap_or(Cursor {
            segment: ids.first().copied().unwrap_or(0),
            offset: 0,
        });
        let mut segments = undelivered(dir, scans, resume, ids.last().copied(), &mut recovery)?;
        let damaged_tail = segments.back().is_some_and(|s| s.records.is_some());
        if segments.is_empty() || damaged_tail || highest > segments.back().map_or(0, |s| s.id) {
            // New appends go to a fresh segment above every name in the folder: a damaged
            // segment is only read (past its damage), never appended to.
            let id = highest.max(resume.segment).max(segments.back().map_or(0, |s| s.id)) + 1;
            File::create(seg_path(dir, id)).map_err(io(dir, "create segment"))?;
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
            .map_err(io(dir, "open segment"))?;
        let ack = if resume.segment < segments[0].id {
            Cursor {
                segment: segments[0].id,
                offset: 0,
            }
        } else {
            resume
        };
        if recovery.ack_reset {
            write_ack(dir, ack).map_err(io(dir, "write ack file"))?;
        }
        let q = Self {
            ages: recovered_ages(dir, &segments, &recovery),
            dir: dir.to_path_buf(),
            max_bytes,
            // Several segments fit in the bound, so dropping the oldest frees a fraction.
            segment_bytes: (max_bytes / 8).clamp(4096, 64 << 20),
            segments,
            writer: BufWriter::with_capacity(256 * 1024, file),
            ack,
            pending_points: recovery.points,
            unsynced: false,
            visible: None,
            unpublished: VecDeque::new(),
        };
        Ok((q, recovery))
    }
}

/// The segment files of `dir`, sorted, and the highest segment number any entry carries.
fn segment_ids(dir: &Path) -> Result<(Vec<u64>, u64), QueueError> {
    let (mut ids, mut highest) = (vec![], 0);
    for e in std::fs::read_dir(dir).map_err(io(dir, "list"))?.flatten() {
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
    Ok((ids, highest))
}

/// Where delivery resumes: the ack when it names a record boundary of a segment.
fn resume_at(dir: &Path, ack: Option<Cursor>, scans: &[(u64, Scan)], recovery: &mut Recovery) -> Option<Cursor> {
    let a = ack?;
    match scans.iter().find(|(id, _)| *id == a.segment) {
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
        None if scans.iter().all(|(id, _)| *id < a.segment) && scans.iter().all(|(_, s)| s.records.is_empty()) => {
            Some(a) // everything before was delivered and removed
        }
        None => {
            tracing::warn!(queue = %dir.display(), ack_segment = a.segment, "ack names no segment of the queue: delivery restarts at the oldest record");
            recovery.ack_reset = true;
            None
        }
    }
}

/// The segments from `resume` on (delivered ones removed, a torn tail of the last cut off),
/// their records and points counted into `recovery`.
fn undelivered(
    dir: &Path,
    scans: Vec<(u64, Scan)>,
    resume: Cursor,
    last: Option<u64>,
    recovery: &mut Recovery,
) -> Result<VecDeque<Segment>, QueueError> {
    let mut segments = VecDeque::new();
    for (id, s) in scans {
        if id < resume.segment {
            std::fs::remove_file(seg_path(dir, id)).map_err(io(dir, "remove acknowledged segment"))?;
            continue;
        }
        let from = if id == resume.segment { resume.offset } else { 0 };
        let (records, points) = s.after(from);
        let len = std::fs::metadata(seg_path(dir, id))
            .map_err(io(dir, "scan segment"))?
            .len();
        if Some(id) == last && s.end < len {
            // A torn tail (crash mid-append): cut it so appends continue after valid data.
            OpenOptions::new()
                .write(true)
                .open(seg_path(dir, id))
                .and_then(|f| f.set_len(s.end))
                .map_err(io(dir, "truncate torn tail"))?;
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
    Ok(segments)
}

/// Recovered records are as old as their segment (its creation, else its last change).
fn recovered_ages(dir: &Path, segments: &VecDeque<Segment>, recovery: &Recovery) -> VecDeque<(Cursor, u64)> {
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
    ages
}
