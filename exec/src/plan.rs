//! The load plan of an ELF64 x86-64 executable: `ET_EXEC` (fixed addresses), `ET_DYN`
//! (static-pie, a dynamic PIE, or the program interpreter itself, placed at a load bias the
//! caller chooses) and the `PT_INTERP` path of a dynamic executable.
//!
//! Checks, each answered with [`ExecError::NotExecutable`]: ELF magic, 64-bit class,
//! little-endian, `EM_X86_64`, type `ET_EXEC`/`ET_DYN`; program headers of the ELF64 size, at
//! most [`MAX_PHNUM`], inside the file; each `PT_LOAD` with `p_filesz <= p_memsz`, its file
//! bytes inside the file, `p_vaddr` congruent to `p_offset` modulo the page size (what `mmap`
//! of a file needs), in ascending order, and, after the bias, entirely below [`USER_END`]; at
//! least one `PT_LOAD`; the entry point inside an executable segment.

use alloc::string::String;
use alloc::vec::Vec;

use object::elf::{self, FileHeader64, ProgramHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian as LE;

use crate::ExecError;

/// Page size of the x86-64 address space.
pub const PAGE_SIZE: u64 = 4096;
/// First address above the user half (Linux's TASK_SIZE with 4-level paging, less the guard
/// page Linux keeps below it).
pub const USER_END: u64 = 0x0000_7fff_ffff_f000;
/// Where Linux puts an `ET_DYN` executable started directly (ELF_ET_DYN_BASE, two thirds of
/// the 47-bit user space, page-aligned): a sensible default bias for callers.
pub const DYN_BASE: u64 = 0x0000_5555_5555_4000;
/// Program headers accepted at most (Linux: 64 KiB of them, i.e. 1170; real files have ~15).
pub const MAX_PHNUM: usize = 512;
/// Longest program interpreter path, NUL included (Linux's PATH_MAX).
pub const MAX_INTERP_LEN: usize = 4096;

/// What kind of ELF file it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfKind {
    /// `ET_EXEC`: linked at fixed addresses.
    Exec,
    /// `ET_DYN`: position-independent, loaded at the bias.
    Dyn,
}

/// Page protection of a segment. W^X: a segment asking for both write and execute is mapped
/// writable and not executable (`wx_requested` in the plan says so), as rinet maps no page
/// both writable and executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prot {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

/// One `PT_LOAD` segment, with the bias applied: map `[start, end)` (page-aligned), copy
/// `file_len` bytes from `file_offset` to `copy_to`, leave everything else zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub start: u64,
    pub end: u64,
    pub copy_to: u64,
    pub file_offset: u64,
    pub file_len: u64,
    pub prot: Prot,
}

/// Everything `execve` needs to map a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadPlan {
    pub kind: ElfKind,
    /// The bias added to every address (0 for `ET_EXEC`).
    pub bias: u64,
    pub segments: Vec<Segment>,
    /// Entry point, biased.
    pub entry: u64,
    /// Where the program headers are in memory (for AT_PHDR), biased; 0 if no segment maps
    /// them.
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
    /// The program interpreter (`PT_INTERP`), for a dynamic executable.
    pub interp: Option<String>,
    /// Highest mapped address (page-aligned end of the last segment): where `brk` starts.
    pub end: u64,
    /// `PT_GNU_STACK` asked for an executable stack (never granted: stacks are NX).
    pub exec_stack_requested: bool,
    /// A segment asked for write and execute together (mapped writable, not executable).
    pub wx_requested: bool,
}

fn page_down(a: u64) -> u64 {
    a & !(PAGE_SIZE - 1)
}

fn page_up(a: u64) -> Option<u64> {
    a.checked_add(PAGE_SIZE - 1).map(page_down)
}

/// Header bytes copied into 8-byte-aligned storage: `object` reads headers in place and needs
/// their natural alignment, which a file's bytes in memory need not have.
fn aligned_copy(bytes: &[u8]) -> Vec<u64> {
    let mut words = alloc::vec![0u64; bytes.len().div_ceil(8)];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_le_bytes(b);
    }
    words
}

