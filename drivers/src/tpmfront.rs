//! tpmfront: the vTPM frontend, used by the vtpm to reach the manager and by pvgrub-measure
//! (fact sheet §2.5, §3.3, §3.5, §5). Unlike Mini-OS's, every wait has a deadline: a manager that
//! disappears makes a request fail with [`TpmFrontError::Timeout`], never hang.
//!
//! It is a poll-style state machine (`connect_start` / `poll_connect`, `submit` /
//! `poll_response`, `close_start` / `poll_close`) plus blocking wrappers that wait with
//! [`Clock::wait_until`]. Handshake styles: [`FrontStyle::Linux`] writes Initialised (3) and moves
//! to Connected (4) when the backend is Connected; [`FrontStyle::MiniOs`] writes 4 at once.
//! Closing follows Mini-OS: 5, remove `event-channel` and `ring-ref`, 6, wait for the backend to
//! be 6 or 2, then 1 so the device can be opened again (by us or by a kexec'd kernel).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::task::Poll;

use xen_abi::tpmif::{
    HEADER_SIZE, MAX_PACKET, OFFSET_LENGTH, OFFSET_LOCALITY, OFFSET_STATE, PAGE_SIZE, SharedPageHeader, TpmifState,
};

use crate::hv::{DomId, EvtchnPort, HvError, PageAccess, Xen, XenbusState, XsError, XsTx};
use crate::tpm_frame;
use crate::xenbus::{FrontendLink, Handshake, LinkError, XenbusError, join};

/// How often a request in flight looks whether its backend is still there.
pub const BACKEND_CHECK_NS: u64 = 500_000_000;

/// How to announce ourselves to the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontStyle {
    /// Initialised (3), then Connected (4) once the backend is Connected (Linux xen-tpmfront).
    Linux,
    /// Connected (4) at once (Mini-OS tpmfront).
    MiniOs,
}

/// Why a tpmfront operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TpmFrontError {
    /// xenstore trouble (missing `backend`, bad values, …).
    Xenbus(XenbusError),
    /// Grant, event channel or page trouble.
    Hv(HvError),
    /// The backend closed (or was never there).
    BackendClosed,
    /// The backend does not offer `feature-protocol-v2 = 1`.
    OldBackend,
    /// The deadline passed (the request was cancelled).
    Timeout,
    /// The backend answered IDLE: the request was cancelled.
    Cancelled,
    /// Not connected, a request is already in flight, or a cancelled request's page is not
    /// given back yet (the backend has not answered the CANCEL with IDLE or FINISH).
    NotReady,
    /// The command does not fit the page (max 4088 bytes) or is shorter than a TPM header.
    BadCommand,
    /// The response's `length` is out of range or differs from its paramSize.
    BadResponse,
}

impl From<XenbusError> for TpmFrontError {
    fn from(e: XenbusError) -> Self {
        TpmFrontError::Xenbus(e)
    }
}
impl From<XsError> for TpmFrontError {
    fn from(e: XsError) -> Self {
        TpmFrontError::Xenbus(XenbusError::Store(e))
    }
}
impl From<HvError> for TpmFrontError {
    fn from(e: HvError) -> Self {
        TpmFrontError::Hv(e)
    }
}
impl From<LinkError> for TpmFrontError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Xenbus(e) => TpmFrontError::Xenbus(e),
            LinkError::Hv(e) => TpmFrontError::Hv(e),
            LinkError::BadBackendId(path) => TpmFrontError::Xenbus(XenbusError::BadValue(path)),
            LinkError::BackendClosed => TpmFrontError::BackendClosed,
            LinkError::Timeout => TpmFrontError::Timeout,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting { style: FrontStyle },
    Connected,
    Closing { deadline: u64 },
}

/// The vTPM frontend for one `device/vtpm/<n>` node.
pub struct TpmFront<X: Xen> {
    /// The handshake, the shared page, its grant and our port (shared with blkfront).
    link: FrontendLink<X::Page>,
    phase: Phase,
    inflight: Option<u64>,
    /// A CANCEL was written and the backend has not answered it yet (the page still says
    /// CANCEL). No new request goes into the page until it has: a backend busy with the
    /// cancelled request answers it with FINISH later, and that answer would be taken for the
    /// new request's (found by the model checker, `docs/model-checking.md`).
    cancel_pending: bool,
    locality: u8,
}

impl<X: Xen> TpmFront<X> {
    /// A frontend for `nodename` (relative, e.g. `device/vtpm/0`); nothing is done yet.
    pub fn new(nodename: &str) -> Self {
        TpmFront {
            link: FrontendLink::new("tpmfront", nodename),
            phase: Phase::Idle,
            inflight: None,
            cancel_pending: false,
            locality: 0,
        }
    }

