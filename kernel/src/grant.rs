//! Grant tables, version 1: granting our pages to other domains (the table is ours, mapped
//! from the frames `GNTTABOP_setup_table` returns), and mapping pages other domains granted
//! to us into the foreign-mapping window (`GNTTABOP_map_grant_ref` with `GNTMAP_host_map`).
//!
//! Errors are the driver interface's [`HvError`] (a `GNTST_*` status becomes the errno Linux
//! maps it to).
//!
//! References 0..7 are reserved (the toolstack uses 0 for the console and 1 for xenstore).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU16, Ordering, fence};

use xen_abi::errno::XenErrno;
use xen_abi::grant_table::{
    GNTMAP_HOST_MAP, GNTMAP_READONLY, GNTST_EAGAIN, GNTST_OKAY, GNTST_PERMISSION_DENIED, GRANT_ENTRIES_PER_FRAME_V1,
    GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_WRITING, GnttabMapGrantRef, GnttabOp, GnttabSetupTable,
    GnttabUnmapGrantRef, GrantEntryV1,
};
use xen_abi::hypercall::HYPERVISOR_GRANT_TABLE_OP;
use xen_abi::types::{DomId, GrantRef};
use xen_hv::HvError;

use crate::arch::hypercall::hypercall3;
use crate::mm::window::{self, MapKind};
use crate::shared_mem;

/// Grant-table frames requested at setup (512 entries each).
pub const GRANT_FRAMES: usize = 4;
/// First reference we hand out.
pub const FIRST_FREE_REF: u32 = 8;

fn xen_err(e: XenErrno) -> HvError {
    HvError::Xen(-e.0)
}

/// A `GNTST_*` status as the driver interface's error (the errno Linux maps it to).
fn status_err(status: i16) -> HvError {
    match status {
        GNTST_PERMISSION_DENIED => xen_err(XenErrno::EACCES),
        GNTST_EAGAIN => xen_err(XenErrno::EAGAIN),
        _ => xen_err(XenErrno::EINVAL),
    }
}

/// The peer still has the page mapped (`GTF_reading`/`GTF_writing`): EBUSY.
pub const IN_USE: HvError = HvError::Xen(-XenErrno::EBUSY.0);
/// Not a reference we granted (or not one at all): EINVAL.
pub const BAD_REF: HvError = HvError::Xen(-XenErrno::EINVAL.0);

/// `HYPERVISOR_grant_table_op(T::CMD, arg, 1)`: the struct type names its command.
fn gnttab_op<T: GnttabOp>(arg: &mut T) -> Result<(), HvError> {
    // SAFETY: `arg` is a live struct of the type Xen expects for `T::CMD` (the `GnttabOp` impls
    // in xen-abi pair each struct with its command), count 1.
    let rc = unsafe { hypercall3(HYPERVISOR_GRANT_TABLE_OP, T::CMD, arg as *mut T as u64, 1) };
    XenErrno::check(rc).map(|_| ()).map_err(xen_err)
}

/// Our grant table (the `GNTTABOP_setup_table` frames and the free list of references);
/// `xen_hv::GrantTable` for drivers is implemented on `image::Env` on top of it.
pub struct Gnttab {
    entries: *mut GrantEntryV1,
    nr_entries: u32,
    free: Vec<u32>,
}

/// A page of another domain mapped into the window.
#[derive(Debug)]
pub struct GrantMapping {
    pub va: u64,
    handle: u32,
}

impl Gnttab {
    /// Sets up `GRANT_FRAMES` frames and maps them.
    pub fn init() -> Result<Gnttab, HvError> {
        let mut frames = [0u64; GRANT_FRAMES];
        let mut op = GnttabSetupTable {
            dom: DomId::SELF.0,
            nr_frames: GRANT_FRAMES as u32,
            frame_list: frames.as_mut_ptr() as u64,
            ..Default::default()
        };
        gnttab_op(&mut op)?;
        if op.status != GNTST_OKAY {
            return Err(status_err(op.status));
        }
        let va = window::map_frames(&frames, DomId::SELF, MapKind::ReadWrite).map_err(xen_err)?;
        let nr_entries = (GRANT_FRAMES * GRANT_ENTRIES_PER_FRAME_V1) as u32;
        Ok(Gnttab { entries: va as *mut GrantEntryV1, nr_entries, free: (FIRST_FREE_REF..nr_entries).rev().collect() })
    }

    fn entry(&self, r: GrantRef) -> Option<*mut GrantEntryV1> {
        if r.0 < FIRST_FREE_REF || r.0 >= self.nr_entries {
            return None;
        }
        // SAFETY: r < nr_entries, inside the mapped table frames.
        Some(unsafe { self.entries.add(r.0 as usize) })
    }

    fn flags(&self, e: *mut GrantEntryV1) -> &AtomicU16 {
        // SAFETY: `e` is an entry of the mapped table; `flags` is shared with Xen and only
        // accessed atomically.
        unsafe { AtomicU16::from_ptr(core::ptr::addr_of_mut!((*e).flags)) }
    }

