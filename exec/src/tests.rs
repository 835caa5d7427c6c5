//! Load plans of hand-built and real ELF files, hostile headers, and initial stacks read back
//! the way a libc's start-up code reads them.

extern crate std;

use alloc::vec::Vec;
use proptest::prelude::*;
use std::string::String;

use crate::*;

/// A program header for [`elf`].
#[derive(Clone, Copy)]
struct Ph {
    ty: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const PT_GNU_STACK: u32 = 0x6474_e551;
const R: u32 = 4;
const W: u32 = 2;
const X: u32 = 1;

/// An ELF64 x86-64 file of `len` bytes with `ty` (2 EXEC, 3 DYN), `entry` and `phs` at
/// offset 64; `extra` bytes written at their offsets.
fn elf(ty: u16, entry: u64, phs: &[Ph], len: usize, extra: &[(usize, &[u8])]) -> Vec<u8> {
    let mut f = alloc::vec![0u8; len.max(64 + 56 * phs.len())];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2; // ELFCLASS64
    f[5] = 1; // little-endian
    f[6] = 1; // EV_CURRENT
    f[16..18].copy_from_slice(&ty.to_le_bytes());
    f[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&entry.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    f[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    f[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    f[56..58].copy_from_slice(&(phs.len() as u16).to_le_bytes());
    for (i, p) in phs.iter().enumerate() {
        let o = 64 + 56 * i;
        f[o..o + 4].copy_from_slice(&p.ty.to_le_bytes());
        f[o + 4..o + 8].copy_from_slice(&p.flags.to_le_bytes());
        f[o + 8..o + 16].copy_from_slice(&p.offset.to_le_bytes());
        f[o + 16..o + 24].copy_from_slice(&p.vaddr.to_le_bytes());
        f[o + 24..o + 32].copy_from_slice(&p.vaddr.to_le_bytes());
        f[o + 32..o + 40].copy_from_slice(&p.filesz.to_le_bytes());
        f[o + 40..o + 48].copy_from_slice(&p.memsz.to_le_bytes());
        f[o + 48..o + 56].copy_from_slice(&4096u64.to_le_bytes());
    }
    for (at, bytes) in extra {
        f[*at..*at + bytes.len()].copy_from_slice(bytes);
    }
    f
}

fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
    Ph {
        ty: PT_LOAD,
        flags,
        offset,
        vaddr,
        filesz,
        memsz,
    }
}

/// A static executable: text at 0x400000 (headers included), data + bss at 0x401000.
fn static_exec() -> Vec<u8> {
    elf(
        2,
        0x400100,
        &[
            load(R | X, 0, 0x400000, 0x200, 0x200),
            load(R | W, 0x1000, 0x401000, 0x10, 0x2345),
        ],
        0x1010,
        &[],
    )
}

#[test]
fn static_executable_plan() {
    let p = plan(&static_exec(), DYN_BASE).unwrap();
    assert_eq!(p.kind, ElfKind::Exec);
    assert_eq!(p.bias, 0, "ET_EXEC ignores the bias");
    assert_eq!(p.entry, 0x400100);
    assert_eq!(p.phdr, 0x400040, "headers mapped by the first segment");
    assert_eq!((p.phent, p.phnum), (56, 2));
    assert_eq!(p.interp, None);
    assert_eq!(p.segments.len(), 2);
    let text = p.segments[0];
    assert_eq!((text.start, text.end), (0x400000, 0x401000));
    assert_eq!(
        text.prot,
        Prot {
            read: true,
            write: false,
            exec: true
        }
    );
    let data = p.segments[1];
    assert_eq!(
        (data.copy_to, data.file_offset, data.file_len),
        (0x401000, 0x1000, 0x10)
    );
    assert_eq!(data.end, 0x404000, "bss rounded up to the page");
    assert_eq!(p.end, 0x404000, "brk starts after the last segment");
    assert!(!p.wx_requested);
}

#[test]
fn dynamic_executable_plan_with_interpreter_and_bias() {
    let interp = b"/lib/ld-musl-x86_64.so.1\0";
    let f = elf(
        3,
        0x1100,
        &[
            Ph {
                ty: PT_PHDR,
                flags: R,
                offset: 64,
                vaddr: 64,
                filesz: 56 * 4,
                memsz: 56 * 4,
            },
            Ph {
                ty: PT_INTERP,
                flags: R,
                offset: 0x300,
                vaddr: 0x300,
                filesz: interp.len() as u64,
                memsz: interp.len() as u64,
            },
            load(R | X, 0, 0, 0x1200, 0x1200),
            Ph {
                ty: PT_GNU_STACK,
                flags: R | W,
                offset: 0,
                vaddr: 0,
                filesz: 0,
                memsz: 0,
            },
        ],
        0x1200,
        &[(0x300, interp)],
    );
    // A segment at address 0 cannot be mapped at bias 0 (page 0 stays unmapped) ...
    assert!(plan(&f, 0).is_err());
    // ... but at a bias it can.
    let p = plan(&f, DYN_BASE).unwrap();
    assert_eq!(p.kind, ElfKind::Dyn);
    assert_eq!(p.entry, DYN_BASE + 0x1100);
    assert_eq!(p.phdr, DYN_BASE + 64, "from PT_PHDR, biased");
    assert_eq!(p.interp.as_deref(), Some("/lib/ld-musl-x86_64.so.1"));
    assert!(!p.exec_stack_requested);
    assert_eq!(p.segments[0].start, DYN_BASE);
}

#[test]
fn write_and_execute_together_is_mapped_without_execute() {
    let f = elf(
        2,
        0x400100,
        &[load(R | W | X, 0, 0x400000, 0x200, 0x200)],
        0x200,
        &[],
    );
    // The only segment loses X: the entry point is then in no executable segment.
    assert_eq!(
        plan(&f, 0),
        Err(ExecError::NotExecutable(
            "entry point outside every executable segment"
        ))
    );
    let f = elf(
        2,
        0x400100,
        &[
            load(R | X, 0, 0x400000, 0x200, 0x200),
            load(R | W | X, 0x1000, 0x401000, 0x10, 0x10),
        ],
        0x1010,
        &[],
    );
    let p = plan(&f, 0).unwrap();
    assert!(p.wx_requested);
    assert!(p.segments[1].prot.write && !p.segments[1].prot.exec);
}

#[test]
fn hostile_headers_are_refused() {
    let good = static_exec();
    let cases: Vec<(&str, Vec<u8>)> = alloc::vec![
        ("empty", Vec::new()),
        ("truncated header", good[..40].to_vec()),
        ("bad magic", {
            let mut f = good.clone();
            f[1] = b'X';
            f
        }),
        ("32-bit class", {
            let mut f = good.clone();
            f[4] = 1;
            f
        }),
        ("big-endian", {
            let mut f = good.clone();
            f[5] = 2;
            f
        }),
        ("not x86-64", {
            let mut f = good.clone();
            f[18] = 183; // EM_AARCH64
            f
        }),
        ("relocatable", {
            let mut f = good.clone();
            f[16] = 1;
            f
        }),
        ("phentsize", {
            let mut f = good.clone();
            f[54] = 32;
            f
        }),
        ("no program headers", {
            let mut f = good.clone();
            f[56] = 0;
            f
        }),
        ("program headers past the end", {
            let mut f = good.clone();
            f[32..40].copy_from_slice(&(u64::MAX - 10).to_le_bytes());
            f
        }),
        (
            "segment past the end of the file",
            elf(
                2,
                0x400100,
                &[load(R | X, 0, 0x400000, 0x2000, 0x2000)],
                0x200,
                &[]
            )
        ),
        (
            "segment offset overflow",
            elf(
                2,
                0x400100,
                &[load(
                    R | X,
                    u64::MAX - 2,
                    0x400000 + ((u64::MAX - 2) & 0xfff),
                    0x10,
                    0x10
                )],
                0x200,
                &[]
            )
        ),
        (
            "filesz above memsz",
            elf(
                2,
                0x400100,
                &[load(R | X, 0, 0x400000, 0x200, 0x100)],
                0x200,
                &[]
            )
        ),
        (
            "not congruent",
            elf(
                2,
                0x400100,
                &[load(R | X, 0x10, 0x400000, 0x100, 0x100)],
                0x200,
                &[]
            )
        ),
        (
            "kernel address",
            elf(
                2,
                0xffff_8000_0000_0100,
                &[load(R | X, 0, 0xffff_8000_0000_0000, 0x200, 0x200)],
                0x200,
                &[]
            )
        ),
        (
            "address overflow",
            elf(
                2,
                0x400100,
                &[load(R | X, 0, 0xffff_ffff_ffff_f000, 0x200, 0x2000)],
                0x200,
                &[]
            )
        ),
        (
            "out of order",
            elf(
                2,
                0x401100,
                &[
                    load(R | X, 0x1000, 0x401000, 0x200, 0x200),
                    load(R, 0, 0x400000, 0x200, 0x200)
                ],
                0x1200,
                &[]
            )
        ),
        (
            "interpreter without NUL",
            elf(
                2,
                0x400100,
                &[
                    Ph {
                        ty: PT_INTERP,
                        flags: R,
                        offset: 0x100,
                        vaddr: 0x400100,
                        filesz: 4,
                        memsz: 4
                    },
                    load(R | X, 0, 0x400000, 0x200, 0x200)
                ],
                0x200,
                &[(0x100, b"/abc")]
            )
        ),
        (
            "interpreter past the end",
            elf(
                2,
                0x400100,
                &[
                    Ph {
                        ty: PT_INTERP,
                        flags: R,
                        offset: 0x1f0,
                        vaddr: 0,
                        filesz: 0x40,
                        memsz: 0x40
                    },
                    load(R | X, 0, 0x400000, 0x200, 0x200)
                ],
                0x200,
                &[]
            )
        ),
    ];
    for (what, f) in cases {
        let r = plan(&f, DYN_BASE);
        assert!(r.is_err(), "{what}: accepted: {r:?}");
        assert_eq!(r.unwrap_err().errno(), 8, "{what}: ENOEXEC");
    }
}

#[test]
fn misaligned_file_bytes_are_read() {
    // The file's bytes at an odd address (as they may sit in an initramfs).
    let f = static_exec();
    let mut shifted = alloc::vec![0u8; 1];
    shifted.extend_from_slice(&f);
    assert_eq!(plan(&shifted[1..], 0), plan(&f, 0));
}

#[test]
fn a_plan_from_the_first_page_is_the_whole_file_plan() {
    for path in ["/bin/true", "/bin/busybox"] {
        let Ok(f) = std::fs::read(path) else {
            continue;
        };
        let head = &f[..f.len().min(4096)];
        assert_eq!(
            plan_from_head(head, f.len() as u64, DYN_BASE),
            plan(&f, DYN_BASE),
            "{path}"
        );
    }
    // Segments are checked against the whole file's length, not the head's.
    let f = static_exec();
    assert!(plan_from_head(&f[..200], f.len() as u64, 0).is_ok());
    assert!(plan_from_head(&f[..200], 200, 0).is_err());
    assert!(plan_from_head(&f, 10, 0).is_err());
}

#[test]
fn real_dynamic_executable_and_its_interpreter() {
    // Debian's own binaries: /bin/true is a PIE naming ld.so; ld.so is ET_DYN on its own.
    let Ok(t) = std::fs::read("/bin/true") else {
        std::eprintln!("skipped: no /bin/true");
        return;
    };
    let p = plan(&t, DYN_BASE).unwrap();
    assert_eq!(p.kind, ElfKind::Dyn);
    let interp = p
        .interp
        .clone()
        .expect("a dynamic executable names its interpreter");
    assert!(interp.contains("ld-linux-x86-64.so.2"), "{interp}");
    assert!(p.phdr > DYN_BASE && p.entry > DYN_BASE);
    let ld = std::fs::read(&interp).unwrap();
    let l = plan(&ld, 0x7f00_0000_0000).unwrap();
    assert_eq!((l.kind, l.interp.clone()), (ElfKind::Dyn, None));
    assert!(l.segments.iter().any(|s| s.prot.exec));
}

#[derive(Default)]
struct ReadBack {
    argv: Vec<String>,
    envp: Vec<String>,
    auxv: Vec<(u64, u64)>,
}

/// Reads the stack image the way a libc's `_start` does.
fn read_back(st: &InitialStack) -> ReadBack {
    let word = |addr: u64| {
        let o = (addr - st.sp) as usize;
        u64::from_le_bytes(st.bytes[o..o + 8].try_into().unwrap())
    };
    let string = |addr: u64| {
        let o = (addr - st.sp) as usize;
        let end = st.bytes[o..].iter().position(|&b| b == 0).unwrap();
        String::from_utf8(st.bytes[o..o + end].to_vec()).unwrap()
    };
    let mut r = ReadBack::default();
    let argc = word(st.sp);
    let mut a = st.sp + 8;
    for _ in 0..argc {
        r.argv.push(string(word(a)));
        a += 8;
    }
    assert_eq!(word(a), 0, "argv ends in NULL");
    a += 8;
    while word(a) != 0 {
        r.envp.push(string(word(a)));
        a += 8;
    }
    a += 8;
    loop {
        let (k, v) = (word(a), word(a + 8));
        a += 16;
        if k == at::NULL {
            break;
        }
        r.auxv.push((k, v));
    }
    r
}

fn request<'a>(
    argv: &'a [&'a [u8]],
    envp: &'a [&'a [u8]],
    auxv: &'a [(u64, u64)],
) -> StackRequest<'a> {
    StackRequest {
        top: 0x7fff_ffff_e000,
        argv,
        envp,
        execfn: b"/bin/prog",
        platform: b"x86_64",
        auxv,
        random: *b"0123456789abcdef",
    }
}

