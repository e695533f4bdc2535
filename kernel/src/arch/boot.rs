//! PV boot: the Xen ELF notes, the entry point, the hypercall page and the boot stack.
//!
//! Xen (libxenguest for a domU, or Xen's own dom0 builder) reads the `.note.Xen` notes,
//! maps the image at VIRT_BASE, fills `hypercall_page`, and jumps to `_start` with `rsi` =
//! the VA of `start_info` (fact sheet §10). `_start` switches to our own stack and calls
//! [`crate::boot::kernel_start`].

use core::arch::global_asm;

/// Where the image is linked (and where Xen maps pseudo-physical frame 0).
pub const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;

/// Bytes of the boot stack (the only stack: one event loop, no threads).
pub const BOOT_STACK_SIZE: usize = 256 * 1024;

// The notes use numbers from xen_abi::elfnote (GUEST_OS 6, LOADER 8, XEN_VERSION 5,
// HYPERCALL_PAGE 2, VIRT_BASE 3, PADDR_OFFSET 4, ENTRY 1). Each note: namesz, descsz, type,
// "Xen\0", then the 4-byte aligned descriptor.
global_asm!(
    r#"
    .section .note.Xen, "a", @note
    .macro xen_note type, desc_start, desc_end
        .balign 4
        .long 4
        .long \desc_end - \desc_start
        .long \type
        .asciz "Xen"
        .balign 4
    .endm

    xen_note 6, 10f, 11f
10: .asciz "rust-stubdom"
11: .balign 4
    xen_note 8, 12f, 13f
12: .asciz "generic"
13: .balign 4
    xen_note 5, 14f, 15f
14: .asciz "xen-3.0"
15: .balign 4
    xen_note 2, 16f, 17f
16: .quad hypercall_page
17: .balign 4
    xen_note 3, 18f, 19f
18: .quad 0xffffffff80000000
19: .balign 4
    xen_note 4, 20f, 21f
20: .quad 0xffffffff80000000
21: .balign 4
    xen_note 1, 22f, 23f
22: .quad _start
23: .balign 4

    .section .text.boot, "ax"
    .global _start
    .code64
_start:
    cld
    lea rsp, [rip + {stack} + {stack_size}]
    xor ebp, ebp
    mov rdi, rsi
    call {start}
    ud2

    .section .text.hypercall_page, "ax"
    .balign 4096
    .global hypercall_page
hypercall_page:
    .fill 4096, 1, 0xcc
    "#,
    stack = sym BOOT_STACK,
    stack_size = const BOOT_STACK_SIZE,
    start = sym crate::boot::kernel_start,
);

#[repr(C, align(16))]
struct Stack([u8; BOOT_STACK_SIZE]);

// Only touched by the `_start` assembly (as the initial stack pointer).
#[used]
static mut BOOT_STACK: Stack = Stack([0; BOOT_STACK_SIZE]);

unsafe extern "C" {
    static hypercall_page: [u8; 4096];
}

/// VA of the hypercall page Xen filled in.
pub fn hypercall_page_addr() -> u64 {
    core::ptr::addr_of!(hypercall_page) as u64
}
