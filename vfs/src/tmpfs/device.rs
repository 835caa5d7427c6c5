//! Character device nodes: an inode that carries a device number (major, minor) and no data,
//! as `mknod` makes it (Linux's `init_special_inode`). Opening one asks the device table the
//! kernel registered ([`CharDevices`], the role of Linux's `chrdev_open` over `cdev_map`) for
//! the operations of that number; the open file, a [`DeviceFile`], reads, writes, seeks and
//! polls through them and answers `fstat` from the inode, which it keeps alive while open.
//!
//! Owns only that binding: what a device does is the kernel's (`vfs` has no devices of its
//! own). It must never call into a device while holding the file-system lock, so a device may
//! itself use the tree.

use alloc::sync::Arc;
use core::any::Any;

use super::TmpfsFile;
use crate::errno::Errno;
use crate::file::{FileOps, IoctlReply};
use crate::flags::Whence;
use crate::stat::{DevId, Stat};

/// The character devices a kernel offers, by number.
pub trait CharDevices: Send + Sync {
    /// The operations of a new open file on device `rdev` (`ENXIO` when no device has that
    /// number, as Linux answers for a node without a driver).
    fn open(&self, rdev: DevId) -> Result<Arc<dyn FileOps>, Errno>;
}

/// An open character device: the device's operations, and the node it was opened through.
pub struct DeviceFile {
    node: TmpfsFile,
    rdev: DevId,
    device: Arc<dyn FileOps>,
}

impl DeviceFile {
    pub(super) fn new(node: TmpfsFile, rdev: DevId, device: Arc<dyn FileOps>) -> DeviceFile {
        DeviceFile { node, rdev, device }
    }

    /// The device number the node carries.
    pub fn rdev(&self) -> DevId {
        self.rdev
    }

    /// The device's own operations (for the kernel to recognise its kinds of device).
    pub fn device(&self) -> &Arc<dyn FileOps> {
        &self.device
    }

    /// The node this file was opened through.
    pub(super) fn node(&self) -> &TmpfsFile {
        &self.node
    }
}

