//! The clock for a dom0 process: monotonic time from `std::time::Instant`, counted from when the
//! clock was made (the driver interface only compares and adds these values). Waiting is done by
//! [`crate::Dom0`], which polls its event-channel and xenstore descriptors until the deadline.

use std::time::Instant;

/// Monotonic nanoseconds since [`StdClock::new`].
#[derive(Clone, Copy, Debug)]
pub struct StdClock {
    epoch: Instant,
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl StdClock {
    pub fn new() -> Self {
        StdClock { epoch: Instant::now() }
    }

    /// Nanoseconds since the clock was made.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Milliseconds from now until `deadline_ns` (rounded up, capped for `poll`).
    pub fn ms_until(&self, deadline_ns: u64) -> i32 {
        let ms = deadline_ns.saturating_sub(self.now_ns()).div_ceil(1_000_000);
        i32::try_from(ms).unwrap_or(i32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_moves_forward_and_deadlines_round_up() {
        let c = StdClock::new();
        let a = c.now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(c.now_ns() >= a + 2_000_000);
        assert_eq!(c.ms_until(0), 0);
        let now = c.now_ns();
        assert!((1..=2).contains(&c.ms_until(now + 1_500_000)));
        assert_eq!(c.ms_until(u64::MAX), i32::MAX);
    }
}
