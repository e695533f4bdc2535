//! Host implementations of the engine's platform traits: the OS RNG
//! (`/dev/urandom`) and a monotonic clock, for both engines.

use std::convert::Infallible;
use std::fs::File;
use std::io::Read;
use std::time::Instant;

use tpm12::Clock;

/// Random bytes from `/dev/urandom` (the kernel CSPRNG).
pub struct OsRng(File);

impl OsRng {
    /// Opens the device.
    pub fn new() -> std::io::Result<Self> {
        File::open("/dev/urandom").map(Self)
    }
}

/// rand_core 0.10: `TryRng` + `TryCryptoRng`; failure to read the kernel RNG is
/// unrecoverable for a TPM, so it aborts the process with a message.
impl tpm12::rand_core::TryRng for OsRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        tpm12::rand_core::utils::next_word_via_fill(self)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        tpm12::rand_core::utils::next_word_via_fill(self)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if let Err(e) = self.0.read_exact(dst) {
            eprintln!("tpm12-server: cannot read /dev/urandom: {e}");
            std::process::exit(1);
        }
        Ok(())
    }
}

impl tpm12::rand_core::TryCryptoRng for OsRng {}

/// Microseconds since the server started.
pub struct HostClock(Instant);

impl HostClock {
    /// Starts the clock.
    pub fn new() -> Self {
        Self(Instant::now())
    }
}

impl Default for HostClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for HostClock {
    fn now_us(&mut self) -> u64 {
        u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

impl tpm20::Clock for HostClock {
    fn now_us(&mut self) -> u64 {
        u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}
