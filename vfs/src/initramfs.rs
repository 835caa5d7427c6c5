//! Unpacking an initramfs image into a [`Tmpfs`], as Linux's `populate_rootfs` does: cpio
//! "newc"/"crc" archives, possibly gzip-compressed, possibly several concatenated with zero
//! padding between them; later members replace earlier ones.
//!
//! Owns the mapping from members to the tree: directories, regular files (hard links through
//! shared `ino` when `nlink` ≥ 2, the data written once into the shared inode), symlinks, modes,
//! owners and mtimes (a directory's mtime is applied last, since filling it changes it). Names
//! resolve from the root of the tmpfs, whose `..` is itself, so `../../x` lands at `/x`: no
//! member can reach outside the tree, and a symlink in the archive is never followed for the
//! member's own last component. Character device nodes keep their number (what opening one
//! gives is the kernel's, see [`crate::tmpfs::CharDevices`]); block devices, FIFOs and sockets
//! are skipped (counted). It must never panic on the image: a malformed header stops the
//! unpack with an error naming its offset (what was unpacked before stays), and decompressed
//! output is bounded by the caller's limit.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::cpio::{self, CpioError, CpioMember};
use crate::errno::Errno;
use crate::flags::{
    O_CREAT, O_NOFOLLOW, O_TRUNC, O_WRONLY, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
};
use crate::gzip::{self, GzipError, GZIP_MAGIC};
use crate::stat::DevId;
use crate::time::Timespec;
use crate::tmpfs::Tmpfs;

/// What an unpack created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InitramfsReport {
    pub files: usize,
    pub dirs: usize,
    pub symlinks: usize,
    pub hard_links: usize,
    /// Character device nodes.
    pub char_devices: usize,
    /// Members not created: block devices, FIFOs, sockets, empty names, or names whose parent
    /// is missing or not a directory (Linux skips those too).
    pub skipped: usize,
    /// Bytes of regular files left in the archive's own memory ([`unpack_initramfs_in_place`]):
    /// when not zero, the archive must stay.
    pub borrowed_bytes: usize,
}

/// Why an unpack stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitramfsError {
    /// A malformed cpio member (offsets inside decompressed data count from its start).
    Cpio(CpioError),
    /// A gzip member at `offset` that could not be inflated.
    Gzip { offset: usize, error: GzipError },
    /// A compressed image inside a compressed image (Linux does not accept that either).
    NestedCompression { offset: usize },
    /// Bytes at `offset` that are neither a cpio archive, gzip, nor zero padding.
    UnknownFormat { offset: usize },
    /// The tmpfs budget (or memory) ran out at the member at `offset`.
    NoSpace { offset: usize },
}

impl From<CpioError> for InitramfsError {
    fn from(e: CpioError) -> Self {
        InitramfsError::Cpio(e)
    }
}

/// Unpack `image` into `fs`. `max_decompressed` bounds the bytes all gzip members may inflate
/// to, together.
pub fn unpack_initramfs(
    fs: &Tmpfs,
    image: &[u8],
    max_decompressed: usize,
) -> Result<InitramfsReport, InitramfsError> {
    unpack(fs, image, None, max_decompressed)
}

/// [`unpack_initramfs`] of an archive that stays in memory for good: the regular files of
/// its uncompressed archives keep their bytes where they are (no copy; the report's
/// `borrowed_bytes` says how many); those of gzip members are copied out as usual.
pub fn unpack_initramfs_in_place(
    fs: &Tmpfs,
    image: &'static [u8],
    max_decompressed: usize,
) -> Result<InitramfsReport, InitramfsError> {
    unpack(fs, image, Some(image), max_decompressed)
}

