//! The bytes on disk: a record's framing and checksum, scanning a segment for its valid
//! length (what follows a torn or corrupt record is garbage), and the `ack` file.
//!
//! Record: `len u32 LE | crc32(points ‖ payload) u32 LE | points u32 LE | payload`.

use super::Cursor;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes before a record's payload.
pub const HEADER: u64 = 12;
/// A record larger than this is refused on append and treated as corruption on read.
pub const MAX_RECORD: u32 = 64 << 20;

/// The next record (points, payload); `None` at the end or at a torn or corrupt record.
pub fn read_record(r: &mut impl Read) -> std::io::Result<Option<(u32, Vec<u8>)>> {
    let mut head = [0u8; HEADER as usize];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
    let points = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
    if len > MAX_RECORD {
        return Ok(None);
    }
    let mut payload = vec![0u8; len as usize];
    match r.read_exact(&mut payload) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut h = crc32fast::Hasher::new();
    h.update(&head[8..12]);
    h.update(&payload);
    Ok((h.finalize() == crc).then_some((points, payload)))
}

/// Valid length, records, points after `start`, and 1 if the segment ends in garbage.
pub fn scan(path: &Path, start: u64) -> std::io::Result<(u64, u64, u64, u64)> {
    let mut f = File::open(path)?;
    let file_len = f.metadata()?.len();
    f.seek(SeekFrom::Start(start.min(file_len)))?;
    let mut r = std::io::BufReader::with_capacity(256 * 1024, f);
    let (mut pos, mut records, mut points) = (start.min(file_len), 0, 0);
    while let Some((p, payload)) = read_record(&mut r)? {
        pos += HEADER + payload.len() as u64;
        records += 1;
        points += u64::from(p);
    }
    Ok((pos, records, points, u64::from(pos < file_len)))
}

pub fn read_ack(dir: &Path) -> std::io::Result<Cursor> {
    match std::fs::read_to_string(dir.join("ack")) {
        Ok(s) => {
            let mut it = s.split_whitespace().map(|n| n.parse::<u64>().unwrap_or(0));
            Ok(Cursor {
                segment: it.next().unwrap_or(0),
                offset: it.next().unwrap_or(0),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cursor::default()),
        Err(e) => Err(e),
    }
}

/// Atomic replace: a crash leaves the old or the new position, never a torn one.
pub fn write_ack(dir: &Path, c: Cursor) -> std::io::Result<()> {
    let tmp = dir.join("ack.tmp");
    std::fs::write(&tmp, format!("{} {}\n", c.segment, c.offset))?;
    std::fs::rename(tmp, dir.join("ack"))
}
