//! Raw hypercalls: `call hypercall_page + n * 32` with arguments in `rdi, rsi, rdx, r10, r8`
//! and the result in `rax` (x86_64 PV ABI). The stubs use `syscall`, which clobbers `rcx` and
//! `r11`; debug hypervisors may also clobber the argument registers, so all are declared
//! clobbered. The call pushes a return address, so the stack is used (no `nostack`).

use core::arch::asm;
use xen_abi::hypercall::HYPERCALL_STUB_SIZE;

use super::boot::hypercall_page_addr;

/// Issues hypercall `nr` with five arguments and returns Xen's raw result.
///
/// # Safety
/// The arguments must be valid for the hypercall: pointers must point to live, correctly
/// typed memory for the duration of the call, and the operation must not break memory the
/// kernel relies on (page tables, mappings in use).
pub unsafe fn hypercall5(nr: usize, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
    let addr = hypercall_page_addr() + (nr * HYPERCALL_STUB_SIZE) as u64;
    let ret: i64;
    // SAFETY: the caller guarantees the arguments; the stub returns with `ret`.
    unsafe {
        asm!(
            "call {addr}",
            addr = in(reg) addr,
            inlateout("rdi") a1 => _,
            inlateout("rsi") a2 => _,
            inlateout("rdx") a3 => _,
            inlateout("r10") a4 => _,
            inlateout("r8") a5 => _,
            lateout("rax") ret,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

/// # Safety
/// See [`hypercall5`].
pub unsafe fn hypercall3(nr: usize, a1: u64, a2: u64, a3: u64) -> i64 {
    // SAFETY: forwarded contract.
    unsafe { hypercall5(nr, a1, a2, a3, 0, 0) }
}

/// # Safety
/// See [`hypercall5`].
pub unsafe fn hypercall2(nr: usize, a1: u64, a2: u64) -> i64 {
    // SAFETY: forwarded contract.
    unsafe { hypercall5(nr, a1, a2, 0, 0, 0) }
}

/// # Safety
/// See [`hypercall5`].
pub unsafe fn hypercall1(nr: usize, a1: u64) -> i64 {
    // SAFETY: forwarded contract.
    unsafe { hypercall5(nr, a1, 0, 0, 0, 0) }
}
