//! `execve`: a program's new memory from an ELF file of the root file system — its segments
//! (and its interpreter's, for a dynamic executable) as file-backed ranges of a fresh memory
//! map, a demand-paged stack holding argv, envp and the auxiliary vector, and a heap after
//! the executable. The layout follows Linux's x86-64 defaults: a PIE at `exec::DYN_BASE`, the
//! interpreter at [`INTERP_BASE`], the stack just below the top of the user half.
//!
//! Owns the loading; the `exec` crate checks the file and computes the plan and the stack
//! image. Nothing of the calling program changes until the new memory is complete: a failed
//! `execve` returns its errno to a program that is still whole.

use alloc::sync::Arc;
use alloc::vec::Vec;

use ::exec::{
    at, auxv_for, build_stack, plan_from_head, AuxvInput, LoadPlan, StackRequest, DYN_BASE,
};
use uapi::Errno;
use vfs::flags::{O_RDONLY, S_IFMT, S_IFREG};
use vfs::OpenFile;

use crate::mm::paging::PAGE;
use crate::mm::vma::{self, Backing, MemoryMap, PageSource, Prot};
use crate::program_memory::ProgramMemory;

/// The environment of a program the kernel starts (init): what a login shell would give.
pub const DEFAULT_ENV: &[&str] = &[
    "HOME=/",
    "TERM=linux",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
];
/// Where a dynamic executable's interpreter is loaded (above every `mmap` placement).
pub const INTERP_BASE: u64 = vma::MMAP_TOP;
/// Top of the main thread's stack (Linux puts it near the top of the user half, randomised).
pub const STACK_TOP: u64 = 0x7fff_ffff_0000;
/// The main thread's stack may grow to this (Linux's default `RLIMIT_STACK`), committed as it
/// is touched.
pub const STACK_SIZE: u64 = 8 << 20;
/// Largest executable or interpreter loaded.
pub const MAX_IMAGE: u64 = 256 << 20;
/// Symbolic links followed to reach the file, and `#!` is not supported (`ENOEXEC`).
const HWCAP_FALLBACK: u64 = 0x178b_fbff;

/// A loaded program, ready to start at `entry` with `sp`.
pub struct Image {
    pub memory: ProgramMemory,
    pub entry: u64,
    pub sp: u64,
}

/// The regular, executable file at `path` (from `cwd` for a relative path), open, and its
/// size (at most [`MAX_IMAGE`]).
fn open_file(path: &[u8], cwd: Option<&Arc<OpenFile>>) -> Result<(Arc<OpenFile>, u64), Errno> {
    let fs = crate::fs::root().ok_or(Errno::ENOENT)?;
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let start = match cwd {
        Some(dir) if path[0] != b'/' => fs.dir_of(dir)?,
        _ => fs.root(),
    };
    let file = fs.open(start, path, O_RDONLY, 0)?;
    let st = file.stat()?;
    if st.mode & S_IFMT != S_IFREG {
        return Err(Errno::EACCES);
    }
    if st.mode & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    if st.size > MAX_IMAGE {
        return Err(Errno::ENOMEM);
    }
    Ok((file, st.size))
}

/// Bytes read from the start of a file for its plan: the ELF header, program headers and
/// interpreter path sit in the first page of any file linkers make; a file whose headers lie
/// further in gets a second try with [`HEAD_MAX`] bytes. The pages themselves are filled from
/// the open file when touched, so the program is never copied whole.
const HEAD_FIRST: u64 = 4096;
const HEAD_MAX: u64 = 64 * 1024;

/// The load plan of `file` (`size` bytes), placed at `bias` if it is ET_DYN.
fn plan_file(file: &OpenFile, size: u64, bias: u64) -> Result<LoadPlan, Errno> {
    let mut result = Err(Errno::ENOEXEC);
    for want in [HEAD_FIRST, HEAD_MAX] {
        let len = size.min(want) as usize;
        let mut head = Vec::new();
        head.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
        head.resize(len, 0);
        let n = file.read_at(0, &mut head);
        head.truncate(n);
        result = plan_from_head(&head, size, bias).map_err(exec_errno);
        if result.is_ok() || size <= want {
            break;
        }
    }
    result
}

