//! A program's memory as its system calls and page faults see it: demand paging on a fault,
//! pre-faulting for the kernel's checked user access, and the calls that change the map
//! (`brk`, `mmap`, `munmap`, `mprotect`, `mremap`, `madvise`).
//!
//! Owns the translation from those calls' arguments to `mm::vma`; never touches a page
//! outside the calling program's own map.

use alloc::sync::Arc;

use uapi::Errno;

use crate::files::devices;
use crate::mm::paging::PAGE;
use crate::mm::vma::{Backing, FaultError, PageSource, Prot};
use crate::sched;

/// Page-fault error code bits (SDM vol. 3A §4.7).
const PF_WRITE: u64 = 1 << 1;
const PF_INSTR: u64 = 1 << 4;

/// Serve a page fault at user address `addr` of the running program from its memory map.
/// True if the page is now mapped (retry the access); false for a real violation.
pub fn page_fault(addr: u64, error_code: u64) -> bool {
    if addr >= 1 << 47 {
        return false;
    }
    let Some(p) = sched::current_process() else {
        return false;
    };
    let write = error_code & PF_WRITE != 0;
    let exec = error_code & PF_INSTR != 0;
    let r = p.with_memory(|m| {
        let (space, map) = m.parts();
        map.fault(space, addr, write, exec)
    });
    match r {
        Some(Ok(())) => true,
        Some(Err(FaultError::NoMemory)) => {
            log::warn!(
                "program {}: out of memory at {addr:#x} ({} frames free, {} pages of its own)",
                p.name(),
                crate::mem::free_frame_count(),
                p.with_memory(|m| m.parts().1.committed).unwrap_or(0)
            );
            false
        }
        _ => false,
    }
}

/// Commit every page of `[addr, addr + len)` that the map allows (`write`: for writing),
/// so a checked kernel access finds them present. False if some page cannot be.
pub fn populate(addr: u64, len: u64, write: bool) -> bool {
    let Some(p) = sched::current_process() else {
        return false;
    };
    let Some(end) = addr.checked_add(len) else {
        return false;
    };
    p.with_memory(|m| {
        let (space, map) = m.parts();
        let mut page = addr & !(PAGE - 1);
        while page < end {
            match space.page(page) {
                Some((_, true, w)) if w || !write => {}
                _ => {
                    if map.fault(space, page, write, false).is_err() {
                        return false;
                    }
                }
            }
            page += PAGE;
        }
        true
    })
    .unwrap_or(false)
}

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_GROWSDOWN: u64 = 0x100;
const MAP_DENYWRITE: u64 = 0x800;
const MAP_EXECUTABLE: u64 = 0x1000;
const MAP_LOCKED: u64 = 0x2000;
const MAP_NORESERVE: u64 = 0x4000;
const MAP_POPULATE: u64 = 0x8000;
const MAP_NONBLOCK: u64 = 0x10000;
const MAP_STACK: u64 = 0x20000;
const MAP_HUGETLB: u64 = 0x40000;
const MAP_FIXED_NOREPLACE: u64 = 0x100000;
/// Flags accepted (the rest of Linux's are refused with EINVAL only under
/// MAP_SHARED_VALIDATE, as Linux does; here they are ignored otherwise).
const MAP_KNOWN: u64 = MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_GROWSDOWN
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB
    | MAP_FIXED_NOREPLACE;

fn page_up(len: u64) -> Result<u64, Errno> {
    len.checked_add(PAGE - 1)
        .map(|l| l & !(PAGE - 1))
        .ok_or(Errno::ENOMEM)
}

/// `mmap`. Shared file mappings are refused with `ENODEV`... except read-only ones, which
/// behave as private (nothing can write through them, so nobody can tell).
pub fn mmap(
    addr: u64,
    len: u64,
    prot: u64,
    flags: u64,
    fd: i32,
    offset: u64,
) -> Result<i64, Errno> {
    let p = sched::current_process().ok_or(Errno::EPERM)?;
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let kind = flags & MAP_SHARED_VALIDATE;
    if kind == 0 || (kind == MAP_SHARED_VALIDATE && flags & !MAP_KNOWN != 0) {
        return Err(Errno::EINVAL);
    }
    if !offset.is_multiple_of(PAGE) || prot & !7 != 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_up(len)?;
    let prot = Prot::from_bits(prot);
    let backing = if flags & MAP_ANONYMOUS != 0 {
        Backing::Anon
    } else {
        let file = p.files.lock().get(fd)?;
        let st = file.stat()?;
        let file_type = st.mode & vfs::flags::S_IFMT;
        if file_type == vfs::flags::S_IFCHR && st.rdev == devices::ZERO {
            // A mapping of /dev/zero is anonymous memory, as in Linux.
            Backing::Anon
        } else if file_type != vfs::flags::S_IFREG {
            return Err(Errno::ENODEV);
        } else if kind != MAP_PRIVATE && prot.write {
            // rinet has no shared page cache: a writable shared file mapping cannot be
            // kept coherent with the file.
            return Err(Errno::ENODEV);
        } else {
            let source: Arc<dyn PageSource> = file;
            Backing::File {
                source,
                va: 0,
                offset,
                len: st.size.saturating_sub(offset),
            }
        }
    };
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    if fixed && !addr.is_multiple_of(PAGE) {
        return Err(Errno::EINVAL);
    }
    p.with_memory(|m| {
        let (space, map) = m.parts();
        let start = if fixed {
            if flags & MAP_FIXED_NOREPLACE != 0 && flags & MAP_FIXED == 0 {
                let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
                let mut a = addr;
                while a < end {
                    if map.find(a).is_some() {
                        return Err(Errno::EEXIST);
                    }
                    a += PAGE;
                }
            }
            addr
        } else {
            // A hint is used when that stretch is free, as Linux does.
            let hinted = addr != 0
                && addr.is_multiple_of(PAGE)
                && addr >= crate::mm::space::USER_START
                && addr.checked_add(len).is_some_and(|e| e <= exec::USER_END)
                && (0..len / PAGE).all(|i| map.find(addr + i * PAGE).is_none());
            if hinted {
                addr
            } else {
                map.find_free(len).ok_or(Errno::ENOMEM)?
            }
        };
        let backing = match backing {
            Backing::File {
                source,
                offset,
                len: flen,
                ..
            } => Backing::File {
                source,
                va: start,
                offset,
                len: flen,
            },
            b => b,
        };
        map.map(space, start, len, prot, backing, None)?;
        Ok(start as i64)
    })
    .ok_or(Errno::ENOMEM)?
}

