//! Checks that start other programs: faulting ones die (SIGSEGV, status 139 in a shell) and
//! this one goes on; `exit_group` ends a program whose other threads sleep or spin.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use progkit::{program_path, CheckResult};

/// The status as a shell shows it: the exit code, or 128 + the signal that ended it.
fn shell_status(s: ExitStatus) -> i32 {
    s.code().or(s.signal().map(|sig| 128 + sig)).unwrap_or(-1)
}

fn run(name: &str) -> Result<ExitStatus, String> {
    Command::new(program_path(name))
        .status()
        .map_err(|e| format!("cannot start {name}: {e}"))
}

pub fn faulting_programs() -> CheckResult {
    for name in ["crash-user", "crash-user-gp", "crash-user-stack"] {
        let status = run(name)?;
        println!(
            "user-test: {name} ended with status {}",
            shell_status(status)
        );
        if status.signal() != Some(libc::SIGSEGV) {
            return Err(format!("{name} did not die of SIGSEGV (status 139)"));
        }
    }
    match Command::new(program_path("no-such-program")).status() {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => Err(format!(
            "starting a program that does not exist: {other:?}, want ENOENT"
        )),
    }
}

pub fn exit_group_ends_threads() -> CheckResult {
    let t0 = Instant::now();
    let status = run("exit-group-user")?;
    let took = t0.elapsed();
    println!(
        "user-test: exit-group-user ended with status {} after {} ms",
        shell_status(status),
        took.as_millis()
    );
    if status.code() != Some(7) {
        return Err("the program's status is not its exit_group(7)".into());
    }
    // Its sleeping thread would keep it for a minute.
    if took > Duration::from_secs(5) {
        return Err("the program's other threads kept it alive".into());
    }
    Ok(())
}