const EHDR_LEN: usize = 64;
const PHDR_LEN: usize = 56;

fn not_exec(why: &'static str) -> ExecError {
    ExecError::NotExecutable(why)
}

/// Checks `file` and computes its load plan; an `ET_DYN` file is placed at `dyn_bias`
/// (page-aligned; e.g. [`DYN_BASE`] for a program, a free area for its interpreter).
pub fn plan(file: &[u8], dyn_bias: u64) -> Result<LoadPlan, ExecError> {
    plan_from_head(file, file.len() as u64, dyn_bias)
}

/// [`plan`] from the first bytes of a file of `file_len` bytes (`head`, a prefix of it): what
/// a loader reads before mapping, so the file is not copied whole. The ELF header, program
/// headers and interpreter path must lie inside `head` (in every file linkers make they are
/// in the first page); segments are checked against `file_len`.
pub fn plan_from_head(head: &[u8], file_len: u64, dyn_bias: u64) -> Result<LoadPlan, ExecError> {
    if head.len() as u64 > file_len {
        return Err(not_exec("head longer than the file"));
    }
    let file = head;
    let head = file
        .get(..EHDR_LEN)
        .ok_or(not_exec("shorter than an ELF header"))?;
    let head_words = aligned_copy(head);
    let ehdr = FileHeader64::<LE>::parse(object::pod::bytes_of_slice(&head_words))
        .map_err(|_| not_exec("no ELF header"))?;
    if !ehdr.is_class_64() || !ehdr.is_little_endian() {
        return Err(not_exec("not a 64-bit little-endian ELF file"));
    }
    let e = LE;
    if ehdr.e_machine(e) != elf::EM_X86_64 {
        return Err(not_exec("not an x86-64 file"));
    }
    let kind = match ehdr.e_type(e) {
        elf::ET_EXEC => ElfKind::Exec,
        elf::ET_DYN => ElfKind::Dyn,
        _ => return Err(not_exec("neither ET_EXEC nor ET_DYN")),
    };
    let bias = match kind {
        ElfKind::Exec => 0,
        ElfKind::Dyn => dyn_bias,
    };
    if !bias.is_multiple_of(PAGE_SIZE) {
        return Err(not_exec("load bias not page-aligned"));
    }
    if usize::from(ehdr.e_phentsize(e)) != PHDR_LEN {
        return Err(not_exec("program header size is not ELF64's"));
    }
    let phnum = usize::from(ehdr.e_phnum(e));
    if phnum == 0 || phnum > MAX_PHNUM {
        return Err(not_exec("no program headers, or too many"));
    }
    let phoff = ehdr.e_phoff(e);
    let ph_bytes = usize::try_from(phoff)
        .ok()
        .and_then(|off| file.get(off..off.checked_add(phnum * PHDR_LEN)?))
        .ok_or(not_exec("program headers outside the file"))?;
    let ph_words = aligned_copy(ph_bytes);
    let phdrs: &[ProgramHeader64<LE>] =
        object::pod::slice_from_all_bytes(object::pod::bytes_of_slice(&ph_words))
            .map_err(|_| not_exec("program headers unreadable"))?;

    let mut out = LoadPlan {
        kind,
        bias,
        segments: Vec::new(),
        entry: 0,
        phdr: 0,
        phent: PHDR_LEN as u64,
        phnum: phnum as u64,
        interp: None,
        end: 0,
        exec_stack_requested: false,
        wx_requested: false,
    };
    let mut explicit_phdr = None;
    for ph in phdrs {
        match ph.p_type(e) {
            elf::PT_LOAD => {
                let seg = load_segment(ph, file_len, bias, &mut out.wx_requested)?;
                if out
                    .segments
                    .last()
                    .is_some_and(|prev| seg.copy_to < prev.copy_to)
                {
                    return Err(not_exec("PT_LOAD segments out of order"));
                }
                out.end = out.end.max(seg.end);
                // Where the program headers land, if this segment maps them (AT_PHDR).
                let (off, len) = (ph.p_offset(e), ph.p_filesz(e));
                if out.phdr == 0 && phoff >= off && phoff - off < len {
                    out.phdr = seg.copy_to + (phoff - off);
                }
                out.segments.push(seg);
            }
            elf::PT_INTERP => {
                if out.interp.is_some() {
                    return Err(ExecError::BadInterpreter("more than one PT_INTERP"));
                }
                out.interp = Some(interp_path(ph, file)?);
            }
            elf::PT_PHDR => explicit_phdr = Some(ph.p_vaddr(e)),
            elf::PT_GNU_STACK => out.exec_stack_requested = ph.p_flags(e) & elf::PF_X != 0,
            _ => {}
        }
    }
    if out.segments.is_empty() {
        return Err(not_exec("no PT_LOAD segment"));
    }
    if let Some(v) = explicit_phdr {
        out.phdr = v
            .checked_add(bias)
            .ok_or(not_exec("PT_PHDR address overflows"))?;
    }
    out.entry = ehdr
        .e_entry(e)
        .checked_add(bias)
        .ok_or(not_exec("entry point overflows"))?;
    let entry = out.entry;
    if !out
        .segments
        .iter()
        .any(|s| s.prot.exec && entry >= s.copy_to && entry < s.end)
    {
        return Err(not_exec("entry point outside every executable segment"));
    }
    Ok(out)
}

