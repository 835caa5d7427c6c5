//! Locks for a single-CPU kernel whose interrupt handlers may touch shared state: every lock
//! here disables interrupts while held, so a handler can never spin on a lock its own CPU holds.
//!
//! Owns: `IrqMutex` (a `spin::Mutex` plus interrupt masking), `IrqRawMutex` (the same as a
//! `lock_api::RawMutex`, for talc) and `SingleCpu` (how state that is not `Send` may sit in a
//! static lock on this one-CPU kernel). Never holds interrupts off beyond the guard's life.
//! Re-exported as `crate::sync`.

use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::instructions::interrupts;

/// A spin lock that keeps interrupts disabled while it is held (restoring the previous state).
pub struct IrqMutex<T> {
    inner: spin::Mutex<T>,
}

impl<T> IrqMutex<T> {
    pub const fn new(value: T) -> Self {
        IrqMutex {
            inner: spin::Mutex::new(value),
        }
    }

    pub fn lock(&self) -> IrqGuard<'_, T> {
        let were_enabled = interrupts::are_enabled();
        interrupts::disable();
        IrqGuard {
            guard: ManuallyDrop::new(self.inner.lock()),
            were_enabled,
        }
    }
}

pub struct IrqGuard<'a, T> {
    guard: ManuallyDrop<spin::MutexGuard<'a, T>>,
    were_enabled: bool,
}

impl<T> Deref for IrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T> Drop for IrqGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard is dropped exactly once, here, before interrupts come back on.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        if self.were_enabled {
            interrupts::enable();
        }
    }
}

/// `lock_api` raw mutex with the same interrupt discipline, for the talc heap.
pub struct IrqRawMutex {
    locked: AtomicBool,
    /// Interrupt flag at `lock` time, restored by `unlock` (one CPU: one holder at a time).
    saved_if: AtomicBool,
}

// SAFETY: `lock` only returns once `locked` went false -> true by this caller (acquire
// ordering), and `unlock` releases it (release ordering), so at most one holder exists.
unsafe impl lock_api::RawMutex for IrqRawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = IrqRawMutex {
        locked: AtomicBool::new(false),
        saved_if: AtomicBool::new(false),
    };
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        let were_enabled = interrupts::are_enabled();
        interrupts::disable();
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        self.saved_if.store(were_enabled, Ordering::Relaxed);
    }

    fn try_lock(&self) -> bool {
        let were_enabled = interrupts::are_enabled();
        interrupts::disable();
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.saved_if.store(were_enabled, Ordering::Relaxed);
            true
        } else {
            if were_enabled {
                interrupts::enable();
            }
            false
        }
    }

    unsafe fn unlock(&self) {
        let were_enabled = self.saved_if.load(Ordering::Relaxed);
        self.locked.store(false, Ordering::Release);
        if were_enabled {
            interrupts::enable();
        }
    }
}

/// A value that is not `Send` (it holds trait objects without a `Send` bound, such as the
/// network stack's devices and sockets), made storable in a `static` lock.
///
/// Only for state that interrupt handlers never reach: every access must go through the lock
/// that holds the `SingleCpu`, from thread context.
pub struct SingleCpu<T>(pub T);

// SAFETY: `Send` matters only when two contexts can use the value (or things it shares, like
// an `Rc`'s count) at once. The kernel runs on one CPU and kernel threads are never preempted by
// each other (`sched`: cooperative in the kernel), so the only other context is an interrupt
// handler, and this type is only for state no handler reaches (its contract above): a value
// behind a `SingleCpu` is never used from two contexts at once.
unsafe impl<T> Send for SingleCpu<T> {}
