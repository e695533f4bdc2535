//! Copies to and from memory that another domain may change at any moment: a page we granted
//! to a peer, or a peer's page we mapped (XSA-155: a backend must never let the compiler
//! re-fetch what it already checked).
//!
//! The rule, for every access to such memory:
//! - no `&[u8]` / `&mut [u8]` over it: the bytes are moved one by one with volatile loads and
//!   stores, so each byte is read (or written) exactly once, in program order, and the compiler
//!   can neither re-load a value after a check nor merge, drop or invent accesses;
//! - a `SeqCst` fence before and after each copy, so copies issued one after the other
//!   ("write data, then length, then state") are not reordered against each other or against
//!   the event-channel notify that follows;
//! - a header that must be taken as a whole (tpmif's `state, locality, length`) is read with
//!   [`read_u64`], one volatile 8-byte load.
//!
//! `drivers::hv::PageAccess` for `mm::Page` and `grant::GrantMapping` goes through here
//! (`kernel/src/hv.rs`). Pure pointer code, so it is also tested on the host.

use core::sync::atomic::{Ordering, fence};

/// Copies `out.len()` bytes from shared memory at `src` into private memory.
///
/// # Safety
///
/// `src .. src + out.len()` must be mapped and readable for the duration of the call. The
/// peer may write it concurrently (that is the point); `out` must not overlap it.
pub unsafe fn copy_from(src: *const u8, out: &mut [u8]) {
    fence(Ordering::SeqCst);
    for (i, b) in out.iter_mut().enumerate() {
        // SAFETY: `src + i` lies in the readable range the caller vouched for.
        *b = unsafe { core::ptr::read_volatile(src.add(i)) };
    }
    fence(Ordering::SeqCst);
}

/// Copies `data` from private memory into shared memory at `dst`.
///
/// # Safety
///
/// `dst .. dst + data.len()` must be mapped and writable for the duration of the call, and
/// `data` must not overlap it.
pub unsafe fn copy_to(dst: *mut u8, data: &[u8]) {
    fence(Ordering::SeqCst);
    for (i, &b) in data.iter().enumerate() {
        // SAFETY: `dst + i` lies in the writable range the caller vouched for.
        unsafe { core::ptr::write_volatile(dst.add(i), b) };
    }
    fence(Ordering::SeqCst);
}

/// Reads a little-endian `u64` from shared memory in one volatile 8-byte load (when `src` is
/// 8-byte aligned; otherwise byte by byte, as [`copy_from`]).
///
/// # Safety
///
/// `src .. src + 8` must be mapped and readable for the duration of the call.
pub unsafe fn read_u64(src: *const u8) -> u64 {
    if !(src as usize).is_multiple_of(8) {
        let mut b = [0u8; 8];
        // SAFETY: the caller vouched for the 8 bytes at `src`.
        unsafe { copy_from(src, &mut b) };
        return u64::from_le_bytes(b);
    }
    fence(Ordering::SeqCst);
    // SAFETY: aligned (checked above) and readable (the caller's promise).
    let v = unsafe { core::ptr::read_volatile(src as *const u64) };
    fence(Ordering::SeqCst);
    u64::from_le(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(align(8))]
    struct Page([u8; 64]);

    #[test]
    fn copies_bytes_at_any_offset() {
        let mut page = Page([0u8; 64]);
        let base = page.0.as_mut_ptr();
        // SAFETY: all ranges are inside `page`, which outlives the calls.
        unsafe {
            copy_to(base.add(3), b"hello shared page");
            let mut out = [0u8; 17];
            copy_from(base.add(3), &mut out);
            assert_eq!(&out, b"hello shared page");
            copy_to(base.add(24), &0x0102_0304_0506_0708u64.to_le_bytes());
            assert_eq!(read_u64(base.add(24)), 0x0102_0304_0506_0708);
            // Unaligned: same value, read byte by byte.
            copy_to(base.add(41), &0xA1B2_C3D4_E5F6_0718u64.to_le_bytes());
            assert_eq!(read_u64(base.add(41)), 0xA1B2_C3D4_E5F6_0718);
        }
        assert_eq!(&page.0[3..8], b"hello");
    }
}
