//! The files of /proc/<pid>: `stat`, `statm`, `status`, `maps`, `cmdline`, `comm`, and the
//! link text of `fd/<n>` ("socket:[INODE]", "pipe:[INODE]", "anon_inode:[eventfd]", or the
//! path of a file of the tree), in Linux's formats (proc(5)).
//!
//! Owns what a program's entries say; the tree's shape is `procfs`'s. Holds one process's
//! memory or descriptor lock at a time, and never while generating another's text.

use alloc::vec::Vec;
use core::fmt::Write;

use vfs::flags::{O_DIRECTORY, O_RDONLY, S_IFDIR, S_IFIFO, S_IFMT, S_IFSOCK};
use vfs::{Errno, OpenFile, Tmpfs};

use super::render;
use crate::mm::vma::Backing;
use crate::process::Process;

/// Clock ticks per second in /proc (`sysconf(_SC_CLK_TCK)`, Linux's USER_HZ).
pub const USER_HZ: u64 = 100;
/// Entries the search for a file's path may visit before giving up (the tree is in memory,
/// but a program may have filled it).
const PATH_SEARCH_LIMIT: usize = 8192;
/// Nanoseconds in clock ticks of [`USER_HZ`].
pub fn ticks(nanos: u64) -> u64 {
    nanos / (1_000_000_000 / USER_HZ)
}

/// Page size in /proc's page counts.
const PAGE: u64 = 4096;

/// A file of /proc/<pid>.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidFile {
    Stat,
    Statm,
    Status,
    Maps,
    Cmdline,
    Comm,
}

impl PidFile {
    pub const ALL: [PidFile; 6] = [
        PidFile::Cmdline,
        PidFile::Comm,
        PidFile::Maps,
        PidFile::Stat,
        PidFile::Statm,
        PidFile::Status,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PidFile::Stat => "stat",
            PidFile::Statm => "statm",
            PidFile::Status => "status",
            PidFile::Maps => "maps",
            PidFile::Cmdline => "cmdline",
            PidFile::Comm => "comm",
        }
    }
}

/// Memory figures of a program, in bytes.
#[derive(Default)]
struct MemoryUse {
    size: u64,
    resident: u64,
    code: u64,
    data: u64,
    stack: u64,
    start_brk: u64,
    brk: u64,
}

fn memory_use(p: &Process) -> MemoryUse {
    p.with_memory(|m| {
        let map = m.map();
        let mut u = MemoryUse {
            resident: map.committed as u64 * PAGE,
            start_brk: map.brk_start,
            brk: map.brk,
            ..MemoryUse::default()
        };
        for (start, r) in map.iter() {
            let len = r.end.saturating_sub(start);
            u.size += len;
            if r.prot.exec {
                u.code += len;
            } else if r.label == Some("[stack]") {
                u.stack += len;
            } else if r.prot.write {
                u.data += len;
            }
        }
        u
    })
    .unwrap_or_default()
}

/// Linux's `comm`: the first 15 bytes of the name.
fn comm(p: &Process) -> Vec<u8> {
    let name = p.name();
    let b = name.as_bytes();
    b[..b.len().min(15)].to_vec()
}

fn lossy(b: &[u8]) -> alloc::string::String {
    alloc::string::String::from_utf8_lossy(b).into_owned()
}

/// The text of /proc/<pid>/`f`.
pub fn text(p: &Process, f: PidFile) -> Result<Vec<u8>, Errno> {
    match f {
        PidFile::Cmdline => Ok(p.exec_info.lock().cmdline.clone()),
        PidFile::Comm => {
            let mut c = comm(p);
            c.push(b'\n');
            Ok(c)
        }
        PidFile::Stat => stat(p),
        PidFile::Statm => {
            let m = memory_use(p);
            render(|s| {
                writeln!(
                    s,
                    "{} {} 0 {} 0 {} 0",
                    m.size / PAGE,
                    m.resident / PAGE,
                    m.code / PAGE,
                    (m.data + m.stack) / PAGE
                )
            })
        }
        PidFile::Status => status(p),
        PidFile::Maps => maps(p),
    }
}