impl FileOps for DeviceFile {
    fn read(&self, pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.device.read(pos, buf)
    }
    fn write(&self, pos: &mut u64, buf: &[u8], append: bool) -> Result<usize, Errno> {
        self.device.write(pos, buf, append)
    }
    fn pread(&self, pos: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.device.pread(pos, buf)
    }
    fn pwrite(&self, pos: u64, buf: &[u8]) -> Result<usize, Errno> {
        self.device.pwrite(pos, buf)
    }
    fn seek(&self, current: u64, whence: Whence, offset: i64) -> Result<u64, Errno> {
        self.device.seek(current, whence, offset)
    }
    /// The node's attributes (mode, owner, times, `st_rdev`), as `stat` of its path shows.
    fn stat(&self) -> Result<Stat, Errno> {
        self.node.stat()
    }
    fn ioctl(&self, cmd: u32, arg: u64) -> Result<IoctlReply, Errno> {
        self.device.ioctl(cmd, arg)
    }
    fn poll(&self) -> u16 {
        self.device.poll()
    }
    // `ftruncate` keeps the default `EINVAL`: Linux truncates regular files only.
    fn fsync(&self) -> Result<(), Errno> {
        self.device.fsync()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{
        DT_CHR, O_CREAT, O_DIRECTORY, O_PATH, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, S_IFCHR,
    };
    use crate::time::{FixedClock, Timespec};
    use crate::tmpfs::tests::list;
    use crate::tmpfs::{Tmpfs, INODE_COST};
    use core::sync::atomic::{AtomicUsize, Ordering};

    const ZERO: DevId = DevId { major: 1, minor: 5 };

    /// A zero device: reads zeros, swallows writes, every seek lands at 0.
    struct Zero;

    impl FileOps for Zero {
        fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
            buf.fill(0);
            Ok(buf.len())
        }
        fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
            Ok(buf.len())
        }
        fn seek(&self, _current: u64, _whence: Whence, _offset: i64) -> Result<u64, Errno> {
            Ok(0)
        }
        fn stat(&self) -> Result<Stat, Errno> {
            Err(Errno::EIO) // never asked: the node answers fstat
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    /// Knows only [`ZERO`], and counts its opens.
    #[derive(Default)]
    struct Table {
        opens: AtomicUsize,
    }

    impl CharDevices for Table {
        fn open(&self, rdev: DevId) -> Result<Arc<dyn FileOps>, Errno> {
            if rdev != ZERO {
                return Err(Errno::ENXIO);
            }
            self.opens.fetch_add(1, Ordering::Relaxed);
            Ok(Arc::new(Zero))
        }
    }

    fn fs_with_dev() -> Tmpfs {
        let t = Tmpfs::new(1 << 20, Arc::new(FixedClock(Timespec::new(7, 0)))).unwrap();
        t.mkdir(t.root(), b"dev", 0o755).unwrap();
        t
    }

    #[test]
    fn a_node_carries_its_number_and_no_data() {
        let t = fs_with_dev();
        let ino = t
            .make_char_device(t.root(), b"/dev/zero", 0o666, ZERO)
            .unwrap();
        let st = t.stat(t.root(), b"/dev/zero", true).unwrap();
        assert_eq!((st.ino, st.mode, st.rdev), (ino.0, S_IFCHR | 0o666, ZERO));
        assert_eq!((st.size, st.blocks, st.nlink), (0, 0, 1));
        assert_eq!(st.rdev.encode(), 0x105);
        assert!(list(&t, b"/dev", 256).contains(&(b"zero".to_vec(), DT_CHR)));
        let taken = t.make_char_device(t.root(), b"/dev/zero", 0o600, ZERO);
        assert_eq!(taken.unwrap_err(), Errno::EEXIST);
        let slash = t.make_char_device(t.root(), b"/dev/null/", 0o666, ZERO);
        assert_eq!(slash.unwrap_err(), Errno::ENOENT);
        let nowhere = t.make_char_device(t.root(), b"/nodir/x", 0o666, ZERO);
        assert_eq!(nowhere.unwrap_err(), Errno::ENOENT);
        assert_eq!(
            t.truncate(t.root(), b"/dev/zero", 0).unwrap_err(),
            Errno::EINVAL
        );
        t.chmod(t.root(), b"/dev/zero", 0o600).unwrap();
        let st = t.stat(t.root(), b"/dev/zero", true).unwrap();
        assert_eq!(st.mode, S_IFCHR | 0o600, "chmod keeps the type");
    }

    #[test]
    fn without_a_device_table_opening_is_enxio() {
        let t = fs_with_dev();
        t.make_char_device(t.root(), b"/dev/zero", 0o666, ZERO)
            .unwrap();
        let open = t.open(t.root(), b"/dev/zero", O_RDONLY, 0);
        assert_eq!(open.unwrap_err(), Errno::ENXIO);
        // O_PATH reaches the node without its device.
        let path = t.open(t.root(), b"/dev/zero", O_PATH, 0).unwrap();
        assert_eq!(path.stat().unwrap().rdev, ZERO);
    }

    #[test]
    fn an_open_device_does_its_io_and_reports_its_node() {
        let t = fs_with_dev();
        let table = Arc::new(Table::default());
        t.set_char_devices(table.clone());
        t.make_char_device(t.root(), b"/dev/zero", 0o666, ZERO)
            .unwrap();
        t.make_char_device(t.root(), b"/dev/other", 0o666, DevId { major: 9, minor: 9 })
            .unwrap();
        for flags in [O_RDONLY, O_WRONLY, O_RDWR, O_WRONLY | O_CREAT | O_TRUNC] {
            t.open(t.root(), b"/dev/zero", flags, 0o644).unwrap();
        }
        assert_eq!(table.opens.load(Ordering::Relaxed), 4);
        t.open(t.root(), b"/dev/zero", O_PATH, 0).unwrap();
        assert_eq!(
            table.opens.load(Ordering::Relaxed),
            4,
            "O_PATH opens no device"
        );
        let f = t.open(t.root(), b"/dev/zero", O_RDWR, 0).unwrap();
        let mut buf = [0xffu8; 9];
        assert_eq!(f.read(&mut buf).unwrap(), 9);
        assert_eq!(buf, [0; 9]);
        assert_eq!(f.write(b"gone").unwrap(), 4);
        assert_eq!(f.lseek(100, Whence::Set).unwrap(), 0);
        assert_eq!(f.truncate(0).unwrap_err(), Errno::EINVAL);
        let by_path = t.stat(t.root(), b"/dev/zero", true).unwrap();
        assert_eq!(f.stat().unwrap(), by_path);
        assert_eq!(t.inode_of(&f).map(|i| i.0), Some(by_path.ino));
        let file = f.ops().as_any().downcast_ref::<DeviceFile>().unwrap();
        assert_eq!(file.rdev(), ZERO);
        assert!(file.device().as_any().is::<Zero>());
        let dir = t.open(t.root(), b"/dev/zero", O_DIRECTORY, 0);
        assert_eq!(dir.unwrap_err(), Errno::ENOTDIR);
        let unknown = t.open(t.root(), b"/dev/other", O_RDONLY, 0);
        assert_eq!(unknown.unwrap_err(), Errno::ENXIO);
        assert_eq!(table.opens.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn an_unlinked_node_lives_while_open_and_is_then_refunded() {
        let t = fs_with_dev();
        t.set_char_devices(Arc::new(Table::default()));
        let before = t.usage().0;
        t.make_char_device(t.root(), b"/dev/zero", 0o666, ZERO)
            .unwrap();
        assert!(t.usage().0 >= before + INODE_COST);
        let f = t.open(t.root(), b"/dev/zero", O_RDONLY, 0).unwrap();
        t.unlink(t.root(), b"/dev/zero").unwrap();
        assert_eq!(f.stat().unwrap().nlink, 0);
        assert_eq!(f.read(&mut [1u8; 3]).unwrap(), 3);
        drop(f);
        assert_eq!(t.usage().0, before);
    }
}
