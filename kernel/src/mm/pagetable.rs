//! Page tables of a PV guest. Xen built them (`start_info.pt_base`, `nr_pt_frames`); they
//! are mapped read-only and changed only through hypercalls: `mmu_update` (write one entry by
//! its machine address, optionally mapping a foreign domain's frame) and
//! `update_va_mapping` (rewrite the L1 entry of one VA).
//!
//! Address spaces: pseudo-physical frame *pfn* lives at `VIRT_BASE + pfn * 4096` (the
//! direct map); `mfn_list` (p2m) gives its machine frame; the read-only M2P table at
//! `MACH2PHYS_VIRT_START` goes the other way.

use xen_abi::errno::XenErrno;
use xen_abi::hypercall::{
    HYPERVISOR_MMU_UPDATE, HYPERVISOR_UPDATE_VA_MAPPING, MACH2PHYS_VIRT_START, MMU_NORMAL_PT_UPDATE, UVMF_INVLPG,
};
use xen_abi::mm::{
    MmuUpdate, PAGE_SHIFT, PTE_ACCESSED, PTE_ADDR_MASK, PTE_DIRTY, PTE_PRESENT, PTE_RW, PTE_USER, pt_index,
};
use xen_abi::types::DomId;

use crate::arch::boot::VIRT_BASE;
use crate::arch::hypercall::{hypercall3, hypercall5};

/// Flags of a normal data mapping.
pub const L1_PROT: u64 = PTE_PRESENT | PTE_RW | PTE_ACCESSED | PTE_USER;
/// Flags of a read-only data mapping (page-table pages must be mapped like this).
pub const L1_PROT_RO: u64 = PTE_PRESENT | PTE_ACCESSED | PTE_USER;
/// Flags of an L2 entry pointing to an L1 table.
pub const L2_PROT: u64 = PTE_PRESENT | PTE_RW | PTE_ACCESSED | PTE_DIRTY | PTE_USER;

static P2M: crate::sync::InitOnce<(u64, u64)> = crate::sync::InitOnce::new();

/// Records where the p2m list is (`start_info.mfn_list`, `nr_pages`).
pub fn init(mfn_list: u64, nr_pages: u64) {
    P2M.init((mfn_list, nr_pages));
}

pub fn pfn_to_va(pfn: u64) -> u64 {
    VIRT_BASE + (pfn << PAGE_SHIFT)
}

pub fn va_to_pfn(va: u64) -> u64 {
    (va - VIRT_BASE) >> PAGE_SHIFT
}

/// Machine frame of a pseudo-physical frame (p2m lookup), `None` beyond `nr_pages`.
pub fn pfn_to_mfn(pfn: u64) -> Option<u64> {
    let &(list, nr) = P2M.get()?;
    if pfn >= nr {
        return None;
    }
    // SAFETY: `mfn_list` is an array of `nr_pages` u64s inside the bootstrap mapping, and
    // `pfn < nr_pages`.
    Some(unsafe { core::ptr::read_volatile((list as *const u64).add(pfn as usize)) })
}

/// Pseudo-physical frame of a machine frame (M2P lookup).
pub fn mfn_to_pfn(mfn: u64) -> u64 {
    // SAFETY: Xen maps the M2P table read-only into every 64-bit PV guest at
    // MACH2PHYS_VIRT_START; entries for frames we do not own read as garbage, never fault
    // for frames of this machine.
    unsafe { core::ptr::read_volatile((MACH2PHYS_VIRT_START as *const u64).add(mfn as usize)) }
}

/// Machine frame behind a direct-map VA.
pub fn virt_to_mfn(va: u64) -> Option<u64> {
    pfn_to_mfn(va_to_pfn(va))
}

