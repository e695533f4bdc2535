//! The engine's random numbers: a ChaCha20 CSPRNG (rand_chacha) keyed from the entropy pool
//! the image collects at boot (`entropy.rs`), and rekeyed as it runs.
//!
//! - **Extraction**: the 256-bit key is HKDF-SHA256 (RFC 5869) of the pool: `PRK =
//!   HMAC-SHA256(salt, pool)`, `key = HMAC-SHA256(PRK, info ‖ 0x01)`, with a fixed salt and an
//!   `info` string naming the use. The pool is wiped by its owner; the key is wiped here.
//! - **Reseeding** ([`ReseedingRng`]): after every [`RESEED_BYTES`] of output the stream is
//!   rekeyed with HKDF of 32 bytes of its own output and fresh samples from a strong CPU source
//!   (RDSEED, else RDRAND, sanity-checked). Even without fresh samples the rekey gives forward
//!   secrecy: a later compromise of the state does not reveal earlier output.

use hmac::{Hmac, KeyInit, Mac};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng, TryCryptoRng, TryRng};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// Output bytes between two reseeds.
pub const RESEED_BYTES: u64 = 64 * 1024;
/// Fresh 64-bit samples mixed in at each reseed.
pub const RESEED_SAMPLES: usize = 4;

const SALT: &[u8] = b"xen-vtpm-rs vtpm rng salt v1";
const INFO_SEED: &[u8] = b"engine ChaCha20 key";
const INFO_RESEED: &[u8] = b"engine ChaCha20 rekey";

/// SHA-256's block size: HMAC pads shorter keys with zeros to it, so padding here gives
/// the same HMAC with an infallible constructor.
const BLOCK: usize = 64;

fn hmac(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; BLOCK]);
    k[..key.len().min(BLOCK)].copy_from_slice(&key[..key.len().min(BLOCK)]);
    let mut m = <Hmac<Sha256> as KeyInit>::new(&(*k).into());
    for p in parts {
        m.update(p);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&m.finalize().into_bytes());
    out
}

/// HKDF-SHA256 of `ikm` (the input key material, several parts) for `info`: 32 bytes.
pub fn hkdf_sha256(ikm: &[&[u8]], info: &[u8]) -> Zeroizing<[u8; 32]> {
    hkdf_salted(SALT, ikm, info)
}

fn hkdf_salted(salt: &[u8], ikm: &[&[u8]], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let prk = hmac(salt, ikm);
    hmac(&*prk, &[info, &[1]])
}

/// The 32-byte ChaCha key derived from the pool.
pub fn seed_from_pool(pool: &[u8]) -> Zeroizing<[u8; 32]> {
    hkdf_sha256(&[pool], INFO_SEED)
}

/// The engine's RNG: ChaCha20 keyed from the pool, rekeyed every [`RESEED_BYTES`] with fresh
/// samples from `fresh` (which returns `None` when it has none to give).
pub struct ReseedingRng<S> {
    inner: ChaCha20Rng,
    since_reseed: u64,
    fresh: S,
    reseeds: u64,
}

impl<S: FnMut() -> Option<u64> + Send> ReseedingRng<S> {
    /// Keys the stream from `pool`.
    pub fn new(pool: &[u8], fresh: S) -> Self {
        let seed = seed_from_pool(pool);
        ReseedingRng { inner: ChaCha20Rng::from_seed(*seed), since_reseed: 0, fresh, reseeds: 0 }
    }

    /// How often the stream was rekeyed.
    pub fn reseeds(&self) -> u64 {
        self.reseeds
    }

    fn reseed(&mut self) {
        let mut own = Zeroizing::new([0u8; 32]);
        self.inner.fill_bytes(&mut *own);
        let mut samples = Zeroizing::new([0u8; 8 * RESEED_SAMPLES]);
        for chunk in samples.chunks_exact_mut(8) {
            if let Some(v) = (self.fresh)() {
                chunk.copy_from_slice(&v.to_le_bytes());
            }
        }
        let key = hkdf_sha256(&[&*own, &*samples], INFO_RESEED);
        self.inner = ChaCha20Rng::from_seed(*key);
        self.since_reseed = 0;
        self.reseeds += 1;
    }

