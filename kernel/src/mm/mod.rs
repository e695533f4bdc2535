//! Memory: the page tables Xen built, the direct map of all pseudo-physical frames, the frame
//! allocator, the heap and the foreign-mapping window.
//!
//! Boot-time layout (xen.h "start of day" rules): Xen maps the image and the bootstrap
//! elements (p2m list, start_info, xenstore and console pages, page tables, a boot stack) at
//! `VIRT_BASE + pfn * 4096`, up to a 4 MiB boundary with at least 512 KiB of padding. `init`
//! finds the end of that mapping, takes zeroed frames from the padding to serve as new L1
//! tables (remapped read-only first, as Xen requires), maps every remaining frame of the
//! domain the same way, builds the window's L1s, and splits the free frames between the heap
//! and the frame allocator.

pub mod frames;
pub mod heap;
pub mod pagetable;
pub mod window;

use xen_abi::hypercall::MMU_NORMAL_PT_UPDATE;
use xen_abi::mm::{MmuUpdate, PAGE_SIZE, PTE_PRESENT};
use xen_abi::start_info::StartInfo;
use xen_abi::types::DomId;

use crate::arch::boot::VIRT_BASE;
use crate::sync::InitOnce;

pub use frames::Page;
use pagetable::{
    L1_PROT, L1_PROT_RO, entry_location, entry_machine_addr, has_l1, link_l1, lookup_pte, mmu_update, pfn_to_mfn,
    pfn_to_va, pte, update_va_mapping, va_to_pfn,
};

/// At most this much of the domain's memory is mapped (the window sits above it).
pub const DIRECT_MAP_MAX_PFNS: u64 = ((1 << 30) - (16 << 20)) / PAGE_SIZE as u64;

/// What `init` found and decided, for the selftest and the boot log.
#[derive(Clone, Copy, Debug)]
pub struct MemoryLayout {
    pub nr_pages: u64,
    /// First frame after the bootstrap elements.
    pub first_free_pfn: u64,
    /// End of Xen's bootstrap mapping.
    pub boot_mapped_end_pfn: u64,
    /// End of the direct map after `init`.
    pub mapped_end_pfn: u64,
    /// Frames turned into L1 tables.
    pub new_l1_tables: u64,
    pub heap_start: u64,
    pub heap_size: usize,
    pub frames_start_pfn: u64,
    pub frames_end_pfn: u64,
}

static LAYOUT: InitOnce<MemoryLayout> = InitOnce::new();

pub fn layout() -> Option<&'static MemoryLayout> {
    LAYOUT.get()
}

unsafe extern "C" {
    static __image_end: u8;
}

fn pfn_up(va: u64) -> u64 {
    (va - VIRT_BASE).div_ceil(PAGE_SIZE as u64)
}

/// Takes the next frame of the boot padding, zeroes it and makes it read-only, ready to be
/// linked as a page table. Returns its machine frame.
fn take_table_frame(next: &mut u64, limit: u64) -> u64 {
    if *next >= limit {
        crate::console::emergency(format_args!("mm: boot padding exhausted\r\n"));
        crate::shutdown::crash();
    }
    let pfn = *next;
    *next += 1;
    let va = pfn_to_va(pfn);
    // SAFETY: `pfn` is in the boot padding: mapped RW, used by nothing.
    unsafe { core::ptr::write_bytes(va as *mut u8, 0, PAGE_SIZE) };
    let mfn = pfn_to_mfn(pfn).unwrap_or(0);
    if update_va_mapping(va, pte(mfn, L1_PROT_RO)).is_err() {
        crate::console::emergency(format_args!("mm: cannot remap table frame read-only\r\n"));
        crate::shutdown::crash();
    }
    mfn
}

