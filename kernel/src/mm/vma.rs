//! A program's memory map (Linux's `mm_struct` with its VMAs): which user ranges exist, with
//! which rights, backed by what (zeroes, or bytes of a file), and the demand paging that
//! commits a frame to a page the first time the program touches it.
//!
//! Ranges come from `execve` (ELF segments, the stack), `brk`, `mmap`, and change with
//! `munmap`, `mprotect`, `mremap` and `madvise(MADV_DONTNEED)`. Nothing is committed up front:
//! a reservation costs a map entry until it is touched ([`MemoryMap::fault`]), as allocators
//! such as jemalloc and glibc's arenas expect. A page made `PROT_NONE` keeps its frame in a
//! not-present entry (`AddressSpace::map_owned` with no rights) so its bytes come back with
//! the rights.
//!
//! Owns the ranges and every frame committed to them (freed when unmapped or when the map is
//! cleared); never maps a page outside a range or with more rights than its range has.
//! Bounded: at most [`MAX_RANGES`] ranges (then `ENOMEM`, as Linux past `vm.max_map_count`),
//! and frames only from `mem::alloc_program_frames`, which keeps the kernel's reserve.

use alloc::sync::Arc;

use uapi::Errno;

use super::paging::PAGE;
use super::space::{AddressSpace, FlushBatch, PageProt, USER_START};
use crate::mem;
use crate::vecmap::VecMap;

/// Ranges per program at most (Linux's default `vm.max_map_count` is 65530; our programs
/// need a few dozen).
pub const MAX_RANGES: usize = 4096;
/// Pages each program may commit from the kernel's reserve when nothing else is left (see
/// [`MemoryMap::fault`]): 1 MiB.
pub const MIN_WORKING_SET: usize = 256;
/// `mmap` without an address places ranges top-down from here (below the main stack's
/// region), as Linux's default layout does.
pub const MMAP_TOP: u64 = 0x7f00_0000_0000;
/// ... and never below here (the executable and its heap live lower).
pub const MMAP_FLOOR: u64 = 0x1000_0000_0000;

/// Where bytes of a file-backed range come from (an ELF image, an open file).
pub trait PageSource: Send + Sync {
    /// Copy bytes at `offset` into `buf`; fewer at the end of the file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize;
}

/// A file's bytes held in memory (the executable being loaded).
impl PageSource for alloc::vec::Vec<u8> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let Ok(off) = usize::try_from(offset) else {
            return 0;
        };
        let Some(src) = self.get(off..) else {
            return 0;
        };
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        n
    }
}

/// An open file: private mappings read it when a page is first touched.
impl PageSource for vfs::OpenFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let Ok(pos) = i64::try_from(offset) else {
            return 0;
        };
        let mut done = 0;
        while done < buf.len() {
            match self.pread(&mut buf[done..], pos + done as i64) {
                Ok(0) | Err(_) => break,
                Ok(n) => done += n,
            }
        }
        done
    }
}

/// Rights of a range (`PROT_READ`, `PROT_WRITE`, `PROT_EXEC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prot {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Prot {
    pub const PROT_READ: u64 = 1;
    pub const PROT_WRITE: u64 = 2;
    pub const PROT_EXEC: u64 = 4;

    pub fn from_bits(bits: u64) -> Prot {
        Prot {
            read: bits & Self::PROT_READ != 0,
            write: bits & Self::PROT_WRITE != 0,
            exec: bits & Self::PROT_EXEC != 0,
        }
    }

    pub fn rw() -> Prot {
        Prot {
            read: true,
            write: true,
            exec: false,
        }
    }

    fn none(self) -> bool {
        !self.read && !self.write && !self.exec
    }

    /// The page rights: `None` for `PROT_NONE` (the frame is kept, not present).
    fn page(self) -> Option<PageProt> {
        (!self.none()).then_some(PageProt {
            write: self.write,
            exec: self.exec,
        })
    }
}

