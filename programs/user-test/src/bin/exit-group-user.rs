//! `exit-group-user`: one thread sleeps for a minute, one spins forever, and main calls
//! `exit_group(7)`: the program must end at once with status 7.

use std::thread;
use std::time::Duration;

fn main() {
    thread::spawn(|| thread::sleep(Duration::from_secs(60)));
    thread::spawn(|| loop {
        std::hint::spin_loop();
    });
    // SAFETY: sched_yield takes no arguments.
    unsafe {
        libc::sched_yield();
        libc::sched_yield();
    }
    // exit_group(7): std's exit ends every thread of the program.
    std::process::exit(7)
}
