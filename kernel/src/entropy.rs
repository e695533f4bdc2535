//! Entropy a PV guest can get from the CPU it runs on: the RDSEED and RDRAND instructions when
//! CPUID (as Xen presents it to the guest) lists them, and the time-stamp counter.
//!
//! This is not a random number generator: callers mix these inputs into a seed for their own
//! CSPRNG and say on the console which sources they had. It does not talk to the hypervisor
//! and has no fallback of its own: without RDSEED/RDRAND only the TSC (timing jitter) remains,
//! which is weak, and callers must not build long-term secrets from it.
//!
//! Both instructions are sanity-checked as Linux does (`arch/x86/kernel/cpu/rdrand.c`): some
//! AMD parts return all-ones with the carry flag set after a suspend, so all-zeros and
//! all-ones values and a value equal to the previous one are rejected (`None`).

use core::sync::atomic::{AtomicU64, Ordering};

/// True if CPUID leaf 1 reports RDRAND (ECX bit 30).
pub fn has_rdrand() -> bool {
    // SAFETY: CPUID has no memory effects and exists on every x86_64 CPU; a PV guest may
    // execute it (natively, or Xen emulates it when CPUID faulting is on).
    #[allow(unused_unsafe)]
    let r = unsafe { core::arch::x86_64::__cpuid(1) };
    r.ecx & (1 << 30) != 0
}

/// True if CPUID leaf 7 (subleaf 0) reports RDSEED (EBX bit 18).
pub fn has_rdseed() -> bool {
    // SAFETY: as in `has_rdrand`; leaf 7 is only read when leaf 0 says it exists.
    #[allow(unused_unsafe)]
    let max = unsafe { core::arch::x86_64::__cpuid(0) }.eax;
    if max < 7 {
        return false;
    }
    // SAFETY: as above.
    #[allow(unused_unsafe)]
    let r = unsafe { core::arch::x86_64::__cpuid_count(7, 0) };
    r.ebx & (1 << 18) != 0
}

/// The last value returned by `rdrand64` / `rdseed64`, for the repeat check.
static LAST_RDRAND: AtomicU64 = AtomicU64::new(0);
static LAST_RDSEED: AtomicU64 = AtomicU64::new(0);

/// Accepts `v` unless it is all-zeros, all-ones or the same as the previous value of its source.
fn sane(v: u64, last: &AtomicU64) -> Option<u64> {
    if v == 0 || v == u64::MAX || last.swap(v, Ordering::Relaxed) == v {
        return None;
    }
    Some(v)
}

fn rdrand_raw() -> Option<u64> {
    let value: u64;
    let ok: u8;
    // SAFETY: the caller checked that RDRAND exists; it only writes the two output registers
    // and the flags, and touches no memory.
    unsafe {
        core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack));
    }
    (ok != 0).then_some(value)
}

fn rdseed_raw() -> Option<u64> {
    let value: u64;
    let ok: u8;
    // SAFETY: the caller checked that RDSEED exists; it only writes the two output registers
    // and the flags, and touches no memory.
    unsafe {
        core::arch::asm!("rdseed {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack));
    }
    (ok != 0).then_some(value)
}

/// One sane 64-bit RDRAND value, or `None` if the CPU has no RDRAND, it failed ten times in a
/// row (carry flag clear: its buffer was empty) or its value failed the sanity check.
pub fn rdrand64() -> Option<u64> {
    if !has_rdrand() {
        return None;
    }
    let v = (0..10).find_map(|_| rdrand_raw())?;
    sane(v, &LAST_RDRAND)
}

/// One sane 64-bit RDSEED value (full-entropy conditioner output), or `None` if the CPU has no
/// RDSEED, it stayed empty for 100 tries (it refills more slowly than RDRAND) or the value
/// failed the sanity check.
pub fn rdseed64() -> Option<u64> {
    if !has_rdseed() {
        return None;
    }
    let v = (0..100).find_map(|_| {
        let r = rdseed_raw();
        if r.is_none() {
            core::hint::spin_loop();
        }
        r
    })?;
    sane(v, &LAST_RDSEED)
}

/// The raw time-stamp counter (its low bits carry some timing jitter).
pub fn tsc() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: rdtsc has no memory effects; Xen lets PV guests execute it.
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    ((hi as u64) << 32) | lo as u64
}