/// One `PT_LOAD`, checked and biased.
fn load_segment(
    ph: &ProgramHeader64<LE>,
    file_len: u64,
    bias: u64,
    wx: &mut bool,
) -> Result<Segment, ExecError> {
    let e = LE;
    let (vaddr, offset) = (ph.p_vaddr(e), ph.p_offset(e));
    let (filesz, memsz) = (ph.p_filesz(e), ph.p_memsz(e));
    if filesz > memsz {
        return Err(not_exec("segment has more file bytes than memory"));
    }
    if offset.checked_add(filesz).is_none_or(|end| end > file_len) {
        return Err(not_exec("segment bytes outside the file"));
    }
    if vaddr % PAGE_SIZE != offset % PAGE_SIZE {
        return Err(not_exec(
            "segment address and offset not congruent modulo the page",
        ));
    }
    let copy_to = vaddr
        .checked_add(bias)
        .ok_or(not_exec("segment address overflows"))?;
    let end = copy_to
        .checked_add(memsz)
        .and_then(page_up)
        .ok_or(not_exec("segment end overflows"))?;
    if end > USER_END || copy_to < PAGE_SIZE {
        return Err(not_exec("segment outside the user address space"));
    }
    let flags = ph.p_flags(e);
    let (write, exec) = (flags & elf::PF_W != 0, flags & elf::PF_X != 0);
    if write && exec {
        *wx = true;
    }
    Ok(Segment {
        start: page_down(copy_to),
        end,
        copy_to,
        file_offset: offset,
        file_len: filesz,
        prot: Prot {
            read: flags & elf::PF_R != 0,
            write,
            exec: exec && !write,
        },
    })
}

/// The interpreter path of `PT_INTERP`: NUL-terminated, at most [`MAX_INTERP_LEN`] bytes,
/// UTF-8 (paths in an initramfs are).
fn interp_path(ph: &ProgramHeader64<LE>, file: &[u8]) -> Result<String, ExecError> {
    let e = LE;
    let len = ph.p_filesz(e);
    if len < 2 || len > MAX_INTERP_LEN as u64 {
        return Err(ExecError::BadInterpreter("PT_INTERP length"));
    }
    let bytes = ph
        .data(e, file)
        .map_err(|_| ExecError::BadInterpreter("PT_INTERP outside the file"))?;
    let (last, path) = bytes
        .split_last()
        .ok_or(ExecError::BadInterpreter("PT_INTERP empty"))?;
    if *last != 0 || path.contains(&0) {
        return Err(ExecError::BadInterpreter(
            "PT_INTERP not one NUL-terminated string",
        ));
    }
    core::str::from_utf8(path)
        .map(String::from)
        .map_err(|_| ExecError::BadInterpreter("PT_INTERP not UTF-8"))
}
