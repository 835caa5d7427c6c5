//! procfs: the /proc tree programs read (proc(5)). Every entry is generated from the kernel's
//! state when it is looked up; a file's text is made when it is opened (a snapshot, as Linux's
//! `seq_file` makes it at the first read) and never changes while open.
//!
//! Owns the tree's shape ([`Node`]), path resolution under /proc ([`route`], [`resolve`]),
//! and the open files ([`ProcDir`], [`ProcText`]). What the files say lives by concern:
//! [`process`] (/proc/<pid>/...), [`system`] (meminfo, cpuinfo, stat, uptime, ...), [`net`]
//! (/proc/net/...). Read-only: a write is `EIO`, as Linux answers for a proc file without a
//! write handler; creating or removing names is `ENOENT`/`EEXIST`/`EPERM` as Linux's procfs.
//! Never holds a process's lock while taking another's.

pub mod net;
pub mod process;
pub mod system;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use vfs::dirent::Dirent64Writer;
use vfs::flags::{Whence, O_DIRECTORY, O_PATH, O_WRONLY, S_IFDIR, S_IFLNK, S_IFREG};
use vfs::stat::{DevId, Stat};
use vfs::{Errno, FileOps, OpenFile};

use crate::process::Process;

/// The device number procfs files report (Linux's proc is an anonymous block device too).
const PROC_DEV: DevId = DevId {
    major: 0,
    minor: 23,
};
/// `d_type` values.
const DT_DIR: u8 = 4;
const DT_REG: u8 = 8;
const DT_LNK: u8 = 10;
/// How many symlinks one lookup follows (Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// One entry of /proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Root,
    /// /proc/self: a link to the caller's /proc/<pid>.
    SelfLink,
    Pid(u64),
    PidFile(u64, process::PidFile),
    /// /proc/<pid>/exe: a link to the program file.
    Exe(u64),
    FdDir(u64),
    /// /proc/<pid>/fd/<n>: a link to what descriptor n names.
    Fd(u64, i32),
    System(system::SystemFile),
    NetDir,
    Net(net::NetFile),
}

impl Node {
    fn kind(self) -> u8 {
        match self {
            Node::Root | Node::Pid(_) | Node::FdDir(_) | Node::NetDir => DT_DIR,
            Node::SelfLink | Node::Exe(_) | Node::Fd(..) => DT_LNK,
            _ => DT_REG,
        }
    }

    /// A stable inode number per entry.
    fn ino(self) -> u64 {
        let (pid, sub) = match self {
            Node::Root => (0, 1),
            Node::SelfLink => (0, 2),
            Node::NetDir => (0, 3),
            Node::System(f) => (0, 16 + f as u64),
            Node::Net(f) => (0, 64 + f as u64),
            Node::Pid(p) => (p, 1),
            Node::Exe(p) => (p, 2),
            Node::FdDir(p) => (p, 3),
            Node::PidFile(p, f) => (p, 16 + f as u64),
            Node::Fd(p, n) => (p, 0x1000 + n as u64),
        };
        (pid << 32) | sub
    }

    pub fn stat(self) -> Stat {
        let mode = match self.kind() {
            DT_DIR => S_IFDIR | 0o555,
            DT_LNK => S_IFLNK | 0o777,
            _ => S_IFREG | 0o444,
        };
        let boot = crate::files::now();
        Stat {
            dev: PROC_DEV,
            ino: self.ino(),
            nlink: if self.kind() == DT_DIR { 2 } else { 1 },
            mode,
            blksize: 1024,
            atime: boot,
            mtime: boot,
            ctime: boot,
            ..Stat::default()
        }
    }

