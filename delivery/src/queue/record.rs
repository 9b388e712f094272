//! The bytes on disk: a record's framing and checksum, scanning a segment for its records
//! (resynchronising past corrupt bytes onto the next valid record), and the `ack` file.
//!
//! Record: `len u32 LE | crc32(points ‖ payload) u32 LE | points u32 LE | payload`.

use super::Cursor;
use std::io::Read;
use std::path::Path;

/// Bytes before a record's payload.
pub const HEADER: u64 = 12;
/// A record larger than this is refused on append and treated as corruption on read.
pub const MAX_RECORD: u32 = 64 << 20;
/// Resynchronising tries candidate records; their checksums may read at most this many bytes
/// per byte of segment, so garbage can never make opening a queue take unbounded time.
const RESYNC_WORK_PER_BYTE: u64 = 64;

/// The next record (points, payload); `None` at the end or at a torn or corrupt record.
pub fn read_record(r: &mut impl Read) -> std::io::Result<Option<(u32, Vec<u8>)>> {
    let mut head = [0u8; HEADER as usize];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (len, crc, points) = fields(&head);
    if len > MAX_RECORD {
        return Ok(None);
    }
    let mut payload = vec![0u8; len as usize];
    match r.read_exact(&mut payload) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    Ok((checksum(points, &payload) == crc).then_some((points, payload)))
}

fn fields(head: &[u8]) -> (u32, u32, u32) {
    let word = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
    (word(0), word(4), word(8))
}

pub fn checksum(points: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&points.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// The size of the valid record at `pos` of `data`, if one starts there.
fn record_at(data: &[u8], pos: usize) -> Option<usize> {
    let head = data.get(pos..pos + HEADER as usize)?;
    let (len, crc, points) = fields(head);
    let end = (pos + HEADER as usize).checked_add(len as usize)?;
    // Cheap tests first: the payload fits the segment and is not too small for its points
    // (plain line protocol takes a byte a point and more; deflate packs at most 1032 to a byte).
    if len > MAX_RECORD || end > data.len() || u64::from(points) > u64::from(len) * 1032 + 64 {
        return None;
    }
    (checksum(points, &data[pos + HEADER as usize..end]) == crc).then_some(end - pos)
}

/// What a segment holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Offset and points of every valid record, in order.
    pub records: Vec<(u64, u32)>,
    /// End of the last valid record: appends continue here once the tail is cut.
    pub end: u64,
    /// Stretches of bytes that were not a valid record: each cost at least one record.
    pub corrupt: u64,
}

impl Scan {
    /// Records and points at or after `from`.
    pub fn after(&self, from: u64) -> (u64, u64) {
        let rest = self.records.iter().filter(|(at, _)| *at >= from);
        rest.fold((0, 0), |(r, p), (_, n)| (r + 1, p + u64::from(*n)))
    }

    /// Whether a record starts at `offset` (or it is the end of the valid data).
    pub fn is_boundary(&self, offset: u64) -> bool {
        offset == self.end || self.records.binary_search_by_key(&offset, |r| r.0).is_ok()
    }

    /// The start of the record that holds `offset` (the last boundary at or before it).
    pub fn boundary_before(&self, offset: u64) -> u64 {
        let i = self.records.partition_point(|r| r.0 <= offset);
        if i == 0 { 0 } else { self.records[i - 1].0 }
    }
}

/// Every valid record of a segment. After bytes that are not a record (a torn write, a bad
/// sector, stray bytes), the next valid record is found by trying each later offset, so one
/// damaged record never hides the ones after it.
pub fn scan_bytes(data: &[u8]) -> Scan {
    let mut scan = Scan::default();
    let (mut pos, mut in_garbage) = (0usize, false);
    let mut budget = (data.len() as u64).saturating_mul(RESYNC_WORK_PER_BYTE).max(1 << 20);
    while pos + HEADER as usize <= data.len() {
        if in_garbage {
            // What trying this offset costs: its header, and its payload when the cheap tests
            // pass and the checksum has to be computed.
            let (len, _, points) = fields(&data[pos..pos + HEADER as usize]);
            let fits = pos as u64 + HEADER + u64::from(len) <= data.len() as u64 && points <= len;
            budget = budget.saturating_sub(HEADER + if fits { u64::from(len) } else { 0 });
            if budget == 0 {
                break;
            }
        }
        match record_at(data, pos) {
            Some(size) => {
                scan.records.push((pos as u64, fields(&data[pos..]).2));
                pos += size;
                scan.end = pos as u64;
                in_garbage = false;
            }
            None => {
                if !in_garbage {
                    scan.corrupt += 1;
                    in_garbage = true;
                }
                pos += 1;
            }
        }
    }
    if !in_garbage && (scan.end as usize) < data.len() {
        scan.corrupt += 1; // a torn tail shorter than a header
    }
    scan
}

