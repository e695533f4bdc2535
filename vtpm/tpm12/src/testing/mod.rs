//! Test helpers: a deterministic RNG and a shared test EK. NOT for production:
//! the RNG is a seeded SHA-1 counter generator, predictable by design so tests,
//! fuzzing and differential replays are reproducible.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};

pub mod client;
pub mod transport;

use crate::crypto::{RsaKey, sha1};
use crate::platform::ManualClock;
use crate::{Tpm, TpmOptions};

/// Deterministic RNG: block i = SHA-1(seed ‖ i).
#[derive(Clone, Debug)]
pub struct DetRng {
    seed: [u8; 20],
    counter: u64,
    buf: Vec<u8>,
}

impl DetRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self { seed: sha1(&[&seed.to_be_bytes()]), counter: 0, buf: Vec::new() }
    }
}

impl TryRng for DetRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        rand_core::utils::next_word_via_fill(self)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        rand_core::utils::next_word_via_fill(self)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for d in dst.iter_mut() {
            if self.buf.is_empty() {
                self.buf = sha1(&[&self.seed, &self.counter.to_be_bytes()]).to_vec();
                self.counter += 1;
            }
            *d = self.buf.pop().unwrap_or(0);
        }
        Ok(())
    }
}

impl TryCryptoRng for DetRng {}

/// A 2048-bit EK generated once per process from a fixed seed (keygen is slow
/// in debug builds).
#[cfg(test)]
pub fn test_ek() -> RsaKey {
    use std::sync::OnceLock;
    static EK: OnceLock<RsaKey> = OnceLock::new();
    EK.get_or_init(|| {
        let mut rng = DetRng::new(0xE4);
        RsaKey::generate(&mut rng, 2048).expect("test EK generation")
    })
    .clone()
}

/// A manufactured, powered-on TPM (TPM_Init done, no Startup yet) with the given EK.
pub fn tpm_with_ek(ek: RsaKey, seed: u64, options: TpmOptions) -> Tpm {
    match Tpm::manufacture_with_ek(ek, Box::new(DetRng::new(seed)), Box::new(ManualClock(0)), options) {
        Ok(t) => t,
        Err(rc) => panic!("manufacture failed: {rc:?}"),
    }
}

/// Builds a request: tag, paramSize, ordinal, body ([`tpm_frame::command`]).
pub fn request(tag: u16, ordinal: u32, body: &[u8]) -> Vec<u8> {
    tpm_frame::command(tag, ordinal, body)
}

/// The return code of a response (u32::MAX if it is shorter than a header).
pub fn response_rc(resp: &[u8]) -> u32 {
    tpm_frame::return_code(resp).unwrap_or(u32::MAX)
}
