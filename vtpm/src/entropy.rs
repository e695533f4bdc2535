//! The entropy pool the engine's RNG is keyed from (`rng.rs`), and the rule that a TPM is
//! never manufactured from a weak one: the EK, tpmProof, the SRK and every nonce come from it.
//!
//! Strong sources, in the order they are taken:
//! 1. **A seed from the toolstack**: dom0 writes 64 hex digits (32 bytes) to `vtpm-seed` in
//!    this domain's own xenstore directory (`/local/domain/<vtpm domid>/vtpm-seed`) before the
//!    domain runs (`xl create -p`, `xenstore-write`, `xl unpause`; see `vtpm/README.md`). The
//!    vtpm reads it, deletes it and never prints it.
//! 2. **RDSEED** (full-entropy conditioner output): [`RDSEED_SAMPLES`] tries.
//! 3. **RDRAND**: [`RDRAND_SAMPLES`] tries.
//!
//! CPU values are sanity-checked (all-zeros, all-ones — the AMD after-resume bug — and repeats
//! are dropped) and only good, distinct values count. The pool is strong with the toolstack
//! seed, or at least [`RDSEED_NEEDED`] good RDSEED values, or [`RDRAND_NEEDED`] good RDRAND
//! values. TSC readings around xenstore round trips and Xen's clock are always mixed in, but
//! never count. Without a strong source the image says so and powers off.
//!
//! 4. **The hardware TPM through the manager** (with a `vtpm=` line): [`MANAGER_RANDOM_BYTES`]
//!    bytes of the manager's `TPM_GetRandom` passthrough ([`strong_pool_with`]), mixed in next
//!    to the CPU's values; [`MANAGER_RANDOM_BYTES`] of them make the pool strong.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use drivers::hv::{Clock, XenStore, XsError, XsTx};
use zeroize::Zeroizing;

use crate::service::Output;

/// The xenstore key (relative to the vtpm's own domain directory) of the toolstack's seed.
pub const SEED_KEY: &str = "vtpm-seed";
/// RDSEED values asked for, and how many good ones make the pool strong.
pub const RDSEED_SAMPLES: usize = 16;
/// See [`RDSEED_SAMPLES`].
pub const RDSEED_NEEDED: usize = 8;
/// RDRAND values asked for, and how many good ones make the pool strong.
pub const RDRAND_SAMPLES: usize = 32;
/// See [`RDRAND_SAMPLES`].
pub const RDRAND_NEEDED: usize = 32;
/// Bytes asked of the manager's `TPM_GetRandom`, and how many make the pool strong.
pub const MANAGER_RANDOM_BYTES: usize = 32;
/// TSC/xenstore timing rounds mixed in.
const JITTER_ROUNDS: usize = 32;

/// The CPU's entropy instructions (the kernel's `entropy` module on Xen; fakes in tests).
pub trait CpuEntropy {
    /// One RDSEED value, `None` if there is none.
    fn rdseed64(&mut self) -> Option<u64>;
    /// One RDRAND value, `None` if there is none.
    fn rdrand64(&mut self) -> Option<u64>;
    /// The time-stamp counter.
    fn tsc(&mut self) -> u64;
}

/// Drops all-zeros, all-ones and any value seen before in this collection.
#[derive(Default)]
struct Distinct(Vec<u64>);

impl Distinct {
    fn accept(&mut self, v: u64) -> bool {
        if v == 0 || v == u64::MAX || self.0.contains(&v) {
            return false;
        }
        self.0.push(v);
        true
    }
}

impl Drop for Distinct {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.zeroize();
    }
}

/// The collected pool (wiped when dropped) and what went into it.
pub struct Pool {
    /// The bytes the RNG key is extracted from.
    pub bytes: Zeroizing<Vec<u8>>,
    /// The toolstack's seed was there and valid.
    pub toolstack_seed: bool,
    /// Good, distinct RDSEED values.
    pub rdseed: usize,
    /// Good, distinct RDRAND values.
    pub rdrand: usize,
    /// Bytes from the hardware TPM through the manager (`TPM_GetRandom`).
    pub manager_random: usize,
}

impl Pool {
    fn new() -> Pool {
        let mut bytes = Zeroizing::new(Vec::with_capacity(2048));
        bytes.extend_from_slice(b"xen-vtpm-rs vtpm entropy pool v1");
        Pool { bytes, toolstack_seed: false, rdseed: 0, rdrand: 0, manager_random: 0 }
    }

    /// Mixes in input from a strong source, length-prefixed and labelled.
    pub fn add_strong(&mut self, label: &str, data: &[u8]) {
        self.add(label, data);
    }

