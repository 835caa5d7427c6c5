//! Bad pointers in every pointer-taking system call: each kernel address of [`Targets`], the
//! first page, an unmapped one, non-canonical ones and the top of the address space (a
//! pointer that wraps with any length) must be `EFAULT` wherever the kernel reads from or
//! writes to it, and so must this program's own code and constants wherever the kernel would
//! write. Raw calls (`progkit::sys::syscall`): the exact errno is the point.
//!
//! The calls a libc needs (rinet's issue 13 list) and the socket calls must answer `EFAULT`;
//! the others ([`Need::Optional`]) may be `ENOSYS` in rinet, reported once as a note.
//!
//! [`Targets`]: crate::targets::Targets

use std::collections::BTreeSet;

use progkit::sys;
use progkit::{on_rinet, CheckResult, Errno};

use crate::calls_in::reading_calls;
use crate::calls_out::writing_calls;
use crate::config;
use crate::fixture::{readable, Fixture, Need, Ret};

/// Calls whose bad address holds a length the kernel reads before it writes.
const LENGTH_POINTERS: [&str; 3] = ["getsockname len", "getsockopt len", "readv iovec array"];

/// This program's own code and constants: readable, never writable.
fn own_read_only() -> [(&'static str, u64); 2] {
    [
        (
            "own code",
            bad_pointers as fn() -> CheckResult as usize as u64,
        ),
        ("own rodata", OWN_RODATA.as_ptr() as u64),
    ]
}

static OWN_RODATA: &str = "hostile-test: a constant";

pub fn bad_pointers() -> CheckResult {
    let f = Fixture::new()?;
    let targets = &config().targets;
    let rinet = on_rinet();
    let mut wrong = 0usize;
    // A readable kernel address would feed the calls kernel bytes as paths, addresses and
    // lengths (mkdir and rename then succeed): refused, or reported and skipped.
    let mut unreadable = Vec::new();
    let mut readable_kernel = Vec::new();
    for (what, b) in targets.unreadable() {
        if readable(&f, b) {
            readable_kernel.push(what);
        } else {
            unreadable.push((what, b));
            continue;
        }
        println!("hostile-test: {what} at {b:#x} is readable through write(2)");
        wrong += 1;
    }
    let mut missing = BTreeSet::new();
    let mut judge =
        |call: &'static str, need: Need, what: &str, ret: Ret, einval_ok: bool| match ret {
            Err(Errno::EFAULT) => {}
            Err(Errno::EINVAL) if einval_ok => {}
            Err(Errno::ENOSYS) if need == Need::Optional && rinet => {
                missing.insert(call);
            }
            other => {
                println!(
                    "hostile-test: {call} with {what}: got {}, want EFAULT",
                    sys::name(other)
                );
                wrong += 1;
            }
        };
    let reads = reading_calls(&f);
    for (what, b) in unreadable {
        for (call, need, c) in &reads {
            judge(call, *need, what, c(b), false);
        }
    }
    let writes = writing_calls(&f);
    let own = own_read_only();
    for (what, b) in targets.unwritable().into_iter().chain(own) {
        let readable = own.iter().any(|&(w, _)| w == what) || readable_kernel.contains(&what);
        for (call, need, c) in &writes {
            let einval_ok = readable && LENGTH_POINTERS.contains(call);
            judge(call, *need, what, c(b), einval_ok);
        }
    }
    // Drain what the calls left queued.
    let mut buf = [0u8; 64];
    while sys::recv(f.udp, &mut buf, libc::MSG_DONTWAIT).is_ok() {}
    let _ = sys::fcntl(f.pipe[0], libc::F_SETFL, libc::O_NONBLOCK as i64);
    while matches!(sys::read(f.pipe[0], &mut buf), Ok(n) if n > 0) {}
    for call in &missing {
        println!("hostile-test: note: {call} is ENOSYS here");
    }
    if wrong == 0 {
        Ok(())
    } else {
        Err(format!("{wrong} calls did not return EFAULT (lines above)"))
    }
}
