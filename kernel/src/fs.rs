//! The file tree programs will see: one tmpfs (the `vfs` crate) as the root, filled at boot
//! from the initramfs QEMU passes with `-initrd` (cpio newc, plain or gzip; Linux's
//! `populate_rootfs`). The archive's frames were kept out of the allocator from the start
//! (`mem::reserve`). The regular files of an uncompressed archive stay in those frames (no
//! copy: unpacking takes the time to read the headers, not to copy megabytes of programs, and
//! the files never take their RAM twice); a compressed archive is inflated and copied out,
//! and its frames are handed back.
//!
//! Owns the root filesystem. Bounded: the tree may hold at most [`TMPFS_SHARE`]⁻¹ of the RAM
//! free at boot (writes beyond it are ENOSPC), and a compressed archive may inflate to no more
//! than that either. A malformed archive is reported and what came before it stays; it never
//! stops the boot.

use alloc::sync::Arc;

use spin::Once;
use vfs::initramfs::unpack_initramfs_in_place;
use vfs::{Clock, Timespec, Tmpfs};

use crate::mem::{self, frames::FRAME_SIZE};

/// The tree may take 1/TMPFS_SHARE of the frames free when it is made: half, Linux's default
/// `size=` for a tmpfs. The initramfs's own frames are not counted as free yet and are handed
/// back once it is unpacked, so the tree replaces them rather than adding to them.
pub const TMPFS_SHARE: usize = 2;

static ROOT: Once<Tmpfs> = Once::new();

/// File times: seconds since boot until the kernel reads a real-time clock.
struct SinceBoot;

impl Clock for SinceBoot {
    fn now(&self) -> Timespec {
        let ns = crate::time::now().as_nanos();
        Timespec::new((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
    }
}

/// Makes the root tmpfs and unpacks the initramfs at `initrd` (physical address, length)
/// into it, then frees the archive's frames. Prints `rinet: initramfs N files, N directories,
/// N symlinks (N KiB)` when there was one. Then /etc, /tmp and /dev ([`crate::etc`]) for what
/// the archive did not bring; device nodes open through [`crate::files::devices`].
pub fn init(initrd: Option<(u64, u64)>) {
    let budget = mem::free_frame_count() * FRAME_SIZE as usize / TMPFS_SHARE;
    let fs = match Tmpfs::new(budget, Arc::new(SinceBoot)) {
        Ok(fs) => ROOT.call_once(|| fs),
        Err(e) => {
            log::error!("fs: cannot make the root tmpfs: {e:?}");
            return;
        }
    };
    fs.set_char_devices(Arc::new(crate::files::devices::DeviceTable));
    if let Some((paddr, len)) = initrd {
        unpack(fs, paddr, len, budget);
    }
    crate::etc::init(fs, crate::cmdline::boot_config().and_then(|c| c.nameserver));
    // The mount point of procfs (`crate::procfs`), so `ls /` shows it; paths under it never
    // reach the tree.
    if fs.stat(fs.root(), b"/proc", false).is_err() {
        if let Err(e) = fs.mkdir(fs.root(), b"/proc", 0o555) {
            log::warn!("fs: no /proc mount point: {e:?}");
        }
    }
}

/// Unpacks the archive at `paddr`+`len` into `fs`; frees its frames when no file lives in
/// them (a compressed archive), keeps them otherwise (for good: files point into them).
fn unpack(fs: &Tmpfs, paddr: u64, len: u64, budget: usize) {
    let Some(image) = mem::boot_module(paddr, len) else {
        log::error!("initramfs: at {paddr:#x}+{len:#x}, outside RAM we can read; ignored");
        return;
    };
    let in_use = match unpack_initramfs_in_place(fs, image, budget) {
        Ok(r) => {
            crate::marker!(
                "rinet: initramfs {} files, {} directories, {} symlinks, {} skipped ({} KiB)",
                r.files,
                r.dirs,
                r.symlinks,
                r.skipped,
                len / 1024
            );
            r.borrowed_bytes > 0
        }
        Err(e) => {
            log::error!("initramfs: {e:?}; what came before it was unpacked");
            // Files unpacked before the error may live in the archive.
            true
        }
    };
    if !in_use {
        release(paddr, len);
    }
}

fn release(paddr: u64, len: u64) {
    let first = paddr / FRAME_SIZE;
    let end = paddr.saturating_add(len).div_ceil(FRAME_SIZE);
    if let Err(e) = mem::free_frames(first * FRAME_SIZE, (end - first) as usize) {
        log::warn!("initramfs: its {} frames stay reserved: {e}", end - first);
    }
}

/// The root filesystem (after [`init`]).
pub fn root() -> Option<&'static Tmpfs> {
    ROOT.get()
}
