//! The xenbus plumbing shared by the split drivers: reading and switching `state` nodes,
//! reading numeric keys, running a xenstore transaction with retry on `EAGAIN`, and
//! [`FrontendLink`], the frontend half of the handshake that tpmfront and blkfront share.
//!
//! Nothing here blocks; nothing here panics on whatever a peer wrote into xenstore.

use alloc::format;
use alloc::string::String;

use crate::hv::{DomId, EvtchnPort, GrantRef, HvError, Xen, XenStore, XenbusState, XsError, XsTx};

/// Why a xenbus operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XenbusError {
    /// A xenstore request failed.
    Store(XsError),
    /// A node holds something that does not parse (path).
    BadValue(String),
    /// A transaction kept conflicting.
    TooManyRetries,
}

impl From<XsError> for XenbusError {
    fn from(e: XsError) -> Self {
        XenbusError::Store(e)
    }
}

/// Joins a directory and a key.
pub fn join(dir: &str, key: &str) -> String {
    format!("{}/{}", dir.trim_end_matches('/'), key)
}

/// Reads `<dir>/state`. A node that exists but holds garbage reads as `Ok(None)`.
pub fn read_state<X: XenStore + ?Sized>(xs: &mut X, dir: &str) -> Result<Option<XenbusState>, XsError> {
    let v = xs.read(XsTx::NONE, &join(dir, "state"))?;
    Ok(XenbusState::parse(&v))
}

/// Writes `<dir>/state` unless it already holds `state` (re-read first, as Mini-OS does, so a
/// value changed behind our back by the toolstack is not rewritten needlessly). Returns whether
/// it wrote.
pub fn switch_state<X: XenStore + ?Sized>(xs: &mut X, dir: &str, state: XenbusState) -> Result<bool, XsError> {
    let path = join(dir, "state");
    if let Ok(cur) = xs.read(XsTx::NONE, &path)
        && XenbusState::parse(&cur) == Some(state)
    {
        return Ok(false);
    }
    xs.write(XsTx::NONE, &path, state.as_str())?;
    Ok(true)
}

/// Reads a decimal unsigned key (`ring-ref`, `event-channel`, `sectors`, …).
pub fn read_u64<X: XenStore + ?Sized>(xs: &mut X, path: &str) -> Result<u64, XenbusError> {
    let v = xs.read(XsTx::NONE, path)?;
    parse_u64(&v).ok_or_else(|| XenbusError::BadValue(String::from(path)))
}

/// Reads a decimal key that may be missing (missing → `default`; garbage → error).
pub fn read_u64_or<X: XenStore + ?Sized>(xs: &mut X, path: &str, default: u64) -> Result<u64, XenbusError> {
    match xs.read(XsTx::NONE, path) {
        Ok(v) => parse_u64(&v).ok_or_else(|| XenbusError::BadValue(String::from(path))),
        Err(XsError::NoEnt) => Ok(default),
        Err(e) => Err(e.into()),
    }
}

/// Parses a decimal number as written by `%u`/`%llu` (a trailing NUL tolerated).
pub fn parse_u64(s: &str) -> Option<u64> {
    let t = s.trim_end_matches('\0').trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Runs `body` inside a transaction, retrying on `EAGAIN` (the one retry loop,
/// [`xen_hv::with_transaction`]); a transaction that kept conflicting is `TooManyRetries`.
pub fn with_transaction<X, F>(xs: &mut X, body: F) -> Result<(), XenbusError>
where
    X: XenStore + ?Sized,
    F: FnMut(&mut X, XsTx) -> Result<(), XsError>,
{
    match xen_hv::with_transaction(xs, body) {
        Ok(()) => Ok(()),
        Err(XsError::Again) => Err(XenbusError::TooManyRetries),
        Err(e) => Err(e.into()),
    }
}

/// Why a frontend handshake step failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// xenstore trouble (missing `backend`, bad values, …).
    Xenbus(XenbusError),
    /// Grant, event channel or page trouble.
    Hv(HvError),
    /// `backend-id` is not an ordinary domain id (path of the key).
    BadBackendId(String),
    /// The backend closed (or was never there).
    BackendClosed,
    /// The deadline passed.
    Timeout,
}

impl From<XenbusError> for LinkError {
    fn from(e: XenbusError) -> Self {
        LinkError::Xenbus(e)
    }
}
impl From<XsError> for LinkError {
    fn from(e: XsError) -> Self {
        LinkError::Xenbus(XenbusError::Store(e))
    }
}
impl From<HvError> for LinkError {
    fn from(e: HvError) -> Self {
        LinkError::Hv(e)
    }
}

/// Where a frontend handshake stands after [`FrontendLink::poll_connect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// The backend is not Connected yet (and the deadline has not passed).
    Pending,
    /// The backend is Connected: the driver reads its keys and switches to Connected.
    BackendConnected,
}

