//! Hypercall numbers and sub-operation constants (xen/include/public/xen.h, sched.h,
//! event_channel.h, grant_table.h, memory.h, version.h, arch-x86/xen.h).
//!
//! On x86_64 PV, hypercall *n* is `call hypercall_page + n * 32`; arguments go in
//! `rdi, rsi, rdx, r10, r8` and the result comes back in `rax` (fact sheet §10).

/// Bytes per hypercall stub in the hypercall page.
pub const HYPERCALL_STUB_SIZE: usize = 32;

pub const HYPERVISOR_SET_TRAP_TABLE: usize = 0;
pub const HYPERVISOR_MMU_UPDATE: usize = 1;
pub const HYPERVISOR_SET_CALLBACKS: usize = 4;
pub const HYPERVISOR_MEMORY_OP: usize = 12;
pub const HYPERVISOR_UPDATE_VA_MAPPING: usize = 14;
pub const HYPERVISOR_SET_TIMER_OP: usize = 15;
pub const HYPERVISOR_XEN_VERSION: usize = 17;
pub const HYPERVISOR_CONSOLE_IO: usize = 18;
pub const HYPERVISOR_GRANT_TABLE_OP: usize = 20;
pub const HYPERVISOR_IRET: usize = 23;
pub const HYPERVISOR_VCPU_OP: usize = 24;
pub const HYPERVISOR_MMUEXT_OP: usize = 26;
pub const HYPERVISOR_XSM_OP: usize = 27;
pub const HYPERVISOR_SCHED_OP: usize = 29;
pub const HYPERVISOR_EVENT_CHANNEL_OP: usize = 32;
pub const HYPERVISOR_PHYSDEV_OP: usize = 33;

/// `sched_op` commands (public/sched.h).
pub const SCHEDOP_YIELD: u64 = 0;
pub const SCHEDOP_BLOCK: u64 = 1;
pub const SCHEDOP_SHUTDOWN: u64 = 2;
pub const SCHEDOP_POLL: u64 = 3;

/// `sched_shutdown.reason` values (public/sched.h).
pub const SHUTDOWN_POWEROFF: u32 = 0;
pub const SHUTDOWN_REBOOT: u32 = 1;
pub const SHUTDOWN_SUSPEND: u32 = 2;
pub const SHUTDOWN_CRASH: u32 = 3;
pub const SHUTDOWN_WATCHDOG: u32 = 4;

/// `console_io` commands (public/xen.h).
pub const CONSOLEIO_WRITE: u64 = 0;
pub const CONSOLEIO_READ: u64 = 1;

/// `xen_version` commands (public/version.h).
pub const XENVER_VERSION: u64 = 0;

/// `event_channel_op` commands (public/event_channel.h).
pub const EVTCHNOP_BIND_INTERDOMAIN: u64 = 0;
pub const EVTCHNOP_BIND_VIRQ: u64 = 1;
pub const EVTCHNOP_CLOSE: u64 = 3;
pub const EVTCHNOP_SEND: u64 = 4;
pub const EVTCHNOP_STATUS: u64 = 5;
pub const EVTCHNOP_ALLOC_UNBOUND: u64 = 6;
pub const EVTCHNOP_UNMASK: u64 = 9;

/// Virtual IRQs (public/xen.h).
pub const VIRQ_TIMER: u32 = 0;
pub const VIRQ_DEBUG: u32 = 1;
pub const VIRQ_CONSOLE: u32 = 2;
pub const VIRQ_DOM_EXC: u32 = 3;

/// `grant_table_op` commands (public/grant_table.h).
pub const GNTTABOP_MAP_GRANT_REF: u64 = 0;
pub const GNTTABOP_UNMAP_GRANT_REF: u64 = 1;
pub const GNTTABOP_SETUP_TABLE: u64 = 2;
pub const GNTTABOP_QUERY_SIZE: u64 = 6;
pub const GNTTABOP_SET_VERSION: u64 = 8;

/// `mmu_update` request types: the low 2 bits of `mmu_update.ptr` (public/xen.h).
pub const MMU_NORMAL_PT_UPDATE: u64 = 0;
pub const MMU_MACHPHYS_UPDATE: u64 = 1;
pub const MMU_PT_UPDATE_PRESERVE_AD: u64 = 2;

/// `mmuext_op.cmd` values (public/xen.h).
pub const MMUEXT_PIN_L1_TABLE: u32 = 0;
pub const MMUEXT_PIN_L2_TABLE: u32 = 1;
pub const MMUEXT_PIN_L3_TABLE: u32 = 2;
pub const MMUEXT_PIN_L4_TABLE: u32 = 3;
pub const MMUEXT_UNPIN_TABLE: u32 = 4;
pub const MMUEXT_NEW_BASEPTR: u32 = 5;
pub const MMUEXT_TLB_FLUSH_LOCAL: u32 = 6;
pub const MMUEXT_INVLPG_LOCAL: u32 = 7;
pub const MMUEXT_TLB_FLUSH_ALL: u32 = 10;
pub const MMUEXT_INVLPG_ALL: u32 = 11;
pub const MMUEXT_NEW_USER_BASEPTR: u32 = 15;

/// `update_va_mapping` flags (public/xen.h).
pub const UVMF_NONE: u64 = 0;
pub const UVMF_TLB_FLUSH: u64 = 1;
pub const UVMF_INVLPG: u64 = 2;
pub const UVMF_LOCAL: u64 = 0;
pub const UVMF_ALL: u64 = 4;

/// `memory_op` commands (public/memory.h).
pub const XENMEM_INCREASE_RESERVATION: u64 = 0;
pub const XENMEM_DECREASE_RESERVATION: u64 = 1;
pub const XENMEM_MAXIMUM_RAM_PAGE: u64 = 2;
pub const XENMEM_CURRENT_RESERVATION: u64 = 3;

/// Segment selectors of a 64-bit PV kernel (public/arch-x86/xen-x86_64.h).
pub const FLAT_KERNEL_CS64: u16 = 0xe033;
pub const FLAT_KERNEL_DS64: u16 = 0x0000;
pub const FLAT_KERNEL_SS64: u16 = 0xe02b;

/// Base of the read-only machine-to-physical table a 64-bit PV guest sees
/// (`MACH2PHYS_VIRT_START`, public/arch-x86/xen-x86_64.h).
pub const MACH2PHYS_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// End of the hypervisor-reserved virtual hole (`HYPERVISOR_VIRT_END`).
pub const HYPERVISOR_VIRT_END: u64 = 0xFFFF_8800_0000_0000;
