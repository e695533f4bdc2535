//! blkfront: the virtual block device frontend, for the stub domains' own disks, against Linux
//! blkback and QEMU's qdisk (blkif, `xen/include/public/io/blkif.h`).
//!
//! This file is the xenstore half and the request API; `ring.rs` is the ring half.
//!
//! Handshake: read `backend-id` and `backend`; grant one ring page and allocate a port for the
//! backend; write `ring-ref`, `event-channel` and `protocol = x86_64-abi` in one transaction;
//! state Initialised (3). When the backend is Connected (4), read `sectors` (512-byte units),
//! `sector-size`, `info`, `feature-flush-cache` and `feature-barrier` (qdisk has no barrier),
//! then state Connected (4). Close: 5, wait for the backend to be 5 or 6, release the ring,
//! 6, wait for 6.
//!
//! I/O: up to 11 pages (44 KiB) per request, several requests in flight (up to the ring's 32
//! slots), each data page granted for that request only (read-only for writes). Completions
//! come back from [`BlkFront::poll`] with the backend's status turned into a [`BlkError`].
//! Flush uses `FLUSH_DISKCACHE`, or `WRITE_BARRIER` with no data if only that is offered; a
//! backend offering neither has no cache to flush and the flush completes at once.
//!
//! Units: `sectors` and `sector_number` are taken in 512-byte units as `blkif.h` specifies and
//! Linux blkback does. Older QEMU xen-block used `sector-size` units for both; the two agree for
//! the usual `sector-size` of 512 (image files, loop devices), which is what the test bed uses.

mod ring;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::task::Poll;

use xen_abi::blkif::{
    BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_WRITE_BARRIER,
    BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_OKAY, BlkifRequest, BlkifRequestSegment, PAGE_SIZE, VDISK_READONLY,
};

use crate::hv::{EvtchnPort, HvError, PageAccess, Xen, XenbusState, XsError};
use crate::xenbus::{self, FrontendLink, Handshake, LinkError, XenbusError, join};
use ring::{InFlight, Ring, release_pages};

/// What the backend told us about the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskInfo {
    /// Size in 512-byte units (`sectors`, whatever `sector-size` is).
    pub sectors: u64,
    /// Logical sector size in bytes: I/O must be aligned to it.
    pub sector_size: u32,
    /// `info` bits (`VDISK_*`).
    pub info: u32,
    /// `feature-flush-cache`.
    pub flush_cache: bool,
    /// `feature-barrier`.
    pub barrier: bool,
}

impl DiskInfo {
    /// Size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.sectors.saturating_mul(512)
    }
    /// `VDISK_READONLY`.
    pub fn readonly(&self) -> bool {
        self.info & VDISK_READONLY != 0
    }
}

/// Why a blkfront operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlkError {
    /// xenstore trouble.
    Xenbus(XenbusError),
    /// Grant, event channel or page trouble.
    Hv(HvError),
    /// The backend closed or vanished.
    BackendClosed,
    /// The backend's keys make no sense (e.g. `sector-size` 0 or larger than a page).
    BadBackend,
    /// A deadline passed.
    Timeout,
    /// Not connected.
    NotReady,
    /// All ring slots are in use: poll for completions first.
    RingFull,
    /// Offset or length not a multiple of the sector size, or zero length.
    Unaligned,
    /// Beyond the end of the disk.
    OutOfRange,
    /// More than 11 pages in one request.
    TooLarge,
    /// The disk is read-only.
    ReadOnly,
    /// The backend answered `BLKIF_RSP_ERROR`.
    Io,
    /// The backend answered `BLKIF_RSP_EOPNOTSUPP`.
    NotSupported,
}

impl From<XenbusError> for BlkError {
    fn from(e: XenbusError) -> Self {
        BlkError::Xenbus(e)
    }
}
impl From<XsError> for BlkError {
    fn from(e: XsError) -> Self {
        BlkError::Xenbus(XenbusError::Store(e))
    }
}
impl From<HvError> for BlkError {
    fn from(e: HvError) -> Self {
        BlkError::Hv(e)
    }
}
impl From<LinkError> for BlkError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Xenbus(e) => BlkError::Xenbus(e),
            LinkError::Hv(e) => BlkError::Hv(e),
            LinkError::BadBackendId(_) => BlkError::BadBackend,
            LinkError::BackendClosed => BlkError::BackendClosed,
            LinkError::Timeout => BlkError::Timeout,
        }
    }
}