fn unpack(
    fs: &Tmpfs,
    image: &[u8],
    lasting: Option<&'static [u8]>,
    max_decompressed: usize,
) -> Result<InitramfsReport, InitramfsError> {
    let mut u = Unpacker {
        fs,
        report: InitramfsReport::default(),
        links: BTreeMap::new(),
        dir_times: Vec::new(),
        inflate_budget: max_decompressed,
        lasting,
    };
    let result = u.stream(image, true);
    // Directory times last, whatever happened, so what was unpacked looks as archived.
    for (path, mtime) in core::mem::take(&mut u.dir_times) {
        let _ = fs.set_mtime(&path, mtime);
    }
    result.map(|()| u.report)
}

/// Key identifying one inode across hard-linked members (Linux's `find_link` key).
type LinkKey = (u32, u32, u32, u32);

struct Unpacker<'a> {
    fs: &'a Tmpfs,
    report: InitramfsReport,
    links: BTreeMap<LinkKey, Vec<u8>>,
    dir_times: Vec<(Vec<u8>, Timespec)>,
    inflate_budget: usize,
    /// The whole image when it stays in memory for good ([`unpack_initramfs_in_place`]).
    lasting: Option<&'static [u8]>,
}

fn fatal(e: Errno, offset: usize) -> Option<InitramfsError> {
    matches!(e, Errno::ENOSPC | Errno::ENOMEM).then_some(InitramfsError::NoSpace { offset })
}