/// The frontend half of a xenbus device, as tpmfront and blkfront both use it: the device's
/// `nodename`, the backend's id and path, the one shared page (granted to the backend), our
/// unbound port, and a watch on the backend's `state`.
///
/// Handshake: [`connect_start`](Self::connect_start) reads `backend-id` (an ordinary domid) and
/// `backend`, grants the page, allocates a port for the backend, writes `ring-ref`,
/// `event-channel` and the driver's own keys in one transaction, switches our state and
/// watches the backend's; [`poll_connect`](Self::poll_connect) drains the watch and reads the
/// backend's state: Connected → done; InitWait/Initialised → the backend is up; Closing/Closed
/// after it was up, or its directory gone → [`LinkError::BackendClosed`]; the deadline →
/// [`LinkError::Timeout`]. [`fail`](Self::fail) writes Closed and releases; [`release`](Self::release)
/// drops the watch, the port and the grant (and the page, unless the backend still maps it).
///
/// Drop guard (security review L7): a link dropped while its page is still granted leaks the
/// page (`mem::forget`) instead of freeing memory the backend can still read and write.
pub struct FrontendLink<P> {
    nodename: String,
    token: String,
    backend: String,
    backend_id: DomId,
    page: Option<P>,
    gref: Option<GrantRef>,
    port: Option<EvtchnPort>,
    deadline_ns: u64,
    backend_seen_up: bool,
}

impl<P> FrontendLink<P> {
    /// A link for `nodename` (relative, e.g. `device/vtpm/0`); its watch token is `<kind>:<nodename>`.
    pub fn new(kind: &str, nodename: &str) -> Self {
        FrontendLink {
            nodename: String::from(nodename),
            token: format!("{kind}:{nodename}"),
            backend: String::new(),
            backend_id: DomId(0),
            page: None,
            gref: None,
            port: None,
            deadline_ns: 0,
            backend_seen_up: false,
        }
    }

    /// Our device directory.
    pub fn nodename(&self) -> &str {
        &self.nodename
    }

    /// The backend's directory (valid after `connect_start`).
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The backend's domain (valid after `connect_start`).
    pub fn backend_id(&self) -> DomId {
        self.backend_id
    }

    /// Our event channel port, while allocated.
    pub fn port(&self) -> Option<EvtchnPort> {
        self.port
    }

    /// The shared page's grant, while granted.
    pub fn gref(&self) -> Option<GrantRef> {
        self.gref
    }

    /// The shared page, while we hold it.
    pub fn page(&self) -> Option<&P> {
        self.page.as_ref()
    }

    /// The shared page, writable.
    pub fn page_mut(&mut self) -> Option<&mut P> {
        self.page.as_mut()
    }

    /// The handshake's hidden state in a few words (backend, whether it was seen up, whether
    /// the connect deadline passed at `now_ns`), for the model checker. Not a stable format.
    pub fn describe(&self, now_ns: u64) -> String {
        format!(
            "be={}({}) seen_up={} deadline={} port={:?} gref={:?} page={}",
            self.backend,
            self.backend_id.0,
            self.backend_seen_up,
            if now_ns >= self.deadline_ns { "passed" } else { "ahead" },
            self.port,
            self.gref,
            self.page.is_some()
        )
    }

    /// Drains the backend-state watch (the state is always re-read, never taken from the event).
    pub fn drain_watch<X: XenStore + ?Sized>(&self, hv: &mut X) {
        while hv.next_watch_event(&self.token).is_some() {}
    }

    /// Writes our `state` (see [`switch_state`]).
    pub fn switch<X: XenStore + ?Sized>(&self, hv: &mut X, state: XenbusState) -> Result<bool, XsError> {
        switch_state(hv, &self.nodename, state)
    }

    /// Reads the backend's `state`.
    pub fn backend_state<X: XenStore + ?Sized>(&self, hv: &mut X) -> Result<Option<XenbusState>, XsError> {
        read_state(hv, &self.backend)
    }
}