/// Identifies a submitted request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A finished request: the data for a read, nothing for a write or flush.
#[derive(Debug, PartialEq, Eq)]
pub struct Completion {
    /// Which request.
    pub id: RequestId,
    /// Its outcome.
    pub result: Result<Option<Vec<u8>>, BlkError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting,
    Connected,
    Closing { deadline: u64, released: bool },
}

/// The most bytes one request carries.
pub const MAX_REQUEST_BYTES: usize = BLKIF_MAX_SEGMENTS_PER_REQUEST * PAGE_SIZE;

/// The frontend of one `device/vbd/<n>`.
pub struct BlkFront<X: Xen> {
    /// The handshake, the ring page, its grant and our port (shared with tpmfront).
    link: FrontendLink<X::Page>,
    ring: Option<Ring<X::Page>>,
    phase: Phase,
    info: Option<DiskInfo>,
    next_id: u64,
    done: VecDeque<Completion>,
}

impl<X: Xen> BlkFront<X> {
    /// A frontend for `nodename` (e.g. `device/vbd/768`); nothing is done yet.
    pub fn new(nodename: &str) -> Self {
        BlkFront {
            link: FrontendLink::new("blkfront", nodename),
            ring: None,
            phase: Phase::Idle,
            info: None,
            next_id: 1,
            done: VecDeque::new(),
        }
    }

    /// The disk, once connected.
    pub fn info(&self) -> Option<DiskInfo> {
        self.info
    }

    /// Our port, for the loop's wait set.
    pub fn port(&self) -> Option<EvtchnPort> {
        self.link.port()
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.ring.as_ref().map_or(0, |r| r.inflight.len())
    }

    /// Responses the backend sent that matched nothing (a misbehaving backend).
    pub fn bogus_responses(&self) -> u64 {
        self.ring.as_ref().map_or(0, |r| r.bogus)
    }

    /// Starts the handshake.
    pub fn connect_start(&mut self, hv: &mut X, timeout_ns: u64) -> Result<(), BlkError> {
        if self.phase != Phase::Idle {
            return Err(BlkError::NotReady);
        }
        let mut page = hv.alloc_page()?;
        let ring = Ring::new(&mut page)?;
        self.link.connect_start(hv, page, &[("protocol", "x86_64-abi")], XenbusState::Initialised, timeout_ns)?;
        self.ring = Some(ring);
        self.phase = Phase::Connecting;
        Ok(())
    }

    /// Advances the handshake; `Ready(Ok(info))` once connected.
    pub fn poll_connect(&mut self, hv: &mut X) -> Poll<Result<DiskInfo, BlkError>> {
        if self.phase != Phase::Connecting {
            return Poll::Ready(self.info.ok_or(BlkError::NotReady));
        }
        match self.link.poll_connect(hv) {
            Ok(Handshake::Pending) => Poll::Pending,
            Ok(Handshake::BackendConnected) => match self.read_info(hv) {
                Ok(info) => {
                    if let Err(e) = self.link.switch(hv, XenbusState::Connected) {
                        return self.fail(hv, e.into());
                    }
                    self.info = Some(info);
                    self.phase = Phase::Connected;
                    log::info!(
                        "blkfront: {}: {} sectors of 512 bytes, sector-size {}, info {:#x}, flush-cache {}, barrier {}",
                        self.link.nodename(),
                        info.sectors,
                        info.sector_size,
                        info.info,
                        info.flush_cache,
                        info.barrier
                    );
                    Poll::Ready(Ok(info))
                }
                Err(e) => self.fail(hv, e),
            },
            Err(e) => self.fail(hv, e.into()),
        }
    }