fn aligned_range(addr: u64, len: u64) -> Result<(u64, u64), Errno> {
    if !addr.is_multiple_of(PAGE) {
        return Err(Errno::EINVAL);
    }
    let len = page_up(len).map_err(|_| Errno::EINVAL)?;
    if addr.checked_add(len).is_none_or(|e| e > 1 << 47) {
        return Err(Errno::EINVAL);
    }
    Ok((addr, len))
}

/// `munmap`.
pub fn munmap(addr: u64, len: u64) -> Result<i64, Errno> {
    let p = sched::current_process().ok_or(Errno::EPERM)?;
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let (addr, len) = aligned_range(addr, len)?;
    p.with_memory(|m| {
        let (space, map) = m.parts();
        map.unmap(space, addr, len)
    })
    .ok_or(Errno::ENOMEM)??;
    Ok(0)
}

/// `mprotect`.
pub fn mprotect(addr: u64, len: u64, prot: u64) -> Result<i64, Errno> {
    let p = sched::current_process().ok_or(Errno::EPERM)?;
    // PROT_GROWSDOWN / PROT_GROWSUP are accepted and mean nothing here.
    if prot & !(7 | 0x0100_0000 | 0x0200_0000) != 0 {
        return Err(Errno::EINVAL);
    }
    let (addr, len) = aligned_range(addr, len)?;
    if len == 0 {
        return Ok(0);
    }
    p.with_memory(|m| {
        let (space, map) = m.parts();
        map.protect(space, addr, len, Prot::from_bits(prot & 7))
    })
    .ok_or(Errno::ENOMEM)??;
    Ok(0)
}

/// `brk`: the new end of the heap (the old one when refused; Linux never fails brk).
pub fn brk(addr: u64) -> Result<i64, Errno> {
    let p = sched::current_process().ok_or(Errno::EPERM)?;
    let end = p
        .with_memory(|m| {
            let (space, map) = m.parts();
            if addr == 0 {
                map.brk
            } else {
                map.set_brk(space, addr)
            }
        })
        .unwrap_or(0);
    Ok(end as i64)
}

const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;

/// `mremap`: shrink or grow in place; move with `MREMAP_MAYMOVE` when it cannot grow there.
/// `MREMAP_FIXED` is not offered (`EINVAL`).
pub fn mremap(old: u64, old_len: u64, new_len: u64, flags: u64) -> Result<i64, Errno> {
    let p = sched::current_process().ok_or(Errno::EPERM)?;
    if !old.is_multiple_of(PAGE) || flags & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0 || new_len == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MREMAP_FIXED != 0 {
        return Err(Errno::EINVAL);
    }
    let old_len = page_up(old_len)?;
    let new_len = page_up(new_len)?;
    p.with_memory(|m| {
        let (space, map) = m.parts();
        if map.resize(space, old, old_len, new_len)? {
            return Ok(old as i64);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        map.relocate(space, old, old_len, new_len).map(|a| a as i64)
    })
    .ok_or(Errno::ENOMEM)?
}

const MADV_DONTNEED: u64 = 4;
const MADV_FREE: u64 = 8;
const MADV_REMOVE: u64 = 9;
const MADV_HWPOISON: u64 = 100;

/// `madvise`: `MADV_DONTNEED` (and `MADV_FREE`) give the pages back; other advice is
/// accepted and changes nothing, as it may on Linux.
pub fn madvise(addr: u64, len: u64, advice: u64) -> Result<i64, Errno> {
    let p = sched::current_process().ok_or(Errno::EPERM)?;
    let (addr, len) = aligned_range(addr, len)?;
    match advice {
        MADV_DONTNEED | MADV_FREE => {
            p.with_memory(|m| {
                let (space, map) = m.parts();
                map.discard(space, addr, len)
            });
            Ok(0)
        }
        MADV_REMOVE => Err(Errno::EOPNOTSUPP),
        MADV_HWPOISON => Err(Errno::EPERM),
        0..=3 | 10..=25 => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}
