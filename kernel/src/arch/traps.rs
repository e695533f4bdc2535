//! The trap table (`HYPERVISOR_set_trap_table`): every CPU exception of the guest lands in a
//! small stub that reports the vector, error code, `rip`, `cr2` (page faults) and `rsp` on the
//! console and then crashes the domain, so a fault is never a silent death.
//!
//! Xen's PV exception frame on x86_64 (lowest address first): `rcx, r11, [error code], rip,
//! cs, rflags, rsp, ss`. Faults are fatal here; nothing returns.

use core::arch::global_asm;
use xen_abi::hypercall::{FLAT_KERNEL_CS64, HYPERVISOR_SET_TRAP_TABLE};
use xen_abi::mm::TrapInfo;

macro_rules! stub {
    ($vec:literal) => {
        concat!(
            ".global xen_trap_",
            $vec,
            "\n",
            "xen_trap_",
            $vec,
            ":\n",
            "    mov edi, ",
            $vec,
            "\n",
            "    mov rsi, rsp\n",
            "    and rsp, -16\n",
            "    call {handler}\n",
            "    ud2\n"
        )
    };
}

global_asm!(
    concat!(
        ".section .text\n",
        stub!(0), stub!(1), stub!(3), stub!(4), stub!(5), stub!(6), stub!(7),
        stub!(9), stub!(10), stub!(11), stub!(12), stub!(13), stub!(14), stub!(15),
        stub!(16), stub!(17), stub!(18), stub!(19),
    ),
    handler = sym trap_handler,
);

unsafe extern "C" {
    fn xen_trap_0();
    fn xen_trap_1();
    fn xen_trap_3();
    fn xen_trap_4();
    fn xen_trap_5();
    fn xen_trap_6();
    fn xen_trap_7();
    fn xen_trap_9();
    fn xen_trap_10();
    fn xen_trap_11();
    fn xen_trap_12();
    fn xen_trap_13();
    fn xen_trap_14();
    fn xen_trap_15();
    fn xen_trap_16();
    fn xen_trap_17();
    fn xen_trap_18();
    fn xen_trap_19();
}

fn name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug",
        3 => "int3",
        4 => "overflow",
        5 => "bounds",
        6 => "invalid opcode",
        7 => "device not available",
        9 => "coprocessor segment overrun",
        10 => "invalid TSS",
        11 => "segment not present",
        12 => "stack segment",
        13 => "general protection",
        14 => "page fault",
        15 => "spurious interrupt",
        16 => "x87 FPU error",
        17 => "alignment check",
        18 => "machine check",
        19 => "SIMD exception",
        _ => "unknown",
    }
}

extern "C" fn trap_handler(vector: u64, frame: *const u64) -> ! {
    let has_error = matches!(vector, 8 | 10..=14 | 17);
    let base = if has_error { 3 } else { 2 };
    // SAFETY: `frame` is the stack pointer at the stub's entry, where Xen pushed the
    // exception frame described in the module docs; those words are readable.
    let (err, rip, rsp) = unsafe {
        let err = if has_error { *frame.add(2) } else { 0 };
        (err, *frame.add(base), *frame.add(base + 3))
    };
    let cr2 = if vector == 14 { crate::shared_info::cr2() } else { 0 };
    crate::console::emergency(format_args!(
        "FATAL: trap {} ({}) error={:#x} rip={:#x} rsp={:#x} cr2={:#x}\r\n",
        vector,
        name(vector),
        err,
        rip,
        rsp,
        cr2
    ));
    crate::shutdown::crash()
}

/// Registers the trap table with Xen.
pub fn init() {
    let entries: [(u8, u8, unsafe extern "C" fn()); 18] = [
        (0, 0, xen_trap_0),
        (1, 0, xen_trap_1),
        (3, 3, xen_trap_3),
        (4, 3, xen_trap_4),
        (5, 3, xen_trap_5),
        (6, 0, xen_trap_6),
        (7, 0, xen_trap_7),
        (9, 0, xen_trap_9),
        (10, 0, xen_trap_10),
        (11, 0, xen_trap_11),
        (12, 0, xen_trap_12),
        (13, 0, xen_trap_13),
        (14, 0, xen_trap_14),
        (15, 0, xen_trap_15),
        (16, 0, xen_trap_16),
        (17, 0, xen_trap_17),
        (18, 0, xen_trap_18),
        (19, 0, xen_trap_19),
    ];
    let mut table = [TrapInfo::default(); 19];
    for (slot, (vector, dpl, f)) in table.iter_mut().zip(entries.iter()) {
        *slot = TrapInfo { vector: *vector, flags: *dpl, cs: FLAT_KERNEL_CS64, _pad: 0, address: *f as usize as u64 };
    }
    // The last entry stays zero: it terminates the table.
    // SAFETY: `table` is a valid, zero-terminated trap_info array that lives for the call;
    // Xen copies it.
    let rc = unsafe { super::hypercall::hypercall1(HYPERVISOR_SET_TRAP_TABLE, table.as_ptr() as u64) };
    if rc != 0 {
        crate::console::emergency(format_args!("set_trap_table failed: {rc}\r\n"));
    }
}
