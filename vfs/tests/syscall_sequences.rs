//! End-to-end sequences of file calls as real programs make them, through the API the kernel's
//! syscall layer will use: an initramfs unpacked at boot, `ls -la`, a shell pipeline with
//! `dup2` and close-on-exec, and `mkdir -p` + `mv` + `rm -r`.

use std::sync::Arc;

use vfs::fdtable::FdTable;
use vfs::flags::*;
use vfs::initramfs::unpack_initramfs;
use vfs::pipe::pipe2;
use vfs::stat::STAT_SIZE;
use vfs::time::FixedClock;
use vfs::tmpfs::{Ino, Tmpfs};
use vfs::{Errno, OpenFile, Timespec};

fn newc(name: &str, mode: u32, data: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "070701{:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
        1,
        0,
        0,
        1,
        0,
        data.len(),
        0,
        0,
        0,
        0,
        name.len() + 1,
        0
    )
    .into_bytes();
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out.extend_from_slice(data);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}

/// The per-process state the kernel keeps: descriptors and a cwd held open.
struct Process {
    fds: FdTable,
    cwd: Arc<OpenFile>,
}

impl Process {
    fn start_dir(&self, fs: &Tmpfs, dirfd: i32) -> Result<Ino, Errno> {
        if dirfd == AT_FDCWD {
            fs.dir_of(&self.cwd)
        } else {
            fs.dir_of(&*self.fds.get(dirfd)?)
        }
    }
    fn openat(
        &mut self,
        fs: &Tmpfs,
        dirfd: i32,
        path: &str,
        flags: u32,
        mode: u32,
    ) -> Result<i32, Errno> {
        let at = self.start_dir(fs, dirfd)?;
        let file = fs.open(at, path.as_bytes(), flags, mode)?;
        self.fds.install(file, flags & O_CLOEXEC != 0)
    }
}

fn boot() -> (Tmpfs, Process) {
    let fs = Tmpfs::new(4 << 20, Arc::new(FixedClock(Timespec::new(1_000, 0)))).unwrap();
    let mut image = Vec::new();
    for (name, mode, data) in [
        ("bin", 0o040755, &b""[..]),
        ("bin/busybox", 0o100755, b"\x7fELF"),
        ("bin/ls", 0o120777, b"busybox"),
        ("etc", 0o040755, b""),
        ("etc/passwd", 0o100644, b"root:x:0:0::/root:/bin/sh\n"),
        ("TRAILER!!!", 0, b""),
    ] {
        image.extend(newc(name, mode, data));
    }
    unpack_initramfs(&fs, &image, 1 << 20).unwrap();
    let cwd = fs.open(fs.root(), b"/", O_PATH | O_DIRECTORY, 0).unwrap();
    (
        fs,
        Process {
            fds: FdTable::default(),
            cwd,
        },
    )
}

