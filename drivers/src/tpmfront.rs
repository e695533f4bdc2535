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

use crate::hv::{DomId, EvtchnPort, GrantRef, HvError, PageAccess, Xen, XenbusState, XsError, XsTx};
use crate::tpm_frame;
use crate::xenbus::{self, XenbusError, join, read_state, switch_state, with_transaction};

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
    /// Not connected, or a request is already in flight.
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting { deadline: u64, style: FrontStyle, backend_seen_up: bool },
    Connected,
    Closing { deadline: u64 },
}

/// The vTPM frontend for one `device/vtpm/<n>` node.
pub struct TpmFront<X: Xen> {
    nodename: String,
    token: String,
    backend: String,
    backend_id: DomId,
    page: Option<X::Page>,
    gref: Option<GrantRef>,
    port: Option<EvtchnPort>,
    phase: Phase,
    inflight: Option<u64>,
    locality: u8,
}

impl<X: Xen> TpmFront<X> {
    /// A frontend for `nodename` (relative, e.g. `device/vtpm/0`); nothing is done yet.
    pub fn new(nodename: &str) -> Self {
        let mut token = String::from("tpmfront:");
        token.push_str(nodename);
        TpmFront {
            nodename: String::from(nodename),
            token,
            backend: String::new(),
            backend_id: DomId(0),
            page: None,
            gref: None,
            port: None,
            phase: Phase::Idle,
            inflight: None,
            locality: 0,
        }
    }

    /// True once the handshake finished.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// The backend's domain (valid after `connect_start`).
    pub fn backend_id(&self) -> DomId {
        self.backend_id
    }

    /// Our event channel port, for the loop's wait set.
    pub fn port(&self) -> Option<EvtchnPort> {
        self.port
    }

    /// Locality written into the page for later requests (`tpmfront_set_locality`).
    pub fn set_locality(&mut self, locality: u8) {
        self.locality = locality;
    }

    /// Starts the handshake: grants a fresh page and allocates a port for the backend, writes
    /// `feature-protocol-v2`, `ring-ref`, `event-channel` and our state.
    pub fn connect_start(&mut self, hv: &mut X, style: FrontStyle, timeout_ns: u64) -> Result<(), TpmFrontError> {
        if self.phase != Phase::Idle {
            return Err(TpmFrontError::NotReady);
        }
        let nodename = self.nodename.clone();
        let backend_id = xenbus::read_u64(hv, &join(&nodename, "backend-id"))?;
        let Some(backend_id) = DomId::ordinary_from(backend_id) else {
            return Err(TpmFrontError::Xenbus(XenbusError::BadValue(join(&nodename, "backend-id"))));
        };
        self.backend_id = backend_id;
        self.backend = String::from(hv.read(XsTx::NONE, &join(&nodename, "backend"))?.trim_end_matches('\0'));
        let page = hv.alloc_page()?;
        let gref = hv.grant_foreign_access(&page, self.backend_id, false)?;
        self.page = Some(page);
        self.gref = Some(gref);
        let port = match hv.alloc_unbound(self.backend_id) {
            Ok(p) => p,
            Err(e) => {
                self.release(hv);
                return Err(e.into());
            }
        };
        self.port = Some(port);
        let res = (|| -> Result<(), TpmFrontError> {
            hv.write(XsTx::NONE, &join(&nodename, "feature-protocol-v2"), "1")?;
            let ring = alloc::format!("{}", gref.0);
            let evt = alloc::format!("{}", port.0);
            with_transaction(hv, |xs, tx| {
                xs.write(tx, &join(&nodename, "ring-ref"), &ring)?;
                xs.write(tx, &join(&nodename, "event-channel"), &evt)
            })?;
            let state = if style == FrontStyle::Linux { XenbusState::Initialised } else { XenbusState::Connected };
            switch_state(hv, &nodename, state)?;
            hv.watch(&join(&self.backend, "state"), &self.token)?;
            Ok(())
        })();
        if let Err(e) = res {
            self.release(hv);
            return Err(e);
        }
        let deadline = hv.now_ns().saturating_add(timeout_ns);
        self.phase = Phase::Connecting { deadline, style, backend_seen_up: false };
        Ok(())
    }

