//! Opening a damaged queue (issue 19, defects 3 and 4): delivery goes on with every valid
//! record, in order; what is lost is counted exactly; an untrusted ack replays, never skips.

use super::*;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("np-queue-rec-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn payloads(q: &mut DiskQueue) -> Vec<String> {
    let recs = q.peek(u64::MAX, usize::MAX).unwrap();
    recs.into_iter()
        .map(|r| String::from_utf8(r.payload).unwrap())
        .collect()
}

/// A queue of 8 one-point records in one segment; its path and the record offsets.
fn eight(tag: &str) -> (PathBuf, PathBuf, Vec<u64>) {
    let d = dir(tag);
    let (mut q, _) = DiskQueue::open(&d, 1 << 20).unwrap();
    let mut offsets = vec![];
    for i in 0..8 {
        offsets.push(q.segments.back().unwrap().len);
        q.append(format!("m v={i}i\n").as_bytes(), 1).unwrap();
    }
    q.sync().unwrap();
    let seg = seg_path(&d, q.segments.back().unwrap().id);
    (d, seg, offsets)
}

fn want(range: impl Iterator<Item = usize>) -> Vec<String> {
    range.map(|i| format!("m v={i}i\n")).collect()
}

#[test]
fn garbage_mid_segment_loses_only_the_record_it_hit() {
    let (d, seg, offsets) = eight("mid");
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = offsets[3] as usize + 14;
    bytes[at..at + 4].copy_from_slice(b"\xde\xad\xbe\xef");
    std::fs::write(&seg, &bytes).unwrap();
    let (mut q, rec) = DiskQueue::open(&d, 1 << 20).unwrap();
    assert_eq!((rec.records, rec.points, rec.corrupt), (7, 7, 1));
    assert_eq!(payloads(&mut q), want((0..8).filter(|i| *i != 3)));
    // Acknowledging across the damage and reopening resumes exactly after it.
    let recs = q.peek(4, usize::MAX).unwrap();
    q.ack(recs.last().unwrap().next, 4).unwrap();
    q.append(b"m v=8i\n", 1).unwrap();
    q.sync().unwrap();
    drop(q);
    let (mut q, rec) = DiskQueue::open(&d, 1 << 20).unwrap();
    assert!(!rec.ack_reset, "the ack names a record");
    assert_eq!(payloads(&mut q), want(5..9));
    assert_eq!(q.pending_points(), 4);
}

#[test]
fn an_unreadable_ack_replays_from_the_oldest_record() {
    for (tag, ack) in [
        ("binary", &b"\xff\xfe\x00\x01"[..]),
        ("text", b"hello world"),
        ("one", b"7"),
    ] {
        let (d, _, _) = eight(tag);
        std::fs::write(d.join("ack"), ack).unwrap();
        let (mut q, rec) = DiskQueue::open(&d, 1 << 20).unwrap();
        assert!(rec.ack_reset, "{tag}");
        assert_eq!(payloads(&mut q), want(0..8), "{tag}: nothing skipped");
        assert_eq!(
            std::fs::read_to_string(d.join("ack")).unwrap(),
            format!("{:020} {:020}\n", 1, 0),
            "{tag}: rewritten"
        );
    }
}

#[test]
fn an_ack_inside_or_past_the_records_resumes_at_the_record_before() {
    let (d, seg, offsets) = eight("inside");
    std::fs::write(d.join("ack"), format!("1 {}", offsets[5] + 3)).unwrap();
    let (mut q, rec) = DiskQueue::open(&d, 1 << 20).unwrap();
    assert!(rec.ack_reset);
    assert_eq!(payloads(&mut q), want(5..8), "record 5 replayed, not skipped");
    drop(q);
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::write(d.join("ack"), format!("1 {}", len + 1000)).unwrap();
    let (mut q, rec) = DiskQueue::open(&d, 1 << 20).unwrap();
    assert!(rec.ack_reset);
    assert_eq!(payloads(&mut q), want(7..8));
    drop(q);
    // An ack naming a segment the queue does not have removes nothing.
    std::fs::write(d.join("ack"), "99 0").unwrap();
    let (mut q, rec) = DiskQueue::open(&d, 1 << 20).unwrap();
    assert!(rec.ack_reset);
    assert_eq!(payloads(&mut q).len(), 8);
    assert!(seg.exists());
}

#[test]
fn a_directory_named_like_a_segment_is_left_alone() {
    let (d, _, _) = eight("dir");
    std::fs::create_dir(seg_path(&d, 2)).unwrap();
    let (mut q, rec) = DiskQueue::open(&d, 1 << 20).unwrap();
    assert_eq!((rec.records, rec.corrupt), (8, 0));
    q.append(b"m v=8i\n", 1).unwrap();
    q.sync().unwrap();
    assert_eq!(payloads(&mut q), want(0..9));
    assert!(seg_path(&d, 2).is_dir(), "not touched");
    assert!(seg_path(&d, 3).is_file(), "appends go above it");
}