#[test]
fn ls_la_of_bin() {
    let (fs, mut p) = boot();
    let fd = p
        .openat(&fs, AT_FDCWD, "bin", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        .unwrap();
    assert_eq!(fd, 0, "lowest free descriptor");
    let dir = p.fds.get(fd).unwrap();
    assert_eq!(dir.stat().unwrap().to_linux_stat().len(), STAT_SIZE);
    let mut names = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        let n = dir.getdents64(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        let mut at = 0;
        while at < n {
            let reclen = u16::from_le_bytes([buf[at + 16], buf[at + 17]]) as usize;
            let raw = &buf[at + 19..at + reclen];
            let name = String::from_utf8(raw[..raw.iter().position(|&b| b == 0).unwrap()].to_vec())
                .unwrap();
            // newfstatat(fd, name, AT_SYMLINK_NOFOLLOW) for each entry.
            let at_dir = fs.dir_of(&dir).unwrap();
            let st = fs
                .stat_at(at_dir, name.as_bytes(), AT_SYMLINK_NOFOLLOW)
                .unwrap();
            names.push((name, st.mode & S_IFMT));
            at += reclen;
        }
    }
    assert_eq!(
        names,
        [
            (".".into(), S_IFDIR),
            ("..".into(), S_IFDIR),
            ("busybox".into(), S_IFREG),
            ("ls".into(), S_IFLNK)
        ]
    );
    p.fds.close(fd).unwrap();
}

#[test]
fn shell_pipeline_with_dup2_and_cloexec() {
    let (fs, mut p) = boot();
    for _ in 0..3 {
        // stdin, stdout, stderr on some file for the test.
        p.openat(&fs, AT_FDCWD, "/etc/passwd", O_RDWR, 0).unwrap();
    }
    // `grep root /etc/passwd | wc -c`: the shell makes a pipe and forks; the writer's child...
    let (r, w) = pipe2(O_CLOEXEC, Timespec::default()).unwrap();
    let rfd = p.fds.install(r, true).unwrap();
    let wfd = p.fds.install(w, true).unwrap();
    let mut writer = p.fds.clone(); // fork
    let mut reader = p.fds.clone(); // fork
    for fd in [rfd, wfd] {
        drop(p.fds.close(fd).unwrap()); // the shell closes both ends
    }
    drop(writer.dup2(wfd, 1).unwrap());
    drop(reader.dup2(rfd, 0).unwrap());
    drop(writer.close_on_exec()); // execve: the original pipe descriptors go
    drop(reader.close_on_exec());
    assert_eq!(writer.get(wfd).unwrap_err(), Errno::EBADF);
    let passwd = fs.open(fs.root(), b"/etc/passwd", O_RDONLY, 0).unwrap();
    let mut line = [0u8; 64];
    let n = passwd.read(&mut line).unwrap();
    assert_eq!(writer.get(1).unwrap().write(&line[..n]).unwrap(), n);
    drop(writer); // the writer exits
    let stdin = reader.get(0).unwrap();
    let mut got = vec![0u8; 128];
    assert_eq!(stdin.read(&mut got).unwrap(), n);
    assert_eq!(
        stdin.read(&mut got).unwrap(),
        0,
        "EOF: every write end is closed"
    );
}

#[test]
fn mkdir_p_mv_and_rm_r() {
    let (fs, mut p) = boot();
    let cwd = p.start_dir(&fs, AT_FDCWD).unwrap();
    let mut path = String::new();
    for part in ["a", "b", "c"] {
        path.push_str(part);
        match fs.mkdir(cwd, path.as_bytes(), 0o755) {
            Ok(_) | Err(Errno::EEXIST) => {}
            Err(e) => panic!("mkdir {path}: {e}"),
        }
        path.push('/');
    }
    let fd = p
        .openat(
            &fs,
            AT_FDCWD,
            "a/b/c/file",
            O_CREAT | O_WRONLY | O_EXCL,
            0o600,
        )
        .unwrap();
    p.fds.get(fd).unwrap().write(b"x").unwrap();
    fs.rename(cwd, b"a/b", cwd, b"moved").unwrap();
    // The descriptor still writes the moved file.
    p.fds.get(fd).unwrap().write(b"y").unwrap();
    let st = fs.stat(cwd, b"moved/c/file", true).unwrap();
    assert_eq!(st.size, 2);
    // chdir into it, then rm -r from the old cwd.
    let inside = fs.open(cwd, b"moved/c", O_PATH | O_DIRECTORY, 0).unwrap();
    p.cwd = inside;
    assert!(p.openat(&fs, AT_FDCWD, "file", O_RDONLY, 0).is_ok());
    fs.unlink(cwd, b"moved/c/file").unwrap();
    fs.rmdir(cwd, b"moved/c").unwrap();
    fs.rmdir(cwd, b"moved").unwrap();
    assert_eq!(
        p.openat(&fs, AT_FDCWD, "new", O_CREAT | O_RDWR, 0o600)
            .unwrap_err(),
        Errno::ENOENT,
        "a removed cwd takes no new entries"
    );
}
