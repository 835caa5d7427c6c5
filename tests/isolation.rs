//! Hostile programs against the kernel (`init=hostile-test`, programs/hostile-test: the std
//! program `/bin/hostile-test` and its faulting helper `/bin/hostile-fault`): bad pointers in
//! every pointer-taking system call get EFAULT, huge lengths get short counts or errors,
//! thread, program and memory floods are refused, and each program that reads, writes or
//! jumps into the kernel, another process or its own stack, data and heap is killed with
//! status 139 while the services it started keep answering. The kernel addresses it aims at
//! are read here from the kernel ELF (`target/rinet-kernel`) and passed on the kernel command
//! line after `--`: the program itself knows only Linux's. Runs on microvm, q35 and pc, with
//! 128, 16 and 8 MiB of RAM; after the guest reports its verdict the host checks TCP and UDP
//! echo through the NIC, and the console must show no kernel panic or exception.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use object::elf::PT_LOAD;
use object::read::elf::{ElfFile64, ProgramHeader};
use object::{Endianness, Object, ObjectSection, ObjectSymbol};
use rinet::initramfs::{self, Member};
use rinet::services::{echo_payloads, udp_echo, wait_for_echo, Endpoints};
use rinet::{free_port_base, kernel_path, Guest, Machine, Net};

/// From QEMU start to the guest's verdict: the cases take a few seconds under TCG; the
/// margin is for a host loaded by other builds.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(180);
/// The end of hostile-test's verdict line `hostile-test: all N cases passed`.
const PASSED: &str = " cases passed";

/// Where the kernel maps all physical memory (kernel/src/mem: `PHYS_OFFSET`).
const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;

/// The `NAME=ADDRESS` words for hostile-test, from the kernel ELF's sections and symbols:
/// its text, rodata and data, a heap address past the image's end, the boot stack, the boot
/// page tables, the IDT and GDT, and the kernel text seen through the direct map.
fn kernel_targets() -> Vec<String> {
    let path = kernel_path();
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let elf = ElfFile64::<Endianness>::parse(&*data).expect("the kernel is an ELF64 file");
    let section = |name: &str| {
        elf.section_by_name(name)
            .unwrap_or_else(|| panic!("the kernel ELF has no {name} section"))
            .address()
    };
    let symbol = |what: &str, matches: &dyn Fn(&str) -> bool| {
        elf.symbols()
            .find(|s| s.name().is_ok_and(matches))
            .map(|s| s.address())
            .ok_or_else(|| format!("the kernel ELF has no symbol for the {what}"))
    };
    let required = |name: &str| symbol(name, &|n| n == name).unwrap();
    let text = section(".text");
    // Kernel text's physical address: through the load segment that holds it.
    let endian = elf.endian();
    let phys_text = elf
        .elf_program_headers()
        .iter()
        .filter(|ph| ph.p_type(endian) == PT_LOAD)
        .find(|ph| {
            let start = ph.p_vaddr(endian);
            (start..start + ph.p_memsz(endian)).contains(&text)
        })
        .map(|ph| text - ph.p_vaddr(endian) + ph.p_paddr(endian))
        .expect("a load segment holds the kernel text");
    let mut words = vec![
        format!("text={text:#x}"),
        format!("rodata={:#x}", section(".rodata")),
        format!("data={:#x}", section(".data")),
        // The frame bitmap and the heap's first arena follow the image.
        format!("heap={:#x}", required("__kernel_end") + 0x1_0000),
        format!("kstack={:#x}", required("boot_stack_top") - 64),
        format!("pagetables={:#x}", required("boot_pml4")),
        format!("directmap={:#x}", DIRECT_MAP_BASE + phys_text),
    ];
    // kernel::arch::idt::IDT and kernel::arch::gdt::GDT (mangled); without them hostile-fault
    // finds the tables with sidt/sgdt.
    for (key, mangled) in [("idt", "3IDT17h"), ("gdt", "3GDT17h")] {
        if let Ok(addr) = symbol(key, &|n| n.contains(mangled)) {
            words.push(format!("{key}={addr:#x}"));
        }
    }
    words
}

/// Where build.rs put the programs of programs/.
fn programs_dir() -> PathBuf {
    PathBuf::from(env!("RINET_PROGRAMS"))
}