/// What fills a range's pages.
#[derive(Clone)]
pub enum Backing {
    /// Zeroes.
    Anon,
    /// Bytes `[offset, offset + len)` of `source` appear at user address `va`; the rest of
    /// the range is zeroes (an ELF segment's .bss, the tail of a file's last page).
    File {
        source: Arc<dyn PageSource>,
        va: u64,
        offset: u64,
        len: u64,
    },
}

/// One range of the map.
#[derive(Clone)]
pub struct Range {
    pub end: u64,
    pub prot: Prot,
    pub backing: Backing,
    /// The stack (`[stack]` in /proc/self/maps) or the heap (`[heap]`).
    pub label: Option<&'static str>,
}

/// Why a touch of user memory could not be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultError {
    /// No range there, or the range forbids the access: the program gets SIGSEGV (a system
    /// call, EFAULT).
    Violation,
    /// No frame left for the page.
    NoMemory,
}

/// The ranges of one program, by start address.
#[derive(Default)]
pub struct MemoryMap {
    ranges: VecMap<Range>,
    /// The heap (`brk`): from `brk_start` to `brk` (page-rounded up in the map).
    pub brk_start: u64,
    pub brk: u64,
    /// Frames committed now (for /proc and limits).
    pub committed: usize,
    /// The most frames ever committed at once (`ru_maxrss`).
    pub peak_committed: usize,
    /// Pages committed on a touch (`ru_minflt`: every fault here is a minor one).
    pub faults: u64,
}

fn page_down(a: u64) -> u64 {
    a & !(PAGE - 1)
}

fn page_up(a: u64) -> Option<u64> {
    a.checked_add(PAGE - 1).map(page_down)
}

/// Whether `[start, end)` is a valid user range for a mapping.
fn user_range(start: u64, end: u64) -> bool {
    start >= USER_START && start < end && end <= exec::USER_END
}

impl MemoryMap {
    /// The range holding `addr`, with its start.
    pub fn find(&self, addr: u64) -> Option<(u64, &Range)> {
        let (s, r) = self.ranges.at_or_below(addr)?;
        (addr < r.end).then_some((s, r))
    }

