//! The x86_64 instructions the kernel issues outside hypercalls, each behind one small function:
//! `rdtsc` (the clock's TSC reading), `cpuid` (feature bits), `ud2` (a deliberate #UD for
//! `crashtest=ud2`). Xen lets PV guests execute all three.

use core::arch::x86_64::CpuidResult;

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: rdtsc only reads the TSC into eax:edx; no memory, no stack.
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    ((hi as u64) << 32) | lo as u64
}

/// `cpuid` of `leaf` (sub-leaf 0).
pub fn cpuid(leaf: u32) -> CpuidResult {
    core::arch::x86_64::__cpuid(leaf)
}

/// Raises #UD on purpose: the trap handler reports it and crashes the domain.
pub fn ud2() {
    // SAFETY: ud2 touches no memory; it traps, and the trap handler crashes the domain, so
    // execution does not continue in a state Rust did not expect.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
}
