//! How a queue's disk is given back: delivered segments at each acknowledgement (a replica that
//! keeps up holds almost nothing); and, only then, its oldest segments to stay within its bound,
//! and on a full disk shared with other queues its oldest points so they can go on (the caller
//! picks the queue: `output::OutputSet::make_room`). Every point given up is counted.

use super::{Cursor, DiskQueue, QueueError, RECLAIM_AT, scan, seg_path, write_ack};
use std::io::BufWriter;

impl DiskQueue {
    /// The replica has everything before `upto`; `points` of them left the queue.
    /// Acknowledgements never move backwards (a drop may have passed them).
    pub fn ack(&mut self, upto: Cursor, points: u64) -> Result<(), QueueError> {
        if upto <= self.ack {
            return Ok(());
        }
        self.ack = upto;
        self.trim_ages();
        self.pending_points = self.pending_points.saturating_sub(points);
        // Delivered segments go before the ack is recorded: on a full disk their room is what
        // lets it be recorded (a crash between replays from the oldest left, never skips).
        while self.segments.len() > 1 && self.segments[0].id < upto.segment {
            let gone = self.segments.pop_front().expect("checked");
            std::fs::remove_file(seg_path(&self.dir, gone.id)).map_err(self.io("remove segment"))?;
        }
        write_ack(&self.dir, upto).map_err(self.io("write ack file"))?;
        // Everything delivered: the delivered bytes of the segment being appended to go too, so
        // a replica that keeps up holds almost nothing on disk (a shared disk has room for the
        // one that does not).
        if self.is_empty() && self.segments.back().is_some_and(|s| s.len >= RECLAIM_AT) {
            self.roll()?;
            while self.segments.len() > 1 {
                let gone = self.segments.pop_front().expect("checked");
                std::fs::remove_file(seg_path(&self.dir, gone.id)).map_err(self.io("remove segment"))?;
            }
            self.ack = Cursor {
                segment: self.segments[0].id,
                offset: 0,
            };
            write_ack(&self.dir, self.ack).map_err(self.io("write ack file"))?;
        }
        Ok(())
    }

    pub(super) fn enforce_bound(&mut self) -> Result<u64, QueueError> {
        let mut dropped = 0;
        while self.bytes() > self.max_bytes && self.segments.len() > 1 {
            dropped += self.drop_oldest()?;
        }
        Ok(dropped)
    }

    /// Frees disk for the other queues on a full disk (this one holds the most): drops the
    /// oldest segment, or, when only the one being appended to is left, everything pending.
    /// Returns the points dropped.
    pub fn shed(&mut self) -> Result<u64, QueueError> {
        if self.segments.len() > 1 {
            return self.drop_oldest();
        }
        let dropped = self.pending_points;
        // Buffered bytes are part of what is dropped: a fresh buffer on the same file.
        let file = self.writer.get_ref().try_clone().map_err(self.io("reopen segment"))?;
        let _ = std::mem::replace(&mut self.writer, BufWriter::with_capacity(256 * 1024, file));
        let tail = self.segments.back_mut().expect("one segment");
        self.writer.get_ref().set_len(0).map_err(|e| QueueError::Io {
            dir: self.dir.display().to_string(),
            op: "empty segment",
            source: e,
        })?;
        tail.len = 0;
        tail.records = None;
        self.ack = Cursor {
            segment: tail.id,
            offset: 0,
        };
        self.pending_points = 0;
        self.unsynced = false;
        self.ages.clear();
        // Everything went, held appends too.
        self.unpublished.clear();
        if let Some(v) = &mut self.visible {
            *v = self.ack;
        }
        write_ack(&self.dir, self.ack).map_err(self.io("write ack file"))?;
        Ok(dropped)
    }

    /// Drops the oldest segment (there is a newer one); returns its pending points.
    fn drop_oldest(&mut self) -> Result<u64, QueueError> {
        let oldest = self.segments.pop_front().expect("checked");
        let from = if oldest.id == self.ack.segment {
            self.ack.offset
        } else {
            0
        };
        let points = match &oldest.records {
            Some(list) => list.iter().filter(|r| r.0 >= from).map(|r| u64::from(r.1)).sum(),
            None => {
                scan(&seg_path(&self.dir, oldest.id))
                    .map_err(self.io("scan segment"))?
                    .after(from)
                    .1
            }
        };
        self.pending_points = self.pending_points.saturating_sub(points);
        self.ack = Cursor {
            segment: self.segments[0].id,
            offset: 0,
        };
        self.trim_ages();
        self.unpublished_dropped_before_ack();
        // Removed before the ack is rewritten: on a full disk the rewrite needs the room. A
        // crash between leaves an ack naming no segment, which reopening does not trust.
        std::fs::remove_file(seg_path(&self.dir, oldest.id)).map_err(self.io("remove segment"))?;
        write_ack(&self.dir, self.ack).map_err(self.io("write ack file"))?;
        Ok(points)
    }
}
