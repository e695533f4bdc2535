//! The driver interface (`xen-hv`) for dom0 user space on Linux: the one small platform layer
//! over `/dev/xen` that dom0 tools (`vtpmctl`, later the HVM bridge) build on, so the drivers'
//! protocol logic (`drivers::tpmfront`, `drivers::xenbus`) runs unchanged in dom0.
//!
//! - [`evtchn::Evtchn`]: `EventChannels` over `/dev/xen/evtchn`;
//! - [`grant::Dom0Grants`]: `GrantTable` over `/dev/xen/gntalloc` (our pages) and
//!   `/dev/xen/gntdev` (a peer's);
//! - [`xenstore::Dom0XenStore`]: `XenStore` — the tree's one client (`xen_hv::xenstore`) over
//!   `/dev/xen/xenbus`, or xenstored's socket;
//! - [`clock::StdClock`]: `Clock` over std; [`Dom0`] puts them together and implements
//!   `Clock::wait_until` as a `poll` on the event-channel and xenstore descriptors;
//! - [`probe`]: exercises each device and says what works (`vtpmctl probe`).
//!
//! `unsafe` lives only in [`sys`] (ioctl, mmap, poll over `libc`); every other module is safe.
//! Linux only.

pub mod clock;
pub mod evtchn;
pub mod grant;
pub mod ioctl;
pub mod probe;
pub mod sys;
pub mod xenstore;

use std::io;

use xen_hv::{Clock, DomId, EventChannels, EvtchnPort, GrantRef, GrantTable, HvError, XenStore, XsError, XsTx};

pub use clock::StdClock;
pub use evtchn::Evtchn;
pub use grant::{Dom0Grants, Dom0Mapping, Dom0Page};
pub use xenstore::Dom0XenStore;

/// An OS error as the driver interface's error: out of memory/space → `NoSpace`, any other errno
/// `e` → `Xen(-e)` (Linux passes the hypervisor's errno through), no errno → `Xen(-EIO)`.
pub fn hv_error(e: io::Error) -> HvError {
    match e.raw_os_error() {
        Some(libc::ENOMEM) | Some(libc::ENOSPC) => HvError::NoSpace,
        Some(n) => HvError::Xen(-n),
        None => HvError::Xen(-libc::EIO),
    }
}

/// Everything a split driver needs (`xen_hv::Xen`), for a dom0 process.
pub struct Dom0 {
    pub evtchn: Evtchn,
    pub grants: Dom0Grants,
    pub xs: Dom0XenStore,
    pub clock: StdClock,
}

impl Dom0 {
    /// Opens `/dev/xen/evtchn` and xenstore (the grant devices are opened when first used). The
    /// error says which device failed.
    pub fn open() -> io::Result<Dom0> {
        let evtchn = Evtchn::open().map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", evtchn::EVTCHN_DEVICE)))?;
        let xs = xenstore::open()?;
        Ok(Dom0 { evtchn, grants: Dom0Grants::new(), xs, clock: StdClock::new() })
    }
}

impl EventChannels for Dom0 {
    fn alloc_unbound(&mut self, remote: DomId) -> Result<EvtchnPort, HvError> {
        self.evtchn.alloc_unbound(remote)
    }
    fn bind_interdomain(&mut self, remote: DomId, remote_port: EvtchnPort) -> Result<EvtchnPort, HvError> {
        self.evtchn.bind_interdomain(remote, remote_port)
    }
    fn notify(&mut self, port: EvtchnPort) -> Result<(), HvError> {
        self.evtchn.notify(port)
    }
    fn close(&mut self, port: EvtchnPort) {
        self.evtchn.close(port)
    }
    fn take_pending(&mut self, port: EvtchnPort) -> bool {
        self.evtchn.take_pending(port)
    }
}

