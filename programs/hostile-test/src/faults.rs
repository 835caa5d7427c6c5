//! The faulting programs: `hostile-fault` started once per case, each with the address to
//! aim at, must die of SIGSEGV (status 139 in a shell) and the services must answer after
//! each. The cases aimed at another process read a page of this one.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};

use progkit::sys::syscall;
use progkit::{program_path, CheckResult};

use crate::{config, services_still_answer};

/// Where this program asks for the page another process then tries to read: far from where
/// a program's image, heap, stacks and mappings go (a hint; the page is wherever it lands).
const OTHER_PAGE_HINT: u64 = 0x3a5a_5a5a_0000;

/// Each case: its name (the program runs as `hostile-NAME`), the `hostile-fault` case and
/// the address it is given (a [`Targets`](crate::targets::Targets) key, or none).
const CASES: &[(&str, &str, Option<&str>)] = &[
    ("read-text", "read", Some("text")),
    ("write-text", "write", Some("text")),
    ("read-rodata", "read", Some("rodata")),
    ("write-rodata", "write", Some("rodata")),
    ("read-data", "read", Some("data")),
    ("write-data", "write", Some("data")),
    ("read-heap", "read", Some("heap")),
    ("read-direct-map", "read", Some("directmap")),
    ("read-kstack", "read", Some("kstack")),
    ("read-pagetables", "read", Some("pagetables")),
    ("write-pagetables", "write", Some("pagetables")),
    ("read-idt", "read-idt", Some("idt")),
    ("read-gdt", "read-gdt", Some("gdt")),
    ("jump-data", "jump", Some("data")),
    ("jump-heap", "jump", Some("heap")),
    ("jump-kernel-code", "jump", Some("text")),
    ("exec-stack", "exec-stack", None),
    ("exec-user-data", "exec-data", None),
    ("exec-heap", "exec-heap", None),
    ("write-own-code", "write-own-code", None),
    ("read-null", "read-null", None),
    ("read-noncanonical", "read-noncanonical", None),
];

/// The status as a shell shows it: the exit code, or 128 + the signal that ended it.
fn shell_status(s: ExitStatus) -> i32 {
    s.code().or(s.signal().map(|sig| 128 + sig)).unwrap_or(-1)
}

/// Runs `hostile-fault CASE [ADDRESS]` as `hostile-NAME`: whether it died of SIGSEGV.
fn run(name: &str, case: &str, addr: Option<u64>) -> Result<(), String> {
    let mut cmd = Command::new(program_path("hostile-fault"));
    cmd.arg0(format!("hostile-{name}")).arg(case);
    if let Some(a) = addr {
        cmd.arg(format!("{a:#x}"));
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start hostile-{name}: {e}"))?;
    println!(
        "hostile-test: hostile-{name} ended with status {}",
        shell_status(status)
    );
    if status.signal() == Some(libc::SIGSEGV) {
        Ok(())
    } else if status.code() == Some(42) {
        Err(format!("hostile-{name} was not stopped"))
    } else {
        Err(format!("hostile-{name} did not die of SIGSEGV"))
    }
}

/// A page of this process with data in it, unmapped when dropped.
struct OwnPage(u64);

impl OwnPage {
    fn map() -> Result<OwnPage, String> {
        let prot = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        let a = syscall(
            libc::SYS_mmap,
            [OTHER_PAGE_HINT, 4096, prot, flags, u64::MAX, 0],
        )
        .map_err(|e| format!("mmap: {}", e.name()))? as u64;
        syscall(libc::SYS_getrandom, [a, 64, 0, 0, 0, 0])
            .map_err(|e| format!("getrandom into the page: {}", e.name()))?;
        Ok(OwnPage(a))
    }
}

impl Drop for OwnPage {
    fn drop(&mut self) {
        let _ = syscall(libc::SYS_munmap, [self.0, 4096, 0, 0, 0, 0]);
    }
}

pub fn faulting_programs() -> CheckResult {
    let targets = &config().targets;
    let mut wrong = Vec::new();
    let mut record = |r: Result<(), String>| {
        if let Err(e) = r.and_then(|()| services_still_answer()) {
            println!("hostile-test: {e}");
            wrong.push(e);
        }
    };
    for &(name, case, key) in CASES {
        let addr = match key {
            Some("idt") => targets.idt,
            Some("gdt") => targets.gdt,
            Some(k) => Some(targets.get(k)),
            None => None,
        };
        record(run(name, case, addr));
    }
    let page = OwnPage::map()?;
    record(run("read-other-process", "read-other", Some(page.0)));
    drop(page);
    match wrong.len() {
        0 => Ok(()),
        n => Err(format!(
            "{n} hostile programs were not killed (lines above)"
        )),
    }
}
