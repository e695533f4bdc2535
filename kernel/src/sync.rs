//! Cells for the kernel's global state. A PV stub domain runs one vCPU, takes no event
//! upcalls (events are polled) and treats every trap as fatal, so nothing ever runs
//! concurrently with normal code: a `RefCell` suffices, and a re-entrant borrow (only
//! possible from the fatal-trap path) is reported instead of aliasing.

use core::cell::{RefCell, UnsafeCell};
use core::sync::atomic::{AtomicBool, Ordering};

/// Global mutable state, borrowed for the duration of a closure.
pub struct Global<T>(RefCell<T>);

// SAFETY: single vCPU, no upcalls, no threads (module docs): there is never a second
// accessor on another execution context; RefCell catches same-context re-entry.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    pub const fn new(v: T) -> Self {
        Global(RefCell::new(v))
    }

    /// Runs `f` with the state borrowed mutably. Panics on re-entry (a kernel bug).
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }

    /// Like `with`, but returns `None` instead of panicking if already borrowed.
    pub fn try_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.0.try_borrow_mut().ok().map(|mut b| f(&mut b))
    }
}

impl<T> Default for InitOnce<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A value written once during boot and read-only afterwards.
pub struct InitOnce<T> {
    set: AtomicBool,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written once (guarded by `set`) before any reader can observe `set`,
// and only shared references are handed out afterwards; single vCPU (module docs).
unsafe impl<T> Sync for InitOnce<T> {}

impl<T> InitOnce<T> {
    pub const fn new() -> Self {
        InitOnce { set: AtomicBool::new(false), value: UnsafeCell::new(None) }
    }

    /// Stores the value; a second call is ignored (returns false).
    pub fn init(&self, v: T) -> bool {
        if self.set.load(Ordering::Acquire) {
            return false;
        }
        // SAFETY: `set` is false, so no reference to the value has been handed out yet.
        unsafe { *self.value.get() = Some(v) };
        self.set.store(true, Ordering::Release);
        true
    }

    pub fn get(&self) -> Option<&T> {
        if !self.set.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: once `set` is true the value is never written again.
        unsafe { (*self.value.get()).as_ref() }
    }
}
