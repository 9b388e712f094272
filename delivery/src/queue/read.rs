//! Reading a queue in order from its acknowledgement: whole segments in sequence, damaged ones
//! record by record at the offsets the open found, appends still buffered on a full disk left
//! for later.

use super::record::{HEADER, read_record};
use super::{Cursor, DiskQueue, QueueError, Record, seg_path};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

impl DiskQueue {
    /// Records from the first unacknowledged one, in order, up to `max_points` points and
    /// about `max_bytes` of payload (always at least one record). Nothing is removed.
    /// Appends still buffered because the disk is full are not read yet: what is on disk is,
    /// so a replica that is up keeps draining (and freeing) its queue while the commit that
    /// makes room for the rest retries.
    pub fn peek(&mut self, max_points: u64, max_bytes: usize) -> Result<Vec<Record>, QueueError> {
        if let Err(e) = self.writer.flush() {
            tracing::debug!(queue = %self.dir.display(), error = %e, "appends stay buffered; reading what is on disk");
        }
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
            // A held queue's readers stop at what is published.
            let Some(len) = self.readable(seg.id, seg.len) else {
                break;
            };
            if at.offset >= len {
                continue;
            }
            if let Some(list) = &seg.records {
                // Damaged on disk: read record by record at the offsets the open found.
                let mut f = File::open(seg_path(&self.dir, seg.id)).map_err(self.io("open segment"))?;
                let first = list.partition_point(|r| r.0 < at.offset);
                for (i, &(off, _)) in list.iter().enumerate().skip(first).take_while(|(_, r)| r.0 < len) {
                    if !out.is_empty() && (points >= max_points || bytes >= max_bytes) {
                        break 'segments;
                    }
                    f.seek(SeekFrom::Start(off)).map_err(self.io("seek"))?;
                    let Some((p, payload)) = read_record(&mut f).map_err(self.io("read"))? else {
                        break;
                    };
                    let next = Cursor {
                        segment: seg.id,
                        offset: list.get(i + 1).map_or(seg.len, |r| r.0),
                    };
                    bytes += payload.len();
                    points += u64::from(p);
                    out.push(Record {
                        at: Cursor {
                            segment: seg.id,
                            offset: off,
                        },
                        next,
                        points: p,
                        payload,
                    });
                    at = next;
                }
                continue;
            }
            let mut f = File::open(seg_path(&self.dir, seg.id)).map_err(self.io("open segment"))?;
            f.seek(SeekFrom::Start(at.offset)).map_err(self.io("seek"))?;
            let mut r = std::io::BufReader::with_capacity(256 * 1024, f.take(len - at.offset));
            while at.offset < len {
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
}