    fn add(&mut self, label: &str, data: &[u8]) {
        self.bytes.extend_from_slice(&(label.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(label.as_bytes());
        self.bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(data);
    }

    /// True if a strong source gave enough (see the module docs).
    pub fn is_strong(&self) -> bool {
        self.toolstack_seed
            || self.rdseed >= RDSEED_NEEDED
            || self.rdrand >= RDRAND_NEEDED
            || self.manager_random >= MANAGER_RANDOM_BYTES
    }

    /// The strong inputs, for the console (`the toolstack's vtpm-seed, 16 RDSEED values, …`).
    pub fn sources(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.toolstack_seed {
            parts.push(format!("the toolstack's {SEED_KEY}"));
        }
        if self.manager_random > 0 {
            parts.push(format!("the hardware TPM via the manager ({} bytes of TPM_GetRandom)", self.manager_random));
        }
        if self.rdseed > 0 {
            parts.push(format!("{} RDSEED values", self.rdseed));
        }
        if self.rdrand > 0 {
            parts.push(format!("{} RDRAND values", self.rdrand));
        }
        if parts.is_empty() { String::from("no strong source") } else { parts.join(", ") }
    }
}

fn parse_seed(v: &str) -> Option<Zeroizing<[u8; 32]>> {
    let v = v.trim().as_bytes();
    if v.len() != 64 {
        return None;
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    for (i, pair) in v.chunks_exact(2).enumerate() {
        let hex = |b: u8| (b as char).to_digit(16);
        seed[i] = (hex(pair[0])? * 16 + hex(pair[1])?) as u8;
    }
    Some(seed)
}

/// Takes the toolstack's seed: reads `vtpm-seed`, deletes it, parses it. Never prints it.
pub fn take_toolstack_seed<X: XenStore>(hv: &mut X, out: &mut impl Output) -> Option<Zeroizing<[u8; 32]>> {
    let value = match hv.read(XsTx::NONE, SEED_KEY) {
        Ok(v) => Zeroizing::new(v),
        Err(XsError::NoEnt) => return None,
        Err(e) => {
            out.line(&format!("Warning: cannot read {SEED_KEY}: {e:?}; not used"));
            return None;
        }
    };
    if let Err(e) = hv.rm(XsTx::NONE, SEED_KEY) {
        out.line(&format!("Warning: cannot delete {SEED_KEY} after reading it: {e:?}"));
    }
    let seed = parse_seed(&value);
    if seed.is_none() {
        out.line(&format!("Warning: {SEED_KEY} is not 64 hex digits; not used"));
    }
    seed
}

/// Collects the pool (see the module docs).
pub fn collect<X: XenStore + Clock>(hv: &mut X, cpu: &mut impl CpuEntropy, out: &mut impl Output) -> Pool {
    collect_with(hv, cpu, None, out)
}

/// As [`collect`], with the manager's `TPM_GetRandom` bytes if there are any.
pub fn collect_with<X: XenStore + Clock>(
    hv: &mut X,
    cpu: &mut impl CpuEntropy,
    manager_random: Option<&[u8]>,
    out: &mut impl Output,
) -> Pool {
    let mut pool = Pool::new();
    if let Some(seed) = take_toolstack_seed(hv, out) {
        pool.add_strong("toolstack vtpm-seed", &*seed);
        pool.toolstack_seed = true;
    }
    if let Some(r) = manager_random.filter(|r| !r.is_empty()) {
        pool.add_strong("manager TPM_GetRandom", r);
        pool.manager_random = r.len();
    }
    let mut distinct = Distinct::default();
    for _ in 0..RDSEED_SAMPLES {
        if let Some(v) = cpu.rdseed64().filter(|v| distinct.accept(*v)) {
            pool.add_strong("rdseed", &v.to_le_bytes());
            pool.rdseed += 1;
        }
    }
    for _ in 0..RDRAND_SAMPLES {
        if let Some(v) = cpu.rdrand64().filter(|v| distinct.accept(*v)) {
            pool.add_strong("rdrand", &v.to_le_bytes());
            pool.rdrand += 1;
        }
    }
    pool.add("now_ns", &hv.now_ns().to_le_bytes());
    for _ in 0..JITTER_ROUNDS {
        // timing jitter of a xenstore round trip (the other domain and Xen are involved)
        let t0 = cpu.tsc();
        let _ = hv.read(XsTx::NONE, "domid");
        let t1 = cpu.tsc();
        pool.add("tsc", &t0.to_le_bytes());
        pool.add("xenstore round trip", &t1.wrapping_sub(t0).to_le_bytes());
    }
    pool
}

/// Collects the pool and decides: the pool if it is strong (with the `Info: RNG:` line), or
/// `None` after the `ERROR:` line (the caller powers off).
pub fn strong_pool<X: XenStore + Clock>(hv: &mut X, cpu: &mut impl CpuEntropy, out: &mut impl Output) -> Option<Pool> {
    strong_pool_with(hv, cpu, None, out)
}

/// As [`strong_pool`], with the manager's `TPM_GetRandom` bytes (a strong source) if any.
pub fn strong_pool_with<X: XenStore + Clock>(
    hv: &mut X,
    cpu: &mut impl CpuEntropy,
    manager_random: Option<&[u8]>,
    out: &mut impl Output,
) -> Option<Pool> {
    let pool = collect_with(hv, cpu, manager_random, out);
    if !pool.is_strong() {
        out.line(&format!(
            "ERROR: no strong entropy source (no {SEED_KEY} from the toolstack, {} good RDSEED and {} good RDRAND values): refusing to manufacture the TPM (its EK and secrets would be guessable); powering off",
            pool.rdseed, pool.rdrand
        ));
        return None;
    }
    out.line(&format!(
        "Info: RNG: ChaCha20 seeded from {} (HKDF-SHA256, with TSC/xenstore timing mixed in); rekeyed every {} KiB of output{}",
        pool.sources(),
        crate::rng::RESEED_BYTES / 1024,
        if pool.rdseed > 0 || pool.rdrand > 0 { " with fresh RDSEED/RDRAND values" } else { "" }
    ));
    Some(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_64_hex_digits() {
        let s = parse_seed(&"0f".repeat(32)).unwrap();
        assert_eq!(*s, [0x0f; 32]);
        assert_eq!(*parse_seed(&"Ab".repeat(32)).unwrap(), [0xab; 32]);
        assert!(parse_seed(&"0f".repeat(31)).is_none());
        assert!(parse_seed(&"0g".repeat(32)).is_none());
        assert!(parse_seed(&"+f".repeat(32)).is_none());
        assert!(parse_seed("").is_none());
    }

    #[test]
    fn only_good_distinct_values_count() {
        let mut d = Distinct::default();
        assert!(!d.accept(0));
        assert!(!d.accept(u64::MAX));
        assert!(d.accept(5));
        assert!(!d.accept(5));
        assert!(d.accept(6));
    }
}