/// The programs the suite runs, stripped (with the host's `strip`), in an initramfs, gzip'd
/// (`gzip`) if `compressed`: a few hundred KiB where the default initramfs, every program of
/// programs/, takes more memory than a 16 or 8 MiB guest has. In 8 MiB the archive goes
/// uncompressed: the kernel inflates a gzip'd one into its heap before unpacking it, and the
/// heap does not hand those frames back. Made once per test run.
fn small_initramfs(compressed: bool) -> &'static Path {
    static IMAGES: [OnceLock<PathBuf>; 2] = [OnceLock::new(), OnceLock::new()];
    IMAGES[usize::from(compressed)].get_or_init(|| {
        let tmp = std::env::temp_dir();
        let pid = std::process::id();
        let mut files = Vec::new();
        for name in ["hostile-test", "hostile-fault", "services"] {
            // Per image: the two are made at once by tests running side by side.
            let stripped = tmp.join(format!("rinet-isolation-{pid}-{compressed}-{name}"));
            let status = Command::new("strip")
                .arg("-o")
                .arg(&stripped)
                .arg(programs_dir().join(name))
                .status()
                .expect("run strip");
            assert!(status.success(), "strip {name}");
            files.push((format!("bin/{name}"), std::fs::read(&stripped).unwrap()));
            let _ = std::fs::remove_file(&stripped);
        }
        let mut members = vec![Member::Dir("bin"), Member::Dir("tmp")];
        for (path, data) in &files {
            members.push(Member::File(path, 0o755, data));
        }
        let cpio = initramfs::newc(&members);
        if !compressed {
            let image = tmp.join(format!("rinet-isolation-{pid}.cpio"));
            std::fs::write(&image, cpio).unwrap();
            return image;
        }
        let mut gzip = Command::new("gzip")
            .args(["-9", "-c"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run gzip");
        let mut input = gzip.stdin.take().unwrap();
        let writer = std::thread::spawn(move || input.write_all(&cpio));
        let out = gzip.wait_with_output().expect("gzip");
        writer.join().unwrap().expect("feed gzip");
        assert!(out.status.success(), "gzip");
        let image = tmp.join(format!("rinet-isolation-{pid}.cpio.gz"));
        std::fs::write(&image, out.stdout).unwrap();
        image
    })
}

fn hostile_suite(machine: Machine, memory: &str) {
    let targets = kernel_targets();
    let base = free_port_base();
    let mut guest = Guest::new(machine);
    guest = guest
        .net(Net::User { port_base: base })
        .memory(memory)
        .append(&format!("init=hostile-test -- {}", targets.join(" ")));
    // The default initramfs at 128 MiB; at 16 and 8 MiB only what the suite runs.
    if memory != "128M" {
        guest = guest.initrd(small_initramfs(memory != "8M"));
    }
    let mut guest = guest.spawn();
    let verdict = guest.wait_for(PASSED, VERDICT_TIMEOUT);
    let ep = Endpoints::from_base(IpAddr::V4(Ipv4Addr::LOCALHOST), base);
    let host_checks = verdict
        .ok_or_else(|| "no verdict from hostile-test".to_string())
        .and_then(|_| {
            wait_for_echo(ep.echo, Duration::from_secs(30))?;
            echo_payloads(ep.echo, &[1, 1000, 100_000])?;
            udp_echo(ep.udp_echo, 5, &[1, 1000])
        });
    let out = guest.kill();
    let console = &out.console;
    let bad = ["FAIL", "PANIC", "rinet: EXCEPTION", "rinet: failure"]
        .into_iter()
        .find(|b| console.contains(b));
    if host_checks.is_err() || bad.is_some() {
        let lines: Vec<&str> = console.lines().collect();
        let tail = &lines[lines.len().saturating_sub(80)..];
        let failures: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.contains("FAIL") || l.contains("want") || l.contains("differs"))
            .collect();
        panic!(
            "{} -m {memory}: host checks {:?}, console shows {:?}\n--- failure lines ---\n{}\n--- guest console (last {} lines) ---\n{}",
            machine.name(),
            host_checks.err(),
            bad,
            failures.join("\n"),
            tail.len(),
            tail.join("\n")
        );
    }
    for difference in console
        .lines()
        .filter(|l| l.contains("rinet differs from Linux"))
    {
        println!("{} -m {memory}: {difference}", machine.name());
    }
    // The program aimed at the addresses given.
    let text = &targets[0]["text=".len()..];
    assert!(console.contains(&format!("hostile-test: kernel text at {text}")));
    assert!(console.contains(&format!("hostile-fault: writing {text}")));
    assert!(console.contains("program hostile-fault killed: page fault at RIP"));
    assert!(console.contains("hostile-test: hostile-write-text ended with status 139"));
    assert!(console.contains("hostile-test: hostile-exec-stack ended with status 139"));
    // No kernel page is a program's: reading the image's text and rodata kills the reader.
    assert!(console.contains("hostile-test: hostile-read-text ended with status 139"));
    assert!(console.contains("hostile-test: hostile-read-rodata ended with status 139"));
    // The services answered at once beside a program computing without a pause.
    assert!(console.contains("hostile-test: a busy program does not hold up the services ok"));
    // TCG's `-cpu max` has both; the kernel turns them on.
    assert!(console.contains("paging: SMEP on, SMAP on"));
}

#[test]
fn kernel_targets_name_kernel_addresses() {
    let words = kernel_targets();
    for key in [
        "text",
        "rodata",
        "data",
        "heap",
        "kstack",
        "pagetables",
        "directmap",
    ] {
        let word = words
            .iter()
            .find(|w| w.starts_with(&format!("{key}=0x")))
            .unwrap_or_else(|| panic!("no {key}= in {words:?}"));
        let addr = u64::from_str_radix(&word[key.len() + 3..], 16).unwrap();
        assert!(addr >= 0x1000, "{word}: not a kernel address");
    }
}

#[test]
fn hostile_programs_on_microvm() {
    hostile_suite(Machine::Microvm, "128M");
}

#[test]
fn hostile_programs_on_q35() {
    hostile_suite(Machine::Q35, "128M");
}

#[test]
fn hostile_programs_on_pc() {
    hostile_suite(Machine::Pc, "128M");
}

#[test]
fn hostile_programs_in_16m_on_every_machine() {
    for m in Machine::ALL {
        hostile_suite(m, "16M");
    }
}

#[test]
fn hostile_programs_in_8m_on_every_machine() {
    for m in Machine::ALL {
        hostile_suite(m, "8M");
    }
}