    fn read_info(&mut self, hv: &mut X) -> Result<DiskInfo, BlkError> {
        let b = String::from(self.link.backend());
        let sectors = xenbus::read_u64(hv, &join(&b, "sectors"))?;
        let sector_size = xenbus::read_u64_or(hv, &join(&b, "sector-size"), 512)?;
        let info = xenbus::read_u64_or(hv, &join(&b, "info"), 0)?;
        let flush = xenbus::read_u64_or(hv, &join(&b, "feature-flush-cache"), 0)?;
        let barrier = xenbus::read_u64_or(hv, &join(&b, "feature-barrier"), 0)?;
        if !(512..=PAGE_SIZE as u64).contains(&sector_size)
            || !sector_size.is_power_of_two()
            || info > u64::from(u32::MAX)
        {
            return Err(BlkError::BadBackend);
        }
        Ok(DiskInfo {
            sectors,
            sector_size: sector_size as u32,
            info: info as u32,
            flush_cache: flush != 0,
            barrier: barrier != 0,
        })
    }

    fn fail<T>(&mut self, hv: &mut X, e: BlkError) -> Poll<Result<T, BlkError>> {
        let _ = self.link.switch(hv, XenbusState::Closed);
        self.release(hv);
        self.phase = Phase::Idle;
        Poll::Ready(Err(e))
    }

    /// Connects, waiting at most `timeout_ns`.
    pub fn connect(&mut self, hv: &mut X, timeout_ns: u64) -> Result<DiskInfo, BlkError> {
        self.connect_start(hv, timeout_ns)?;
        loop {
            if let Poll::Ready(r) = self.poll_connect(hv) {
                return r;
            }
            let t = hv.now_ns().saturating_add(crate::hv::ms(10));
            hv.wait_until(t);
        }
    }

    fn check_io(&self, offset: u64, len: usize) -> Result<DiskInfo, BlkError> {
        let info = match (self.phase, self.info) {
            (Phase::Connected, Some(i)) => i,
            _ => return Err(BlkError::NotReady),
        };
        let ss = u64::from(info.sector_size);
        if len == 0 || !offset.is_multiple_of(ss) || !(len as u64).is_multiple_of(ss) {
            return Err(BlkError::Unaligned);
        }
        if len > MAX_REQUEST_BYTES {
            return Err(BlkError::TooLarge);
        }
        if offset.checked_add(len as u64).is_none_or(|end| end > info.size_bytes()) {
            return Err(BlkError::OutOfRange);
        }
        if self.ring.as_ref().is_none_or(|r| r.free_slots() == 0) {
            return Err(BlkError::RingFull);
        }
        Ok(info)
    }

    /// Queues a read of `len` bytes at byte `offset` (both multiples of the sector size).
    pub fn submit_read(&mut self, hv: &mut X, offset: u64, len: usize) -> Result<RequestId, BlkError> {
        self.check_io(offset, len)?;
        self.submit_rw(hv, BLKIF_OP_READ, offset, len, None)
    }

    /// Queues a write of `data` at byte `offset`.
    pub fn submit_write(&mut self, hv: &mut X, offset: u64, data: &[u8]) -> Result<RequestId, BlkError> {
        if self.check_io(offset, data.len())?.readonly() {
            return Err(BlkError::ReadOnly);
        }
        self.submit_rw(hv, BLKIF_OP_WRITE, offset, data.len(), Some(data))
    }

    fn submit_rw(
        &mut self,
        hv: &mut X,
        op: u8,
        offset: u64,
        len: usize,
        data: Option<&[u8]>,
    ) -> Result<RequestId, BlkError> {
        let id = self.take_id();
        let mut req = BlkifRequest {
            operation: op,
            nr_segments: 0,
            handle: 0,
            id: id.0,
            sector_number: offset >> 9,
            ..Default::default()
        };
        let mut pages = Vec::new();
        let mut done = 0;
        while done < len {
            let chunk = (len - done).min(PAGE_SIZE);
            let mut page = match hv.alloc_page() {
                Ok(p) => p,
                Err(e) => {
                    release_pages(hv, pages);
                    return Err(e.into());
                }
            };
            if let Some(d) = data
                && let Err(e) = page.write(0, &d[done..done + chunk])
            {
                release_pages(hv, pages);
                return Err(e.into());
            }
            // A write lets the backend read our page; a read lets it write into it.
            let gref = match hv.grant_foreign_access(&page, self.link.backend_id(), op == BLKIF_OP_WRITE) {
                Ok(g) => g,
                Err(e) => {
                    release_pages(hv, pages);
                    return Err(e.into());
                }
            };
            req.seg[pages.len()] =
                BlkifRequestSegment { gref: gref.0, first_sect: 0, last_sect: ((chunk >> 9) - 1) as u8, pad: 0 };
            pages.push((page, gref));
            done += chunk;
        }
        req.nr_segments = pages.len() as u8;
        self.push(hv, &req, InFlight { operation: op, pages, len })?;
        Ok(id)
    }

