//! Appends held back from readers until published: a mirrored write goes to several queues and
//! is answered only when it is durable in all of them, so no queue's writer may deliver it
//! before then — or a write answered 503 (another queue's disk was full, an fsync failed) would
//! already have reached one replica. A held queue's readers stop at its published end;
//! [`DiskQueue::publish`] moves that end after a commit, [`DiskQueue::cut_unpublished`] takes
//! back everything after it when the commit failed. Queues not held (the collector's) show
//! every append at once.

use super::{Cursor, DiskQueue, QueueError, undo::Mark};

impl DiskQueue {
    /// From now on readers see only what [`Self::publish`] releases (what is there already is
    /// released: it was committed before this process opened the queue).
    pub fn hold_unpublished(&mut self) {
        self.visible = Some(self.end());
        self.unpublished.clear();
    }

    /// Where the next record will start.
    pub fn end(&self) -> Cursor {
        let tail = self.segments.back().expect("one segment");
        Cursor {
            segment: tail.id,
            offset: tail.len,
        }
    }

    /// Releases the records up to `upto` (an [`Self::end`] taken when they were committed).
    pub fn publish(&mut self, upto: Cursor) {
        let upto = upto.min(self.end());
        if let Some(v) = &mut self.visible
            && upto > *v
        {
            *v = upto;
        }
        while self.unpublished.front().is_some_and(|(end, _)| *end <= upto) {
            self.unpublished.pop_front();
        }
    }

    /// How far a held queue's readers may read in segment `id` (`None`: not at all).
    pub(super) fn readable(&self, id: u64, len: u64) -> Option<u64> {
        match self.visible {
            None => Some(len),
            Some(v) if id < v.segment => Some(len),
            Some(v) if id == v.segment => Some(len.min(v.offset)),
            Some(_) => None,
        }
    }

    /// Records an append for [`Self::cut_unpublished`] (held queues only).
    pub(super) fn note_unpublished(&mut self, end: Cursor, points: u32) {
        if self.visible.is_some() {
            self.unpublished.push_back((end, points));
        }
    }

    /// After [`Self::undo`] to `at`: the records taken back are no longer pending publication.
    pub(super) fn forget_unpublished_after(&mut self, at: Cursor) {
        while self.unpublished.back().is_some_and(|(end, _)| *end > at) {
            self.unpublished.pop_back();
        }
    }

    /// Segments before the ack were dropped: nothing in them waits, and readers start at the ack.
    pub(super) fn unpublished_dropped_before_ack(&mut self) {
        let ack = self.ack;
        while self
            .unpublished
            .front()
            .is_some_and(|(end, _)| end.segment < ack.segment)
        {
            self.unpublished.pop_front();
        }
        if let Some(v) = &mut self.visible
            && *v < ack
        {
            *v = ack;
        }
    }

    /// Takes back every record not published (their writes are answered as refused); returns
    /// the points taken back.
    pub fn cut_unpublished(&mut self) -> Result<u64, QueueError> {
        let Some(v) = self.visible else {
            return Ok(0);
        };
        if self.end() == v {
            return Ok(0);
        }
        let points: u64 = self.unpublished.drain(..).map(|(_, p)| u64::from(p)).sum();
        // The append times after the published end go; a window reaching past it ends there.
        let keep = self.ages.partition_point(|(end, _)| *end <= v);
        if let Some(&(_, at)) = self.ages.get(keep) {
            self.ages.truncate(keep);
            if v > self.ack && self.ages.back().is_none_or(|(end, _)| *end < v) {
                self.ages.push_back((v, at));
            }
        }
        let mark = Mark {
            segment: v.segment,
            len: v.offset,
            points: self.pending_points.saturating_sub(points),
            ages: None,
            ages_len: self.ages.len(),
        };
        self.undo(mark)?;
        Ok(points)
    }
}
