//! The queue's life: append, peek, ack, reopen in order; a torn tail; the bound.

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
    q.sync().unwrap();
    assert_eq!(payloads(&mut q), ["a v=1i", "c v=3i"]);
    // A flipped bit in the middle of the last record is caught by the CRC. (Appends after
    // a damaged segment go to a new one.)
    drop(q);
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    let seg = segs.last().unwrap().clone();
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

#[test]
fn a_held_queue_shows_only_what_is_published_and_takes_back_the_rest() {
    let d = dir("held");
    let (mut q, _) = DiskQueue::open(&d, 64 << 10).unwrap();
    q.append_now(b"before v=0i", 1).unwrap();
    q.hold_unpublished();
    assert_eq!(
        payloads(&mut q),
        ["before v=0i"],
        "what was there when held is readable"
    );
    let body = |i: usize| format!("m v={i}i,pad=\"{}\"", "x".repeat(1000));
    // Across several segments (8 KiB each under a 64 KiB bound).
    for i in 0..20 {
        q.append_now(body(i).as_bytes(), 2).unwrap();
    }
    assert_eq!(
        payloads(&mut q).len(),
        1,
        "appends are not readable before they are published"
    );
    let committed = q.end();
    q.publish(committed);
    assert_eq!(payloads(&mut q).len(), 21);
    let (bytes, points) = (q.bytes(), q.pending_points());
    for i in 20..30 {
        q.append_now(body(i).as_bytes(), 2).unwrap();
    }
    assert_eq!(payloads(&mut q).len(), 21);
    assert_eq!(q.cut_unpublished().unwrap(), 20);
    assert_eq!(
        (q.bytes(), q.pending_points()),
        (bytes, points),
        "nothing taken back is counted"
    );
    assert_eq!(q.end(), committed);
    // Appends go on after the cut, and only published ones are ever read, also after reopening.
    q.append_now(b"after v=1i", 1).unwrap();
    q.publish(q.end());
    q.sync().unwrap();
    let got = payloads(&mut q);
    assert_eq!((got.len(), got.last().map(String::as_str)), (22, Some("after v=1i")));
    drop(q);
    let (mut q, rec) = DiskQueue::open(&d, 64 << 10).unwrap();
    assert_eq!((rec.records, rec.points, rec.corrupt), (22, 42, 0));
    assert_eq!(payloads(&mut q).len(), 22);
}