    /// The entries of a directory, `.` and `..` aside.
    fn children(self, caller: &Process) -> Result<Vec<(Vec<u8>, Node)>, Errno> {
        let mut out: Vec<(Vec<u8>, Node)> = Vec::new();
        let mut add = |name: &[u8], node: Node| -> Result<(), Errno> {
            out.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            let mut n = Vec::new();
            n.try_reserve_exact(name.len()).map_err(|_| Errno::ENOMEM)?;
            n.extend_from_slice(name);
            out.push((n, node));
            Ok(())
        };
        match self {
            Node::Root => {
                for pid in crate::process::live_pids().ok_or(Errno::ENOMEM)? {
                    add(alloc::format!("{pid}").as_bytes(), Node::Pid(pid))?;
                }
                add(b"self", Node::SelfLink)?;
                add(b"net", Node::NetDir)?;
                for f in system::SystemFile::ALL {
                    add(f.name().as_bytes(), Node::System(f))?;
                }
            }
            Node::Pid(pid) => {
                add(b"exe", Node::Exe(pid))?;
                add(b"fd", Node::FdDir(pid))?;
                for f in process::PidFile::ALL {
                    add(f.name().as_bytes(), Node::PidFile(pid, f))?;
                }
            }
            Node::FdDir(pid) => {
                let p = process_of(pid)?;
                let fds: Vec<i32> = {
                    let table = p.files.lock();
                    let mut v = Vec::new();
                    v.try_reserve_exact(table.count())
                        .map_err(|_| Errno::ENOMEM)?;
                    v.extend(table.open_fds().map(|(fd, _)| fd));
                    v
                };
                for fd in fds {
                    add(alloc::format!("{fd}").as_bytes(), Node::Fd(pid, fd))?;
                }
            }
            Node::NetDir => {
                for f in net::NetFile::ALL {
                    add(f.name().as_bytes(), Node::Net(f))?;
                }
            }
            _ => return Err(Errno::ENOTDIR),
        }
        let _ = caller;
        Ok(out)
    }

