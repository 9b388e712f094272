//! A queue on a full disk (a 1 MiB tmpfs mounted by the test; root, as in CI): delivering
//! frees the disk and is recorded, so appends go on without a remount; an append the disk
//! refuses, or one taken back, leaves nothing behind.

use super::*;
use std::process::Command;

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("np-queue-tmpfs-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1M", "tmpfs"])
            .arg(&d)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting a tmpfs needs root (CI runs as root)");
        Self(d)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn record(i: usize) -> Vec<u8> {
    // Incompressible enough that the tmpfs fills with a few dozen records.
    (0..20_000)
        .map(|k| (((i * 7919 + k) * 2_654_435_761) >> 7) as u8)
        .collect()
}

/// Appends until the disk refuses; returns how many records went in.
fn fill(q: &mut DiskQueue) -> usize {
    for i in 0..1000 {
        match q.append_now(&record(i), 1) {
            Ok(_) => {}
            Err(QueueError::Io { source, .. }) if source.raw_os_error() == Some(28) => {
                q.sync().unwrap();
                return i;
            }
            Err(e) => panic!("append {i}: {e}"),
        }
    }
    panic!("a 1 MiB disk never filled");
}

#[test]
fn delivery_on_a_full_disk_frees_it_and_appends_go_on() {
    for (tag, max) in [("one-segment", 64 << 20), ("segments", 4 << 20)] {
        let disk = Tmpfs::mount(tag);
        let (mut q, _) = DiskQueue::open(&disk.0.join("q"), max).unwrap();
        let n = fill(&mut q);
        assert!(n > 10, "{tag}: only {n} records fit");
        let (bytes, points) = (q.bytes(), q.pending_points());
        assert_eq!(points, n as u64, "{tag}: the refused append is not counted");
        // The writer delivered everything: the acknowledgement must be recorded.
        let all = q.peek(u64::MAX, usize::MAX).unwrap();
        assert_eq!(all.len(), n, "{tag}");
        q.ack(all.last().unwrap().next, n as u64)
            .unwrap_or_else(|e| panic!("{tag}: ack on a full disk: {e}"));
        assert!(q.is_empty() && q.pending_points() == 0, "{tag}");
        assert!(q.bytes() < bytes, "{tag}: delivered bytes are given back");
        let again = fill(&mut q);
        assert!(
            again * 2 > n,
            "{tag}: after delivery {again} records fit again (first {n})"
        );
        drop(q);
        let (q, rec) = DiskQueue::open(&disk.0.join("q"), max).unwrap();
        assert_eq!(
            rec.records, again as u64,
            "{tag}: reopened, only what was not delivered"
        );
        assert!(!rec.ack_reset, "{tag}: the ack recorded on the full disk is readable");
        drop(q);
    }
}

#[test]
fn an_append_taken_back_leaves_nothing() {
    let d = std::env::temp_dir().join(format!("np-queue-undo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    // Small segments: the taken-back record opens a new one.
    let (mut q, _) = DiskQueue::open(&d, 64 * 1024).unwrap();
    q.append_now(b"m v=1i\n", 1).unwrap();
    let (bytes, points) = (q.bytes(), q.pending_points());
    for size in [10, 9000] {
        let mark = q.append_now(&vec![b'x'; size], 3).unwrap();
        q.undo(mark).unwrap();
        assert_eq!((q.bytes(), q.pending_points()), (bytes, points), "size {size}");
    }
    q.append_now(b"m v=2i\n", 1).unwrap();
    q.sync().unwrap();
    drop(q);
    let (mut q, rec) = DiskQueue::open(&d, 64 * 1024).unwrap();
    assert_eq!((rec.records, rec.corrupt), (2, 0));
    let got: Vec<_> = q
        .peek(u64::MAX, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|r| r.payload)
        .collect();
    assert_eq!(got, vec![b"m v=1i\n".to_vec(), b"m v=2i\n".to_vec()]);
}