/// Reads entry `index` of the page-table page with machine frame `mfn` (page tables live
/// in the direct map, read-only).
fn read_table(mfn: u64, index: usize) -> u64 {
    let va = pfn_to_va(mfn_to_pfn(mfn));
    // SAFETY: every page-table page of this guest is in the direct map (Xen's bootstrap
    // tables, and the L1s we add from boot padding), mapped read-only; index < 512.
    unsafe { core::ptr::read_volatile((va as *const u64).add(index)) }
}

/// Machine frame of the top-level table (L4), from `start_info.pt_base`.
fn l4_mfn() -> u64 {
    let si = crate::start_info::start_info();
    virt_to_mfn(si.pt_base).unwrap_or(0)
}

/// Where the entry of `level` for `va` lives: `(machine frame of the table, index)`, if the
/// tables above it are present.
pub fn entry_location(va: u64, level: u32) -> Option<(u64, usize)> {
    let mut mfn = l4_mfn();
    let mut l = 4;
    while l > level {
        let e = read_table(mfn, pt_index(va, l));
        if e & PTE_PRESENT == 0 {
            return None;
        }
        mfn = (e & PTE_ADDR_MASK) >> PAGE_SHIFT;
        l -= 1;
    }
    Some((mfn, pt_index(va, level)))
}

/// The L1 entry (PTE) mapping `va`, if its L1 table exists.
pub fn lookup_pte(va: u64) -> Option<u64> {
    let (mfn, idx) = entry_location(va, 1)?;
    Some(read_table(mfn, idx))
}

/// Machine address of a page-table entry (`mmu_update.ptr`).
pub fn entry_machine_addr(table_mfn: u64, index: usize) -> u64 {
    (table_mfn << PAGE_SHIFT) + (index as u64) * 8
}

/// `HYPERVISOR_mmu_update` of a batch; `foreign` is the owner of the frames being mapped
/// (`DOMID_SELF` for our own, `DOMID_IO` for MMIO).
pub fn mmu_update(reqs: &[MmuUpdate], foreign: DomId) -> Result<(), XenErrno> {
    let mut done: u32 = 0;
    // SAFETY: `reqs` is a live array of `len` mmu_update structs; `done` outlives the call.
    // Each request was built by this module against tables it owns.
    let rc = unsafe {
        hypercall5(
            HYPERVISOR_MMU_UPDATE,
            reqs.as_ptr() as u64,
            reqs.len() as u64,
            &mut done as *mut u32 as u64,
            foreign.0 as u64,
            0,
        )
    };
    XenErrno::check(rc).map(|_| ())
}

/// Sets the PTE of `va` (the L1 table must exist) and invalidates its TLB entry.
pub fn update_va_mapping(va: u64, pte: u64) -> Result<(), XenErrno> {
    // SAFETY: only mappings owned by the caller are changed (callers pass VAs of the
    // direct map or of the foreign window, never of live kernel text/data).
    let rc = unsafe { hypercall3(HYPERVISOR_UPDATE_VA_MAPPING, va, pte, UVMF_INVLPG) };
    XenErrno::check(rc).map(|_| ())
}

/// Builds a PTE for machine frame `mfn` with `flags`.
pub const fn pte(mfn: u64, flags: u64) -> u64 {
    (mfn << PAGE_SHIFT) | flags
}

/// Writes an L2 entry so that the 2 MiB region containing `va` is served by the L1 table in
/// machine frame `l1_mfn` (a zeroed page that is mapped nowhere writable).
pub fn link_l1(va: u64, l1_mfn: u64) -> Result<(), XenErrno> {
    let (l2_mfn, idx) = entry_location(va, 2).ok_or(XenErrno::ENOENT)?;
    let req = MmuUpdate { ptr: entry_machine_addr(l2_mfn, idx) | MMU_NORMAL_PT_UPDATE, val: pte(l1_mfn, L2_PROT) };
    mmu_update(&[req], DomId::SELF)
}

/// True when the L2 entry for `va` exists (its 2 MiB region has an L1 table).
pub fn has_l1(va: u64) -> bool {
    entry_location(va, 1).is_some()
}