#[test]
fn initial_stack_reads_back() {
    let p = plan(&static_exec(), 0).unwrap();
    let auxv = auxv_for(
        &p,
        None,
        &AuxvInput {
            hwcap: 0x178bfbff,
            uid: 0,
            gid: 0,
            clktck: 100,
            minsigstksz: 2048,
        },
    );
    let argv: [&[u8]; 3] = [b"/bin/prog", b"-x", b""];
    let envp: [&[u8]; 2] = [b"HOME=/", b"TERM=linux"];
    let st = build_stack(&request(&argv, &envp, &auxv)).unwrap();
    assert_eq!(st.sp % 16, 0, "psABI: 16-byte aligned at entry");
    assert_eq!(st.sp + st.bytes.len() as u64, 0x7fff_ffff_e000);
    let r = read_back(&st);
    assert_eq!(r.argv, ["/bin/prog", "-x", ""]);
    assert_eq!(r.envp, ["HOME=/", "TERM=linux"]);
    let get = |k| r.auxv.iter().find(|(t, _)| *t == k).map(|&(_, v)| v);
    assert_eq!(get(at::PHDR), Some(0x400040));
    assert_eq!(get(at::ENTRY), Some(0x400100));
    assert_eq!(get(at::PAGESZ), Some(4096));
    assert_eq!(get(at::BASE), Some(0));
    let random = get(at::RANDOM).unwrap();
    let o = (random - st.sp) as usize;
    assert_eq!(&st.bytes[o..o + 16], b"0123456789abcdef");
    let execfn = get(at::EXECFN).unwrap();
    let o = (execfn - st.sp) as usize;
    assert_eq!(&st.bytes[o..o + 10], b"/bin/prog\0");
    assert!(st.arg_start < st.env_end && st.env_end <= execfn);
}

