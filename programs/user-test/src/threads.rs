//! Scheduler checks from the program's side: `sched_yield` hands the CPU to another thread,
//! and a thread spinning without system calls is preempted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use progkit::sys;
use progkit::CheckResult;

/// Records `c` in the trace, then yields.
fn step(trace: &Mutex<Vec<u8>>, c: u8) {
    trace.lock().unwrap_or_else(|p| p.into_inner()).push(c);
    sys::sched_yield();
}

pub fn yield_interleaves() -> CheckResult {
    let trace = Arc::new(Mutex::new(Vec::with_capacity(6)));
    let other = {
        let trace = Arc::clone(&trace);
        thread::spawn(move || (0..3).for_each(|_| step(&trace, b'b')))
    };
    (0..3).for_each(|_| step(&trace, b'a'));
    other.join().map_err(|_| "the spawned thread panicked")?;
    let t = trace.lock().unwrap_or_else(|p| p.into_inner()).clone();
    println!("user-test: thread trace {}", String::from_utf8_lossy(&t));
    if t.iter().filter(|&&c| c == b'a').count() != 3
        || t.iter().filter(|&&c| c == b'b').count() != 3
    {
        return Err("a thread's steps are missing".into());
    }
    // On one CPU each yield hands the CPU to the other thread ("ababab"); a time slice ending
    // in the middle (a slow host) may shift a step, but one thread never runs all its steps
    // first. With several CPUs (a Linux host) the threads run side by side and the order is
    // whatever their start-up costs make it: not checked there.
    let cpus = thread::available_parallelism().map_or(1, usize::from);
    if cpus == 1 && (t == b"aaabbb" || t == b"bbbaaa") {
        return Err("the threads did not interleave".into());
    }
    Ok(())
}

/// Spins without any system call that could yield (clock reads do not) until told to stop;
/// `true` if it saw the flag, `false` if it gave up after 2 s.
fn spinner(stop: &AtomicBool) -> bool {
    let start = Instant::now();
    loop {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        if start.elapsed() > Duration::from_secs(2) {
            return false;
        }
        std::hint::spin_loop();
    }
}

/// While another thread spins, this one's 5 ms sleep still ends (the timer preempts the
/// spinner), and it can stop the spinner.
pub fn busy_loop_preempted() -> CheckResult {
    let stop = Arc::new(AtomicBool::new(false));
    let spin = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || spinner(&stop))
    };
    sys::sched_yield(); // the spinner starts
    let t0 = Instant::now();
    thread::sleep(Duration::from_millis(5));
    let woke = t0.elapsed();
    stop.store(true, Ordering::SeqCst);
    let saw_flag = spin.join().map_err(|_| "the spinner panicked")?;
    println!(
        "user-test: slept 5 ms beside a spinner, woke after {} us",
        woke.as_micros()
    );
    if !saw_flag {
        return Err("the sleeper only ran after the spinner gave up (no preemption)".into());
    }
    Ok(())
}
