//! sockfs: the pseudo-filesystem that gives every socket an inode, an open file and a file
//! descriptor — the seeds' `sock_alloc`, `sock_map_fd` and `SOCK_INODE`.
//!
//! A descriptor in a process's [`FdTable`] names an open [`File`] (shared by duplicated
//! descriptors, with its own flags such as `O_NONBLOCK`); the file names an inode in [`SockFs`];
//! the inode owns the socket object `S`. Closing the last descriptor of a file releases the file,
//! and releasing the file hands the socket back to the caller (`sock_release`) so that the
//! protocol can be told (`inet_release` → `tcp_close`). This module owns numbering and lifetime
//! only; it never looks inside a socket.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::errno::Errno;

/// `S_IFSOCK`: the file-type bits of a socket inode's mode.
pub const S_IFSOCK: u32 = 0o140000;
/// Mode of every socket inode: a socket, read/write for its owner (as Linux shows `srwxrwxrwx`
/// for sockfs inodes, permissions are not enforced on sockets).
pub const SOCKET_MODE: u32 = S_IFSOCK | 0o777;

/// `O_NONBLOCK`, Linux x86_64's value.
pub const O_NONBLOCK: u32 = 0o4000;
/// `O_RDWR`: every socket file is open for reading and writing.
pub const O_RDWR: u32 = 0o2;

/// Default bound on descriptors per process (Linux's default `RLIMIT_NOFILE` soft limit): past
/// it `socket`/`accept` fail with `EMFILE` instead of growing the table.
pub const DEFAULT_FD_LIMIT: usize = 1024;

/// Bound on sockets in the whole pseudo-filesystem: past it creating a socket fails with
/// `ENFILE`-like `ENOBUFS`, so a leak of sockets cannot exhaust memory.
pub const MAX_SOCKETS: usize = 65536;

/// Inode number of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ino(pub u64);

/// Identifier of an open file (an "open file description").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(u64);

/// What `stat` would show of a socket inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub ino: Ino,
    pub mode: u32,
}

/// An open file: the inode it opens, its status flags and how many descriptors share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct File {
    pub ino: Ino,
    pub flags: u32,
    refs: usize,
}

impl File {
    pub fn nonblocking(&self) -> bool {
        self.flags & O_NONBLOCK != 0
    }
}

/// The socket pseudo-filesystem: inodes owning sockets, and the open files on them.
#[derive(Debug)]
pub struct SockFs<S> {
    next_ino: u64,
    next_file: u64,
    inodes: BTreeMap<Ino, S>,
    files: BTreeMap<FileId, File>,
}

impl<S> Default for SockFs<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> SockFs<S> {
    pub fn new() -> Self {
        SockFs {
            next_ino: 1,
            next_file: 1,
            inodes: BTreeMap::new(),
            files: BTreeMap::new(),
        }
    }

    /// `sock_alloc` + `sock_alloc_file`: a new inode owning `socket`, opened as a file.
    pub fn alloc(&mut self, socket: S, flags: u32) -> Result<FileId, Errno> {
        if self.inodes.len() >= MAX_SOCKETS {
            return Err(Errno::ENOBUFS);
        }
        let ino = Ino(self.next_ino);
        self.next_ino += 1;
        self.inodes.insert(ino, socket);
        let id = FileId(self.next_file);
        self.next_file += 1;
        self.files.insert(
            id,
            File {
                ino,
                flags: (flags & O_NONBLOCK) | O_RDWR,
                refs: 0,
            },
        );
        Ok(id)
    }

    pub fn file(&self, id: FileId) -> Option<&File> {
        self.files.get(&id)
    }

    pub fn set_flags(&mut self, id: FileId, flags: u32) -> Result<(), Errno> {
        let f = self.files.get_mut(&id).ok_or(Errno::EBADF)?;
        f.flags = (f.flags & !O_NONBLOCK) | (flags & O_NONBLOCK);
        Ok(())
    }

