//! `epoll-test`: the event interfaces through raw system calls, as event loops use them:
//! epoll's argument checks and errnos, level triggering, edge triggering (`EPOLLET`) and
//! `EPOLLONESHOT` on a pipe, an eventfd and a TCP connection over loopback (with
//! `EPOLLRDHUP`), a wait woken by another thread, nested instances, a closed descriptor
//! leaving the interest list, `select`/`pselect6`, and timerfds (relative, absolute, interval,
//! blocking and non-blocking reads, as an epoll source). Prints `epoll-test: <check> ok` per
//! check and `epoll-test: all N checks passed`; exits 0 only if every check passes.
//!
//! Every wait that must report something blocks with a long timeout (never a timing
//! assertion): a kernel that fails to wake the waiter fails the check by timing out.

mod checks_epoll;
mod checks_select;
mod sys;

use std::process::ExitCode;

use progkit::{run_checks, Check};

const CHECKS: &[Check] = &[
    (
        "epoll_create and epoll_ctl errnos",
        checks_epoll::ctl_errors,
    ),
    ("level-triggered pipe", checks_epoll::level_pipe),
    ("edge-triggered pipe", checks_epoll::edge_pipe),
    (
        "one-shot eventfd re-armed by MOD",
        checks_epoll::oneshot_eventfd,
    ),
    (
        "tcp over loopback: wakes, edges, rdhup",
        checks_epoll::tcp_loopback,
    ),
    (
        "a wait woken by another thread",
        checks_epoll::woken_by_thread,
    ),
    (
        "closing a watched descriptor forgets it",
        checks_epoll::close_forgets,
    ),
    ("nested epoll and ELOOP", checks_epoll::nested),
    ("select and pselect6 on a pipe", checks_select::select_pipe),
    (
        "timerfd relative, interval, absolute",
        checks_select::timerfd_basic,
    ),
    (
        "timerfd in epoll and blocking read",
        checks_select::timerfd_wakes,
    ),
];

fn main() -> ExitCode {
    let failed = run_checks("epoll-test", CHECKS);
    if failed == 0 {
        println!("epoll-test: all {} checks passed", CHECKS.len());
        ExitCode::SUCCESS
    } else {
        println!("epoll-test: {failed} of {} checks failed", CHECKS.len());
        ExitCode::from(1)
    }
}
