//! The manager's random numbers: ChaCha20 (rand_chacha) keyed with SHA-256 over everything
//! the image could gather (the CPU's RDSEED/RDRAND samples, the time stamp counter, the
//! hardware TPM's `GetRandom`), and rekeyed by [`MgrRng::mix`] when more arrives. It makes the
//! nonces of TPM 1.2 sessions, OAEP seeds, half of a new root secret and the root record's
//! AEAD nonces. Pure and host-tested; the image feeds it.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng, TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const LABEL: &[u8] = b"xen-vtpm-rs vtpmmgr rng v1";

/// The manager's CSPRNG.
pub struct MgrRng {
    inner: ChaCha20Rng,
    /// Bytes of real entropy mixed in so far (as claimed by the callers).
    pub mixed: usize,
}

impl MgrRng {
    /// A generator keyed from `material` (wiped by its owner).
    pub fn new(material: &[u8]) -> MgrRng {
        let mut h = Sha256::new();
        h.update(LABEL);
        h.update(material);
        let key = Zeroizing::new(<[u8; 32]>::from(h.finalize()));
        MgrRng { inner: ChaCha20Rng::from_seed(*key), mixed: material.len() }
    }

    /// Rekeys with 32 bytes of the current stream and `material`: the new key depends on
    /// both, and earlier output cannot be recomputed from the new state.
    pub fn mix(&mut self, material: &[u8]) {
        let mut old = Zeroizing::new([0u8; 32]);
        self.inner.fill_bytes(&mut old[..]);
        let mut h = Sha256::new();
        h.update(LABEL);
        h.update(&old[..]);
        h.update(material);
        let key = Zeroizing::new(<[u8; 32]>::from(h.finalize()));
        self.inner = ChaCha20Rng::from_seed(*key);
        self.mixed += material.len();
    }
}

impl TryRng for MgrRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.inner.next_u32())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.inner.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.inner.fill_bytes(dst);
        Ok(())
    }
}

impl TryCryptoRng for MgrRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_by_material_and_changed_by_mix() {
        let out = |r: &mut MgrRng| {
            let mut b = [0u8; 32];
            r.fill_bytes(&mut b);
            b
        };
        let (mut a, mut b) = (MgrRng::new(b"one"), MgrRng::new(b"one"));
        assert_eq!(out(&mut a), out(&mut b), "deterministic in its material");
        assert_ne!(out(&mut MgrRng::new(b"one")), out(&mut MgrRng::new(b"two")));
        let mut c = MgrRng::new(b"one");
        let first = out(&mut c);
        c.mix(b"tpm");
        let mut d = MgrRng::new(b"one");
        assert_eq!(out(&mut d), first);
        d.mix(b"other");
        assert_ne!(out(&mut c), out(&mut d), "mix depends on its material");
        assert_eq!(c.mixed, 6);
    }
}
