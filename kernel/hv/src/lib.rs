//! The driver interface to the hypervisor: the small traits through which drivers see event
//! channels, the grant table and its pages, xenstore, the clock and MMIO windows, with their
//! error types. It sits below both sides: the kernel (`kernel/src/hv.rs`) implements it for
//! real Xen (hypercalls, the xenstore ring, shared-memory mappings) and speaks its types
//! natively; `drivers` builds on it (and re-exports it as `drivers::hv`);
//! `integration_tests::simxen` implements it for several simulated domains in one process.
//!
//! Everything is single-threaded and non-blocking: a driver is a state machine that the image's
//! event loop calls with `&mut` access to the one object implementing these traits. The only
//! call that may block is [`Clock::wait_until`], used by the event loop and by synchronous
//! helpers (TIS polling, the blocking convenience wrappers), never by `poll()` methods.
//!
//! Errors are values: a peer can make an operation fail, never panic the driver.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod xenstore;

pub use xen_abi::types::{DomId, EvtchnPort, GrantRef, XenbusState};
pub use xenstore::{TRANSACTION_RETRIES, XenStore, XsError, XsTx, with_transaction};

/// Failure of a hypervisor operation (event channel, grant table, mapped page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HvError {
    /// The hypervisor refused with this (negative) Xen errno, e.g. -22 EINVAL, -16 EBUSY.
    Xen(i32),
    /// An offset/length outside the 4 KiB page.
    OutOfRange,
    /// A mapping the peer took away (or never really gave): reads and writes fail.
    PageGone,
    /// Out of memory, grant entries or ports.
    NoSpace,
}

impl core::fmt::Display for HvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HvError::Xen(e) => write!(f, "hypercall failed: errno {}", -e),
            HvError::OutOfRange => f.write_str("offset outside the page"),
            HvError::PageGone => f.write_str("page no longer mapped"),
            HvError::NoSpace => f.write_str("no free memory, grant reference or port"),
        }
    }
}

/// Event channels (`EVTCHNOP_*`). Ports are this domain's local ports.
pub trait EventChannels {
    /// `EVTCHNOP_alloc_unbound`: a fresh port that `remote` may bind to.
    fn alloc_unbound(&mut self, remote: DomId) -> Result<EvtchnPort, HvError>;
    /// `EVTCHNOP_bind_interdomain`: connect a local port to `remote`'s unbound `remote_port`.
    fn bind_interdomain(&mut self, remote: DomId, remote_port: EvtchnPort) -> Result<EvtchnPort, HvError>;
    /// `EVTCHNOP_send`.
    fn notify(&mut self, port: EvtchnPort) -> Result<(), HvError>;
    /// `EVTCHNOP_close`. Closing an already closed port is not an error worth reporting.
    fn close(&mut self, port: EvtchnPort);
    /// Test-and-clear: has the port fired since the last call? (The kernel's loop records
    /// pending bits; drivers use this only as a hint and always re-read shared state.)
    fn take_pending(&mut self, port: EvtchnPort) -> bool;

    /// Whether domain `dom` exists (a dying domain still does), asked the only way an
    /// unprivileged domain can: `EVTCHNOP_bind_interdomain(dom, port 0)`. Xen looks the
    /// remote domain up first (`ESRCH` if there is none), then finds its port 0, which is
    /// reserved and never unbound (`EINVAL`); nothing gets bound either way. `None` if Xen
    /// answered something else (the question stays open).
    fn domain_exists(&mut self, dom: DomId) -> Option<bool> {
        const ESRCH: i32 = -3;
        const EINVAL: i32 = -22;
        match self.bind_interdomain(dom, EvtchnPort(0)) {
            Err(HvError::Xen(ESRCH)) => Some(false),
            Err(HvError::Xen(EINVAL)) => Some(true),
            Ok(port) => {
                self.close(port);
                Some(true)
            }
            Err(_) => None,
        }
    }
}