    /// Queues a cache flush (see the module docs for which operation is used).
    pub fn submit_flush(&mut self, hv: &mut X) -> Result<RequestId, BlkError> {
        let info = match (self.phase, self.info) {
            (Phase::Connected, Some(i)) => i,
            _ => return Err(BlkError::NotReady),
        };
        let id = self.take_id();
        let op = if info.flush_cache {
            BLKIF_OP_FLUSH_DISKCACHE
        } else if info.barrier {
            BLKIF_OP_WRITE_BARRIER
        } else {
            self.done.push_back(Completion { id, result: Ok(None) });
            return Ok(id);
        };
        if self.ring.as_ref().is_none_or(|r| r.free_slots() == 0) {
            return Err(BlkError::RingFull);
        }
        let req =
            BlkifRequest { operation: op, nr_segments: 0, handle: 0, id: id.0, sector_number: 0, ..Default::default() };
        self.push(hv, &req, InFlight { operation: op, pages: Vec::new(), len: 0 })?;
        Ok(id)
    }

    fn take_id(&mut self) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    fn push(&mut self, hv: &mut X, req: &BlkifRequest, inflight: InFlight<X::Page>) -> Result<(), BlkError> {
        let port = self.link.port();
        let (Some(ring), Some(page), Some(port)) = (self.ring.as_mut(), self.link.page_mut(), port) else {
            return Err(BlkError::NotReady);
        };
        match ring.push(page, req, inflight) {
            Ok(notify) => {
                if notify {
                    hv.notify(port)?;
                }
                Ok(())
            }
            Err(e) => {
                if let Some(f) = ring.inflight.remove(&req.id) {
                    release_pages(hv, f.pages);
                }
                Err(e.into())
            }
        }
    }

    /// Collects finished requests.
    pub fn poll(&mut self, hv: &mut X) -> Vec<Completion> {
        let mut out: Vec<Completion> = self.done.drain(..).collect();
        if let Some(port) = self.link.port() {
            let _ = hv.take_pending(port);
        }
        let (Some(ring), Some(page)) = (self.ring.as_mut(), self.link.page_mut()) else { return out };
        let matched = match ring.take_responses(page) {
            Ok(m) => m,
            Err(e) => {
                log::error!("blkfront: ring page unusable: {:?}", e);
                return out;
            }
        };
        for m in matched {
            let result = match m.status {
                BLKIF_RSP_OKAY if m.req.operation == BLKIF_OP_READ => {
                    let mut data = vec![0u8; m.req.len];
                    let mut ok = true;
                    for (i, (page, _)) in m.req.pages.iter().enumerate() {
                        let start = i * PAGE_SIZE;
                        let end = (start + PAGE_SIZE).min(m.req.len);
                        ok &= page.read(0, &mut data[start..end]).is_ok();
                    }
                    if ok { Ok(Some(data)) } else { Err(BlkError::Io) }
                }
                BLKIF_RSP_OKAY => Ok(None),
                BLKIF_RSP_EOPNOTSUPP => {
                    if let Some(info) = self.info.as_mut() {
                        // Do not try that flush operation again.
                        match m.req.operation {
                            BLKIF_OP_FLUSH_DISKCACHE => info.flush_cache = false,
                            BLKIF_OP_WRITE_BARRIER => info.barrier = false,
                            _ => {}
                        }
                    }
                    Err(BlkError::NotSupported)
                }
                _ => Err(BlkError::Io),
            };
            if let Err(e) = &result {
                log::warn!(
                    "blkfront: {}: request {} failed: {:?} (status {})",
                    self.link.nodename(),
                    m.id,
                    e,
                    m.status
                );
            }
            release_pages(hv, m.req.pages);
            out.push(Completion { id: RequestId(m.id), result });
        }
        out
    }

