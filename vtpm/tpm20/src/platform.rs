//! What the engine needs from its host: randomness and a monotonic clock. The engine never
//! invents entropy: the primary seeds and every GetRandom byte come from the injected
//! [`TpmRng`]; TPM time (TPM2_ReadClock) comes from the injected [`Clock`].

use rand_core::CryptoRng;

/// A cryptographically secure RNG (rand_core 0.10 [`CryptoRng`]) the engine owns.
pub trait TpmRng: CryptoRng + Send {}
impl<T: CryptoRng + Send> TpmRng for T {}

/// A monotonic microsecond clock.
pub trait Clock: Send {
    /// Microseconds since an arbitrary, fixed origin; never decreases.
    fn now_us(&mut self) -> u64;
}

/// A clock that only moves when told to: for tests and deterministic replays.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(pub u64);

impl Clock for ManualClock {
    fn now_us(&mut self) -> u64 {
        self.0
    }
}
