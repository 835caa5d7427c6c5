//! initramfs tests: what an image creates, hard links, concatenation and compression, type
//! replacement, traversal, and hostile images.

use super::*;
use crate::cpio::tests::{member, trailer};
use crate::flags::{O_RDONLY, O_TRUNC, O_WRONLY, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG};
use crate::gzip::tests::gzip;
use crate::time::FixedClock;
use alloc::format;
use alloc::sync::Arc;
use alloc::vec;

const LIMIT: usize = 16 << 20;

fn fs() -> Tmpfs {
    Tmpfs::new(8 << 20, Arc::new(FixedClock::default())).unwrap()
}

fn archive(members: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = members.concat();
    out.extend(trailer());
    out
}

fn read(fs: &Tmpfs, path: &[u8]) -> Vec<u8> {
    let f = fs.open(fs.root(), path, O_RDONLY, 0).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let n = f.read(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// `member` with the device number `rdev_major:rdev_minor` in its header.
fn with_rdev(mut member: Vec<u8>, rdev_major: u32, rdev_minor: u32) -> Vec<u8> {
    // The magic (6 bytes), then 8 hex digits per field; c_rdevmajor is the tenth field.
    const RDEV_MAJOR_AT: usize = 6 + 9 * 8;
    let digits = format!("{rdev_major:08x}{rdev_minor:08x}");
    member[RDEV_MAJOR_AT..RDEV_MAJOR_AT + 16].copy_from_slice(digits.as_bytes());
    member
}

fn sample() -> Vec<u8> {
    archive(&[
        member(b".", 0o040755, 1, 2, b""),
        member(b"bin", 0o040755, 2, 2, b""),
        member(b"bin/init", 0o100755, 3, 1, b"\x7fELF..."),
        member(b"./etc", 0o040700, 4, 2, b""),
        member(b"/etc/hostname", 0o100644, 5, 1, b"rinet\n"),
        member(b"bin/sh", 0o120777, 6, 1, b"init"),
        member(b"dev", 0o040755, 7, 2, b""),
        with_rdev(member(b"dev/console", 0o020600, 8, 1, b""), 5, 1),
        with_rdev(member(b"dev/sda", 0o060660, 9, 1, b""), 8, 0),
    ])
}

#[test]
fn unpacks_files_dirs_symlinks_with_modes_owners_and_times() {
    let t = fs();
    let r = unpack_initramfs(&t, &sample(), LIMIT).unwrap();
    assert_eq!(
        r,
        InitramfsReport {
            files: 2,
            dirs: 4,
            symlinks: 1,
            hard_links: 0,
            char_devices: 1,
            skipped: 1,
            borrowed_bytes: 0,
        }
    );
    assert_eq!(read(&t, b"/bin/sh"), b"\x7fELF...");
    assert_eq!(read(&t, b"etc/hostname"), b"rinet\n");
    let st = t.stat(t.root(), b"bin/init", true).unwrap();
    assert_eq!(st.mode, S_IFREG | 0o755);
    assert_eq!((st.uid, st.gid), (1000, 100));
    assert_eq!(st.mtime, Timespec::new(1_600_000_000, 0));
    assert_eq!(
        t.stat(t.root(), b"etc", true).unwrap().mode,
        S_IFDIR | 0o700
    );
    assert_eq!(
        t.stat(t.root(), b"etc", true).unwrap().mtime,
        Timespec::new(1_600_000_000, 0),
        "directory times are applied after their contents"
    );
    assert_eq!(
        t.stat(t.root(), b"bin/sh", false).unwrap().mode,
        S_IFLNK | 0o777
    );
    let console = t.stat(t.root(), b"dev/console", false).unwrap();
    assert_eq!(console.mode, S_IFCHR | 0o600);
    assert_eq!(console.rdev, DevId { major: 5, minor: 1 });
    assert_eq!(
        t.stat(t.root(), b"dev/sda", false).unwrap_err(),
        Errno::ENOENT,
        "block devices are skipped"
    );
}

#[test]
fn hard_links_share_the_inode_and_its_data() {
    let t = fs();
    let img = archive(&[
        member(b"a", 0o100644, 42, 2, b""),
        member(b"b", 0o100644, 42, 2, b"shared data"),
    ]);
    let r = unpack_initramfs(&t, &img, LIMIT).unwrap();
    assert_eq!((r.files, r.hard_links), (1, 1));
    assert_eq!(read(&t, b"a"), b"shared data");
    let (a, b) = (
        t.stat(t.root(), b"a", true).unwrap(),
        t.stat(t.root(), b"b", true).unwrap(),
    );
    assert_eq!(a.ino, b.ino);
    assert_eq!(a.nlink, 2);
}

#[test]
fn in_place_files_live_in_the_image_until_written() {
    let t = fs();
    let mut img = archive(&[
        member(b"bin", 0o040755, 1, 2, b""),
        member(b"bin/prog", 0o100755, 2, 1, b"\x7fELF program bytes"),
        member(b"etc", 0o040755, 3, 2, b""),
        member(b"etc/conf", 0o100644, 4, 1, b"key=value\n"),
        member(b"etc/empty", 0o100644, 5, 1, b""),
    ]);
    img.extend(gzip(&archive(&[member(
        b"etc/zipped",
        0o100644,
        6,
        1,
        b"inflated",
    )])));
    let image: &'static [u8] = Vec::leak(img);
    let before = image.to_vec();
    let r = unpack_initramfs_in_place(&t, image, LIMIT).unwrap();
    assert_eq!(r.files, 4);
    // The two non-empty files of the plain archive; the gzip member's file was copied out.
    assert_eq!(r.borrowed_bytes, 18 + 10);
    assert_eq!(read(&t, b"bin/prog"), b"\x7fELF program bytes");
    assert_eq!(read(&t, b"etc/zipped"), b"inflated");
    assert_eq!(read(&t, b"etc/empty"), b"");
    let st = t.stat(t.root(), b"bin/prog", true).unwrap();
    assert_eq!((st.size, st.mode), (18, S_IFREG | 0o755));
    // A write copies the file first: the image keeps its bytes.
    let f = t.open(t.root(), b"etc/conf", O_WRONLY, 0).unwrap();
    assert_eq!(f.write(b"KEY").unwrap(), 3);
    drop(f);
    assert_eq!(read(&t, b"etc/conf"), b"KEY=value\n");
    t.open(t.root(), b"bin/prog", O_WRONLY | O_TRUNC, 0)
        .unwrap();
    assert_eq!(read(&t, b"bin/prog"), b"");
    assert_eq!(image, &before[..], "the archive itself is never written");
}

#[test]
fn concatenated_padded_and_compressed_archives_later_wins() {
    let t = fs();
    let mut img = archive(&[
        member(b"f", 0o100644, 1, 1, b"first"),
        member(b"d", 0o040755, 2, 2, b""),
    ]);
    img.extend_from_slice(&[0u8; 512]);
    img.extend(archive(&[member(b"f", 0o100600, 1, 1, b"second")]));
    img.extend(gzip(&archive(&[
        member(b"d/g", 0o100644, 1, 1, b"from gzip"),
        member(b"d", 0o100644, 9, 1, b"not replaced: not empty"),
    ])));
    img.extend_from_slice(&[0u8; 3]);
    let r = unpack_initramfs(&t, &img, LIMIT).unwrap();
    assert_eq!(read(&t, b"f"), b"second");
    assert_eq!(t.stat(t.root(), b"f", true).unwrap().mode, S_IFREG | 0o600);
    assert_eq!(read(&t, b"d/g"), b"from gzip");
    assert_eq!(r.skipped, 1);
    // A whole gzip-compressed image, too.
    let t = fs();
    unpack_initramfs(&t, &gzip(&sample()), LIMIT).unwrap();
    assert_eq!(read(&t, b"etc/hostname"), b"rinet\n");
}

#[test]
fn replacing_types_and_symlinks_are_not_followed_for_the_last_name() {
    let t = fs();
    t.mkdir(t.root(), b"secret", 0o700).unwrap();
    let img = archive(&[
        member(b"x", 0o120777, 1, 1, b"/secret/owned"),
        member(b"x", 0o100644, 2, 1, b"plain file"),
        member(b"y", 0o100644, 3, 1, b"file"),
        member(b"y", 0o040755, 4, 2, b""),
    ]);
    unpack_initramfs(&t, &img, LIMIT).unwrap();
    assert_eq!(read(&t, b"x"), b"plain file");
    assert_eq!(
        t.stat(t.root(), b"secret/owned", true).unwrap_err(),
        Errno::ENOENT
    );
    assert_eq!(t.stat(t.root(), b"y", true).unwrap().mode & S_IFMT, S_IFDIR);
}

#[test]
fn traversal_stays_inside_the_tree() {
    let t = fs();
    let img = archive(&[
        member(b"../../x", 0o100644, 1, 1, b"x"),
        member(b"a/../../../../y", 0o100644, 2, 1, b"y"),
        member(b"/../z", 0o040755, 3, 2, b""),
    ]);
    let r = unpack_initramfs(&t, &img, LIMIT).unwrap();
    assert_eq!(read(&t, b"/x"), b"x");
    assert_eq!(r.skipped, 1, "a/.. needs a to exist, as in Linux");
    assert!(t.lookup_dir(t.root(), b"/z").is_ok());
}

#[test]
fn hostile_images_are_errors_not_panics() {
    let good = sample();
    // Truncated at every length: an error or a partial unpack, never a panic.
    for cut in 0..good.len() {
        let t = fs();
        let _ = unpack_initramfs(&t, &good[..cut], LIMIT);
    }
    let t = fs();
    assert!(matches!(
        unpack_initramfs(&t, &good[..200], LIMIT),
        Err(InitramfsError::Cpio(CpioError::Truncated { .. }))
    ));
    let mut absurd = member(b"big", 0o100644, 1, 1, b"");
    absurd[6 + 8 * 6..6 + 8 * 7].copy_from_slice(b"7FFFFFFF");
    assert!(matches!(
        unpack_initramfs(&fs(), &absurd, LIMIT),
        Err(InitramfsError::Cpio(CpioError::Truncated { offset: 0 }))
    ));
    let mut no_nul = member(b"name", 0o100644, 1, 1, b"");
    no_nul[110 + 4] = b'!';
    assert!(matches!(
        unpack_initramfs(&fs(), &no_nul, LIMIT),
        Err(InitramfsError::Cpio(CpioError::NameNotTerminated { .. }))
    ));
    assert_eq!(
        unpack_initramfs(&fs(), b"\0\0\0\0junk", LIMIT).unwrap_err(),
        InitramfsError::UnknownFormat { offset: 4 }
    );
    let nested = gzip(&gzip(&good));
    assert_eq!(
        unpack_initramfs(&fs(), &nested, LIMIT).unwrap_err(),
        InitramfsError::NestedCompression { offset: 0 }
    );
    // A zip bomb stops at the bound.
    let bomb = gzip(&archive(&[member(
        b"zeros",
        0o100644,
        1,
        1,
        &vec![0u8; 4 << 20],
    )]));
    assert!(matches!(
        unpack_initramfs(&fs(), &bomb, 1 << 20),
        Err(InitramfsError::Gzip {
            error: GzipError::TooLarge,
            ..
        })
    ));
    // More data than the tmpfs budget: ENOSPC stops the unpack.
    let small = Tmpfs::new(64 * 1024, Arc::new(FixedClock::default())).unwrap();
    let big = archive(&[member(b"big", 0o100644, 1, 1, &vec![1u8; 100_000])]);
    assert!(matches!(
        unpack_initramfs(&small, &big, LIMIT),
        Err(InitramfsError::NoSpace { .. })
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Any corruption of a valid image unpacks or fails, never panics.
    #[test]
    fn corrupted_images_never_panic(flips in proptest::collection::vec((0usize..2000, proptest::prelude::any::<u8>()), 1..8)) {
        let mut img = sample();
        for (at, byte) in flips {
            let n = img.len();
            img[at % n] = byte;
        }
        let t = fs();
        let _ = unpack_initramfs(&t, &img, LIMIT);
        let _ = unpack_initramfs(&t, &gzip(&img), LIMIT);
    }
}
