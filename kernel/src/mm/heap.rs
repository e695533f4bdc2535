//! The kernel heap (`#[global_allocator]`): `linked_list_allocator` over a contiguous run of
//! frames in the direct map, sized at boot from the domain's memory.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use linked_list_allocator::Heap;

use crate::sync::Global;

struct KernelHeap(Global<Heap>);

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(Global::new(Heap::empty()));

// SAFETY: allocation and deallocation are delegated to linked_list_allocator's Heap, which
// returns properly aligned, non-overlapping blocks from the region given in `init`.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0
            .try_with(|h| h.allocate_first_fit(layout).map(|p| p.as_ptr()).unwrap_or(core::ptr::null_mut()))
            .unwrap_or(core::ptr::null_mut())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: GlobalAlloc's contract: `ptr` came from `alloc` with this layout.
            self.0.with(|h| unsafe { h.deallocate(p, layout) });
        }
    }
}

/// Hands `[start, start + size)` (mapped RW, unused) to the heap.
pub fn init(start: u64, size: usize) {
    // SAFETY: the range is mapped, writable and used by nothing else (mm::init carved it
    // out of the free frames).
    HEAP.0.with(|h| unsafe { h.init(start as *mut u8, size) });
}

/// `(bytes used, bytes free)`.
pub fn stats() -> (usize, usize) {
    HEAP.0.with(|h| (h.used(), h.free()))
}