    fn account(&mut self, n: usize) {
        self.since_reseed += n as u64;
        if self.since_reseed >= RESEED_BYTES {
            self.reseed();
        }
    }
}

impl<S: FnMut() -> Option<u64> + Send> TryRng for ReseedingRng<S> {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let v = self.inner.next_u32();
        self.account(4);
        Ok(v)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let v = self.inner.next_u64();
        self.account(8);
        Ok(v)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        // never more than the reseed interval from one key
        for chunk in dst.chunks_mut(RESEED_BYTES as usize) {
            self.inner.fill_bytes(chunk);
            self.account(chunk.len());
        }
        Ok(())
    }
}

impl<S: FnMut() -> Option<u64> + Send> TryCryptoRng for ReseedingRng<S> {}

impl<S> Drop for ReseedingRng<S> {
    fn drop(&mut self) {
        // ChaCha20Rng does not wipe itself: overwrite its key with a fixed one
        self.inner = ChaCha20Rng::from_seed([0; 32]);
        self.since_reseed.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Option<u64> {
        None
    }

    #[test]
    fn seeds_depend_on_every_pool_byte() {
        let pool: Vec<u8> = (0..64).collect();
        let s0 = seed_from_pool(&pool);
        for i in 0..pool.len() {
            let mut p = pool.clone();
            p[i] ^= 1;
            assert_ne!(*seed_from_pool(&p), *s0, "byte {i}");
        }
        assert_eq!(*seed_from_pool(&pool), *s0, "deterministic");
    }

    #[test]
    fn hkdf_is_rfc5869() {
        // RFC 5869 test case 1 (the first 32 bytes of its 42-byte OKM)
        let salt: Vec<u8> = (0..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = hkdf_salted(&salt, &[&[0x0b; 22]], &info);
        assert_eq!(okm[..8], [0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a]);
        assert_eq!(okm[24..], [0x5d, 0xb0, 0x2d, 0x56, 0xec, 0xc4, 0xc5, 0xbf]);
        let mac = hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(mac[..8], [0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e], "HMAC-SHA256 (RFC 4231 case 2)");
    }

    #[test]
    fn rng_streams_differ_per_seed() {
        let mut a = ReseedingRng::new(b"pool a", none);
        let mut b = ReseedingRng::new(b"pool b", none);
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        a.fill_bytes(&mut x);
        b.fill_bytes(&mut y);
        assert_ne!(x, y);
        assert_ne!(x, [0u8; 32]);
    }

    #[test]
    fn the_stream_is_rekeyed_with_fresh_samples() {
        let mut calls = 0u64;
        let mut a = ReseedingRng::new(b"pool", move || {
            calls += 1;
            Some(calls)
        });
        let mut b = ReseedingRng::new(b"pool", || Some(7));
        let mut plain = ChaCha20Rng::from_seed(*seed_from_pool(b"pool"));
        let mut buf = vec![0u8; RESEED_BYTES as usize];
        let mut pbuf = vec![0u8; RESEED_BYTES as usize];
        a.fill_bytes(&mut buf);
        plain.fill_bytes(&mut pbuf);
        assert_eq!(buf, pbuf, "the first interval is the plain stream");
        assert_eq!(a.reseeds(), 1);
        let (mut x, mut y, mut z) = ([0u8; 32], [0u8; 32], [0u8; 32]);
        b.fill_bytes(&mut buf);
        a.fill_bytes(&mut x);
        b.fill_bytes(&mut y);
        plain.fill_bytes(&mut z);
        assert_ne!(x, z, "rekeyed, not the plain stream");
        assert_ne!(x, y, "the fresh samples went in");
        for _ in 0..(RESEED_BYTES / 8) {
            a.next_u64();
        }
        assert_eq!(a.reseeds(), 2, "next_u64 counts too");
    }

    #[test]
    fn the_engine_accepts_it() {
        fn is_tpm_rng<T: tpm12::TpmRng>(_: &T) {}
        is_tpm_rng(&ReseedingRng::new(b"x", none));
    }
}
