//! The foreign-mapping window: a reserved range of virtual addresses with its own L1 tables,
//! where the kernel maps frames that are not part of its pseudo-physical memory — grant
//! table frames, `shared_info`, pages granted by other domains (`GNTTABOP_map_grant_ref`
//! with `GNTMAP_host_map`), and MMIO frames of `DOMID_IO` (the TPM's TIS registers).

use xen_abi::errno::XenErrno;
use xen_abi::hypercall::MMU_NORMAL_PT_UPDATE;
use xen_abi::mm::{MmuUpdate, PAGE_SIZE, PTE_PCD, PTE_PWT};
use xen_abi::types::DomId;

use crate::arch::boot::VIRT_BASE;
use crate::slots::SlotBitmap;
use crate::sync::Global;

use super::pagetable::{L1_PROT, L1_PROT_RO, entry_machine_addr, mmu_update, pte, update_va_mapping};

/// Number of 2 MiB L1 tables backing the window.
pub const WINDOW_L1S: usize = 4;
/// Pages in the window.
pub const WINDOW_PAGES: usize = WINDOW_L1S * 512;
/// First VA of the window: the top 8 MiB of the 1 GiB that starts at VIRT_BASE.
pub const WINDOW_BASE: u64 = VIRT_BASE + (1 << 30) - (WINDOW_PAGES * PAGE_SIZE) as u64;

struct Window {
    l1_mfns: [u64; WINDOW_L1S],
    slots: SlotBitmap<{ WINDOW_PAGES / 64 }>,
}

static WINDOW: Global<Window> = Global::new(Window { l1_mfns: [0; WINDOW_L1S], slots: SlotBitmap::new() });

/// Records the machine frames of the window's L1 tables (linked by `mm::init`).
pub fn init(l1_mfns: [u64; WINDOW_L1S]) {
    WINDOW.with(|w| w.l1_mfns = l1_mfns);
}

/// Reserves `n` contiguous pages of the window; returns the first VA.
pub fn alloc(n: usize) -> Option<u64> {
    WINDOW.with(|w| w.slots.alloc(n)).map(|i| WINDOW_BASE + (i * PAGE_SIZE) as u64)
}

/// Releases `n` pages at `va` (their mappings must already be gone).
pub fn free(va: u64, n: usize) {
    if contains(va) {
        let first = ((va - WINDOW_BASE) as usize) / PAGE_SIZE;
        WINDOW.with(|w| w.slots.free(first, n));
    }
}

/// Window pages in use.
pub fn pages_in_use() -> usize {
    WINDOW.with(|w| w.slots.count_used())
}

/// True if `va` lies in the window.
pub fn contains(va: u64) -> bool {
    (WINDOW_BASE..WINDOW_BASE + (WINDOW_PAGES * PAGE_SIZE) as u64).contains(&va)
}

/// Machine address of the PTE that maps window page `va`.
fn pte_machine_addr(va: u64) -> u64 {
    let i = ((va - WINDOW_BASE) as usize) / PAGE_SIZE;
    let l1 = WINDOW.with(|w| w.l1_mfns[i / 512]);
    entry_machine_addr(l1, i % 512)
}

/// How a frame is mapped into the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    ReadWrite,
    ReadOnly,
    /// Uncached, for device registers.
    Mmio,
}

/// Maps machine frames `mfns` (owned by `owner`: `DomId::SELF`, or `DomId::IO` for MMIO
/// the domain was given with `iomem=`) at consecutive window pages. Returns the first VA.
pub fn map_frames(mfns: &[u64], owner: DomId, kind: MapKind) -> Result<u64, XenErrno> {
    let va = alloc(mfns.len()).ok_or(XenErrno::ENOMEM)?;
    let flags = match kind {
        MapKind::ReadWrite => L1_PROT,
        MapKind::ReadOnly => L1_PROT_RO,
        MapKind::Mmio => L1_PROT | PTE_PCD | PTE_PWT,
    };
    for (i, &mfn) in mfns.iter().enumerate() {
        let page = va + (i * PAGE_SIZE) as u64;
        let req = MmuUpdate { ptr: pte_machine_addr(page) | MMU_NORMAL_PT_UPDATE, val: pte(mfn, flags) };
        if let Err(e) = mmu_update(&[req], owner) {
            unmap_frames(va, i);
            free(va + (i * PAGE_SIZE) as u64, mfns.len() - i);
            return Err(e);
        }
    }
    Ok(va)
}

/// Removes `n` mappings made by [`map_frames`] and frees the window pages.
pub fn unmap_frames(va: u64, n: usize) {
    for i in 0..n {
        let _ = update_va_mapping(va + (i * PAGE_SIZE) as u64, 0);
    }
    free(va, n);
}

/// Copies bytes from a mapped window page (a frame that is not in the direct map).
pub fn read(va: u64, out: &mut [u8]) {
    if !contains(va) {
        return;
    }
    let n = out.len().min(PAGE_SIZE - (va as usize % PAGE_SIZE));
    // SAFETY: `va` is inside the window and the caller mapped it; the copy stays within
    // that page.
    unsafe { core::ptr::copy_nonoverlapping(va as *const u8, out.as_mut_ptr(), n) };
}
