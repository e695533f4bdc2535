//! The frame allocator: hands out whole 4 KiB pseudo-physical frames of the domain's free
//! memory (those after the bootstrap area, minus the heap), each already mapped in the
//! direct map. Free frames are kept on an intrusive list (the next pfn is stored in the
//! first word of the free page itself), so there is no metadata to size.
//!
//! [`Page`] owns one frame and returns it on drop. When the frame pool is empty, a page is
//! carved from the heap instead (a 4 KiB-aligned block: the heap lives in the direct map too,
//! so it has a pfn and an mfn like any frame). A page that was granted to another domain must
//! have its grant ended (`grant::Gnttab::end_access`) before it is dropped.

use core::alloc::Layout;

use crate::sync::Global;

use super::pagetable::{pfn_to_mfn, pfn_to_va, va_to_pfn};

const NO_FRAME: u64 = u64::MAX;

struct FrameAllocator {
    /// Next never-used frame.
    bump: u64,
    /// One past the last frame.
    end: u64,
    free_head: u64,
    free_count: u64,
    in_use: u64,
}

static FRAMES: Global<FrameAllocator> =
    Global::new(FrameAllocator { bump: 0, end: 0, free_head: NO_FRAME, free_count: 0, in_use: 0 });

/// Gives frames `[start, end)` (mapped RW in the direct map) to the allocator.
pub fn init(start: u64, end: u64) {
    FRAMES.with(|f| {
        f.bump = start;
        f.end = end;
    });
}

/// Allocates one frame, returning its pfn.
pub fn alloc_pfn() -> Option<u64> {
    FRAMES.with(|f| {
        let pfn = if f.free_head != NO_FRAME {
            let pfn = f.free_head;
            // SAFETY: a free frame is mapped RW in the direct map and owned by the
            // allocator; its first word holds the next free pfn.
            f.free_head = unsafe { core::ptr::read_volatile(pfn_to_va(pfn) as *const u64) };
            f.free_count -= 1;
            pfn
        } else if f.bump < f.end {
            f.bump += 1;
            f.bump - 1
        } else {
            return None;
        };
        f.in_use += 1;
        Some(pfn)
    })
}

/// Returns a frame obtained from [`alloc_pfn`].
pub fn free_pfn(pfn: u64) {
    FRAMES.with(|f| {
        // SAFETY: the caller gives back a frame it owned; it is mapped RW in the direct map.
        unsafe { core::ptr::write_volatile(pfn_to_va(pfn) as *mut u64, f.free_head) };
        f.free_head = pfn;
        f.free_count += 1;
        f.in_use -= 1;
    })
}

/// `(frames in use, frames still available)`.
pub fn stats() -> (u64, u64) {
    FRAMES.with(|f| (f.in_use, f.free_count + (f.end - f.bump)))
}

const PAGE_LAYOUT: Layout = match Layout::from_size_align(4096, 4096) {
    Ok(l) => l,
    Err(_) => panic!("page layout"),
};

/// One owned, zeroed, page-aligned 4 KiB frame.
pub struct Page {
    pfn: u64,
    from_heap: bool,
}

impl Page {
    /// Allocates a zeroed page: from the frame pool, else from the heap.
    pub fn alloc() -> Option<Page> {
        let mut p = match alloc_pfn() {
            Some(pfn) => Page { pfn, from_heap: false },
            None => {
                // SAFETY: PAGE_LAYOUT has a non-zero size.
                let va = unsafe { alloc::alloc::alloc(PAGE_LAYOUT) };
                if va.is_null() {
                    return None;
                }
                Page { pfn: va_to_pfn(va as u64), from_heap: true }
            }
        };
        p.bytes_mut().fill(0);
        Some(p)
    }

    /// True if the frame pool was empty and this page came from the heap.
    pub fn is_from_heap(&self) -> bool {
        self.from_heap
    }

    pub fn pfn(&self) -> u64 {
        self.pfn
    }

    /// Machine frame (what a grant or a peer needs).
    pub fn mfn(&self) -> u64 {
        pfn_to_mfn(self.pfn).unwrap_or(0)
    }

    /// Virtual address in the direct map.
    pub fn va(&self) -> u64 {
        pfn_to_va(self.pfn)
    }

    /// The page as a slice: only for a page no peer can see (not granted). A granted page is
    /// shared memory and goes through `drivers::hv::PageAccess` (`crate::shared_mem`).
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the page is mapped and owned by this `Page`; shared borrow of `self`.
        unsafe { core::slice::from_raw_parts(self.va() as *const u8, 4096) }
    }

    /// As [`Page::bytes`], writable: only for a page no peer can see.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the page is mapped RW and owned exclusively by this `Page`; unique borrow.
        unsafe { core::slice::from_raw_parts_mut(self.va() as *mut u8, 4096) }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        if self.from_heap {
            // SAFETY: the block was allocated in `alloc` with PAGE_LAYOUT at this address.
            unsafe { alloc::alloc::dealloc(self.va() as *mut u8, PAGE_LAYOUT) };
        } else {
            free_pfn(self.pfn);
        }
    }
}
