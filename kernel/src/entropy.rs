//! Entropy a PV guest can get from the CPU it runs on: the RDRAND instruction when CPUID
//! (as Xen presents it to the guest) lists it, and the time-stamp counter.
//!
//! This is not a random number generator: callers mix these inputs into a seed for their own
//! CSPRNG and say on the console which sources they had. It does not talk to the hypervisor
//! and has no fallback of its own: without RDRAND, only the TSC (timing jitter) remains,
//! which is weak, and callers must report that.

/// True if CPUID leaf 1 reports RDRAND (ECX bit 30).
pub fn has_rdrand() -> bool {
    // SAFETY: CPUID has no memory effects and exists on every x86_64 CPU; a PV guest may
    // execute it (natively, or Xen emulates it when CPUID faulting is on).
    #[allow(unused_unsafe)]
    let r = unsafe { core::arch::x86_64::__cpuid(1) };
    r.ecx & (1 << 30) != 0
}

/// One 64-bit RDRAND value, or `None` if the CPU has no RDRAND or it failed ten times in a
/// row (carry flag clear: its entropy buffer was empty).
pub fn rdrand64() -> Option<u64> {
    if !has_rdrand() {
        return None;
    }
    for _ in 0..10 {
        let value: u64;
        let ok: u8;
        // SAFETY: RDRAND exists (checked above); it only writes the two output registers
        // and the flags, and touches no memory.
        unsafe {
            core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack));
        }
        if ok != 0 {
            return Some(value);
        }
    }
    None
}

/// The raw time-stamp counter (its low bits carry some timing jitter).
pub fn tsc() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: rdtsc has no memory effects; Xen lets PV guests execute it.
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    ((hi as u64) << 32) | lo as u64
}