fn stat(p: &Process) -> Result<Vec<u8>, Errno> {
    let m = memory_use(p);
    let name = lossy(&comm(p));
    let start = ticks(p.started.as_nanos());
    let threads = p.thread_count().max(1);
    let own = p.usage(p.pid == crate::sched::current_pid());
    let children = *p.children_usage.lock();
    render(|s| {
        write!(
            s,
            "{} ({name}) R {} {} {} 0 -1 4194304 ",
            p.pid, p.ppid, p.pid, p.pid
        )?;
        // minflt, cminflt, majflt, cmajflt, utime, stime, cutime, cstime, priority, nice,
        // num_threads, itrealvalue, starttime, vsize, rss.
        write!(
            s,
            "{} {} 0 0 {} {} {} {} 20 0 {threads} 0 {start} {} {} ",
            own.minor_faults,
            children.minor_faults,
            ticks(own.user_ns),
            ticks(own.system_ns),
            ticks(children.user_ns),
            ticks(children.system_ns),
            m.size,
            m.resident / PAGE
        )?;
        // rsslim, code and stack addresses, signals, wchan, swap, exit signal, cpu, policy.
        write!(
            s,
            "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 "
        )?;
        writeln!(s, "0 0 {} {} 0 0 0 0 0", m.start_brk, m.brk)
    })
}

fn status(p: &Process) -> Result<Vec<u8>, Errno> {
    let m = memory_use(p);
    let usage = p.usage(false);
    let peak = usage.peak_pages as u64 * PAGE;
    let name = lossy(&comm(p));
    let fds = p.files.lock().count();
    let threads = p.thread_count().max(1);
    let kb = |b: u64| b / 1024;
    render(|s| {
        writeln!(s, "Name:\t{name}")?;
        writeln!(s, "Umask:\t0022")?;
        writeln!(s, "State:\tR (running)")?;
        writeln!(s, "Tgid:\t{}", p.pid)?;
        writeln!(s, "Ngid:\t0")?;
        writeln!(s, "Pid:\t{}", p.pid)?;
        writeln!(s, "PPid:\t{}", p.ppid)?;
        writeln!(s, "TracerPid:\t0")?;
        writeln!(s, "Uid:\t0\t0\t0\t0")?;
        writeln!(s, "Gid:\t0\t0\t0\t0")?;
        writeln!(s, "FDSize:\t{}", fds.next_power_of_two().max(64))?;
        writeln!(s, "Groups:\t")?;
        writeln!(s, "VmPeak:\t{:8} kB", kb(m.size))?;
        writeln!(s, "VmSize:\t{:8} kB", kb(m.size))?;
        writeln!(s, "VmLck:\t{:8} kB", 0)?;
        writeln!(s, "VmPin:\t{:8} kB", 0)?;
        writeln!(s, "VmHWM:\t{:8} kB", kb(m.resident.max(peak)))?;
        writeln!(s, "VmRSS:\t{:8} kB", kb(m.resident))?;
        writeln!(s, "RssAnon:\t{:8} kB", kb(m.resident))?;
        writeln!(s, "RssFile:\t{:8} kB", 0)?;
        writeln!(s, "RssShmem:\t{:8} kB", 0)?;
        writeln!(s, "VmData:\t{:8} kB", kb(m.data))?;
        writeln!(s, "VmStk:\t{:8} kB", kb(m.stack))?;
        writeln!(s, "VmExe:\t{:8} kB", kb(m.code))?;
        writeln!(s, "VmLib:\t{:8} kB", 0)?;
        writeln!(s, "VmSwap:\t{:8} kB", 0)?;
        writeln!(s, "Threads:\t{threads}")?;
        writeln!(s, "SigQ:\t0/0")?;
        writeln!(s, "SigPnd:\t0000000000000000")?;
        writeln!(s, "ShdPnd:\t0000000000000000")?;
        writeln!(s, "SigBlk:\t0000000000000000")?;
        writeln!(s, "SigIgn:\t0000000000000000")?;
        writeln!(s, "SigCgt:\t0000000000000000")?;
        writeln!(s, "CapInh:\t0000000000000000")?;
        writeln!(s, "CapPrm:\t000001ffffffffff")?;
        writeln!(s, "CapEff:\t000001ffffffffff")?;
        writeln!(s, "CapBnd:\t000001ffffffffff")?;
        writeln!(s, "Cpus_allowed:\t1")?;
        writeln!(s, "Cpus_allowed_list:\t0")?;
        // Deliberately the whole program's switches: Linux shows the main thread's alone here
        // (and each thread's under /proc/<pid>/task/, which rinet does not have); the same
        // for a single-threaded program.
        writeln!(s, "voluntary_ctxt_switches:\t{}", usage.voluntary_switches)?;
        writeln!(
            s,
            "nonvoluntary_ctxt_switches:\t{}",
            usage.involuntary_switches
        )
    })
}