fn exec_errno(e: ::exec::ExecError) -> Errno {
    Errno::from_code(e.errno()).unwrap_or(Errno::ENOEXEC)
}

/// Map the segments of `plan` (bytes from `file`) into `memory`.
fn map_segments(
    memory: &mut ProgramMemory,
    plan: &LoadPlan,
    file: &Arc<OpenFile>,
) -> Result<(), Errno> {
    let (space, map) = memory.parts();
    let source: Arc<dyn PageSource> = file.clone();
    let mut prev_end = 0;
    for seg in &plan.segments {
        // Two segments sharing a page (an old-style link): the later one starts at the next
        // page; the shared page keeps the earlier segment's bytes and rights (the psABI
        // layout linkers produce today never shares pages).
        let start = seg.start.max(prev_end);
        if start >= seg.end {
            continue;
        }
        if start < crate::mm::space::USER_START {
            return Err(Errno::ENOMEM);
        }
        map.map(
            space,
            start,
            seg.end - start,
            Prot {
                read: seg.prot.read,
                write: seg.prot.write,
                exec: seg.prot.exec,
            },
            Backing::File {
                source: source.clone(),
                va: seg.copy_to,
                offset: seg.file_offset,
                len: seg.file_len,
            },
            None,
        )?;
        prev_end = seg.end;
    }
    Ok(())
}

/// Load the program at `path` with `argv` and `envp` into new memory.
pub fn load(
    path: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    cwd: Option<&Arc<OpenFile>>,
) -> Result<Image, Errno> {
    let (file, size) = open_file(path, cwd)?;
    let program = plan_file(&file, size, DYN_BASE)?;
    let mut memory = ProgramMemory::new().map_err(|_| Errno::ENOMEM)?;
    map_segments(&mut memory, &program, &file)?;
    let mut entry = program.entry;
    let mut interp_base = None;
    if let Some(interp) = &program.interp {
        let (ifile, isize) = open_file(interp.as_bytes(), None).map_err(|e| match e {
            Errno::EACCES | Errno::ENOENT => e,
            _ => Errno::ELIBBAD,
        })?;
        let iplan = plan_file(&ifile, isize, INTERP_BASE).map_err(|_| Errno::ELIBBAD)?;
        if iplan.interp.is_some() || iplan.end > STACK_TOP - STACK_SIZE {
            return Err(Errno::ELIBBAD);
        }
        map_segments(&mut memory, &iplan, &ifile)?;
        entry = iplan.entry;
        interp_base = Some(iplan.bias);
    }
    let (space, map) = memory.parts();
    let heap = program.end.div_ceil(PAGE) * PAGE;
    map.brk_start = heap;
    map.brk = heap;
    map.map(
        space,
        STACK_TOP - STACK_SIZE,
        STACK_SIZE,
        Prot::rw(),
        Backing::Anon,
        Some("[stack]"),
    )?;
    let sp = initial_stack(map, space, &program, interp_base, path, argv, envp)?;
    Ok(Image { memory, entry, sp })
}

/// Lay out argv, envp and the auxiliary vector at the top of the new stack; the initial `rsp`.
fn initial_stack(
    map: &mut MemoryMap,
    space: &mut crate::mm::space::AddressSpace,
    program: &LoadPlan,
    interp_base: Option<u64>,
    path: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<u64, Errno> {
    let input = AuxvInput {
        hwcap: crate::arch::cpuid_hwcap().unwrap_or(HWCAP_FALLBACK),
        uid: 0,
        gid: 0,
        clktck: 100,
        minsigstksz: super::signal::MINSIGSTKSZ,
    };
    let mut auxv = auxv_for(program, interp_base, &input);
    auxv.retain(|&(k, _)| k != at::NULL);
    let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    let envp: Vec<&[u8]> = envp.iter().map(|a| a.as_slice()).collect();
    let mut random = [0u8; 16];
    crate::arch::entropy::fill(&mut random);
    let image = build_stack(&StackRequest {
        top: STACK_TOP,
        argv: &argv,
        envp: &envp,
        execfn: path,
        platform: b"x86_64",
        auxv: &auxv,
        random,
    })
    .map_err(exec_errno)?;
    vma::write_user(map, space, image.sp, &image.bytes).map_err(|_| Errno::ENOMEM)?;
    Ok(image.sp)
}