    /// True once the handshake finished.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// The backend's domain (valid after `connect_start`).
    pub fn backend_id(&self) -> DomId {
        self.link.backend_id()
    }

    /// Our event channel port, for the loop's wait set.
    pub fn port(&self) -> Option<EvtchnPort> {
        self.link.port()
    }

    /// Our state in a few words (phase, and whether the request in flight passed its deadline
    /// at `now_ns`), for the model checker (`tests/src/model`): two frontends with the same
    /// description and the same xenstore and page contents behave alike. Not a stable format.
    pub fn describe(&self, now_ns: u64) -> String {
        let phase = match self.phase {
            Phase::Idle => "idle",
            Phase::Connecting { style: FrontStyle::Linux } => "connecting(linux)",
            Phase::Connecting { style: FrontStyle::MiniOs } => "connecting(minios)",
            Phase::Connected => "connected",
            Phase::Closing { deadline } if now_ns >= deadline => "closing(expired)",
            Phase::Closing { .. } => "closing",
        };
        let inflight = match self.inflight {
            None => "-",
            Some(d) if now_ns >= d => "expired",
            Some(_) => "waiting",
        };
        alloc::format!(
            "{phase} inflight={inflight} cancel_pending={} loc={} {}",
            self.cancel_pending,
            self.locality,
            self.link.describe(now_ns)
        )
    }

    /// Locality written into the page for later requests (`tpmfront_set_locality`).
    pub fn set_locality(&mut self, locality: u8) {
        self.locality = locality;
    }

    /// Starts the handshake: grants a fresh page and allocates a port for the backend, writes
    /// `ring-ref`, `event-channel` and `feature-protocol-v2` (one transaction) and our state.
    pub fn connect_start(&mut self, hv: &mut X, style: FrontStyle, timeout_ns: u64) -> Result<(), TpmFrontError> {
        if self.phase != Phase::Idle {
            return Err(TpmFrontError::NotReady);
        }
        let page = hv.alloc_page()?;
        let state = if style == FrontStyle::Linux { XenbusState::Initialised } else { XenbusState::Connected };
        self.link.connect_start(hv, page, &[("feature-protocol-v2", "1")], state, timeout_ns)?;
        self.phase = Phase::Connecting { style };
        Ok(())
    }

    /// Advances the handshake.
    pub fn poll_connect(&mut self, hv: &mut X) -> Poll<Result<(), TpmFrontError>> {
        let Phase::Connecting { style } = self.phase else {
            return Poll::Ready(if self.phase == Phase::Connected { Ok(()) } else { Err(TpmFrontError::NotReady) });
        };
        match self.link.poll_connect(hv) {
            Ok(Handshake::Pending) => Poll::Pending,
            Ok(Handshake::BackendConnected) => {
                match hv.read(XsTx::NONE, &join(self.link.backend(), "feature-protocol-v2")) {
                    Ok(v) if v.trim_end_matches('\0') == "1" => {}
                    _ => return self.fail_connect(hv, TpmFrontError::OldBackend),
                }
                if style == FrontStyle::Linux
                    && let Err(e) = self.link.switch(hv, XenbusState::Connected)
                {
                    return self.fail_connect(hv, e.into());
                }
                self.phase = Phase::Connected;
                Poll::Ready(Ok(()))
            }
            Err(e) => self.fail_connect(hv, e.into()),
        }
    }

    fn fail_connect(&mut self, hv: &mut X, e: TpmFrontError) -> Poll<Result<(), TpmFrontError>> {
        self.link.fail(hv);
        self.inflight = None;
        self.cancel_pending = false;
        self.phase = Phase::Idle;
        Poll::Ready(Err(e))
    }

    /// Connects, waiting at most `timeout_ns`.
    pub fn connect(&mut self, hv: &mut X, style: FrontStyle, timeout_ns: u64) -> Result<(), TpmFrontError> {
        self.connect_start(hv, style, timeout_ns)?;
        loop {
            if let Poll::Ready(r) = self.poll_connect(hv) {
                return r;
            }
            let next = hv.now_ns().saturating_add(crate::hv::ms(5));
            hv.wait_until(next);
        }
    }

    /// True unless a CANCEL is still unanswered (see `cancel_pending`): the page is ours again
    /// once the backend wrote IDLE (it had not taken the request) or FINISH (it had; that
    /// response belongs to the cancelled request and is dropped).
    fn cancel_answered(&mut self) -> Result<bool, TpmFrontError> {
        if !self.cancel_pending {
            return Ok(true);
        }
        let Some(page) = self.link.page() else { return Err(TpmFrontError::NotReady) };
        let raw = page.read_u64_le(0)?.to_le_bytes();
        if TpmifState::from_u8(SharedPageHeader::decode(&raw).state) == Some(TpmifState::Cancel) {
            return Ok(false);
        }
        self.cancel_pending = false;
        Ok(true)
    }