/// One line of /proc/<pid>/maps: start, end, `rwxp`, file offset, label, file-backed.
type MapsLine = (u64, u64, [u8; 4], u64, Option<&'static str>, bool);

fn maps(p: &Process) -> Result<Vec<u8>, Errno> {
    let exe = lossy(&p.exec_info.lock().exe);
    let mut lines: Vec<MapsLine> = Vec::new();
    p.with_memory(|m| -> Result<(), Errno> {
        for (start, r) in m.map().iter() {
            lines.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            let perms = [
                if r.prot.read { b'r' } else { b'-' },
                if r.prot.write { b'w' } else { b'-' },
                if r.prot.exec { b'x' } else { b'-' },
                b'p',
            ];
            let (offset, file) = match &r.backing {
                // The file offset at the range's first byte (the segment may start mid-page).
                Backing::File { offset, va, .. } if start >= *va => {
                    (offset.saturating_add(start - va), true)
                }
                Backing::File { offset, va, .. } => (offset.saturating_sub(va - start), true),
                Backing::Anon => (0, false),
            };
            lines.push((start, r.end, perms, offset, r.label, file));
        }
        Ok(())
    })
    .unwrap_or(Ok(()))?;
    render(|s| {
        for (start, end, perms, offset, label, file) in &lines {
            let perms = core::str::from_utf8(perms).unwrap_or("----");
            let mut line = alloc::format!("{start:08x}-{end:08x} {perms} {offset:08x} 00:00 0");
            let name = label
                .map(alloc::string::String::from)
                .or(file.then(|| exe.clone()));
            if let Some(name) = name {
                while line.len() < 73 {
                    line.push(' ');
                }
                line.push_str(&name);
            }
            writeln!(s, "{line}")?;
        }
        Ok(())
    })
}

/// What `readlink /proc/<pid>/fd/<n>` shows for `file`.
pub fn fd_link_text(file: &OpenFile) -> Result<Vec<u8>, Errno> {
    if let Some(node) = super::node_of(file) {
        return Ok(node.path());
    }
    let any = file.ops().as_any();
    if any.is::<crate::files::console::ConsoleFile>() {
        return Ok(b"/dev/console".to_vec());
    }
    let fs = crate::fs::root().ok_or(Errno::ENOENT)?;
    if let Some(ino) = fs.inode_of(file) {
        return tree_path(fs, ino.0).ok_or(Errno::ENOENT);
    }
    let st = file.stat()?;
    let text = match st.mode & S_IFMT {
        S_IFSOCK => alloc::format!("socket:[{}]", st.ino),
        S_IFIFO => alloc::format!("pipe:[{}]", st.ino),
        _ if any.is::<vfs::eventfd::EventFd>() => {
            alloc::string::String::from("anon_inode:[eventfd]")
        }
        _ if any.is::<crate::files::timerfd::TimerFd>() => {
            alloc::string::String::from("anon_inode:[timerfd]")
        }
        _ => alloc::string::String::from("anon_inode:[eventpoll]"),
    };
    Ok(text.into_bytes())
}

/// The path of tree inode `ino`: a breadth-first search from the root, bounded by
/// [`PATH_SEARCH_LIMIT`] entries (`None` past it or when the file has no name any more).
pub fn tree_path(fs: &Tmpfs, ino: u64) -> Option<Vec<u8>> {
    if ino == fs.root().0 {
        return Some(b"/".to_vec());
    }
    let mut queue: alloc::collections::VecDeque<Vec<u8>> = alloc::collections::VecDeque::new();
    queue.push_back(Vec::new());
    let mut visited = 0usize;
    let mut buf = alloc::vec![0u8; 2048];
    while let Some(dir_path) = queue.pop_front() {
        let open_path: &[u8] = if dir_path.is_empty() { b"/" } else { &dir_path };
        let dir = fs
            .open(fs.root(), open_path, O_RDONLY | O_DIRECTORY, 0)
            .ok()?;
        loop {
            let n = dir.getdents64(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            let mut at = 0;
            while at + 19 <= n {
                let d_ino = u64::from_le_bytes(buf[at..at + 8].try_into().ok()?);
                let reclen = usize::from(u16::from_le_bytes([buf[at + 16], buf[at + 17]]));
                if reclen == 0 || at + reclen > n {
                    return None;
                }
                let d_type = buf[at + 18];
                let name = &buf[at + 19..at + reclen];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                at += reclen;
                if name == b"." || name == b".." {
                    continue;
                }
                visited += 1;
                if visited > PATH_SEARCH_LIMIT {
                    return None;
                }
                let mut child = dir_path.clone();
                child.push(b'/');
                child.extend_from_slice(name);
                if d_ino == ino {
                    return Some(child);
                }
                if u32::from(d_type) << 12 == S_IFDIR {
                    queue.push_back(child);
                }
            }
        }
    }
    None
}
