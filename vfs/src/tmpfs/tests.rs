//! tmpfs tests: open flags, I/O and offsets, resolution, symlinks, name operations with their
//! errnos, getdents64, the budget, attributes.

use super::*;
use crate::flags::*;
use crate::time::FixedClock;
use alloc::vec;
use alloc::vec::Vec;

const MIB: usize = 1 << 20;

fn fs() -> Tmpfs {
    Tmpfs::new(MIB, Arc::new(FixedClock(Timespec::new(1_700_000_000, 5)))).unwrap()
}

fn create(t: &Tmpfs, path: &[u8], data: &[u8]) {
    let f = t
        .open(t.root(), path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        .unwrap();
    assert_eq!(f.write(data).unwrap(), data.len());
}

fn read_all(t: &Tmpfs, path: &[u8]) -> Vec<u8> {
    let f = t.open(t.root(), path, O_RDONLY, 0).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

pub(super) fn list(t: &Tmpfs, path: &[u8], bufsize: usize) -> Vec<(Vec<u8>, u8)> {
    let f = t.open(t.root(), path, O_RDONLY | O_DIRECTORY, 0).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; bufsize];
    loop {
        let n = f.getdents64(&mut buf).unwrap();
        if n == 0 {
            return out;
        }
        let mut at = 0;
        while at < n {
            let reclen = u16::from_le_bytes([buf[at + 16], buf[at + 17]]) as usize;
            assert_eq!(reclen % 8, 0);
            let name = &buf[at + 19..at + reclen];
            let end = name.iter().position(|&b| b == 0).unwrap();
            out.push((name[..end].to_vec(), buf[at + 18]));
            at += reclen;
        }
    }
}

#[test]
fn create_write_read_stat() {
    let t = fs();
    create(&t, b"/hello", b"hello world");
    assert_eq!(read_all(&t, b"hello"), b"hello world");
    let st = t.stat(t.root(), b"/hello", true).unwrap();
    assert_eq!(st.mode, S_IFREG | 0o644);
    assert_eq!(st.size, 11);
    assert_eq!(st.nlink, 1);
    assert_eq!(st.blocks, 8);
    assert_eq!(st.mtime, Timespec::new(1_700_000_000, 5));
    let root = t.stat(t.root(), b"/", true).unwrap();
    assert_eq!(root.ino, ROOT_INO);
    assert_eq!(root.mode, S_IFDIR | 0o755);
}

#[test]
fn open_flags_follow_linux() {
    let t = fs();
    let r = t.root();
    assert_eq!(t.open(r, b"nope", O_RDONLY, 0).unwrap_err(), Errno::ENOENT);
    create(&t, b"f", b"abc");
    assert_eq!(
        t.open(r, b"f", O_CREAT | O_EXCL | O_RDWR, 0o600)
            .unwrap_err(),
        Errno::EEXIST
    );
    assert_eq!(t.open(r, b"f", O_DIRECTORY, 0).unwrap_err(), Errno::ENOTDIR);
    assert_eq!(t.open(r, b"f/", O_RDONLY, 0).unwrap_err(), Errno::ENOTDIR);
    assert_eq!(t.open(r, b"f/x", O_RDONLY, 0).unwrap_err(), Errno::ENOTDIR);
    assert_eq!(
        t.open(r, b"new/", O_CREAT | O_RDWR, 0o600).unwrap_err(),
        Errno::EISDIR
    );
    t.mkdir(r, b"d", 0o755).unwrap();
    assert_eq!(t.open(r, b"d", O_RDWR, 0).unwrap_err(), Errno::EISDIR);
    assert_eq!(
        t.open(r, b"d", O_CREAT | O_RDONLY, 0).unwrap_err(),
        Errno::EISDIR
    );
    assert!(t.open(r, b"d/", O_RDONLY, 0).is_ok());
    assert_eq!(
        t.open(r, b".", O_CREAT | O_RDWR, 0).unwrap_err(),
        Errno::EISDIR
    );
    assert_eq!(t.open(r, b"", O_RDONLY, 0).unwrap_err(), Errno::ENOENT);
    assert_eq!(
        t.open(r, b"nd", O_CREAT | O_DIRECTORY | O_RDONLY, 0)
            .unwrap_err(),
        Errno::EINVAL
    );
    // O_TRUNC empties; wrong-mode I/O is EBADF.
    let f = t.open(r, b"f", O_RDONLY | O_TRUNC, 0).unwrap();
    assert_eq!(t.stat(r, b"f", true).unwrap().size, 0);
    assert_eq!(f.write(b"x").unwrap_err(), Errno::EBADF);
    let w = t.open(r, b"f", O_WRONLY, 0).unwrap();
    assert_eq!(w.read(&mut [0; 4]).unwrap_err(), Errno::EBADF);
    assert_eq!(w.status_flags() & O_ACCMODE, O_WRONLY);
    assert_ne!(w.status_flags() & O_LARGEFILE, 0);
    // A directory read is EISDIR.
    let d = t.open(r, b"d", O_RDONLY, 0).unwrap();
    assert_eq!(d.read(&mut [0; 4]).unwrap_err(), Errno::EISDIR);
}

#[test]
fn append_and_shared_offsets() {
    let t = fs();
    create(&t, b"log", b"one");
    let a = t.open(t.root(), b"log", O_WRONLY | O_APPEND, 0).unwrap();
    a.lseek(0, Whence::Set).unwrap();
    a.write(b"two").unwrap();
    assert_eq!(a.position(), 6);
    assert_eq!(read_all(&t, b"log"), b"onetwo");
    // pwrite on an O_APPEND file appends, as Linux.
    a.pwrite(b"!", 0).unwrap();
    assert_eq!(read_all(&t, b"log"), b"onetwo!");
    let f = t.open(t.root(), b"log", O_RDWR, 0).unwrap();
    f.pwrite(b"O", 0).unwrap();
    let mut b = [0u8; 3];
    assert_eq!(f.pread(&mut b, 3).unwrap(), 3);
    assert_eq!(&b, b"two");
    assert_eq!(f.position(), 0, "pread/pwrite leave the offset");
    assert_eq!(f.pread(&mut b, -1).unwrap_err(), Errno::EINVAL);
}

#[test]
fn lseek_rules() {
    let t = fs();
    create(&t, b"f", b"0123456789");
    let f = t.open(t.root(), b"f", O_RDWR, 0).unwrap();
    assert_eq!(f.lseek(-1, Whence::Set).unwrap_err(), Errno::EINVAL);
    assert_eq!(f.lseek(4, Whence::Set).unwrap(), 4);
    assert_eq!(f.lseek(2, Whence::Cur).unwrap(), 6);
    assert_eq!(f.lseek(-7, Whence::Cur).unwrap_err(), Errno::EINVAL);
    assert_eq!(f.position(), 6, "a failed seek leaves the offset");
    assert_eq!(f.lseek(-3, Whence::End).unwrap(), 7);
    assert_eq!(
        f.lseek(i64::MAX, Whence::Cur).unwrap_err(),
        Errno::EOVERFLOW
    );
    assert_eq!(f.lseek(3, Whence::Data).unwrap(), 3);
    assert_eq!(f.lseek(3, Whence::Hole).unwrap(), 10);
    assert_eq!(f.lseek(10, Whence::Data).unwrap_err(), Errno::ENXIO);
    // An empty write past the end does not extend the file.
    f.pwrite(b"", 100).unwrap();
    assert_eq!(f.stat().unwrap().size, 10);
    // Past the end, a write leaves a zero-filled gap.
    f.lseek(12, Whence::Set).unwrap();
    f.write(b"x").unwrap();
    assert_eq!(read_all(&t, b"f"), b"0123456789\0\0x");
}

#[test]
fn ftruncate_needs_write_access() {
    let t = fs();
    create(&t, b"f", b"0123456789");
    let r = t.open(t.root(), b"f", O_RDONLY, 0).unwrap();
    assert_eq!(r.truncate(2).unwrap_err(), Errno::EINVAL);
    let w = t.open(t.root(), b"f", O_WRONLY, 0).unwrap();
    w.truncate(4).unwrap();
    assert_eq!(read_all(&t, b"f"), b"0123");
    w.truncate(6).unwrap();
    assert_eq!(read_all(&t, b"f"), b"0123\0\0");
    assert_eq!(w.truncate(-1).unwrap_err(), Errno::EINVAL);
    t.truncate(t.root(), b"f", 1).unwrap();
    assert_eq!(read_all(&t, b"f"), b"0");
}

#[test]
fn resolution_dots_slashes_and_relative() {
    let t = fs();
    let r = t.root();
    t.mkdir(r, b"a", 0o755).unwrap();
    t.mkdir(r, b"a/b", 0o755).unwrap();
    create(&t, b"a/b/f", b"x");
    assert!(t.stat(r, b"//a///b/./../b//f", true).is_ok());
    assert!(
        t.stat(r, b"/../../a/b/f", true).is_ok(),
        "root's .. is root"
    );
    let b = t.lookup_dir(r, b"a/b").unwrap();
    assert!(t.stat(b, b"f", true).is_ok());
    assert!(t.stat(b, b"../b/f", true).is_ok());
    assert!(
        t.stat(b, b"/a/b/f", true).is_ok(),
        "absolute ignores the start"
    );
    assert_eq!(t.lookup_dir(r, b"a/b/f").unwrap_err(), Errno::ENOTDIR);
    let name = [b'n'; 256];
    assert_eq!(t.stat(r, &name, true).unwrap_err(), Errno::ENAMETOOLONG);
    assert_eq!(
        t.open(r, &name, O_CREAT | O_RDWR, 0).unwrap_err(),
        Errno::ENAMETOOLONG
    );
    create(&t, &[b'n'; 255], b"");
    // dirfd from an open directory.
    let d = t.open(r, b"a", O_RDONLY | O_DIRECTORY, 0).unwrap();
    assert_eq!(t.dir_of(&d).unwrap(), t.lookup_dir(r, b"a").unwrap());
    let f = t.open(r, b"a/b/f", O_RDONLY, 0).unwrap();
    assert_eq!(t.dir_of(&f).unwrap_err(), Errno::ENOTDIR);
}

#[test]
fn symlinks_and_eloop() {
    let t = fs();
    let r = t.root();
    t.mkdir(r, b"dir", 0o755).unwrap();
    create(&t, b"dir/file", b"data");
    t.symlink(b"dir/file", r, b"abs").unwrap();
    t.symlink(b"file", r, b"dir/rel").unwrap();
    t.symlink(b"/dir", r, b"dirlink").unwrap();
    assert_eq!(read_all(&t, b"abs"), b"data");
    assert_eq!(read_all(&t, b"dir/rel"), b"data");
    assert_eq!(read_all(&t, b"dirlink/rel"), b"data");
    let st = t.stat(r, b"abs", false).unwrap();
    assert_eq!(st.mode, S_IFLNK | 0o777);
    assert_eq!(st.size, 8);
    let mut buf = [0u8; 64];
    assert_eq!(t.readlink(r, b"abs", &mut buf).unwrap(), 8);
    assert_eq!(&buf[..8], b"dir/file");
    assert_eq!(
        t.readlink(r, b"dir/file", &mut buf).unwrap_err(),
        Errno::EINVAL
    );
    assert_eq!(
        t.open(r, b"abs", O_RDONLY | O_NOFOLLOW, 0).unwrap_err(),
        Errno::ELOOP
    );
    let p = t.open(r, b"abs", O_PATH | O_NOFOLLOW, 0).unwrap();
    assert_eq!(p.stat().unwrap().mode & S_IFMT, S_IFLNK);
    assert_eq!(p.read(&mut buf).unwrap_err(), Errno::EBADF);
    // A trailing slash on a symlink to a file is ENOTDIR, even through open's own following.
    assert_eq!(t.open(r, b"abs/", O_RDONLY, 0).unwrap_err(), Errno::ENOTDIR);
    assert_eq!(t.stat(r, b"abs/", true).unwrap_err(), Errno::ENOTDIR);
    // Trailing slash follows a final symlink to a directory.
    assert!(t.lookup_dir(r, b"dirlink/").is_ok());
    // Loops.
    t.symlink(b"loop2", r, b"loop1").unwrap();
    t.symlink(b"loop1", r, b"loop2").unwrap();
    assert_eq!(t.stat(r, b"loop1", true).unwrap_err(), Errno::ELOOP);
    assert_eq!(
        t.open(r, b"loop1/x", O_RDONLY, 0).unwrap_err(),
        Errno::ELOOP
    );
    // A chain of exactly 40 resolves; 41 is ELOOP.
    create(&t, b"end", b"e");
    let mut prev = Vec::from(&b"end"[..]);
    for i in 0..41 {
        let name = alloc::format!("c{i}").into_bytes();
        t.symlink(&prev, r, &name).unwrap();
        prev = name;
    }
    assert!(t.stat(r, b"c39", true).is_ok());
    assert_eq!(t.stat(r, b"c40", true).unwrap_err(), Errno::ELOOP);
    // O_CREAT through a dangling symlink creates its target.
    t.symlink(b"/dir/made", r, b"dangling").unwrap();
    create(&t, b"dangling", b"m");
    assert_eq!(read_all(&t, b"dir/made"), b"m");
    assert_eq!(t.symlink(b"", r, b"empty").unwrap_err(), Errno::ENOENT);
    assert_eq!(t.symlink(b"x", r, b"abs").unwrap_err(), Errno::EEXIST);
}

#[test]
fn mkdir_rmdir_unlink_errnos() {
    let t = fs();
    let r = t.root();
    t.mkdir(r, b"d", 0o700).unwrap();
    assert_eq!(t.mkdir(r, b"d", 0o700).unwrap_err(), Errno::EEXIST);
    assert_eq!(t.mkdir(r, b"x/y", 0o700).unwrap_err(), Errno::ENOENT);
    assert_eq!(t.mkdir(r, b".", 0o700).unwrap_err(), Errno::EEXIST);
    t.mkdir(r, b"d/sub/", 0o700).unwrap();
    assert_eq!(t.stat(r, b"d", true).unwrap().nlink, 3);
    assert_eq!(t.stat(r, b"/", true).unwrap().nlink, 3);
    create(&t, b"d/sub/f", b"");
    assert_eq!(t.rmdir(r, b"d").unwrap_err(), Errno::ENOTEMPTY);
    assert_eq!(t.rmdir(r, b"d/sub/f").unwrap_err(), Errno::ENOTDIR);
    assert_eq!(t.rmdir(r, b"d/.").unwrap_err(), Errno::EINVAL);
    assert_eq!(t.rmdir(r, b"d/sub/..").unwrap_err(), Errno::ENOTEMPTY);
    assert_eq!(t.unlink(r, b"d/sub").unwrap_err(), Errno::EISDIR);
    assert_eq!(t.unlink(r, b"d/sub/f/").unwrap_err(), Errno::ENOTDIR);
    assert_eq!(t.unlink(r, b"d/nope").unwrap_err(), Errno::ENOENT);
    t.unlink(r, b"d/sub/f").unwrap();
    t.rmdir(r, b"d/sub/").unwrap();
    assert_eq!(t.stat(r, b"d", true).unwrap().nlink, 2);
    t.unlink_at(r, b"d", AT_REMOVEDIR).unwrap();
    assert_eq!(t.unlink_at(r, b"d", 0xdead).unwrap_err(), Errno::EINVAL);
    assert_eq!(t.stat(r, b"/", true).unwrap().nlink, 2);
}

#[test]
fn unlinked_open_file_lives_until_closed() {
    let t = fs();
    create(&t, b"tmp", b"still here");
    let f = t.open(t.root(), b"tmp", O_RDWR, 0).unwrap();
    t.unlink(t.root(), b"tmp").unwrap();
    assert_eq!(t.stat(t.root(), b"tmp", true).unwrap_err(), Errno::ENOENT);
    let mut buf = [0u8; 16];
    assert_eq!(f.read(&mut buf).unwrap(), 10);
    assert_eq!(f.stat().unwrap().nlink, 0);
    let used = t.usage().0;
    drop(f);
    assert!(t.usage().0 < used, "the inode is freed at last close");
}

#[test]
fn hard_links() {
    let t = fs();
    let r = t.root();
    create(&t, b"a", b"shared");
    t.link(r, b"a", r, b"b", false).unwrap();
    assert_eq!(t.stat(r, b"a", true).unwrap().nlink, 2);
    assert_eq!(
        t.stat(r, b"a", true).unwrap().ino,
        t.stat(r, b"b", true).unwrap().ino
    );
    t.unlink(r, b"a").unwrap();
    assert_eq!(read_all(&t, b"b"), b"shared");
    t.mkdir(r, b"d", 0o755).unwrap();
    assert_eq!(t.link(r, b"d", r, b"d2", false).unwrap_err(), Errno::EPERM);
    assert_eq!(t.link(r, b"b", r, b"d", false).unwrap_err(), Errno::EEXIST);
}

#[test]
fn rename_rules() {
    let t = fs();
    let r = t.root();
    create(&t, b"a", b"A");
    create(&t, b"b", b"B");
    t.rename(r, b"a", r, b"b").unwrap();
    assert_eq!(read_all(&t, b"b"), b"A", "rename replaces");
    assert_eq!(t.stat(r, b"a", true).unwrap_err(), Errno::ENOENT);
    t.rename(r, b"b", r, b"b").unwrap();
    t.mkdir(r, b"d", 0o755).unwrap();
    t.mkdir(r, b"d/e", 0o755).unwrap();
    t.mkdir(r, b"full", 0o755).unwrap();
    create(&t, b"full/x", b"");
    assert_eq!(t.rename(r, b"d", r, b"d/e/f").unwrap_err(), Errno::EINVAL);
    assert_eq!(t.rename(r, b"d", r, b"d/f").unwrap_err(), Errno::EINVAL);
    assert_eq!(t.rename(r, b"d", r, b"full").unwrap_err(), Errno::ENOTEMPTY);
    assert_eq!(t.rename(r, b"d", r, b"b").unwrap_err(), Errno::ENOTDIR);
    assert_eq!(t.rename(r, b"b", r, b"d").unwrap_err(), Errno::EISDIR);
    assert_eq!(t.rename(r, b"b/", r, b"c").unwrap_err(), Errno::ENOTDIR);
    assert_eq!(t.rename(r, b".", r, b"c").unwrap_err(), Errno::EBUSY);
    assert_eq!(t.rename(r, b"nope", r, b"c").unwrap_err(), Errno::ENOENT);
    // Moving a directory keeps its subdirectory links and updates both parents.
    t.mkdir(r, b"empty", 0o755).unwrap();
    t.rename(r, b"d", r, b"full/d").unwrap();
    assert_eq!(t.stat(r, b"full/d", true).unwrap().nlink, 3);
    assert_eq!(t.stat(r, b"full", true).unwrap().nlink, 3);
    assert!(t.stat(r, b"full/d/e/..", true).is_ok());
    assert_eq!(
        t.stat(r, b"full/d/..", true).unwrap().ino,
        t.stat(r, b"full", true).unwrap().ino
    );
    t.rename(r, b"full/d", r, b"empty").unwrap();
    assert_eq!(t.stat(r, b"empty", true).unwrap().nlink, 3);
    assert_eq!(t.stat(r, b"/", true).unwrap().nlink, 4);
}

#[test]
fn getdents64_lists_every_entry_once_even_in_small_buffers() {
    let t = fs();
    let r = t.root();
    t.mkdir(r, b"d", 0o755).unwrap();
    for i in 0..50 {
        create(&t, alloc::format!("d/file{i}").as_bytes(), b"");
    }
    t.mkdir(r, b"d/sub", 0o755).unwrap();
    t.symlink(b"x", r, b"d/ln").unwrap();
    for bufsize in [32, 64, 4096] {
        let names = list(&t, b"d", bufsize);
        assert_eq!(names.len(), 54);
        assert_eq!(names[0], (b".".to_vec(), DT_DIR));
        assert_eq!(names[1], (b"..".to_vec(), DT_DIR));
        assert!(names.contains(&(b"file49".to_vec(), DT_REG)));
        assert!(names.contains(&(b"sub".to_vec(), DT_DIR)));
        assert!(names.contains(&(b"ln".to_vec(), DT_LNK)));
    }
    let f = t.open(r, b"d", O_RDONLY, 0).unwrap();
    assert_eq!(f.getdents64(&mut [0u8; 20]).unwrap_err(), Errno::EINVAL);
    let reg = t.open(r, b"d/file1", O_RDONLY, 0).unwrap();
    assert_eq!(reg.getdents64(&mut [0u8; 64]).unwrap_err(), Errno::ENOTDIR);
    // Removing entries during a listing neither repeats nor skips survivors.
    let f = t.open(r, b"d", O_RDONLY, 0).unwrap();
    let mut buf = [0u8; 96];
    let n = f.getdents64(&mut buf).unwrap();
    assert!(n > 0);
    for i in 10..20 {
        t.unlink(r, alloc::format!("d/file{i}").as_bytes()).unwrap();
    }
    let rest = list(&t, b"d", 4096);
    assert_eq!(rest.len(), 44);
    // Rewind with lseek(0).
    f.lseek(0, Whence::Set).unwrap();
    assert_eq!(f.getdents64(&mut buf).unwrap(), n);
}

#[test]
fn budget_gives_enospc_and_is_refunded() {
    let t = Tmpfs::new(64 * 1024, Arc::new(FixedClock::default())).unwrap();
    let r = t.root();
    let f = t.open(r, b"big", O_CREAT | O_RDWR, 0o644).unwrap();
    let chunk = [7u8; 4096];
    let mut written = 0;
    let err = loop {
        match f.write(&chunk) {
            Ok(n) => written += n,
            Err(e) => break e,
        }
    };
    assert_eq!(f.stat().unwrap().size as usize, written);
    assert_eq!(err, Errno::ENOSPC);
    assert!(written > 32 * 1024 && written < 64 * 1024);
    let (used, budget) = t.usage();
    assert_eq!(used, budget, "the last write was short, filling the budget");
    assert_eq!(f.write(b"z").unwrap_err(), Errno::ENOSPC);
    assert_eq!(
        t.mkdir(r, &[b'd'; 255], 0o755).map(drop),
        Err(Errno::ENOSPC)
    );
    // A huge offset cannot allocate either.
    assert_eq!(f.pwrite(b"x", 1 << 40).unwrap_err(), Errno::ENOSPC);
    assert_eq!(f.pwrite(b"x", i64::MAX).unwrap_err(), Errno::EFBIG);
    assert_eq!(f.truncate(1 << 50).unwrap_err(), Errno::ENOSPC);
    f.truncate(0).unwrap();
    drop(f);
    t.unlink(r, b"big").unwrap();
    assert!(
        t.usage().0 <= INODE_COST,
        "everything but the root is refunded"
    );
    // Many small files run out too, never panicking.
    let mut i = 0u32;
    let err = loop {
        match t.open(
            r,
            alloc::format!("f{i}").as_bytes(),
            O_CREAT | O_RDWR,
            0o644,
        ) {
            Ok(_) => i += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err, Errno::ENOSPC);
    assert!(i > 100);
}

#[test]
fn o_path_and_o_tmpfile() {
    let t = fs();
    create(&t, b"f", b"x");
    let p = t
        .open(t.root(), b"f", O_PATH | O_RDWR | O_TRUNC, 0)
        .unwrap();
    assert_eq!(
        t.stat(t.root(), b"f", true).unwrap().size,
        1,
        "O_PATH ignores O_TRUNC"
    );
    assert_eq!(p.write(b"y").unwrap_err(), Errno::EBADF);
    assert_eq!(p.lseek(0, Whence::Set).unwrap_err(), Errno::EBADF);
    assert!(p.stat().is_ok());
    assert_eq!(
        t.open(t.root(), b"/", O_TMPFILE | O_RDWR, 0o600)
            .unwrap_err(),
        Errno::EOPNOTSUPP
    );
}

#[test]
fn chmod_and_stat_at_flags() {
    let t = fs();
    create(&t, b"f", b"");
    t.chmod(t.root(), b"f", 0o4711).unwrap();
    assert_eq!(t.stat(t.root(), b"f", true).unwrap().mode, S_IFREG | 0o4711);
    t.symlink(b"f", t.root(), b"l").unwrap();
    let st = t.stat_at(t.root(), b"l", AT_SYMLINK_NOFOLLOW).unwrap();
    assert_eq!(st.mode & S_IFMT, S_IFLNK);
    let st = t.stat_at(t.root(), b"", AT_EMPTY_PATH).unwrap();
    assert_eq!(st.ino, ROOT_INO);
    assert_eq!(t.stat_at(t.root(), b"", 0).unwrap_err(), Errno::ENOENT);
    assert_eq!(t.stat_at(t.root(), b"f", 1).unwrap_err(), Errno::EINVAL);
}

#[test]
fn removed_cwd_held_open_answers_like_linux() {
    let t = fs();
    let r = t.root();
    t.mkdir(r, b"gone", 0o755).unwrap();
    let cwd_file = t.open(r, b"gone", O_PATH | O_DIRECTORY, 0).unwrap();
    let cwd = t.dir_of(&cwd_file).unwrap();
    t.rmdir(r, b"gone").unwrap();
    assert_eq!(t.stat(cwd, b".", true).unwrap().nlink, 0);
    assert_eq!(
        t.open(cwd, b"new", O_CREAT | O_RDWR, 0o644).unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(t.mkdir(cwd, b"d", 0o755).unwrap_err(), Errno::ENOENT);
    assert_eq!(t.stat(cwd, b"..", true).unwrap().ino, ROOT_INO);
    drop(cwd_file);
    assert_eq!(t.stat(cwd, b".", true).unwrap_err(), Errno::ENOENT);
}
