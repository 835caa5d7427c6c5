//! What the programs of this workspace share: the check runner the test programs print their
//! verdicts with ([`run_checks`]), errno results and names ([`sys`]), finding another program
//! to start ([`program_path`]), and the RFC 864 chargen pattern ([`chargen`]).
//!
//! Plain std and `libc`; the raw calls std does not offer live in [`sys`], the only module
//! with `unsafe`.

pub mod chargen;
pub mod sys;

use std::path::{Path, PathBuf};

pub use uapi::Errno;

/// A check's outcome: `Err` carries what went wrong, for the FAIL line.
pub type CheckResult = Result<(), String>;

/// A named check.
pub type Check = (&'static str, fn() -> CheckResult);

/// Runs `checks` in order, printing `PROG: NAME ok` or `PROG: FAIL NAME: DETAIL` for each;
/// returns how many failed.
pub fn run_checks(prog: &str, checks: &[Check]) -> usize {
    let mut failed = 0;
    for (name, check) in checks {
        match check() {
            Ok(()) => println!("{prog}: {name} ok"),
            Err(detail) => {
                println!("{prog}: FAIL {name}: {detail}");
                failed += 1;
            }
        }
    }
    failed
}

/// Where program `name` is: the file next to this program (by its `argv[0]`) when there is
/// one — natively the build's output directory holds all of them — else `/bin/NAME`, rinet's
/// default initramfs. (`argv[0]` rather than `current_exe`: that reads /proc/self/exe, which
/// rinet has no call for.)
pub fn program_path(name: &str) -> PathBuf {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|me| me.parent().map(|dir| dir.join(name)))
        .filter(|sibling| sibling.parent() != Some(Path::new("")) && sibling.exists())
        .unwrap_or_else(|| PathBuf::from("/bin").join(name))
}

/// Whether this runs in rinet rather than on a Linux host: rinet names itself in `uname`'s
/// sysname, release or version (or has no `uname` yet); a Linux host never does. Gates the
/// few checks of limits rinet documents as different from Linux's.
pub fn on_rinet() -> bool {
    match sys::uname() {
        None => true,
        Some(fields) => fields
            .iter()
            .any(|f| f.to_ascii_lowercase().contains("rinet")),
    }
}
