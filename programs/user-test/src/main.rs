//! `user-test`: the system-call layer and the scheduler from a program's side. Prints
//! `user-test: <check> ok` per check and `user-test: all N checks passed`, and exits 0 only
//! if all pass; a failed check prints `user-test: FAIL <check>: <detail>`, the summary
//! `user-test: F of N checks failed`, and it exits 1.
//!
//! Starts the crash programs of this package (`crash-user`, `crash-user-gp`,
//! `crash-user-stack`, `exit-group-user`: `/bin/NAME` in rinet, the sibling files natively).
//! Its stdin must be at end of file (rinet's console; natively a null device) and its stdout
//! something that reads what is written (the console, a pipe, a file; not /dev/null, which
//! takes even a bad pointer).

mod calls;
mod fds;
mod files;
mod programs;
mod threads;

use std::process::ExitCode;

use progkit::{run_checks, Check};

const CHECKS: &[Check] = &[
    ("write to stdout", calls::write_stdout),
    (
        "clock advances across nanosleep",
        calls::clock_and_nanosleep,
    ),
    ("CPU-time clocks", calls::cpu_clocks),
    ("getrandom", calls::getrandom),
    (
        "sched_yield interleaves threads",
        threads::yield_interleaves,
    ),
    (
        "a ring-3 busy loop is preempted",
        threads::busy_loop_preempted,
    ),
    ("unknown syscall is ENOSYS", calls::unknown_syscall),
    ("bad pointers are EFAULT", calls::bad_pointers),
    ("close(99) is EBADF", fds::close_bad_fd),
    (
        "socket calls on the console are ENOTSOCK",
        fds::console_not_socket,
    ),
    ("socket() answers", fds::socket_answers),
    ("poll: console, bad fd, timeout", fds::poll_checks),
    ("console fds: read EOF, fcntl", fds::console_fds),
    (
        "a file under /tmp: create, write, read back, list, rename, cwd, unlink",
        files::tmp_file,
    ),
    ("pipe round trip and dup2", files::pipe_and_dup2),
    (
        "faulting programs are killed, we go on",
        programs::faulting_programs,
    ),
    (
        "exit_group ends sleeping and spinning threads",
        programs::exit_group_ends_threads,
    ),
];

fn main() -> ExitCode {
    let failed = run_checks("user-test", CHECKS);
    if failed == 0 {
        println!("user-test: all {} checks passed", CHECKS.len());
        ExitCode::SUCCESS
    } else {
        println!("user-test: {failed} of {} checks failed", CHECKS.len());
        ExitCode::FAILURE
    }
}