/// Sets up all of the above. `si_va` is where Xen put start_info.
pub fn init(si: &StartInfo, si_va: u64) {
    pagetable::init(si.mfn_list, si.nr_pages);
    let nr_pages = si.nr_pages;
    let image_end = core::ptr::addr_of!(__image_end) as u64;
    let mut first_free = va_to_pfn(si.pt_base) + si.nr_pt_frames + 1; // + Xen's boot stack
    first_free = first_free.max(pfn_up(image_end)).max(va_to_pfn(si_va) + 1).max(pfn_up(si.mfn_list + nr_pages * 8));
    if si.mod_start != 0 && si.mod_len != 0 && si.mod_start >= VIRT_BASE {
        first_free = first_free.max(pfn_up(si.mod_start + si.mod_len));
    }
    // The end of Xen's mapping: the first page without a present PTE.
    let limit = nr_pages.min(DIRECT_MAP_MAX_PFNS);
    let mut boot_end = first_free;
    while boot_end < limit && lookup_pte(pfn_to_va(boot_end)).is_some_and(|e| e & PTE_PRESENT != 0) {
        boot_end += 1;
    }
    let mut next = first_free;
    let mut new_tables = 0;

    // L1 tables for the rest of the direct map, then map it in batches.
    let mut pfn = boot_end;
    let mut batch: [MmuUpdate; 64] = [MmuUpdate::default(); 64];
    while pfn < limit {
        let va = pfn_to_va(pfn);
        if !has_l1(va) {
            let l1 = take_table_frame(&mut next, boot_end);
            new_tables += 1;
            if link_l1(va, l1).is_err() {
                crate::console::emergency(format_args!("mm: cannot link L1 for {va:#x}\r\n"));
                crate::shutdown::crash();
            }
        }
        let Some((l1_mfn, first_idx)) = entry_location(va, 1) else { crate::shutdown::crash() };
        let n = (512 - first_idx).min((limit - pfn) as usize);
        let mut i = 0;
        while i < n {
            let m = (n - i).min(batch.len());
            for (j, req) in batch.iter_mut().enumerate().take(m) {
                let p = pfn + (i + j) as u64;
                *req = MmuUpdate {
                    ptr: entry_machine_addr(l1_mfn, first_idx + i + j) | MMU_NORMAL_PT_UPDATE,
                    val: pte(pfn_to_mfn(p).unwrap_or(0), L1_PROT),
                };
            }
            if mmu_update(&batch[..m], DomId::SELF).is_err() {
                crate::console::emergency(format_args!("mm: mapping frames failed at pfn {pfn:#x}\r\n"));
                crate::shutdown::crash();
            }
            i += m;
        }
        pfn += n as u64;
    }

    // The window's L1 tables.
    let mut l1s = [0u64; window::WINDOW_L1S];
    for (i, slot) in l1s.iter_mut().enumerate() {
        let va = window::WINDOW_BASE + (i * 512 * PAGE_SIZE) as u64;
        let l1 = take_table_frame(&mut next, boot_end);
        new_tables += 1;
        if link_l1(va, l1).is_err() {
            crate::console::emergency(format_args!("mm: cannot link window L1\r\n"));
            crate::shutdown::crash();
        }
        *slot = l1;
    }
    window::init(l1s);

    // Split the free frames: three quarters heap, the rest for the frame allocator.
    let free = limit - next;
    let frames_n = (free / 4).max(64.min(free));
    let heap_pages = free - frames_n;
    let heap_start = pfn_to_va(next);
    heap::init(heap_start, (heap_pages as usize) * PAGE_SIZE);
    let frames_start = next + heap_pages;
    frames::init(frames_start, limit);

    LAYOUT.init(MemoryLayout {
        nr_pages,
        first_free_pfn: first_free,
        boot_mapped_end_pfn: boot_end,
        mapped_end_pfn: limit,
        new_l1_tables: new_tables,
        heap_start,
        heap_size: (heap_pages as usize) * PAGE_SIZE,
        frames_start_pfn: frames_start,
        frames_end_pfn: limit,
    });
}