    /// Every range, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Range)> {
        self.ranges.iter().map(|(&s, r)| (s, r))
    }

    /// Whether any range overlaps `[start, end)`.
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.ranges.below(end).is_some_and(|(_, r)| r.end > start)
    }

    /// Cut the range holding `addr` in two at `addr` (no-op at a boundary or in a hole).
    fn split_at(&mut self, addr: u64) -> Result<(), Errno> {
        let Some((s, r)) = self.find(addr) else {
            return Ok(());
        };
        if s == addr {
            return Ok(());
        }
        let mut upper = r.clone();
        if self.ranges.len() >= MAX_RANGES {
            return Err(Errno::ENOMEM);
        }
        // A full kernel heap is ENOMEM for the caller, not a failed allocation later.
        self.ranges.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        if let Some(lower) = self.ranges.get_mut(&s) {
            upper.end = lower.end;
            lower.end = addr;
        }
        self.ranges.insert(addr, upper);
        Ok(())
    }

    /// Add a range over a hole (the caller unmapped what was there).
    fn insert(&mut self, start: u64, range: Range) -> Result<(), Errno> {
        if self.ranges.len() >= MAX_RANGES {
            return Err(Errno::ENOMEM);
        }
        // A full kernel heap is ENOMEM for the caller, not a failed allocation later.
        self.ranges.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.ranges.insert(start, range);
        Ok(())
    }

    /// A free stretch of `len` bytes, highest first below [`MMAP_TOP`].
    pub fn find_free(&self, len: u64) -> Option<u64> {
        let mut hi = MMAP_TOP;
        for (s, r) in self.ranges.range(0..MMAP_TOP).rev() {
            if r.end < hi && hi - r.end >= len {
                return Some(hi - len);
            }
            hi = hi.min(s);
            if hi < MMAP_FLOOR {
                return None;
            }
        }
        (hi >= MMAP_FLOOR && hi - MMAP_FLOOR >= len).then(|| hi - len)
    }

    /// Map `[start, start + len)` (page-aligned) with `prot` and `backing`, replacing whatever
    /// was there.
    pub fn map(
        &mut self,
        space: &mut AddressSpace,
        start: u64,
        len: u64,
        prot: Prot,
        backing: Backing,
        label: Option<&'static str>,
    ) -> Result<(), Errno> {
        let end = start.checked_add(len).ok_or(Errno::ENOMEM)?;
        if !start.is_multiple_of(PAGE) || !len.is_multiple_of(PAGE) || !user_range(start, end) {
            return Err(Errno::ENOMEM);
        }
        if self.ranges.len() + 2 >= MAX_RANGES {
            return Err(Errno::ENOMEM);
        }
        self.unmap(space, start, len)?;
        self.insert(
            start,
            Range {
                end,
                prot,
                backing,
                label,
            },
        )
    }

    /// Remove `[start, start + len)` (page-aligned; holes are fine) and free its frames.
    pub fn unmap(&mut self, space: &mut AddressSpace, start: u64, len: u64) -> Result<(), Errno> {
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        if start >= end {
            return Ok(());
        }
        self.split_at(start)?;
        self.split_at(end)?;
        let mut doomed = core::mem::take(&mut self.ranges);
        doomed.drain_range(start..end, |s, r| self.release_pages(space, s, r.end));
        self.ranges = doomed;
        Ok(())
    }

    /// Free the frames committed in `[start, end)` (their range is gone or reset).
    fn release_pages(&mut self, space: &mut AddressSpace, start: u64, end: u64) {
        let mut batch = FlushBatch::new(space);
        let mut va = start;
        while va < end {
            if let Some(frame) = space.unmap_owned_in(va, &mut batch) {
                self.committed = self.committed.saturating_sub(1);
                if let Err(e) = mem::free_frames(frame, 1) {
                    log::error!("mm: frame {frame:#x} of {va:#x} not freed: {e}");
                }
            }
            va += PAGE;
        }
    }

    /// `mprotect`: every page of `[start, start + len)` must be mapped (else `ENOMEM`).
    pub fn protect(
        &mut self,
        space: &mut AddressSpace,
        start: u64,
        len: u64,
        prot: Prot,
    ) -> Result<(), Errno> {
        let end = start.checked_add(len).ok_or(Errno::ENOMEM)?;
        let mut at = start;
        while at < end {
            let (_, r) = self.find(at).ok_or(Errno::ENOMEM)?;
            at = r.end;
        }
        self.split_at(start)?;
        self.split_at(end)?;
        for (_, r) in self.ranges.range_mut(start..end) {
            r.prot = prot;
        }
        let mut batch = FlushBatch::new(space);
        let mut va = start;
        while va < end {
            space.protect(va, prot.page(), &mut batch);
            va += PAGE;
        }
        Ok(())
    }

    /// `madvise(MADV_DONTNEED)`: drop the committed pages of `[start, start + len)`; the next
    /// touch sees zeroes (anonymous) or the file's bytes again (private file mapping).
    pub fn discard(&mut self, space: &mut AddressSpace, start: u64, len: u64) {
        let end = start.saturating_add(len);
        self.release_pages(space, start, end);
    }

    /// Serve a touch of `addr` (`write`: a store; `exec`: an instruction fetch): commit and
    /// map the page if its range allows the access.
    pub fn fault(
        &mut self,
        space: &mut AddressSpace,
        addr: u64,
        write: bool,
        exec: bool,
    ) -> Result<(), FaultError> {
        let (_, r) = self.find(addr).ok_or(FaultError::Violation)?;
        let prot = r.prot;
        if (write && !prot.write) || (exec && !prot.exec) || prot.none() {
            return Err(FaultError::Violation);
        }
        let Some(page_prot) = prot.page() else {
            return Err(FaultError::Violation);
        };
        let va = page_down(addr);
        match space.page(va) {
            // Present with the range's rights: another path committed it meanwhile, or the
            // access is one x86 refuses (a write to a W^X-demoted page): the caller decides.
            Some((_, true, _)) => return Err(FaultError::Violation),
            // A frame kept under PROT_NONE: present again.
            Some((frame, false, _)) => {
                return space
                    .map_owned(va, frame, page_prot)
                    .map_err(|_| FaultError::NoMemory);
            }
            None => {}
        }
        let backing = r.backing.clone();
        // Past the kernel's reserve only for a program's first pages: a small program keeps
        // working when network traffic has grown the kernel heap into the reserve (the heap
        // never shrinks); a large one is refused there, as any program is past all memory.
        let frame = mem::alloc_program_frames(1)
            .or_else(|| {
                (self.committed < MIN_WORKING_SET)
                    .then(|| mem::alloc_first_program_frames(1))
                    .flatten()
            })
            .ok_or(FaultError::NoMemory)?;
        fill_page(frame, va, &backing);
        if space.map_owned(va, frame, page_prot).is_err() {
            let _ = mem::free_frames(frame, 1);
            return Err(FaultError::NoMemory);
        }
        self.committed += 1;
        self.peak_committed = self.peak_committed.max(self.committed);
        self.faults += 1;
        Ok(())
    }

    /// `brk`: move the heap's end to `new` (within its limits and not into another range);
    /// the heap's end after the call (unchanged when refused, as Linux answers).
    pub fn set_brk(&mut self, space: &mut AddressSpace, new: u64) -> u64 {
        if new < self.brk_start || self.brk_start == 0 {
            return self.brk;
        }
        let Some(new_top) = page_up(new) else {
            return self.brk;
        };
        let old_top = page_up(self.brk).unwrap_or(self.brk);
        if new_top > old_top {
            if new_top > MMAP_FLOOR || self.overlaps(old_top, new_top) {
                return self.brk;
            }
            let grown = if old_top > self.brk_start {
                match self.ranges.get_mut(&page_down(self.brk_start)) {
                    Some(r) if r.end == old_top => {
                        r.end = new_top;
                        true
                    }
                    _ => false,
                }
            } else {
                false
            };
            if !grown
                && self
                    .insert(
                        old_top,
                        Range {
                            end: new_top,
                            prot: Prot::rw(),
                            backing: Backing::Anon,
                            label: Some("[heap]"),
                        },
                    )
                    .is_err()
            {
                return self.brk;
            }
        } else if new_top < old_top && self.unmap(space, new_top, old_top - new_top).is_err() {
            return self.brk;
        }
        self.brk = new;
        self.brk
    }

    /// `mremap` without moving: shrink, or grow into the free space above. The new end.
    pub fn resize(
        &mut self,
        space: &mut AddressSpace,
        start: u64,
        old_len: u64,
        new_len: u64,
    ) -> Result<bool, Errno> {
        let (s, r) = self.find(start).ok_or(Errno::EFAULT)?;
        let old_end = start.checked_add(old_len).ok_or(Errno::EINVAL)?;
        if r.end < old_end || s > start {
            return Err(Errno::EFAULT);
        }
        let new_end = start.checked_add(new_len).ok_or(Errno::ENOMEM)?;
        if new_len <= old_len {
            self.unmap(space, new_end, old_len - new_len)?;
            return Ok(true);
        }
        if r.end != old_end || self.overlaps(old_end, new_end) || !user_range(start, new_end) {
            return Ok(false);
        }
        if let Some(r) = self.ranges.get_mut(&s) {
            r.end = new_end;
        }
        Ok(true)
    }

    /// `mremap` with `MREMAP_MAYMOVE`: move `[old, old + old_len)` to a new place of
    /// `new_len` bytes, frames and all. The new address.
    pub fn relocate(
        &mut self,
        space: &mut AddressSpace,
        old: u64,
        old_len: u64,
        new_len: u64,
    ) -> Result<u64, Errno> {
        let (s, r) = self.find(old).ok_or(Errno::EFAULT)?;
        let old_end = old.checked_add(old_len).ok_or(Errno::EINVAL)?;
        if r.end < old_end || s > old {
            return Err(Errno::EFAULT);
        }
        let mut moved = r.clone();
        let new = self.find_free(new_len).ok_or(Errno::ENOMEM)?;
        if let Backing::File { va, .. } = &mut moved.backing {
            // Keep the file bytes at the same offsets within the range.
            *va = va.wrapping_add(new).wrapping_sub(old);
        }
        moved.end = new + new_len;
        self.insert(new, moved)?;
        let mut off = 0;
        while off < old_len.min(new_len) {
            if let Some((frame, present, _)) = space.page(old + off) {
                if space.unmap_owned(old + off).is_some() {
                    let prot = self.find(new).map(|(_, r)| r.prot.page());
                    let ok = match prot {
                        Some(Some(p)) if present => space.map_owned(new + off, frame, p),
                        _ => space.map_owned_hidden(new + off, frame),
                    };
                    if ok.is_err() {
                        let _ = mem::free_frames(frame, 1);
                        self.committed = self.committed.saturating_sub(1);
                    }
                }
            }
            off += PAGE;
        }
        self.unmap(space, old, old_len)?;
        Ok(new)
    }

    /// Remove every range and free every committed frame (exit, execve).
    pub fn clear(&mut self, space: &mut AddressSpace) {
        let all: alloc::vec::Vec<(u64, u64)> =
            self.ranges.iter().map(|(&s, r)| (s, r.end)).collect();
        self.ranges.clear();
        for (s, e) in all {
            self.release_pages(space, s, e);
        }
        self.brk_start = 0;
        self.brk = 0;
    }
}

