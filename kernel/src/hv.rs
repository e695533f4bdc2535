//! The driver interface (`xen-hv`, which drivers see as `drivers::hv`) implemented for real
//! Xen by the image runtime's [`Env`]: event channels, the grant table and its pages, the
//! xenstore client, the clock with the loop's one blocking call, and MMIO windows of
//! `DOMID_IO` frames. The xenstore client and the grant code already speak the interface's
//! types, so this file only adds what `Env` owns (bound ports, the shutdown watch).
//!
//! `Clock::wait_until` waits on every port bound through these traits plus the xenstore
//! port; ports that fire are remembered for `take_pending`, watch events stay queued per token
//! for `next_watch_event`, and a `control/shutdown` request is handled on the spot (the domain
//! powers off or reboots).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use xen_abi::errno::XenErrno;
use xen_abi::mm::PAGE_SIZE;
use xen_abi::types::{DomId, EvtchnPort, GrantRef};
use xen_hv::{self as hv, HvError, XsError, XsTx};

use crate::events::{self, Wake};
use crate::grant::{self, GrantMapping};
use crate::image::{Env, SHUTDOWN_TOKEN, XsRingClient};
use crate::mm::Page;
use crate::mm::window::{self, MapKind};
use crate::shared_mem;

fn xen_err(e: XenErrno) -> HvError {
    HvError::Xen(-e.0)
}

fn range(offset: usize, len: usize) -> Result<(), HvError> {
    match offset.checked_add(len) {
        Some(end) if end <= PAGE_SIZE => Ok(()),
        _ => Err(HvError::OutOfRange),
    }
}

// Our own pages are granted to peers, so they are shared memory too: no `&[u8]` over them,
// every access through `shared_mem` (volatile, fenced), like a mapped peer page.
impl hv::PageAccess for Page {
    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), HvError> {
        range(offset, buf.len())?;
        // SAFETY: the page is mapped at `va()` while `self` lives; the range is inside it
        // (checked above) and `buf` is private memory.
        unsafe { shared_mem::copy_from((self.va() as *const u8).add(offset), buf) };
        Ok(())
    }

    fn read_u64_le(&self, offset: usize) -> Result<u64, HvError> {
        range(offset, 8)?;
        // SAFETY: as in `read`.
        Ok(unsafe { shared_mem::read_u64((self.va() as *const u8).add(offset)) })
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), HvError> {
        range(offset, data.len())?;
        // SAFETY: as in `read`; the page is mapped writable and owned by `self`.
        unsafe { shared_mem::copy_to((self.va() as *mut u8).add(offset), data) };
        Ok(())
    }
}

impl hv::PageAccess for GrantMapping {
    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), HvError> {
        range(offset, buf.len())?;
        GrantMapping::read(self, offset, buf);
        Ok(())
    }

    fn read_u64_le(&self, offset: usize) -> Result<u64, HvError> {
        GrantMapping::read_u64(self, offset).ok_or(HvError::OutOfRange)
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), HvError> {
        range(offset, data.len())?;
        GrantMapping::write(self, offset, data);
        Ok(())
    }
}

impl hv::EventChannels for Env {
    fn alloc_unbound(&mut self, remote: DomId) -> Result<EvtchnPort, HvError> {
        let p = events::alloc_unbound(remote).map_err(xen_err)?;
        self.driver_ports.push(p);
        Ok(p)
    }

    fn bind_interdomain(&mut self, remote: DomId, remote_port: EvtchnPort) -> Result<EvtchnPort, HvError> {
        let p = events::bind_interdomain(remote, remote_port).map_err(xen_err)?;
        self.driver_ports.push(p);
        Ok(p)
    }

    fn notify(&mut self, port: EvtchnPort) -> Result<(), HvError> {
        events::send(port).map_err(xen_err)
    }

    fn close(&mut self, port: EvtchnPort) {
        let _ = events::close(port);
        self.driver_ports.retain(|&p| p != port);
        self.fired.retain(|&p| p != port);
    }

    fn take_pending(&mut self, port: EvtchnPort) -> bool {
        if let Some(i) = self.fired.iter().position(|&p| p == port) {
            self.fired.swap_remove(i);
            events::test_and_clear(port);
            return true;
        }
        events::test_and_clear(port)
    }
}

impl hv::GrantTable for Env {
    type Page = Page;
    type Mapping = GrantMapping;

    fn alloc_page(&mut self) -> Result<Page, HvError> {
        Page::alloc().ok_or(HvError::NoSpace)
    }

    fn grant_foreign_access(&mut self, page: &Page, domid: DomId, readonly: bool) -> Result<GrantRef, HvError> {
        self.gnttab.grant_access(domid, page.mfn(), readonly)
    }

    fn end_foreign_access(&mut self, gref: GrantRef) -> Result<(), HvError> {
        self.gnttab.end_access(gref)
    }

    fn map_grant_ref(&mut self, domid: DomId, gref: GrantRef, readonly: bool) -> Result<GrantMapping, HvError> {
        grant::map_grant(domid, gref, readonly)
    }

    fn unmap_grant_ref(&mut self, mapping: GrantMapping) -> Result<(), HvError> {
        grant::unmap_grant(mapping)
    }
}

impl Env {
    fn store(&mut self) -> Result<&mut XsRingClient, XsError> {
        self.xs.as_mut().ok_or_else(|| XsError::Other("no xenstore (dom0 smoke mode)".to_string()))
    }
}

