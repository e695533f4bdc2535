//! The engine's random numbers: a ChaCha20 CSPRNG (rand_chacha) whose 256-bit seed is
//! derived from an entropy pool the image collects at boot.
//!
//! What goes into the pool (collected by the image, see `entropy_pool` in `serve.rs`):
//! 32 RDRAND values when CPUID offers RDRAND (under QEMU TCG `-cpu max` it is there, backed
//! by the host's getrandom), TSC readings taken around hypercalls (timing jitter), Xen's
//! system time and wall clock, and the domain id. Without RDRAND only the timing inputs
//! remain, which a patient attacker could guess: the image says so on the console. The C
//! vtpm seeds from the manager's `TPM_GetRandom` (the hardware TPM); that path comes with the
//! manager connection.
//!
//! The seed is `SHA-1(0 ‖ pool) ‖ SHA-1(1 ‖ pool)[..12]` (SHA-1 because the engine already
//! carries it; the pool holds far more than 256 bits when RDRAND is present).

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

/// Derives the 32-byte ChaCha seed from the pool.
pub fn seed_from_pool(pool: &[u8]) -> [u8; 32] {
    let a = tpm12::crypto::sha1(&[&[0u8], pool]);
    let b = tpm12::crypto::sha1(&[&[1u8], pool]);
    let mut seed = [0u8; 32];
    seed[..20].copy_from_slice(&a);
    seed[20..].copy_from_slice(&b[..12]);
    seed
}

/// The engine's RNG, seeded from the pool.
pub fn engine_rng(pool: &[u8]) -> ChaCha20Rng {
    ChaCha20Rng::from_seed(seed_from_pool(pool))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::Rng;

    #[test]
    fn seeds_depend_on_every_pool_byte() {
        let pool: Vec<u8> = (0..64).collect();
        let s0 = seed_from_pool(&pool);
        assert_ne!(s0[..20], s0[20..], "two different hashes");
        for i in 0..pool.len() {
            let mut p = pool.clone();
            p[i] ^= 1;
            assert_ne!(seed_from_pool(&p), s0, "byte {i}");
        }
        assert_eq!(seed_from_pool(&pool), s0, "deterministic");
    }

    #[test]
    fn rng_streams_differ_per_seed() {
        let mut a = engine_rng(b"pool a");
        let mut b = engine_rng(b"pool b");
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        a.fill_bytes(&mut x);
        b.fill_bytes(&mut y);
        assert_ne!(x, y);
        assert_ne!(x, [0u8; 32]);
    }

    #[test]
    fn the_engine_accepts_it() {
        fn is_tpm_rng<T: tpm12::TpmRng>(_: &T) {}
        is_tpm_rng(&engine_rng(b"x"));
    }
}