/// Byte access to one 4 KiB page: a page of our own that we grant, or a peer's page we mapped.
/// Each call is a copy-in or copy-out (no references into shared memory), and calls are ordered:
/// the kernel implementation (`kernel::shared_mem`) copies with volatile byte accesses and a
/// fence before and after each call, so every byte is read once, and "write data, then write
/// length, then write state" is seen in that order by the peer.
pub trait PageAccess {
    /// Copies `buf.len()` bytes starting at `offset` out of the page.
    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), HvError>;
    /// Copies `data` into the page at `offset`.
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), HvError>;

    /// Reads one byte.
    fn read_u8(&self, offset: usize) -> Result<u8, HvError> {
        let mut b = [0u8; 1];
        self.read(offset, &mut b)?;
        Ok(b[0])
    }
    /// Reads a little-endian u32.
    fn read_u32_le(&self, offset: usize) -> Result<u32, HvError> {
        let mut b = [0u8; 4];
        self.read(offset, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    /// Reads a little-endian u64 as one snapshot: the kernel does a single volatile 8-byte
    /// load for an aligned `offset` (the tpmif header `state, locality, length` is read so).
    fn read_u64_le(&self, offset: usize) -> Result<u64, HvError> {
        let mut b = [0u8; 8];
        self.read(offset, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    /// Writes a little-endian u32.
    fn write_u32_le(&mut self, offset: usize, v: u32) -> Result<(), HvError> {
        self.write(offset, &v.to_le_bytes())
    }
}

/// The grant table (`GNTTABOP_*`) plus the pages it shares.
pub trait GrantTable {
    /// A zeroed 4 KiB page of our own memory. Dropping it frees it: drivers only drop a page
    /// after [`GrantTable::end_foreign_access`] succeeded for every grant of it (otherwise they
    /// leak it with `core::mem::forget`, as Linux does).
    type Page: PageAccess;
    /// A peer's page mapped into our address space.
    type Mapping: PageAccess;

    /// Allocates a zeroed page.
    fn alloc_page(&mut self) -> Result<Self::Page, HvError>;
    /// Grants `domid` access to `page` (read-only if `readonly`).
    fn grant_foreign_access(&mut self, page: &Self::Page, domid: DomId, readonly: bool) -> Result<GrantRef, HvError>;
    /// Ends a grant. Fails (`Xen(-16)`, EBUSY) while the peer still has it mapped.
    fn end_foreign_access(&mut self, gref: GrantRef) -> Result<(), HvError>;
    /// `GNTTABOP_map_grant_ref` of `domid`'s grant `gref`.
    fn map_grant_ref(&mut self, domid: DomId, gref: GrantRef, readonly: bool) -> Result<Self::Mapping, HvError>;
    /// `GNTTABOP_unmap_grant_ref`.
    fn unmap_grant_ref(&mut self, mapping: Self::Mapping) -> Result<(), HvError>;
}

/// Monotonic time, and the one blocking primitive.
pub trait Clock {
    /// Monotonic nanoseconds since boot.
    fn now_ns(&self) -> u64;
    /// Blocks until `deadline_ns` or until an event channel or a xenstore watch fires,
    /// whichever is first; it may return early. (Real kernel: `SCHEDOP_poll` on every bound
    /// port plus the xenstore port, with `deadline_ns` as its timeout. Simulation: advances
    /// virtual time and lets the other simulated domains run.)
    fn wait_until(&mut self, deadline_ns: u64);
}

/// An MMIO register window (the TPM's TIS localities, mapped from DOMID_IO). Reads and writes
/// are single uncached accesses of the given width at a byte offset inside the window; an
/// offset outside the window reads as all-ones and ignores writes.
pub trait Mmio {
    /// 8-bit read.
    fn read8(&mut self, offset: usize) -> u8;
    /// 32-bit read.
    fn read32(&mut self, offset: usize) -> u32;
    /// 8-bit write.
    fn write8(&mut self, offset: usize, value: u8);
    /// 32-bit write.
    fn write32(&mut self, offset: usize, value: u32);
}

/// Everything a split driver needs, in one bound.
pub trait Xen: EventChannels + GrantTable + XenStore + Clock {}
impl<T: EventChannels + GrantTable + XenStore + Clock> Xen for T {}

/// Milliseconds to nanoseconds.
pub const fn ms(v: u64) -> u64 {
    v * 1_000_000
}