impl GrantTable for Dom0 {
    type Page = Dom0Page;
    type Mapping = Dom0Mapping;
    fn alloc_page(&mut self) -> Result<Dom0Page, HvError> {
        self.grants.alloc_page()
    }
    fn grant_foreign_access(&mut self, page: &Dom0Page, domid: DomId, readonly: bool) -> Result<GrantRef, HvError> {
        self.grants.grant_foreign_access(page, domid, readonly)
    }
    fn end_foreign_access(&mut self, gref: GrantRef) -> Result<(), HvError> {
        self.grants.end_foreign_access(gref)
    }
    fn map_grant_ref(&mut self, domid: DomId, gref: GrantRef, readonly: bool) -> Result<Dom0Mapping, HvError> {
        self.grants.map_grant_ref(domid, gref, readonly)
    }
    fn unmap_grant_ref(&mut self, mapping: Dom0Mapping) -> Result<(), HvError> {
        self.grants.unmap_grant_ref(mapping)
    }
}

impl XenStore for Dom0 {
    fn read(&mut self, tx: XsTx, path: &str) -> Result<String, XsError> {
        XenStore::read(&mut self.xs, tx, path)
    }
    fn write(&mut self, tx: XsTx, path: &str, value: &str) -> Result<(), XsError> {
        XenStore::write(&mut self.xs, tx, path, value)
    }
    fn mkdir(&mut self, tx: XsTx, path: &str) -> Result<(), XsError> {
        XenStore::mkdir(&mut self.xs, tx, path)
    }
    fn rm(&mut self, tx: XsTx, path: &str) -> Result<(), XsError> {
        XenStore::rm(&mut self.xs, tx, path)
    }
    fn directory(&mut self, tx: XsTx, path: &str) -> Result<Vec<String>, XsError> {
        XenStore::directory(&mut self.xs, tx, path)
    }
    fn transaction_start(&mut self) -> Result<XsTx, XsError> {
        XenStore::transaction_start(&mut self.xs)
    }
    fn transaction_end(&mut self, tx: XsTx, commit: bool) -> Result<(), XsError> {
        XenStore::transaction_end(&mut self.xs, tx, commit)
    }
    fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        XenStore::watch(&mut self.xs, path, token)
    }
    fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        XenStore::unwatch(&mut self.xs, path, token)
    }
    fn next_watch_event(&mut self, token: &str) -> Option<String> {
        self.xs.next_watch_event(token)
    }
}

impl Clock for Dom0 {
    fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    /// Sleeps in `poll` on `/dev/xen/evtchn` and the xenstore descriptor: returns when a port
    /// fired, a xenstore message arrived, or the deadline passed.
    fn wait_until(&mut self, deadline_ns: u64) {
        let ms = self.clock.ms_until(deadline_ns);
        if ms == 0 {
            return;
        }
        let fds = [self.evtchn.fd(), self.xs.transport_mut().fd()];
        if sys::poll_readable(&fds, ms).is_err() {
            // No descriptor to wait on: sleep, so a caller's loop does not spin.
            std::thread::sleep(std::time::Duration::from_millis(u64::try_from(ms.min(50)).unwrap_or(50)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Dom0` is a complete `xen_hv::Xen`, so the drivers' frontend runs on it unchanged (what
    /// the HVM bridge and vtpmctl's manager link need); the handshake itself needs Xen.
    #[test]
    fn the_drivers_tpmfront_runs_over_dom0() {
        fn is_xen<X: xen_hv::Xen>() {}
        is_xen::<Dom0>();
        let front = drivers::tpmfront::TpmFront::<Dom0>::new("device/vtpm/0");
        assert!(!front.is_connected());
    }

    #[test]
    fn os_errors_map_to_hv_errors() {
        assert_eq!(hv_error(io::Error::from_raw_os_error(libc::ENOMEM)), HvError::NoSpace);
        assert_eq!(hv_error(io::Error::from_raw_os_error(libc::EBUSY)), HvError::Xen(-16));
        assert_eq!(hv_error(io::Error::other("x")), HvError::Xen(-libc::EIO));
    }
}
