//! Appends that can be taken back: a write mirrored to several queues goes to all of them or
//! to none. [`DiskQueue::append_now`] writes the record through to its file (a full disk shows
//! here, not later in a commit) and returns a [`Mark`]; [`DiskQueue::undo`] cuts the queue back
//! to it when another queue refused the same write, so a refused write is appended nowhere and
//! no byte counter holds it.

use super::{Cursor, DiskQueue, QueueError, Segment, seg_path};
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};

/// Where a queue stood before an [`DiskQueue::append_now`].
#[derive(Debug, Clone)]
pub struct Mark {
    pub(super) segment: u64,
    pub(super) len: u64,
    pub(super) points: u64,
    pub(super) ages: Option<(Cursor, u64)>,
    pub(super) ages_len: usize,
}

impl DiskQueue {
    /// Appends one record and writes it through to the segment file (not fsynced: a group
    /// commit does that). On an error nothing of it stays in the queue.
    pub fn append_now(&mut self, payload: &[u8], points: u32) -> Result<Mark, QueueError> {
        self.writer.flush().map_err(self.io("flush"))?;
        let mark = self.mark();
        if let Err(e) = self
            .append(payload, points)
            .and_then(|_| self.writer.flush().map_err(self.io("append")))
        {
            if let Err(undo) = self.undo(mark) {
                tracing::error!(queue = %self.dir.display(), error = %undo, "a failed append could not be taken back");
            }
            return Err(e);
        }
        Ok(mark)
    }

    fn mark(&self) -> Mark {
        let tail = self.segments.back().expect("one segment");
        Mark {
            segment: tail.id,
            len: tail.len,
            points: self.pending_points,
            ages: self.ages.back().copied(),
            ages_len: self.ages.len(),
        }
    }

    /// Cuts the queue back to `mark` (taken by [`Self::append_now`] with nothing appended
    /// since but that record): segments opened after it are removed, its segment truncated.
    pub fn undo(&mut self, mark: Mark) -> Result<(), QueueError> {
        // Whatever is buffered belongs to the record being taken back.
        let file = self.writer.get_ref().try_clone().map_err(self.io("undo"))?;
        let _ = std::mem::replace(&mut self.writer, BufWriter::with_capacity(256 * 1024, file));
        while self.segments.back().is_some_and(|s| s.id > mark.segment) {
            let gone = self.segments.pop_back().expect("checked");
            std::fs::remove_file(seg_path(&self.dir, gone.id)).map_err(self.io("undo: remove segment"))?;
        }
        let mut len = mark.len;
        if self.segments.back().is_none_or(|s| s.id != mark.segment) {
            // The mark's segment was dropped to make room: nothing of it is left to keep.
            self.segments.push_back(Segment {
                id: mark.segment,
                len: 0,
                records: None,
            });
            len = 0;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(seg_path(&self.dir, mark.segment))
            .map_err(self.io("undo: open segment"))?;
        file.set_len(len).map_err(self.io("undo: truncate"))?;
        self.writer = BufWriter::with_capacity(256 * 1024, file);
        self.segments.back_mut().expect("one segment").len = len;
        self.forget_unpublished_after(Cursor {
            segment: mark.segment,
            offset: len,
        });
        self.pending_points = mark.points;
        self.ages.truncate(mark.ages_len);
        if let (Some(back), Some(was)) = (self.ages.back_mut(), mark.ages) {
            *back = was;
        }
        Ok(())
    }
}
