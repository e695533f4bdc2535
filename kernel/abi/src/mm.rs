//! Memory-management ABI of x86_64 PV guests: `mmu_update`, `mmuext_op`, page-table entry
//! bits and `trap_info` (public/xen.h, public/arch-x86/xen.h).

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;

/// x86 page-table entry bits.
pub const PTE_PRESENT: u64 = 1 << 0;
pub const PTE_RW: u64 = 1 << 1;
pub const PTE_USER: u64 = 1 << 2;
pub const PTE_PWT: u64 = 1 << 3;
pub const PTE_PCD: u64 = 1 << 4;
pub const PTE_ACCESSED: u64 = 1 << 5;
pub const PTE_DIRTY: u64 = 1 << 6;
pub const PTE_PSE: u64 = 1 << 7;
pub const PTE_NX: u64 = 1 << 63;
/// Bits 12..51 hold the machine frame number.
pub const PTE_ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// Index of `va` in the page table of `level` (1 = L1 … 4 = L4).
pub const fn pt_index(va: u64, level: u32) -> usize {
    ((va >> (PAGE_SHIFT + 9 * (level - 1))) & 0x1FF) as usize
}

/// `struct mmu_update`: `ptr` = machine address of the entry | request type (low 2 bits).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MmuUpdate {
    pub ptr: u64,
    pub val: u64,
}

/// `struct mmuext_op`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MmuextOp {
    pub cmd: u32,
    pub _pad: u32,
    /// `mfn` or `linear_addr`.
    pub arg1: u64,
    /// `nr_ents`, `vcpumask` or `src_mfn`.
    pub arg2: u64,
}

/// `struct trap_info` for `HYPERVISOR_set_trap_table`; a zero `address` ends the table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapInfo {
    pub vector: u8,
    /// Bits 0-1: privilege level allowed to raise it via `int`; bit 2: mask events on entry.
    pub flags: u8,
    pub cs: u16,
    pub _pad: u32,
    pub address: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layouts() {
        assert_eq!(size_of::<MmuUpdate>(), 16);
        assert_eq!(offset_of!(MmuUpdate, val), 8);
        assert_eq!(size_of::<MmuextOp>(), 24);
        assert_eq!(offset_of!(MmuextOp, arg1), 8);
        assert_eq!(offset_of!(MmuextOp, arg2), 16);
        assert_eq!(size_of::<TrapInfo>(), 16);
        assert_eq!(offset_of!(TrapInfo, flags), 1);
        assert_eq!(offset_of!(TrapInfo, cs), 2);
        assert_eq!(offset_of!(TrapInfo, address), 8);
    }

    #[test]
    fn indices() {
        let va = 0xFFFF_FFFF_8020_3000u64;
        assert_eq!(pt_index(va, 4), 511);
        assert_eq!(pt_index(va, 3), 510);
        assert_eq!(pt_index(va, 2), 1);
        assert_eq!(pt_index(va, 1), 3);
    }
}