    /// `SOCK_INODE`: the socket behind an open file.
    pub fn socket(&self, id: FileId) -> Option<&S> {
        self.files.get(&id).and_then(|f| self.inodes.get(&f.ino))
    }

    pub fn socket_mut(&mut self, id: FileId) -> Option<&mut S> {
        let ino = self.files.get(&id)?.ino;
        self.inodes.get_mut(&ino)
    }

    pub fn stat(&self, id: FileId) -> Option<Stat> {
        self.files.get(&id).map(|f| Stat {
            ino: f.ino,
            mode: SOCKET_MODE,
        })
    }

    /// Every open file with its socket.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &S)> + '_ {
        self.files
            .iter()
            .filter_map(|(id, f)| self.inodes.get(&f.ino).map(|s| (*id, s)))
    }

    /// Number of live socket inodes.
    pub fn sockets(&self) -> usize {
        self.inodes.len()
    }

    fn get_ref(&mut self, id: FileId) -> Result<(), Errno> {
        self.files.get_mut(&id).ok_or(Errno::EBADF)?.refs += 1;
        Ok(())
    }

    /// Drop one reference; when it was the last, the file is released and its socket is
    /// returned for `sock_release`.
    fn put_ref(&mut self, id: FileId) -> Option<S> {
        let f = self.files.get_mut(&id)?;
        f.refs = f.refs.saturating_sub(1);
        if f.refs > 0 {
            return None;
        }
        let ino = f.ino;
        self.files.remove(&id);
        self.inodes.remove(&ino)
    }

    /// Release a file nobody holds a descriptor for (e.g. when installing it failed).
    pub fn discard(&mut self, id: FileId) -> Option<S> {
        match self.files.get(&id) {
            Some(f) if f.refs == 0 => self.put_ref(id),
            _ => None,
        }
    }
}

/// A process's descriptor table: lowest free descriptor first, bounded by a limit.
#[derive(Debug, Clone)]
pub struct FdTable {
    slots: Vec<Option<FileId>>,
    limit: usize,
}

impl Default for FdTable {
    fn default() -> Self {
        Self::new(DEFAULT_FD_LIMIT)
    }
}

impl FdTable {
    pub fn new(limit: usize) -> Self {
        FdTable {
            slots: Vec::new(),
            limit,
        }
    }

    /// Reserve descriptors 0..n (stdin, stdout, stderr) for the console: they are not sockets,
    /// so socket calls on them fail with `ENOTSOCK` rather than `EBADF`.
    pub fn reserved(&self, fd: i32) -> bool {
        (0..3).contains(&fd)
    }

    /// `sock_map_fd` / `fd_install`: the lowest free descriptor ≥ 3 now names `file`.
    pub fn install<S>(&mut self, fs: &mut SockFs<S>, file: FileId) -> Result<i32, Errno> {
        let slot = match self.slots.iter().skip(3).position(Option::is_none) {
            Some(i) => i + 3,
            None => self.slots.len().max(3),
        };
        if slot >= self.limit {
            return Err(Errno::EMFILE);
        }
        fs.get_ref(file)?;
        if slot >= self.slots.len() {
            self.slots.resize(slot + 1, None);
        }
        self.slots[slot] = Some(file);
        Ok(slot as i32)
    }

