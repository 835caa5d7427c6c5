//! A proptest of random name operations on a small tmpfs: whatever sequence of `mkdir`,
//! `open(O_CREAT)` + writes, `symlink`, `link`, `rename`, `unlink`, `rmdir`, `truncate` runs,
//! nothing panics, directory link counts stay `2 + subdirectories`, and removing everything
//! refunds the budget to the root alone (no accounting leak).

use super::*;
use crate::flags::{O_CREAT, O_DIRECTORY, O_RDONLY, O_RDWR, S_IFDIR, S_IFMT};
use crate::time::FixedClock;
use alloc::vec;
use alloc::vec::Vec;
use proptest::prelude::*;

const NAMES: &[&[u8]] = &[
    b"a", b"b", b"a/c", b"b/d", b"a/c/e", b"x", b"b/../y", b"l/z",
];

#[derive(Debug, Clone)]
enum Op {
    Mkdir(usize),
    Write(usize, usize),
    Symlink(usize, usize),
    Link(usize, usize),
    Rename(usize, usize),
    Unlink(usize),
    Rmdir(usize),
    Truncate(usize, u16),
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..NAMES.len();
    prop_oneof![
        n.clone().prop_map(Op::Mkdir),
        (n.clone(), 0usize..3000).prop_map(|(a, len)| Op::Write(a, len)),
        (n.clone(), n.clone()).prop_map(|(a, b)| Op::Symlink(a, b)),
        (n.clone(), n.clone()).prop_map(|(a, b)| Op::Link(a, b)),
        (n.clone(), n.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        n.clone().prop_map(Op::Unlink),
        n.clone().prop_map(Op::Rmdir),
        (n, any::<u16>()).prop_map(|(a, len)| Op::Truncate(a, len)),
    ]
}

/// Names in directory `path` (without `.` and `..`), with whether each is a directory.
fn entries(t: &Tmpfs, path: &[u8]) -> Vec<(Vec<u8>, bool)> {
    let f = t.open(t.root(), path, O_RDONLY | O_DIRECTORY, 0).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = f.getdents64(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        let mut at = 0;
        while at < n {
            let reclen = usize::from(u16::from_le_bytes([buf[at + 16], buf[at + 17]]));
            let name = &buf[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap()];
            if name != b"." && name != b".." {
                out.push((name.to_vec(), buf[at + 18] == crate::flags::DT_DIR));
            }
            at += reclen;
        }
    }
}

/// Check link counts below `path`, then remove everything there.
fn check_and_clear(t: &Tmpfs, path: &[u8]) {
    let list = entries(t, path);
    let subdirs = list.iter().filter(|(_, d)| *d).count() as u64;
    let st = t.stat(t.root(), path, false).unwrap();
    assert_eq!(st.mode & S_IFMT, S_IFDIR);
    assert_eq!(st.nlink, 2 + subdirs, "nlink of {:?}", path);
    for (name, is_dir) in list {
        let mut child = path.to_vec();
        child.push(b'/');
        child.extend_from_slice(&name);
        if is_dir {
            check_and_clear(t, &child);
            t.rmdir(t.root(), &child).unwrap();
        } else {
            t.unlink(t.root(), &child).unwrap();
        }
    }
}

proptest! {
    #[test]
    fn random_operations_keep_links_and_budget_consistent(ops in prop::collection::vec(op(), 0..60)) {
        let t = Tmpfs::new(256 * 1024, Arc::new(FixedClock::default())).unwrap();
        let r = t.root();
        let baseline = t.usage().0;
        for op in ops {
            let _ = match op {
                Op::Mkdir(a) => t.mkdir(r, NAMES[a], 0o755).map(drop),
                Op::Write(a, len) => t
                    .open(r, NAMES[a], O_CREAT | O_RDWR, 0o644)
                    .and_then(|f| f.write(&vec![b'w'; len]).map(drop)),
                Op::Symlink(a, b) => t.symlink(NAMES[a], r, NAMES[b]).map(drop),
                Op::Link(a, b) => t.link(r, NAMES[a], r, NAMES[b], false),
                Op::Rename(a, b) => t.rename(r, NAMES[a], r, NAMES[b]),
                Op::Unlink(a) => t.unlink(r, NAMES[a]),
                Op::Rmdir(a) => t.rmdir(r, NAMES[a]),
                Op::Truncate(a, len) => t.truncate(r, NAMES[a], i64::from(len)),
            };
        }
        check_and_clear(&t, b"/");
        prop_assert_eq!(t.usage().0, baseline);
    }
}