    /// The entry `name` of this directory.
    fn child(self, caller: &Process, name: &[u8]) -> Result<Node, Errno> {
        match self {
            Node::Root => {
                if let Some(pid) = number(name) {
                    return process_of(pid).map(|_| Node::Pid(pid));
                }
            }
            Node::FdDir(pid) => {
                let fd = number(name).ok_or(Errno::ENOENT)?;
                let fd = i32::try_from(fd).map_err(|_| Errno::ENOENT)?;
                process_of(pid)?
                    .files
                    .lock()
                    .get(fd)
                    .map_err(|_| Errno::ENOENT)?;
                return Ok(Node::Fd(pid, fd));
            }
            Node::Pid(_) | Node::NetDir => {}
            _ => return Err(Errno::ENOTDIR),
        }
        self.children(caller)?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, node)| node)
            .ok_or(Errno::ENOENT)
    }

    /// The link text of a symlink entry.
    pub fn link_text(self, caller: &Process) -> Result<Vec<u8>, Errno> {
        match self {
            Node::SelfLink => Ok(alloc::format!("{}", caller.pid).into_bytes()),
            Node::Exe(pid) => Ok(process_of(pid)?.exec_info.lock().exe.clone()),
            Node::Fd(pid, fd) => {
                let file = process_of(pid)?
                    .files
                    .lock()
                    .get(fd)
                    .map_err(|_| Errno::ENOENT)?;
                process::fd_link_text(&file)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// The path of this entry (for `getcwd` inside /proc and fd links to proc files).
    pub fn path(self) -> Vec<u8> {
        let s = match self {
            Node::Root => alloc::string::String::from("/proc"),
            Node::SelfLink => alloc::string::String::from("/proc/self"),
            Node::Pid(p) => alloc::format!("/proc/{p}"),
            Node::Exe(p) => alloc::format!("/proc/{p}/exe"),
            Node::FdDir(p) => alloc::format!("/proc/{p}/fd"),
            Node::Fd(p, n) => alloc::format!("/proc/{p}/fd/{n}"),
            Node::PidFile(p, f) => alloc::format!("/proc/{p}/{}", f.name()),
            Node::System(f) => alloc::format!("/proc/{}", f.name()),
            Node::NetDir => alloc::string::String::from("/proc/net"),
            Node::Net(f) => alloc::format!("/proc/net/{}", f.name()),
        };
        s.into_bytes()
    }
}

/// A decimal name with no sign, no leading zero and no overflow.
fn number(name: &[u8]) -> Option<u64> {
    if name.is_empty() || name.len() > 19 || (name[0] == b'0' && name.len() > 1) {
        return None;
    }
    name.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

/// The live program `pid` (`ENOENT` once it ended, as its /proc directory vanishes).
pub fn process_of(pid: u64) -> Result<Arc<Process>, Errno> {
    crate::process::live(pid).ok_or(Errno::ENOENT)
}

/// Where a path a program gave leads: into procfs (its components under /proc), or to the
/// tree (`None`: resolve the path as given).
pub fn route(
    p: &Process,
    start: Option<&OpenFile>,
    path: &[u8],
) -> Result<Option<Vec<Vec<u8>>>, Errno> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    if path.first() != Some(&b'/') {
        match start.and_then(|f| f.ops().as_any().downcast_ref::<ProcDir>()) {
            Some(dir) => {
                parts.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                parts.push(b"proc".to_vec());
                for c in dir.node.path().split(|&b| b == b'/').skip(2) {
                    parts.push(c.to_vec());
                }
            }
            None => {
                // Only relative paths from the root reach /proc this way ("proc/self").
                let fs = crate::fs::root().ok_or(Errno::ENOENT)?;
                let at_root = match start {
                    Some(f) => fs.dir_of(f).map(|d| d == fs.root()).unwrap_or(false),
                    None => true,
                };
                if !at_root {
                    return Ok(None);
                }
            }
        }
    }
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            _ => {
                if parts.len() >= vfs::path::PATH_MAX / 2 {
                    return Err(Errno::ENAMETOOLONG);
                }
                parts.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                parts.push(c.to_vec());
            }
        }
    }
    let _ = p;
    if parts.first().map(Vec::as_slice) != Some(b"proc") {
        return Ok(None);
    }
    parts.remove(0);
    Ok(Some(parts))
}

/// The node `parts` (components under /proc) names, following links on the way and, when
/// `follow_last`, the last one too (only /proc/self and the fd links of directories lead
/// somewhere inside /proc; other links stay as they are).
pub fn resolve(caller: &Process, parts: &[Vec<u8>], follow_last: bool) -> Result<Node, Errno> {
    let mut node = Node::Root;
    let mut links = 0;
    for (i, name) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        node = node.child(caller, name)?;
        if node == Node::SelfLink && (!last || follow_last) {
            links += 1;
            if links > MAX_LINKS {
                return Err(Errno::ELOOP);
            }
            node = Node::Pid(caller.pid);
        }
    }
    Ok(node)
}

/// `open` of a /proc path: a directory or a text snapshot.
pub fn open(caller: &Process, node: Node, flags: u32) -> Result<Arc<OpenFile>, Errno> {
    let is_dir = node.kind() == DT_DIR;
    if flags & O_DIRECTORY != 0 && !is_dir {
        return Err(Errno::ENOTDIR);
    }
    if flags & O_PATH != 0 {
        return Ok(OpenFile::new(Arc::new(ProcDir { node }), flags));
    }
    if is_dir {
        if flags & 3 != 0 {
            return Err(Errno::EISDIR);
        }
        return Ok(OpenFile::new(Arc::new(ProcDir { node }), flags));
    }
    if let Node::Fd(pid, fd) = node {
        // Opening an fd link opens what it names: here the same open file (a deliberate
        // difference: Linux opens the file anew, with its own offset).
        return process_of(pid)?
            .files
            .lock()
            .get(fd)
            .map_err(|_| Errno::ENOENT);
    }
    let text = match node {
        Node::PidFile(pid, f) => process::text(&*process_of(pid)?, f)?,
        Node::System(f) => system::text(f)?,
        Node::Net(f) => net::text(f)?,
        _ => return Err(Errno::ENOENT),
    };
    let _ = caller;
    if flags & O_WRONLY != 0 && flags & 3 == O_WRONLY {
        // Root may open a 0444 file for writing; the write itself fails (EIO).
    }
    Ok(OpenFile::new(Arc::new(ProcText { node, text }), flags))
}