    /// Advances the handshake.
    pub fn poll_connect(&mut self, hv: &mut X) -> Poll<Result<(), TpmFrontError>> {
        let Phase::Connecting { deadline, style, backend_seen_up } = self.phase else {
            return Poll::Ready(if self.phase == Phase::Connected { Ok(()) } else { Err(TpmFrontError::NotReady) });
        };
        while hv.next_watch_event(&self.token).is_some() {}
        let be = match read_state(hv, &self.backend) {
            Ok(s) => s,
            Err(XsError::NoEnt) => return self.fail_connect(hv, TpmFrontError::BackendClosed),
            Err(e) => return self.fail_connect(hv, e.into()),
        };
        match be {
            Some(XenbusState::Connected) => {
                match hv.read(XsTx::NONE, &join(&self.backend, "feature-protocol-v2")) {
                    Ok(v) if v.trim_end_matches('\0') == "1" => {}
                    _ => return self.fail_connect(hv, TpmFrontError::OldBackend),
                }
                if style == FrontStyle::Linux
                    && let Err(e) = switch_state(hv, &self.nodename, XenbusState::Connected)
                {
                    return self.fail_connect(hv, e.into());
                }
                self.phase = Phase::Connected;
                return Poll::Ready(Ok(()));
            }
            Some(XenbusState::InitWait) | Some(XenbusState::Initialised) => {
                self.phase = Phase::Connecting { deadline, style, backend_seen_up: true };
            }
            // A backend still Closed from our previous session is on its way back to InitWait;
            // only a backend that was up and then closed is a failure.
            Some(XenbusState::Closing) | Some(XenbusState::Closed) if backend_seen_up => {
                return self.fail_connect(hv, TpmFrontError::BackendClosed);
            }
            _ => {}
        }
        if hv.now_ns() >= deadline {
            return self.fail_connect(hv, TpmFrontError::Timeout);
        }
        Poll::Pending
    }

    fn fail_connect(&mut self, hv: &mut X, e: TpmFrontError) -> Poll<Result<(), TpmFrontError>> {
        let _ = switch_state(hv, &self.nodename, XenbusState::Closed);
        self.release(hv);
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

    /// Writes a command into the page and notifies. At most one request is in flight; it
    /// fails with [`TpmFrontError::Timeout`] if no answer comes within `timeout_ns`.
    pub fn submit(&mut self, hv: &mut X, command: &[u8], timeout_ns: u64) -> Result<(), TpmFrontError> {
        if self.phase != Phase::Connected || self.inflight.is_some() {
            return Err(TpmFrontError::NotReady);
        }
        if command.len() < tpm_frame::HEADER_LEN || command.len() > MAX_PACKET {
            return Err(TpmFrontError::BadCommand);
        }
        let (Some(page), Some(port)) = (self.page.as_mut(), self.port) else { return Err(TpmFrontError::NotReady) };
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
        let Some(page) = self.page.as_ref() else { return Poll::Ready(Err(TpmFrontError::NotReady)) };
        if let Some(port) = self.port {
            let _ = hv.take_pending(port);
        }
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
    /// already started). The request is forgotten.
    pub fn cancel(&mut self, hv: &mut X) {
        self.inflight = None;
        if let (Some(page), Some(port)) = (self.page.as_mut(), self.port)
            && page.write(OFFSET_STATE, &[TpmifState::Cancel as u8]).is_ok()
        {
            let _ = hv.notify(port);
        }
    }

    /// Sends a command and waits for its response, at most `timeout_ns`.
    pub fn transact(&mut self, hv: &mut X, command: &[u8], timeout_ns: u64) -> Result<Vec<u8>, TpmFrontError> {
        self.submit(hv, command, timeout_ns)?;
        loop {
            if let Poll::Ready(r) = self.poll_response(hv) {
                return r;
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
        let n = self.nodename.clone();
        let _ = switch_state(hv, &n, XenbusState::Closing);
        let _ = hv.rm(XsTx::NONE, &join(&n, "event-channel"));
        let _ = hv.rm(XsTx::NONE, &join(&n, "ring-ref"));
        switch_state(hv, &n, XenbusState::Closed)?;
        self.phase = Phase::Closing { deadline: hv.now_ns().saturating_add(timeout_ns) };
        Ok(())
    }

    /// Waits for the backend to be Closed (6) or InitWait (2), then releases the page and port
    /// and writes Initialising (1) so the device can be opened again.
    pub fn poll_close(&mut self, hv: &mut X) -> Poll<Result<(), TpmFrontError>> {
        let Phase::Closing { deadline } = self.phase else { return Poll::Ready(Err(TpmFrontError::NotReady)) };
        while hv.next_watch_event(&self.token).is_some() {}
        let done = match read_state(hv, &self.backend) {
            Ok(Some(XenbusState::Closed)) | Ok(Some(XenbusState::InitWait)) | Err(XsError::NoEnt) => Some(Ok(())),
            _ if hv.now_ns() >= deadline => Some(Err(TpmFrontError::Timeout)),
            _ => None,
        };
        let Some(result) = done else { return Poll::Pending };
        self.release(hv);
        let _ = switch_state(hv, &self.nodename.clone(), XenbusState::Initialising);
        self.phase = Phase::Idle;
        Poll::Ready(result)
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

    /// Drops the watch, port, grant and page.
    fn release(&mut self, hv: &mut X) {
        if !self.backend.is_empty() {
            let _ = hv.unwatch(&join(&self.backend, "state"), &self.token);
        }
        if let Some(port) = self.port.take() {
            hv.close(port);
        }
        if let Some(gref) = self.gref.take()
            && hv.end_foreign_access(gref).is_err()
        {
            // The backend still maps it: never reuse this memory.
            if let Some(p) = self.page.take() {
                core::mem::forget(p);
            }
        }
        self.page = None;
        self.inflight = None;
    }
}