/// Fill the fresh frame at `frame` for user page `va`: zeroes, then the file bytes that fall
/// into it.
fn fill_page(frame: u64, va: u64, backing: &Backing) {
    // SAFETY: `frame` was just taken from the allocator: ours alone, reached through the
    // direct map, one page long.
    let page = unsafe {
        core::slice::from_raw_parts_mut(mem::phys_to_virt(frame) as *mut u8, PAGE as usize)
    };
    page.fill(0);
    if let Backing::File {
        source,
        va: file_va,
        offset,
        len,
    } = backing
    {
        let file_end = file_va.saturating_add(*len);
        let from = va.max(*file_va);
        let to = (va + PAGE).min(file_end);
        if from < to {
            let dst = &mut page[(from - va) as usize..(to - va) as usize];
            source.read_at(offset + (from - file_va), dst);
        }
    }
}

/// Copy `bytes` into user page memory of `space` at `va` (the pages committed first): how
/// `execve` writes the new program's stack before it runs.
pub fn write_user(
    map: &mut MemoryMap,
    space: &mut AddressSpace,
    va: u64,
    bytes: &[u8],
) -> Result<(), FaultError> {
    let mut done = 0usize;
    while done < bytes.len() {
        let at = va + done as u64;
        let page = page_down(at);
        let frame = match space.page(page) {
            Some((frame, true, _)) => frame,
            _ => {
                map.fault(space, at, true, false)?;
                space.page(page).ok_or(FaultError::NoMemory)?.0
            }
        };
        let off = (at - page) as usize;
        let n = (PAGE as usize - off).min(bytes.len() - done);
        // SAFETY: `frame` is a frame this map owns (committed just now or before), reached
        // through the direct map; the copy stays inside its page.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes[done..].as_ptr(),
                (mem::phys_to_virt(frame) + off as u64) as *mut u8,
                n,
            )
        };
        done += n;
    }
    Ok(())
}