    /// Writes a command into the page and notifies. At most one request is in flight; it
    /// fails with [`TpmFrontError::Timeout`] if no answer comes within `timeout_ns`. After a
    /// [`cancel`](Self::cancel), [`TpmFrontError::NotReady`] until the backend answered the
    /// CANCEL ([`transact`](Self::transact) waits for that).
    pub fn submit(&mut self, hv: &mut X, command: &[u8], timeout_ns: u64) -> Result<(), TpmFrontError> {
        if self.phase != Phase::Connected || self.inflight.is_some() || !self.cancel_answered()? {
            return Err(TpmFrontError::NotReady);
        }
        if command.len() < tpm_frame::HEADER_LEN || command.len() > MAX_PACKET {
            return Err(TpmFrontError::BadCommand);
        }
        let port = self.link.port();
        let (Some(page), Some(port)) = (self.link.page_mut(), port) else { return Err(TpmFrontError::NotReady) };
        page.write(HEADER_SIZE, command)?;
        page.write_u32_le(OFFSET_LENGTH, command.len() as u32)?;
        page.write(OFFSET_LOCALITY, &[self.locality, 0, 0])?;
        page.write(OFFSET_STATE, &[TpmifState::Submit as u8])?;
        hv.notify(port)?;
        self.inflight = Some(hv.now_ns().saturating_add(timeout_ns));
        Ok(())
    }

    /// Looks for the answer to the request in flight. On timeout the request is cancelled.
    pub fn poll_response(&mut self, hv: &mut X) -> Poll<Result<Vec<u8>, TpmFrontError>> {
        let Some(deadline) = self.inflight else { return Poll::Ready(Err(TpmFrontError::NotReady)) };
        if let Some(port) = self.link.port() {
            let _ = hv.take_pending(port);
        }
        let Some(page) = self.link.page() else { return Poll::Ready(Err(TpmFrontError::NotReady)) };
        let raw = match page.read_u64_le(0) {
            Ok(v) => v.to_le_bytes(),
            Err(e) => {
                self.inflight = None;
                return Poll::Ready(Err(e.into()));
            }
        };
        let hdr = SharedPageHeader::decode(&raw);
        match TpmifState::from_u8(hdr.state) {
            Some(TpmifState::Finish) => {
                self.inflight = None;
                let len = hdr.length as usize;
                if len < tpm_frame::HEADER_LEN || HEADER_SIZE + len > PAGE_SIZE {
                    return Poll::Ready(Err(TpmFrontError::BadResponse));
                }
                let mut resp = vec![0u8; len];
                if let Err(e) = page.read(HEADER_SIZE, &mut resp) {
                    return Poll::Ready(Err(e.into()));
                }
                if !tpm_frame::is_consistent(&resp) {
                    return Poll::Ready(Err(TpmFrontError::BadResponse));
                }
                Poll::Ready(Ok(resp))
            }
            Some(TpmifState::Idle) => {
                self.inflight = None;
                Poll::Ready(Err(TpmFrontError::Cancelled))
            }
            _ => {
                if hv.now_ns() >= deadline {
                    self.cancel(hv);
                    return Poll::Ready(Err(TpmFrontError::Timeout));
                }
                Poll::Pending
            }
        }
    }

    /// Sends CANCEL for the request in flight (the backend answers IDLE, or FINISH if it had
    /// already started). The request is forgotten; the next [`submit`](Self::submit) waits
    /// for the backend's answer to the CANCEL.
    pub fn cancel(&mut self, hv: &mut X) {
        self.inflight = None;
        let port = self.link.port();
        if let (Some(page), Some(port)) = (self.link.page_mut(), port)
            && page.write(OFFSET_STATE, &[TpmifState::Cancel as u8]).is_ok()
        {
            self.cancel_pending = true;
            let _ = hv.notify(port);
        }
    }

    /// True if the backend left: its `state` is Closing or Closed, or its directory is gone
    /// (the backend's domain was destroyed); while we are connected, also any state but
    /// Connected (a quick `xl vtpm-detach` + `vtpm-attach` makes a new directory whose backend
    /// starts over at InitWait and will never answer on our old page; found by the model
    /// checker, `docs/model-checking.md`). A request in flight then never gets an answer.
    pub fn backend_gone(&mut self, hv: &mut X) -> bool {
        match self.link.backend_state(hv) {
            Ok(Some(XenbusState::Closing)) | Ok(Some(XenbusState::Closed)) | Err(XsError::NoEnt) => true,
            Ok(Some(s)) => self.phase == Phase::Connected && s != XenbusState::Connected,
            Ok(None) | Err(_) => false,
        }
    }