    /// Lets `domid` map machine frame `mfn` (read-only if `readonly`).
    pub fn grant_access(&mut self, domid: DomId, mfn: u64, readonly: bool) -> Result<GrantRef, HvError> {
        let r = GrantRef(self.free.pop().ok_or(HvError::NoSpace)?);
        let Some(e) = self.entry(r) else {
            return Err(BAD_REF);
        };
        // SAFETY: the entry is ours and unused (flags 0); frame and domid are written before
        // the flags publish the grant.
        unsafe {
            core::ptr::write_volatile(core::ptr::addr_of_mut!((*e).domid), domid.0);
            core::ptr::write_volatile(core::ptr::addr_of_mut!((*e).frame), mfn as u32);
        }
        fence(Ordering::Release);
        let flags = GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 };
        self.flags(e).store(flags, Ordering::SeqCst);
        Ok(r)
    }

    /// Withdraws a grant. Fails with `InUse` while the peer has it mapped.
    pub fn end_access(&mut self, r: GrantRef) -> Result<(), HvError> {
        let e = self.entry(r).ok_or(BAD_REF)?;
        let f = self.flags(e);
        let mut cur = f.load(Ordering::SeqCst);
        loop {
            if cur & GTF_PERMIT_ACCESS == 0 {
                return Err(BAD_REF);
            }
            if cur & (GTF_READING | GTF_WRITING) != 0 {
                return Err(IN_USE);
            }
            match f.compare_exchange(cur, 0, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        self.free.push(r.0);
        Ok(())
    }

    /// Grant references still free.
    pub fn free_refs(&self) -> usize {
        self.free.len()
    }
}

/// Maps page `r` granted by `domid` into the window.
pub fn map_grant(domid: DomId, r: GrantRef, readonly: bool) -> Result<GrantMapping, HvError> {
    let va = window::alloc(1).ok_or(HvError::NoSpace)?;
    let mut op = GnttabMapGrantRef {
        host_addr: va,
        flags: GNTMAP_HOST_MAP | if readonly { GNTMAP_READONLY } else { 0 },
        r#ref: r.0,
        dom: domid.0,
        ..Default::default()
    };
    if let Err(e) = gnttab_op(&mut op) {
        window::free(va, 1);
        return Err(e);
    }
    if op.status != GNTST_OKAY {
        window::free(va, 1);
        return Err(status_err(op.status));
    }
    Ok(GrantMapping { va, handle: op.handle })
}

/// Unmaps a page mapped by [`map_grant`].
pub fn unmap_grant(m: GrantMapping) -> Result<(), HvError> {
    let mut op = GnttabUnmapGrantRef { host_addr: m.va, dev_bus_addr: 0, handle: m.handle, ..Default::default() };
    gnttab_op(&mut op)?;
    if op.status != GNTST_OKAY {
        return Err(status_err(op.status));
    }
    window::free(m.va, 1);
    core::mem::forget(m);
    Ok(())
}

impl Drop for GrantMapping {
    /// A mapping dropped without [`unmap_grant`] (or whose unmap failed) is unmapped here,
    /// best effort, so the peer's page is never left mapped behind our back.
    fn drop(&mut self) {
        let mut op =
            GnttabUnmapGrantRef { host_addr: self.va, dev_bus_addr: 0, handle: self.handle, ..Default::default() };
        if gnttab_op(&mut op).is_ok() && op.status == GNTST_OKAY {
            window::free(self.va, 1);
        }
    }
}

impl GrantMapping {
    /// Copies bytes out of the mapped page (the peer may change it at any time: copy once,
    /// then validate the copy), through [`crate::shared_mem`]: volatile, fenced.
    pub fn read(&self, offset: usize, out: &mut [u8]) {
        let n = out.len().min(4096usize.saturating_sub(offset));
        // SAFETY: the page is mapped at `va` for as long as `self` exists; [offset, offset+n)
        // is within it and `out` is private memory.
        unsafe { shared_mem::copy_from((self.va as *const u8).add(offset), &mut out[..n]) };
    }

    /// Reads the little-endian u64 at `offset` (one volatile 8-byte load when aligned).
    pub fn read_u64(&self, offset: usize) -> Option<u64> {
        if offset.checked_add(8)? > 4096 {
            return None;
        }
        // SAFETY: as in `read`; [offset, offset+8) is within the page (checked above).
        Some(unsafe { shared_mem::read_u64((self.va as *const u8).add(offset)) })
    }

    /// Copies bytes into the mapped page (must be mapped writable), volatile and fenced.
    pub fn write(&self, offset: usize, data: &[u8]) {
        let n = data.len().min(4096usize.saturating_sub(offset));
        // SAFETY: as in `read`; the mapping was made writable by the caller's choice.
        unsafe { shared_mem::copy_to((self.va as *mut u8).add(offset), &data[..n]) };
    }
}