#[test]
fn oversized_arguments_are_e2big() {
    let huge = alloc::vec![b'a'; MAX_ARG_STRLEN];
    let argv: [&[u8]; 1] = [&huge];
    assert_eq!(
        build_stack(&request(&argv, &[], &[])),
        Err(ExecError::TooBig)
    );
    let many: Vec<&[u8]> = (0..MAX_ARG_BYTES / 8).map(|_| &b"x"[..]).collect();
    assert_eq!(
        build_stack(&request(&many, &[], &[])),
        Err(ExecError::TooBig)
    );
    assert_eq!(ExecError::TooBig.errno(), 7);
    let nul: [&[u8]; 1] = [b"a\0b"];
    assert!(build_stack(&request(&nul, &[], &[])).is_err());
}

proptest! {
    #[test]
    fn plan_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = plan(&bytes, DYN_BASE);
    }

    #[test]
    fn plan_never_panics_on_mutated_files(pos in 0usize..0x1010, val in any::<u8>(), pos2 in 0usize..0x200, val2 in any::<u8>()) {
        let mut f = static_exec();
        f[pos] = val;
        f[pos2] = val2;
        if let Ok(p) = plan(&f, DYN_BASE) {
            for s in &p.segments {
                prop_assert!(s.start < s.end && s.end <= USER_END);
                prop_assert!(s.file_offset + s.file_len <= f.len() as u64);
                prop_assert!(!(s.prot.write && s.prot.exec));
            }
        }
    }

    #[test]
    fn stacks_read_back(argv in proptest::collection::vec("[a-z=/]{0,20}", 0..20), envp in proptest::collection::vec("[A-Z]{1,5}=[a-z]{0,10}", 0..20)) {
        let a: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
        let e: Vec<&[u8]> = envp.iter().map(|s| s.as_bytes()).collect();
        let st = build_stack(&request(&a, &e, &[(at::PAGESZ, 4096)])).unwrap();
        prop_assert_eq!(st.sp % 16, 0);
        let r = read_back(&st);
        prop_assert_eq!(r.argv, argv);
        prop_assert_eq!(r.envp, envp);
    }
}