pub fn scan(path: &Path) -> std::io::Result<Scan> {
    Ok(scan_bytes(&std::fs::read(path)?))
}

/// The acknowledged position, `Ok(None)` when there is no ack file yet, and `Err(why)` when the
/// file is not a position (not UTF-8, not two numbers): the caller must not trust it.
pub fn read_ack(dir: &Path) -> std::io::Result<Result<Option<Cursor>, String>> {
    let bytes = match std::fs::read(dir.join("ack")) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ok(None)),
        Err(e) => return Err(e),
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(Err("not text".into()));
    };
    let nums: Vec<Option<u64>> = text.split_whitespace().map(|n| n.parse().ok()).collect();
    match nums.as_slice() {
        [Some(segment), Some(offset)] => Ok(Ok(Some(Cursor {
            segment: *segment,
            offset: *offset,
        }))),
        _ => Ok(Err(format!("not \"SEGMENT OFFSET\" ({} bytes)", bytes.len()))),
    }
}

/// Atomic replace: a crash leaves the old or the new position, never a torn one. On a full
/// disk the replacement cannot be created, so the position is written over the old one in
/// place: fixed width, inside the blocks the file already has, so it needs no new space (a torn
/// overwrite, which a crash could leave, is not trusted on open and only replays records).
pub fn write_ack(dir: &Path, c: Cursor) -> std::io::Result<()> {
    let text = format!("{:020} {:020}\n", c.segment, c.offset);
    let tmp = dir.join("ack.tmp");
    match std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, dir.join("ack"))) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(28) => {
            let _ = std::fs::remove_file(&tmp);
            use std::io::Write;
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("ack"))
                .and_then(|mut f| f.write_all(text.as_bytes()))
                .map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(points: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_le_bytes().to_vec();
        out.extend(checksum(points, payload).to_le_bytes());
        out.extend(points.to_le_bytes());
        out.extend(payload);
        out
    }

    #[test]
    fn garbage_in_the_middle_costs_only_the_record_it_hit() {
        let recs: Vec<Vec<u8>> = (0..8).map(|i| record(1, format!("m v={i}i\n").as_bytes())).collect();
        let mut data = recs.concat();
        // 4 bytes of garbage inside record 3: that record is lost, 4..7 are found again.
        let at = recs[..3].iter().map(Vec::len).sum::<usize>() + 5;
        data[at..at + 4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let s = scan_bytes(&data);
        assert_eq!((s.records.len(), s.corrupt), (7, 1));
        // 4 bytes inserted between records 5 and 6: nothing lost, one corrupt stretch.
        let mut data = recs.concat();
        let at = recs[..6].iter().map(Vec::len).sum::<usize>();
        data.splice(at..at, [1, 2, 3, 4]);
        let s = scan_bytes(&data);
        assert_eq!((s.records.len(), s.corrupt), (8, 1));
        assert_eq!(s.end as usize, data.len());
    }

    #[test]
    fn garbage_is_bounded_work_and_counted() {
        let noise: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let s = scan_bytes(&noise);
        assert_eq!((s.records.len(), s.corrupt, s.end), (0, 1, 0));
        let tail = [record(2, b"a v=1i\nb v=2i\n"), vec![7, 7, 7]].concat();
        let s = scan_bytes(&tail);
        assert_eq!((s.records.len(), s.corrupt), (1, 1), "a torn tail");
        assert!(s.is_boundary(0) && !s.is_boundary(3) && s.boundary_before(5) == 0);
    }
}
