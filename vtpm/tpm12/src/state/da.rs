//! Dictionary-attack (DA) mitigation state (Part 1 §19.3 leaves the policy to the vendor).
//!
//! The policy: every failed HMAC check counts one failure. From [`DA_THRESHOLD`] failures on,
//! each further failure locks authorized commands out for a doubling time, from
//! [`DA_BASE_LOCKOUT_S`] up to [`DA_MAX_LOCKOUT_S`] seconds. Decay: for every full
//! [`DA_DECAY_S`] seconds of TPM running time without a failure, one failure is forgiven
//! (the count never goes below zero; a failure restarts the quiet period). So a sustained
//! guessing attack is held to one guess per [`DA_MAX_LOCKOUT_S`], while occasional typos are
//! forgotten. TPM_ResetLockValue (owner-authorized) and owner clear reset everything.
//!
//! Two forms: [`DaState`] is the live state against the injected monotonic clock;
//! [`DaRecord`] is what the permanent state (and so the image) carries, free of clock
//! readings: the failure count, the lockout time still to run and the quiet time so far.
//! Only running time counts, so restarting the TPM neither ends a lockout nor speeds decay.

use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;

/// Failures before the lockout starts.
pub const DA_THRESHOLD: u16 = 10;
/// First lockout period, seconds; doubles with each further failure.
pub const DA_BASE_LOCKOUT_S: u64 = 10;
/// Longest lockout period, seconds.
pub const DA_MAX_LOCKOUT_S: u64 = 3600;
/// Running time without a failure that forgives one failure, seconds.
pub const DA_DECAY_S: u64 = DA_MAX_LOCKOUT_S;

const US: u64 = 1_000_000;

/// The DA state as stored in the permanent state (clock independent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaRecord {
    /// Failures counted.
    pub failures: u16,
    /// Lockout time still to run, µs.
    pub lockout_remaining_us: u64,
    /// Running time since the last failure or forgiven failure, µs.
    pub quiet_us: u64,
}

impl DaRecord {
    /// Storage encoding.
    pub fn encode(&self, w: &mut Writer) {
        w.u16(self.failures).u64(self.lockout_remaining_us).u64(self.quiet_us);
    }

    /// Inverse of [`DaRecord::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        Ok(Self { failures: r.u16()?, lockout_remaining_us: r.u64()?, quiet_us: r.u64()? })
    }
}

/// The live DA state; times are readings of the injected clock (µs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaState {
    /// Failures counted.
    pub failures: u16,
    /// Clock reading until which authorized commands are refused.
    pub locked_until_us: u64,
    /// Clock reading at which the current quiet period (re)started.
    quiet_since_us: u64,
    /// Quiet time carried over from before `quiet_since_us` (from a stored record).
    quiet_carry_us: u64,
}

impl DaState {
    /// The live state for a stored record, at clock reading `now`.
    pub fn from_record(rec: &DaRecord, now: u64) -> Self {
        Self {
            failures: rec.failures,
            locked_until_us: if rec.lockout_remaining_us == 0 {
                0
            } else {
                now.saturating_add(rec.lockout_remaining_us)
            },
            quiet_since_us: now,
            quiet_carry_us: rec.quiet_us,
        }
    }

    /// The record to store, at clock reading `now`.
    pub fn record(&self, now: u64) -> DaRecord {
        DaRecord {
            failures: self.failures,
            lockout_remaining_us: self.remaining_us(now),
            quiet_us: if self.failures == 0 { 0 } else { self.quiet_us(now) },
        }
    }

    fn quiet_us(&self, now: u64) -> u64 {
        self.quiet_carry_us.saturating_add(now.saturating_sub(self.quiet_since_us))
    }

    /// Lockout time still to run at `now`, µs.
    pub fn remaining_us(&self, now: u64) -> u64 {
        self.locked_until_us.saturating_sub(now)
    }

    /// True while authorized commands are locked out.
    pub fn locked(&self, now: u64) -> bool {
        self.locked_until_us > now
    }

    /// Forgives one failure per full [`DA_DECAY_S`] of quiet time; true if the count changed.
    pub fn decay(&mut self, now: u64) -> bool {
        if self.failures == 0 {
            return false;
        }
        let period = DA_DECAY_S * US;
        let quiet = self.quiet_us(now);
        let n = quiet / period;
        if n == 0 {
            return false;
        }
        self.failures = self.failures.saturating_sub(u16::try_from(n).unwrap_or(u16::MAX));
        // Keep the remainder of the quiet period.
        self.quiet_since_us = now;
        self.quiet_carry_us = quiet % period;
        true
    }

    /// Counts one failure at `now` and starts or extends the lockout.
    pub fn fail(&mut self, now: u64) {
        self.decay(now);
        self.failures = self.failures.saturating_add(1);
        self.quiet_since_us = now;
        self.quiet_carry_us = 0;
        if self.failures >= DA_THRESHOLD {
            let extra = u32::from(self.failures - DA_THRESHOLD).min(20);
            let secs = DA_BASE_LOCKOUT_S.saturating_mul(1u64 << extra).min(DA_MAX_LOCKOUT_S);
            self.locked_until_us = now.saturating_add(secs * US);
        }
    }

    /// True if there is anything to reset.
    pub fn is_clear(&self, now: u64) -> bool {
        self.failures == 0 && !self.locked(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_forgives_one_failure_per_quiet_period() {
        let mut d = DaState::default();
        for _ in 0..3 {
            d.fail(0);
        }
        assert!(!d.decay(DA_DECAY_S * US - 1));
        assert!(d.decay(DA_DECAY_S * US));
        assert_eq!(d.failures, 2);
        // The remainder carries: 1.5 periods later, one more.
        assert!(d.decay(DA_DECAY_S * US * 5 / 2));
        assert_eq!(d.failures, 1);
        assert!(d.decay(DA_DECAY_S * US * 3));
        assert_eq!(d.failures, 0);
        assert!(!d.decay(u64::MAX));
    }

    #[test]
    fn a_failure_restarts_the_quiet_period() {
        let mut d = DaState::default();
        d.fail(0);
        d.fail(DA_DECAY_S * US - 10);
        assert!(!d.decay(DA_DECAY_S * US + 10));
        assert_eq!(d.failures, 2);
    }

    #[test]
    fn record_round_trip_keeps_running_time_only() {
        let mut d = DaState::default();
        for _ in 0..DA_THRESHOLD {
            d.fail(1_000);
        }
        let rec = d.record(1_000 + 4 * US);
        assert_eq!(rec.failures, DA_THRESHOLD);
        assert_eq!(rec.lockout_remaining_us, (DA_BASE_LOCKOUT_S - 4) * US);
        assert_eq!(rec.quiet_us, 4 * US);
        // Restored under a clock that starts anywhere: the same time is still to run.
        let r = DaState::from_record(&rec, 77);
        assert!(r.locked(77 + (DA_BASE_LOCKOUT_S - 4) * US - 1));
        assert!(!r.locked(77 + (DA_BASE_LOCKOUT_S - 4) * US));
        assert_eq!(r.record(77 + US).quiet_us, 5 * US);
        let mut w = Writer::new();
        rec.encode(&mut w);
        assert_eq!(DaRecord::decode(&mut Reader::new(w.as_slice())), Ok(rec));
    }
}