    /// Waits for one request, keeping other completions for later `poll` calls.
    pub fn wait_for(&mut self, hv: &mut X, id: RequestId, timeout_ns: u64) -> Result<Option<Vec<u8>>, BlkError> {
        let deadline = hv.now_ns().saturating_add(timeout_ns);
        loop {
            let mut found = None;
            for c in self.poll(hv) {
                if c.id == id {
                    found = Some(c.result);
                } else {
                    self.done.push_back(c);
                }
            }
            if let Some(r) = found {
                return r;
            }
            if hv.now_ns() >= deadline {
                return Err(BlkError::Timeout);
            }
            let t = deadline.min(hv.now_ns().saturating_add(crate::hv::ms(10)));
            hv.wait_until(t);
        }
    }

    /// Reads synchronously.
    pub fn read(&mut self, hv: &mut X, offset: u64, len: usize, timeout_ns: u64) -> Result<Vec<u8>, BlkError> {
        let id = self.submit_read(hv, offset, len)?;
        self.wait_for(hv, id, timeout_ns)?.ok_or(BlkError::Io)
    }

    /// Writes synchronously.
    pub fn write(&mut self, hv: &mut X, offset: u64, data: &[u8], timeout_ns: u64) -> Result<(), BlkError> {
        let id = self.submit_write(hv, offset, data)?;
        self.wait_for(hv, id, timeout_ns).map(|_| ())
    }

    /// Flushes synchronously.
    pub fn flush(&mut self, hv: &mut X, timeout_ns: u64) -> Result<(), BlkError> {
        let id = self.submit_flush(hv)?;
        self.wait_for(hv, id, timeout_ns).map(|_| ())
    }

    /// Starts closing (Closing, 5). Requests still in flight are abandoned.
    pub fn close_start(&mut self, hv: &mut X, timeout_ns: u64) -> Result<(), BlkError> {
        if matches!(self.phase, Phase::Idle | Phase::Closing { .. }) {
            return Err(BlkError::NotReady);
        }
        self.link.switch(hv, XenbusState::Closing)?;
        self.phase = Phase::Closing { deadline: hv.now_ns().saturating_add(timeout_ns), released: false };
        Ok(())
    }

    /// Backend 5 or 6 → release the ring, Closed (6); backend 6 → done.
    pub fn poll_close(&mut self, hv: &mut X) -> Poll<Result<(), BlkError>> {
        let Phase::Closing { deadline, released } = self.phase else { return Poll::Ready(Err(BlkError::NotReady)) };
        self.link.drain_watch(hv);
        let be = self.link.backend_state(hv);
        let gone = matches!(be, Err(XsError::NoEnt));
        let be = be.ok().flatten();
        if !released && (gone || matches!(be, Some(XenbusState::Closing) | Some(XenbusState::Closed))) {
            self.release(hv);
            let _ = self.link.switch(hv, XenbusState::Closed);
            self.phase = Phase::Closing { deadline, released: true };
        }
        if released && (gone || be == Some(XenbusState::Closed)) {
            self.phase = Phase::Idle;
            self.info = None;
            return Poll::Ready(Ok(()));
        }
        if hv.now_ns() >= deadline {
            self.release(hv);
            let _ = self.link.switch(hv, XenbusState::Closed);
            self.phase = Phase::Idle;
            self.info = None;
            return Poll::Ready(Err(BlkError::Timeout));
        }
        Poll::Pending
    }

    /// Closes, waiting at most `timeout_ns`.
    pub fn close(&mut self, hv: &mut X, timeout_ns: u64) -> Result<(), BlkError> {
        self.close_start(hv, timeout_ns)?;
        loop {
            if let Poll::Ready(r) = self.poll_close(hv) {
                return r;
            }
            let t = hv.now_ns().saturating_add(crate::hv::ms(10));
            hv.wait_until(t);
        }
    }

    fn release(&mut self, hv: &mut X) {
        if let Some(mut ring) = self.ring.take() {
            for (_, f) in core::mem::take(&mut ring.inflight) {
                release_pages(hv, f.pages);
            }
        }
        self.link.release(hv);
    }
}