impl Unpacker<'_> {
    /// A sequence of archives, zero padding and (at the top level) gzip members.
    fn stream(&mut self, input: &[u8], top_level: bool) -> Result<(), InitramfsError> {
        let mut pos = 0;
        while let Some(rest) = input.get(pos..).filter(|r| !r.is_empty()) {
            if rest[0] == 0 {
                pos += rest.iter().take_while(|&&b| b == 0).count();
            } else if cpio::starts_with_magic(rest) {
                pos = self.archive(input, pos)?;
            } else if rest.starts_with(&GZIP_MAGIC) {
                if !top_level {
                    return Err(InitramfsError::NestedCompression { offset: pos });
                }
                let (out, used) = gzip::gunzip(rest, self.inflate_budget)
                    .map_err(|error| InitramfsError::Gzip { offset: pos, error })?;
                self.inflate_budget -= out.len();
                self.stream(&out, false)?;
                pos += used;
            } else {
                return Err(InitramfsError::UnknownFormat { offset: pos });
            }
        }
        Ok(())
    }

    /// Members from `pos` up to and including the trailer (or the end of the input).
    fn archive(&mut self, input: &[u8], mut pos: usize) -> Result<usize, InitramfsError> {
        while pos < input.len() {
            let (member, next) = cpio::parse_member(input, pos)?;
            pos = next;
            if member.is_trailer() {
                // Hard links never span archives (Linux forgets them at the trailer).
                self.links.clear();
                break;
            }
            self.apply(&member)?;
        }
        Ok(pos)
    }

    fn apply(&mut self, m: &CpioMember<'_>) -> Result<(), InitramfsError> {
        if m.name.is_empty() {
            self.report.skipped += 1;
            return Ok(());
        }
        let result = match m.mode & S_IFMT {
            S_IFDIR => self.directory(m),
            S_IFREG => self.regular(m),
            S_IFLNK => self.symlink(m),
            S_IFCHR => self.char_device(m),
            _ => Err(Errno::EOPNOTSUPP),
        };
        match result {
            Ok(()) => {
                let mtime = Timespec::new(i64::from(m.mtime), 0);
                let root = self.fs.root();
                let _ = self
                    .fs
                    .set_owner_and_mtime(root, m.name, m.uid, m.gid, mtime);
                Ok(())
            }
            Err(e) => match fatal(e, m.offset) {
                Some(err) => Err(err),
                None => {
                    self.report.skipped += 1;
                    Ok(())
                }
            },
        }
    }

    /// Remove what `name` holds if it is of another type than `mode` (Linux's `clean_path`).
    fn clear_other_type(&self, name: &[u8], mode: u32) {
        let root = self.fs.root();
        if let Ok(st) = self.fs.stat(root, name, false) {
            if st.mode & S_IFMT != mode & S_IFMT {
                let _ = if st.mode & S_IFMT == S_IFDIR {
                    self.fs.rmdir(root, name)
                } else {
                    self.fs.unlink(root, name)
                };
            }
        }
    }

    fn directory(&mut self, m: &CpioMember<'_>) -> Result<(), Errno> {
        let root = self.fs.root();
        self.clear_other_type(m.name, m.mode);
        match self.fs.mkdir(root, m.name, m.mode & 0o7777) {
            Ok(_) => {}
            Err(Errno::EEXIST) => self.fs.chmod(root, m.name, m.mode & 0o7777)?,
            Err(e) => return Err(e),
        }
        self.dir_times.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        let path = crate::tmpfs::copy_name(m.name)?;
        self.dir_times
            .push((path, Timespec::new(i64::from(m.mtime), 0)));
        self.report.dirs += 1;
        Ok(())
    }

    fn regular(&mut self, m: &CpioMember<'_>) -> Result<(), Errno> {
        let root = self.fs.root();
        self.clear_other_type(m.name, m.mode);
        let mut linked = false;
        if m.nlink >= 2 {
            let key = (m.ino, m.dev_major, m.dev_minor, m.mode);
            if let Some(first) = self.links.get(&key) {
                if first.as_slice() != m.name {
                    let _ = self.fs.unlink(root, m.name);
                    self.fs.link(root, first, root, m.name, false)?;
                    linked = true;
                    self.report.hard_links += 1;
                }
            } else {
                let name = crate::tmpfs::copy_name(m.name)?;
                self.links.insert(key, name);
            }
        }
        let flags = O_WRONLY | O_CREAT | O_NOFOLLOW | if linked { 0 } else { O_TRUNC };
        let file = self.fs.open(root, m.name, flags, m.mode & 0o7777)?;
        if let Some(data) = self
            .lasting_part(m.data)
            .filter(|d| !linked && !d.is_empty())
        {
            self.fs.fill_borrowed(&file, data)?;
            self.report.borrowed_bytes += data.len();
            drop(file);
            self.fs.chmod(root, m.name, m.mode & 0o7777)?;
            self.report.files += 1;
            return Ok(());
        }
        let mut written = 0;
        while let Some(rest) = m.data.get(written..).filter(|r| !r.is_empty()) {
            match file.write(rest)? {
                0 => return Err(Errno::EIO),
                n => written += n,
            }
        }
        drop(file);
        self.fs.chmod(root, m.name, m.mode & 0o7777)?;
        if !linked {
            self.report.files += 1;
        }
        Ok(())
    }

    /// `data` as a part of the lasting image, when it is one (a member of an uncompressed
    /// archive of it; never bytes inflated from a gzip member).
    fn lasting_part(&self, data: &[u8]) -> Option<&'static [u8]> {
        let image = self.lasting?;
        let start = (data.as_ptr() as usize).checked_sub(image.as_ptr() as usize)?;
        let part = image.get(start..start.checked_add(data.len())?)?;
        core::ptr::eq(part.as_ptr(), data.as_ptr()).then_some(part)
    }

    fn symlink(&mut self, m: &CpioMember<'_>) -> Result<(), Errno> {
        let root = self.fs.root();
        self.clear_other_type(m.name, m.mode);
        // An older symlink of the same name is replaced.
        let _ = self.fs.unlink(root, m.name);
        self.fs.symlink(m.data, root, m.name)?;
        self.report.symlinks += 1;
        Ok(())
    }

    fn char_device(&mut self, m: &CpioMember<'_>) -> Result<(), Errno> {
        let root = self.fs.root();
        self.clear_other_type(m.name, m.mode);
        // An older node of the same name is replaced.
        let _ = self.fs.unlink(root, m.name);
        let rdev = DevId {
            major: m.rdev_major,
            minor: m.rdev_minor,
        };
        self.fs
            .make_char_device(root, m.name, m.mode & 0o7777, rdev)?;
        self.report.char_devices += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