    /// Sends a command and waits for its response, at most `timeout_ns`. Fails early with
    /// [`TpmFrontError::BackendClosed`] if the backend leaves meanwhile (checked every
    /// [`BACKEND_CHECK_NS`]); the connection is then unusable: [`TpmFront::abandon`] it.
    /// After a cancel it first waits (within the same `timeout_ns`) for the backend to answer
    /// the CANCEL.
    pub fn transact(&mut self, hv: &mut X, command: &[u8], timeout_ns: u64) -> Result<Vec<u8>, TpmFrontError> {
        let mut next_check = hv.now_ns().saturating_add(BACKEND_CHECK_NS);
        if self.phase == Phase::Connected && self.cancel_pending {
            let deadline = hv.now_ns().saturating_add(timeout_ns);
            while !self.cancel_answered()? {
                let now = hv.now_ns();
                if now >= deadline {
                    return Err(TpmFrontError::Timeout);
                }
                if now >= next_check {
                    if self.backend_gone(hv) {
                        return Err(TpmFrontError::BackendClosed);
                    }
                    next_check = now.saturating_add(BACKEND_CHECK_NS);
                }
                hv.wait_until(deadline.min(now.saturating_add(crate::hv::ms(5))));
            }
        }
        self.submit(hv, command, timeout_ns)?;
        loop {
            if let Poll::Ready(r) = self.poll_response(hv) {
                return r;
            }
            if hv.now_ns() >= next_check {
                if self.backend_gone(hv) {
                    self.inflight = None;
                    return Err(TpmFrontError::BackendClosed);
                }
                next_check = hv.now_ns().saturating_add(BACKEND_CHECK_NS);
            }
            let next = match self.inflight {
                Some(d) => d.min(hv.now_ns().saturating_add(crate::hv::ms(5))),
                None => hv.now_ns(),
            };
            hv.wait_until(next);
        }
    }

    /// Starts closing: 5, remove `event-channel` and `ring-ref`, 6.
    pub fn close_start(&mut self, hv: &mut X, timeout_ns: u64) -> Result<(), TpmFrontError> {
        if matches!(self.phase, Phase::Idle | Phase::Closing { .. }) {
            return Err(TpmFrontError::NotReady);
        }
        self.inflight = None;
        self.cancel_pending = false;
        let n = String::from(self.link.nodename());
        let _ = self.link.switch(hv, XenbusState::Closing);
        let _ = hv.rm(XsTx::NONE, &join(&n, "event-channel"));
        let _ = hv.rm(XsTx::NONE, &join(&n, "ring-ref"));
        self.link.switch(hv, XenbusState::Closed)?;
        self.phase = Phase::Closing { deadline: hv.now_ns().saturating_add(timeout_ns) };
        Ok(())
    }

    /// Waits for the backend to be Closed (6) or InitWait (2), then releases the page and port
    /// and writes Initialising (1) so the device can be opened again.
    pub fn poll_close(&mut self, hv: &mut X) -> Poll<Result<(), TpmFrontError>> {
        let Phase::Closing { deadline } = self.phase else { return Poll::Ready(Err(TpmFrontError::NotReady)) };
        self.link.drain_watch(hv);
        let done = match self.link.backend_state(hv) {
            Ok(Some(XenbusState::Closed)) | Ok(Some(XenbusState::InitWait)) | Err(XsError::NoEnt) => Some(Ok(())),
            _ if hv.now_ns() >= deadline => Some(Err(TpmFrontError::Timeout)),
            _ => None,
        };
        let Some(result) = done else { return Poll::Pending };
        self.link.release(hv);
        self.inflight = None;
        let _ = self.link.switch(hv, XenbusState::Initialising);
        self.phase = Phase::Idle;
        Poll::Ready(result)
    }

    /// Gives up a connection whose backend is gone: releases the page and the port without
    /// waiting for the backend, and writes Closed then Initialising so the device node can be
    /// connected again (to the same or a new backend).
    pub fn abandon(&mut self, hv: &mut X) {
        if self.phase == Phase::Idle {
            return;
        }
        let n = String::from(self.link.nodename());
        let _ = hv.rm(XsTx::NONE, &join(&n, "event-channel"));
        let _ = hv.rm(XsTx::NONE, &join(&n, "ring-ref"));
        self.link.fail(hv);
        self.inflight = None;
        self.cancel_pending = false;
        let _ = self.link.switch(hv, XenbusState::Initialising);
        self.phase = Phase::Idle;
    }

    /// Closes, waiting at most `timeout_ns` for the backend.
    pub fn close(&mut self, hv: &mut X, timeout_ns: u64) -> Result<(), TpmFrontError> {
        self.close_start(hv, timeout_ns)?;
        loop {
            if let Poll::Ready(r) = self.poll_close(hv) {
                return r;
            }
            let next = hv.now_ns().saturating_add(crate::hv::ms(5));
            hv.wait_until(next);
        }
    }
}