    /// The open file a descriptor names (`EBADF` for a closed or negative one).
    pub fn get(&self, fd: i32) -> Result<FileId, Errno> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        self.slots.get(i).copied().flatten().ok_or(Errno::EBADF)
    }

    /// `close`: drop the descriptor; if it held the last reference to its file, the socket comes
    /// back for release.
    pub fn close<S>(&mut self, fs: &mut SockFs<S>, fd: i32) -> Result<Option<S>, Errno> {
        let file = self.get(fd)?;
        self.slots[fd as usize] = None;
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(fs.put_ref(file))
    }

    /// `dup`: a new lowest descriptor sharing the same open file.
    pub fn dup<S>(&mut self, fs: &mut SockFs<S>, fd: i32) -> Result<i32, Errno> {
        let file = self.get(fd)?;
        self.install(fs, file)
    }

    /// Descriptors currently open.
    pub fn open_fds(&self) -> impl Iterator<Item = (i32, FileId)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|f| (i as i32, f)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn open(fs: &mut SockFs<String>, fds: &mut FdTable, name: &str) -> Result<i32, Errno> {
        let file = fs.alloc(String::from(name), 0)?;
        fds.install(fs, file).inspect_err(|_| {
            fs.discard(file);
        })
    }

    #[test]
    fn lowest_free_descriptor_and_unique_inodes() {
        let mut fs = SockFs::new();
        let mut fds = FdTable::default();
        let a = open(&mut fs, &mut fds, "a").unwrap();
        let b = open(&mut fs, &mut fds, "b").unwrap();
        let c = open(&mut fs, &mut fds, "c").unwrap();
        assert_eq!((a, b, c), (3, 4, 5));
        let ia = fs.stat(fds.get(a).unwrap()).unwrap();
        let ib = fs.stat(fds.get(b).unwrap()).unwrap();
        assert_ne!(ia.ino, ib.ino);
        assert_eq!(ia.mode & 0o170000, S_IFSOCK);
        assert_eq!(fds.close(&mut fs, b).unwrap().as_deref(), Some("b"));
        assert_eq!(
            open(&mut fs, &mut fds, "d").unwrap(),
            4,
            "the freed lowest descriptor is reused"
        );
        assert_eq!(
            fs.socket(fds.get(4).unwrap()).map(String::as_str),
            Some("d")
        );
    }

    #[test]
    fn bad_descriptors_give_ebadf() {
        let mut fs: SockFs<String> = SockFs::new();
        let mut fds = FdTable::default();
        assert_eq!(fds.get(-1), Err(Errno::EBADF));
        assert_eq!(fds.get(3), Err(Errno::EBADF));
        assert_eq!(fds.close(&mut fs, 7), Err(Errno::EBADF));
        let a = open(&mut fs, &mut fds, "a").unwrap();
        fds.close(&mut fs, a).unwrap();
        assert_eq!(fds.close(&mut fs, a), Err(Errno::EBADF), "double close");
    }

    #[test]
    fn table_is_bounded_with_emfile() {
        let mut fs = SockFs::new();
        let mut fds = FdTable::new(8);
        for i in 3..8 {
            assert_eq!(open(&mut fs, &mut fds, "s").unwrap(), i);
        }
        assert_eq!(open(&mut fs, &mut fds, "s"), Err(Errno::EMFILE));
        assert_eq!(
            fs.sockets(),
            5,
            "the socket of a failed install is released"
        );
    }

    #[test]
    fn last_reference_releases_the_socket() {
        let mut fs = SockFs::new();
        let mut fds = FdTable::default();
        let a = open(&mut fs, &mut fds, "shared").unwrap();
        let b = fds.dup(&mut fs, a).unwrap();
        assert_eq!(
            fds.close(&mut fs, a).unwrap(),
            None,
            "still open through the duplicate"
        );
        assert_eq!(fs.sockets(), 1);
        assert_eq!(fds.close(&mut fs, b).unwrap().as_deref(), Some("shared"));
        assert_eq!(fs.sockets(), 0);
    }

    #[test]
    fn nonblocking_flag_lives_on_the_file() {
        let mut fs = SockFs::new();
        let mut fds = FdTable::default();
        let a = open(&mut fs, &mut fds, "a").unwrap();
        let f = fds.get(a).unwrap();
        assert!(!fs.file(f).unwrap().nonblocking());
        fs.set_flags(f, O_NONBLOCK).unwrap();
        assert!(fs.file(f).unwrap().nonblocking());
        assert_eq!(fs.file(f).unwrap().flags & O_RDWR, O_RDWR);
    }
}