impl hv::XenStore for Env {
    fn read(&mut self, tx: XsTx, path: &str) -> Result<String, XsError> {
        self.store()?.read_tx(tx, path)
    }

    fn write(&mut self, tx: XsTx, path: &str, value: &str) -> Result<(), XsError> {
        self.store()?.write_tx(tx, path, value)
    }

    fn mkdir(&mut self, tx: XsTx, path: &str) -> Result<(), XsError> {
        self.store()?.mkdir_tx(tx, path)
    }

    fn rm(&mut self, tx: XsTx, path: &str) -> Result<(), XsError> {
        self.store()?.rm_tx(tx, path)
    }

    fn directory(&mut self, tx: XsTx, path: &str) -> Result<Vec<String>, XsError> {
        self.store()?.directory_tx(tx, path)
    }

    fn transaction_start(&mut self) -> Result<XsTx, XsError> {
        self.store()?.transaction_start()
    }

    fn transaction_end(&mut self, tx: XsTx, commit: bool) -> Result<(), XsError> {
        self.store()?.transaction_end(tx, commit)
    }

    fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.store()?.watch(path, token)
    }

    fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.store()?.unwatch(path, token)
    }

    fn next_watch_event(&mut self, token: &str) -> Option<String> {
        hv::XenStore::next_watch_event(self.xs.as_mut()?, token)
    }
}

impl hv::Clock for Env {
    fn now_ns(&self) -> u64 {
        crate::time::now_ns()
    }

    fn wait_until(&mut self, deadline_ns: u64) {
        // A xenstore request the caller made since the last wait may have read watch events
        // off the ring (and consumed the port's event): they would not wake the wait below.
        // Handle a queued shutdown request now, and return at once if other events arrived,
        // so the caller's loop sees them (its drivers take their tokens' events).
        if let Some(xs) = self.xs.as_mut() {
            let _ = xs.poll();
            let shutdown_queued = xs.take_watch_event_for(SHUTDOWN_TOKEN).is_some();
            let received = xs.watch_events_received();
            if shutdown_queued {
                self.check_shutdown();
            }
            if received != self.watch_seen {
                self.watch_seen = received;
                return;
            }
        }
        let store = self.xs.as_mut().map(|xs| xs.transport_mut().port());
        let mut all: Vec<EvtchnPort> = self.driver_ports.clone();
        all.extend(store);
        if let Wake::Fired(fired) = events::wait(&all, Some(deadline_ns)) {
            for p in fired {
                if Some(p) != store && !self.fired.contains(&p) {
                    self.fired.push(p);
                }
            }
        }
        if let Some(xs) = self.xs.as_mut() {
            let _ = xs.poll();
            let shutdown_queued = xs.take_watch_event_for(SHUTDOWN_TOKEN).is_some();
            self.watch_seen = xs.watch_events_received();
            if shutdown_queued {
                self.check_shutdown();
            }
        }
    }
}

/// A window onto MMIO frames of `DOMID_IO` (e.g. the TPM's TIS localities at 0xFED40000),
/// which the domain may map because xl gave it `iomem=`. Accesses are single, uncached,
/// volatile loads and stores; offsets outside the window read as all-ones and ignore writes.
pub struct MmioRegion {
    va: u64,
    pages: usize,
}

impl MmioRegion {
    /// Maps `pages` frames starting at machine address `base` (page aligned).
    pub fn map(base: u64, pages: usize) -> Result<MmioRegion, XenErrno> {
        if !base.is_multiple_of(PAGE_SIZE as u64) || pages == 0 {
            return Err(XenErrno::EINVAL);
        }
        let mfns: Vec<u64> = (0..pages as u64).map(|i| (base / PAGE_SIZE as u64) + i).collect();
        let va = window::map_frames(&mfns, DomId::IO, MapKind::Mmio)?;
        Ok(MmioRegion { va, pages })
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.pages * PAGE_SIZE
    }

    pub fn is_empty(&self) -> bool {
        self.pages == 0
    }

    fn addr(&self, offset: usize, width: usize) -> Option<u64> {
        let end = offset.checked_add(width)?;
        (end <= self.len() && offset.is_multiple_of(width)).then_some(self.va + offset as u64)
    }
}

impl Drop for MmioRegion {
    fn drop(&mut self) {
        window::unmap_frames(self.va, self.pages);
    }
}

impl hv::Mmio for MmioRegion {
    fn read8(&mut self, offset: usize) -> u8 {
        match self.addr(offset, 1) {
            // SAFETY: `a` is inside the mapped, uncached window (checked by `addr`).
            Some(a) => unsafe { core::ptr::read_volatile(a as *const u8) },
            None => 0xFF,
        }
    }

    fn read32(&mut self, offset: usize) -> u32 {
        match self.addr(offset, 4) {
            // SAFETY: as in read8; `addr` also checked 4-byte alignment.
            Some(a) => unsafe { core::ptr::read_volatile(a as *const u32) },
            None => 0xFFFF_FFFF,
        }
    }

    fn write8(&mut self, offset: usize, value: u8) {
        if let Some(a) = self.addr(offset, 1) {
            // SAFETY: as in read8.
            unsafe { core::ptr::write_volatile(a as *mut u8, value) }
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        if let Some(a) = self.addr(offset, 4) {
            // SAFETY: as in read32.
            unsafe { core::ptr::write_volatile(a as *mut u32, value) }
        }
    }
}