/// An open /proc directory (also what `O_PATH` opens of any entry).
pub struct ProcDir {
    pub node: Node,
}

impl FileOps for ProcDir {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.node.stat())
    }
    fn read(&self, _pos: &mut u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }
    fn write(&self, _pos: &mut u64, _buf: &[u8], _append: bool) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }
    fn seek(&self, _current: u64, whence: Whence, offset: i64) -> Result<u64, Errno> {
        match whence {
            Whence::Set => u64::try_from(offset).map_err(|_| Errno::EINVAL),
            _ => Err(Errno::EINVAL),
        }
    }
    fn getdents64(&self, pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let caller = crate::syscall::fs::current()?;
        let mut entries = self.node.children(&caller)?;
        entries.insert(0, (b"..".to_vec(), Node::Root));
        entries.insert(0, (b".".to_vec(), self.node));
        let mut w = Dirent64Writer::new(buf);
        let start = usize::try_from(*pos).unwrap_or(usize::MAX);
        for (i, (name, node)) in entries.iter().enumerate().skip(start) {
            if !w.push(node.ino(), i as i64 + 1, node.kind(), name)? {
                break;
            }
            *pos = i as u64 + 1;
        }
        Ok(w.written())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open /proc file: the text made at open.
pub struct ProcText {
    node: Node,
    text: Vec<u8>,
}

impl ProcText {
    fn copy_at(&self, pos: u64, buf: &mut [u8]) -> usize {
        let from = usize::try_from(pos)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        let n = buf.len().min(self.text.len() - from);
        buf[..n].copy_from_slice(&self.text[from..from + n]);
        n
    }
}

impl FileOps for ProcText {
    fn read(&self, pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let n = self.copy_at(*pos, buf);
        *pos += n as u64;
        Ok(n)
    }
    fn pread(&self, pos: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(self.copy_at(pos, buf))
    }
    fn write(&self, _pos: &mut u64, _buf: &[u8], _append: bool) -> Result<usize, Errno> {
        Err(Errno::EIO)
    }
    fn pwrite(&self, _pos: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EIO)
    }
    fn seek(&self, current: u64, whence: Whence, offset: i64) -> Result<u64, Errno> {
        let base = match whence {
            Whence::Set => 0,
            Whence::Cur => current as i64,
            Whence::End => self.text.len() as i64,
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(offset).ok_or(Errno::EINVAL)?;
        u64::try_from(new).map_err(|_| Errno::EINVAL)
    }
    /// Size 0, as Linux shows for generated files.
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.node.stat())
    }
    fn truncate(&self, _len: u64) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The /proc entry an open file is (for fd links and `getcwd`).
pub fn node_of(file: &OpenFile) -> Option<Node> {
    let any = file.ops().as_any();
    any.downcast_ref::<ProcDir>()
        .map(|d| d.node)
        .or_else(|| any.downcast_ref::<ProcText>().map(|t| t.node))
}

/// Text from a formatter, failing with `ENOMEM` rather than aborting.
pub fn render(
    f: impl FnOnce(&mut alloc::string::String) -> core::fmt::Result,
) -> Result<Vec<u8>, Errno> {
    let mut s = alloc::string::String::new();
    s.try_reserve(1024).map_err(|_| Errno::ENOMEM)?;
    f(&mut s).map_err(|_| Errno::ENOMEM)?;
    Ok(s.into_bytes())
}