impl<P: crate::hv::PageAccess> FrontendLink<P> {
    /// Starts the handshake with `page` as the shared page (see the type's docs). `keys` are
    /// written in the same transaction as `ring-ref` and `event-channel`; `state` is what we
    /// announce (Initialised, or Connected for Mini-OS-style tpmfront). On error everything is
    /// released again.
    pub fn connect_start<X>(
        &mut self,
        hv: &mut X,
        page: P,
        keys: &[(&str, &str)],
        state: XenbusState,
        timeout_ns: u64,
    ) -> Result<(), LinkError>
    where
        X: Xen<Page = P>,
    {
        let id_path = join(&self.nodename, "backend-id");
        let backend_id = DomId::ordinary_from(read_u64(hv, &id_path)?).ok_or(LinkError::BadBackendId(id_path))?;
        self.backend_id = backend_id;
        self.backend = String::from(hv.read(XsTx::NONE, &join(&self.nodename, "backend"))?.trim_end_matches('\0'));
        let gref = hv.grant_foreign_access(&page, backend_id, false)?;
        self.page = Some(page);
        self.gref = Some(gref);
        let res = (|| -> Result<(), LinkError> {
            let port = hv.alloc_unbound(backend_id)?;
            self.port = Some(port);
            let (ring, evt) = (format!("{}", gref.0), format!("{}", port.0));
            let n = &self.nodename;
            with_transaction(hv, |xs, tx| {
                xs.write(tx, &join(n, "ring-ref"), &ring)?;
                xs.write(tx, &join(n, "event-channel"), &evt)?;
                for (k, v) in keys {
                    xs.write(tx, &join(n, k), v)?;
                }
                Ok(())
            })?;
            // Written even when it already says `state` (a driver before us, gone without
            // closing, left it): the write fires the backend's watch, so a backend still
            // connected to the old ring looks again and maps the new one (found by the model
            // checker, `docs/model-checking.md`).
            hv.write(XsTx::NONE, &join(n, "state"), state.as_str())?;
            match hv.watch(&join(&self.backend, "state"), &self.token) {
                // Our token on this path already (a driver before us on the same xenstore
                // connection never unwatched): that watch is the one we want.
                Err(XsError::Other(e)) if e == "EEXIST" => {}
                r => r?,
            }
            Ok(())
        })();
        if let Err(e) = res {
            self.release(hv);
            return Err(e);
        }
        self.deadline_ns = hv.now_ns().saturating_add(timeout_ns);
        self.backend_seen_up = false;
        Ok(())
    }

    /// Advances the handshake (see the type's docs). On `Err` the caller calls [`fail`](Self::fail).
    pub fn poll_connect<X: Xen<Page = P>>(&mut self, hv: &mut X) -> Result<Handshake, LinkError> {
        self.drain_watch(hv);
        match self.backend_state(hv) {
            Ok(Some(XenbusState::Connected)) => return Ok(Handshake::BackendConnected),
            Ok(Some(XenbusState::InitWait)) | Ok(Some(XenbusState::Initialised)) => self.backend_seen_up = true,
            // A backend still Closed from our previous session is on its way back to InitWait;
            // only a backend that was up and then closed is a failure.
            Ok(Some(XenbusState::Closing)) | Ok(Some(XenbusState::Closed)) if self.backend_seen_up => {
                return Err(LinkError::BackendClosed);
            }
            Err(XsError::NoEnt) => return Err(LinkError::BackendClosed),
            Err(e) => return Err(e.into()),
            _ => {}
        }
        if hv.now_ns() >= self.deadline_ns {
            return Err(LinkError::Timeout);
        }
        Ok(Handshake::Pending)
    }

    /// Gives up a handshake: our state Closed, then [`release`](Self::release).
    pub fn fail<X: Xen<Page = P>>(&mut self, hv: &mut X) {
        let _ = switch_state(hv, &self.nodename, XenbusState::Closed);
        self.release(hv);
    }

    /// Drops the watch, the port and the grant; the page is freed only if its grant ended (a
    /// page the backend still maps is leaked, never reused).
    pub fn release<X: Xen<Page = P>>(&mut self, hv: &mut X) {
        if !self.backend.is_empty() {
            let _ = hv.unwatch(&join(&self.backend, "state"), &self.token);
        }
        if let Some(port) = self.port.take() {
            hv.close(port);
        }
        if let Some(gref) = self.gref.take()
            && hv.end_foreign_access(gref).is_err()
        {
            log::warn!("xenbus: {}: grant {} still in use; leaking its page", self.nodename, gref.0);
            if let Some(p) = self.page.take() {
                core::mem::forget(p);
            }
        }
        self.page = None;
    }
}

impl<P> Drop for FrontendLink<P> {
    fn drop(&mut self) {
        if self.gref.is_some()
            && let Some(p) = self.page.take()
        {
            // Still granted: the backend may map it at any time. Never give it back to the
            // allocator (security review L7).
            core::mem::forget(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_u64("12"), Some(12));
        assert_eq!(parse_u64("12\0"), Some(12));
        assert_eq!(parse_u64("-1"), None);
        assert_eq!(parse_u64(""), None);
        assert_eq!(parse_u64("0x10"), None);
        assert_eq!(parse_u64("99999999999999999999999"), None);
        assert_eq!(join("a/b/", "state"), "a/b/state");
    }
}
