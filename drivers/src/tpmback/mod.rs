//! tpmback: the vTPM backend that Linux's xen-tpmfront, Mini-OS tpmfront and our own tpmfront
//! talk to (fact sheet §2–§4, checklist §14).
//!
//! This file is the xenstore half: discovering frontends under `backend/vtpm` (including those
//! that existed before we started), the per-frontend xenbus state machine, and fair scheduling
//! of requests across frontends. `page.rs` is the shared-page half.
//!
//! Backend state machine (ours; `FE` = the frontend's `state`):
//!
//! | FE state | action | our state |
//! |---|---|---|
//! | new backend dir of another domain than the bound one ([`FrontendBinding`]) | nothing read, nothing mapped; [`BackendEvent::Refused`] | **6 Closed** |
//! | the same, while the bound domain has no dir left but still exists (detached, or being destroyed) | nothing written; looked at again ([`TpmBack::recheck`]) | left as it is |
//! | the same, once the bound domain no longer exists | bound to the new domain ([`BackendEvent::Rebound`]), then as a new dir | 2 InitWait |
//! | new backend dir, `frontend` not under `/local/domain/<domid>/` or bad `uuid` | refused once | left as it is |
//! | new backend dir | read `frontend`, `uuid` (36 chars); write `feature-protocol-v2=1`; watch FE `state` | 2 InitWait |
//! | 3 or 4 (not connected) | require FE `feature-protocol-v2=1`; map `ring-ref` RW; bind `event-channel`; `ready=1` | 4 Connected |
//! | 3 or 4 (connected) | if `ring-ref`/`event-channel` changed (a missed close + reopen): reconnect | 4 |
//! | 5 | unmap, unbind | 5 Closing |
//! | 6 | unmap, unbind | **6 Closed** |
//! | 0, 1, 2, or `state` missing in a dir still there | unmap if needed | 2 InitWait |
//! | FE dir gone (the toolstack removed the device) | unmap, unbind; remove our backend dir | 6, then gone |
//! | our `online` = 0 (xl detach) | unmap, unbind; 1 s later remove our backend dir ([`TpmBack::tick`]) | 6 Closed, then gone |
//!
//! Closed vs InitWait on FE Closed: Mini-OS goes back to 2 at once, so libxl's detach (which
//! waits for exactly 6) runs into its 10 s timeout. We go to 6 — what libxl and Linux's own
//! backends do — and back to 2 as soon as the frontend re-initialises (state 1, as Mini-OS
//! tpmfront and pvgrub leave it, or straight to 3/4 with a new ring). Mini-OS tpmfront's close
//! waits for "6 or 2", so both work for it.
//!
//! Binding (security review M4): by default the first frontend domain taken over binds the
//! backend; its other handles and its reconnects are served, every other domain is refused.
//! Guest-triggerable warnings (rejected requests, failed connects) are rate-limited per
//! frontend (security review L4).
//!
//! Requests: one at a time per frontend; [`TpmBack::next_request`] scans the connected pages
//! round robin starting after the frontend served last, so no domid is favoured. The page is
//! scanned, not just the event channel, so a SUBMIT written before we connected (Linux's
//! probe-time GetCapability) is served as soon as we are connected.

mod page;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::hv::{DomId, EvtchnPort, GrantRef, HvError, Xen, XenbusState, XsError, XsTx};
use crate::uuid::parse_uuid;
use crate::xenbus::{self, join, read_state, switch_state};
use page::{Connection, PageEvent};

/// The xenstore directory we watch, relative to our own `/local/domain/<self>`.
pub const BACKEND_DIR: &str = "backend/vtpm";

/// Which frontend: its domain and device handle (`devid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrontendId {
    /// The frontend's domain.
    pub domid: DomId,
    /// The device handle (`devid`, 0 for the first vtpm of a domain).
    pub handle: u32,
}

/// A request copied out of a frontend's page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Who sent it.
    pub frontend: FrontendId,
    /// The UUID from the backend's `uuid` key.
    pub uuid: [u8; 16],
    /// Locality from the page (Linux always sends 0).
    pub locality: u8,
    /// The TPM command (private copy).
    pub command: Vec<u8>,
    /// `Clock::now_ns` when the request was copied out (for service-time statistics).
    pub seen_ns: u64,
    generation: u64,
}

/// Something an image may want to log or act on (e.g. power off when the last guest goes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendEvent {
    /// The frontend is connected (the C vtpm logs `Info: VTPM attached to Frontend X/Y`).
    Attached(FrontendId),
    /// The frontend disconnected (closed, re-initialising, or vanished).
    Detached(FrontendId),
    /// A backend dir of another domain than the one this backend is bound to (the second
    /// field): it is never connected (see [`FrontendBinding`]).
    Refused(FrontendId, DomId),
    /// The domain this backend was bound to no longer exists and `to` took its place (a guest
    /// rebooted by the toolstack comes back as a new domain; see [`FrontendBinding`]). The
    /// image resets its TPM as on a platform reset.
    Rebound {
        /// The domain that is gone.
        from: DomId,
        /// The domain now served.
        to: DomId,
    },
}

/// Which frontend domain a backend serves (security review M4: one engine, one guest). Every
/// frontend of the bound domain is served (several handles; reconnects, e.g. pvgrub then
/// Linux). A backend dir of any other domain is refused: we write our state Closed (6) once
/// and never map its page. Closed is what libxl handles for a backend that will not serve:
/// `xl create` / `xl vtpm-attach` wait for InitWait (2) and fail visibly instead of a guest
/// booting with somebody else's TPM; `xl vtpm-detach` waits for 6 and completes at once; a Linux
/// or Mini-OS frontend that sees its backend Closed gives the device up.
///
/// With [`FrontendBinding::FirstDomain`] the binding ends with the bound domain: once it no
/// longer exists (`EventChannels::domain_exists`; `xl reboot` destroys a guest and creates it
/// again under a new domid) and none of its backend dirs are left, the next domain's dir binds
/// the backend ([`BackendEvent::Rebound`]). A domain that merely detached its device (`xl
/// vtpm-detach`) still exists and keeps the binding. Serving the next domain gives it nothing
/// the toolstack could not give it anyway by restarting this vtpm for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FrontendBinding {
    /// Bound to the domain of the first backend dir taken over (the default).
    #[default]
    FirstDomain,
    /// Bound to this domain from the start (e.g. from a `target=` option).
    Domain(DomId),
    /// Serves every domain with one engine: no isolation at all. Only for tests of the
    /// multi-frontend scheduling, never for a guest-facing vtpm.
    AnyDomain,
}

/// Why [`TpmBack::respond`] could not deliver a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespondError {
    /// The frontend disconnected (or reconnected) since the request was taken.
    Gone,
    /// The page could not be written; the frontend was disconnected.
    Page(HvError),
}

/// Request service statistics (request copied out → response written), in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// Responses written.
    pub count: u64,
    /// Sum of service times.
    pub total_ns: u64,
    /// Longest service time.
    pub max_ns: u64,
    /// Invalid requests answered with an error by tpmback itself.
    pub rejected: u64,
    /// CANCELs acknowledged while idle.
    pub cancels: u64,
}

/// Where one backend dir stands; a connection exists exactly while `Connected`.
enum Phase<M> {
    /// The backend dir is unusable (bad `uuid` or frontend path); nothing more is done for it.
    Refused,
    /// The backend dir belongs to a domain we are not bound to; nothing more is done for it,
    /// and it does not count as one of our [`TpmBack::instances`].
    Foreign,
    InitWait,
    Connected(Connection<M>),
    Closing,
    Closed,
}

impl<M> Phase<M> {
    fn connection(&mut self) -> Option<&mut Connection<M>> {
        match self {
            Phase::Connected(c) => Some(c),
            _ => None,
        }
    }
}

struct Instance<M> {
    id: FrontendId,
    be_dir: String,
    fe_dir: String,
    uuid: [u8; 16],
    phase: Phase<M>,
    /// `(ring-ref, event-channel)` of the last failed connect, not retried until they change.
    failed: Option<(u32, u32)>,
    generation: u64,
    /// Guest-triggerable warnings about this frontend (rate-limited, security review L4).
    warnings: WarnLimit,
    /// When we wrote Closed because the toolstack detaches the device (`online` = 0): the
    /// backend dir is removed [`DETACH_REMOVE_DELAY_NS`] later ([`TpmBack::tick`]).
    detached_at: Option<u64>,
}

/// How long after writing Closed for a detach the backend removes its own dir. libxl detaching
/// a device whose backend is not in dom0 (a driver domain, as a vtpm is) first waits for state
/// Closed (6), then up to 10 s for the backend dir to be removed by the driver domain, and only
/// then removes the frontend dir; a backend that waits for the frontend dir to go (the C
/// backend) costs every `xl vtpm-detach` those 10 s and an error. Removed at once, libxl could
/// read the state node gone instead of 6 and fail the detach; the delay lets it see 6 first.
pub const DETACH_REMOVE_DELAY_NS: u64 = 1_000_000_000;

/// Rate limit for log lines a guest can trigger (security review L4): the first occurrence is
/// logged at once, later ones within [`WarnLimit::INTERVAL_NS`] only counted, and the count is
/// reported with the next line logged after the interval.
#[derive(Clone, Copy, Debug, Default)]
struct WarnLimit {
    /// No line before this time (0: the next one is logged).
    quiet_until_ns: u64,
    /// Lines held back since the last one logged.
    suppressed: u64,
}

impl WarnLimit {
    /// At most one line per frontend per 10 s.
    const INTERVAL_NS: u64 = 10_000_000_000;

    /// `Some(held_back)` if a line may be logged now (with how many were held back before it).
    fn admit(&mut self, now_ns: u64) -> Option<u64> {
        if now_ns < self.quiet_until_ns {
            self.suppressed += 1;
            return None;
        }
        self.quiet_until_ns = now_ns.saturating_add(Self::INTERVAL_NS);
        Some(core::mem::take(&mut self.suppressed))
    }
}

/// Formats the tail of a rate-limited line that says how many were held back.
fn held_back(n: u64) -> String {
    if n == 0 { String::new() } else { format!(" ({n} similar lines suppressed)") }
}

/// The vTPM backend. Generic over the kernel's (or the simulation's) [`Xen`] implementation.
pub struct TpmBack<X: Xen> {
    instances: Vec<Instance<X::Mapping>>,
    binding: FrontendBinding,
    /// The domain we serve, once known.
    bound: Option<DomId>,
    /// Dirs of other domains waiting for the bound domain to be gone (logged once each).
    waiting: Vec<FrontendId>,
    last_served: Option<FrontendId>,
    events: VecDeque<BackendEvent>,
    token: String,
    next_generation: u64,
    stats: ServiceStats,
}

impl<X: Xen> Default for TpmBack<X> {
    fn default() -> Self {
        Self::new()
    }
}

impl<X: Xen> TpmBack<X> {
    /// A backend that has not looked at xenstore yet.
    pub fn new() -> Self {
        TpmBack {
            instances: Vec::new(),
            binding: FrontendBinding::FirstDomain,
            bound: None,
            waiting: Vec::new(),
            last_served: None,
            events: VecDeque::new(),
            token: String::from("tpmback"),
            next_generation: 1,
            stats: ServiceStats::default(),
        }
    }

    /// Chooses which frontend domain this backend serves (call before [`TpmBack::start`]).
    pub fn set_binding(&mut self, binding: FrontendBinding) {
        self.binding = binding;
        self.bound = match binding {
            FrontendBinding::Domain(d) => Some(d),
            FrontendBinding::FirstDomain | FrontendBinding::AnyDomain => None,
        };
    }

    /// The domain this backend serves, once bound.
    pub fn bound_domain(&self) -> Option<DomId> {
        self.bound
    }

    /// Watches `backend/vtpm` and takes over every frontend already listed there.
    pub fn start(&mut self, hv: &mut X) -> Result<(), XsError> {
        hv.watch(BACKEND_DIR, &self.token)?;
        self.reconcile(hv);
        Ok(())
    }

    /// Handles queued xenstore watch events (frontends appearing, changing state, vanishing).
    /// Call it whenever the loop wakes up.
    pub fn poll(&mut self, hv: &mut X) {
        let mut any = false;
        while hv.next_watch_event(&self.token).is_some() {
            any = true;
        }
        if any {
            self.reconcile(hv);
        }
    }

    /// The next request to serve, taken round robin across connected frontends. Also
    /// acknowledges CANCELs of idle frontends and answers invalid requests with a TPM error.
    pub fn next_request(&mut self, hv: &mut X) -> Option<Request> {
        let n = self.instances.len();
        if n == 0 {
            return None;
        }
        let start = match self.last_served {
            Some(last) => self.instances.iter().position(|i| i.id > last).unwrap_or(0),
            None => 0,
        };
        for k in 0..n {
            let idx = (start + k) % n;
            let inst = &mut self.instances[idx];
            let Some(conn) = inst.phase.connection() else { continue };
            match conn.examine(hv) {
                Ok(PageEvent::Request { locality, command }) => {
                    self.last_served = Some(inst.id);
                    return Some(Request {
                        frontend: inst.id,
                        uuid: inst.uuid,
                        locality,
                        command,
                        seen_ns: hv.now_ns(),
                        generation: inst.generation,
                    });
                }
                Ok(PageEvent::Rejected { rc }) => {
                    if let Some(n) = inst.warnings.admit(hv.now_ns()) {
                        log::warn!(
                            "tpmback: invalid request from {}/{} answered with TPM error {}{}",
                            inst.id.domid.0,
                            inst.id.handle,
                            rc,
                            held_back(n)
                        );
                    }
                    self.stats.rejected += 1;
                }
                Ok(PageEvent::CancelAcked) => self.stats.cancels += 1,
                Ok(PageEvent::Nothing) => {}
                Err(e) => {
                    log::warn!(
                        "tpmback: shared page of {}/{} unusable ({:?}); disconnecting",
                        inst.id.domid.0,
                        inst.id.handle,
                        e
                    );
                    self.close(hv, idx);
                }
            }
        }
        None
    }

    /// Sends the response to `request`. `response` must be a complete TPM frame; its length is
    /// written as the page's `length`.
    pub fn respond(&mut self, hv: &mut X, request: &Request, response: &[u8]) -> Result<(), RespondError> {
        let Some(idx) = self.instances.iter().position(|i| i.id == request.frontend) else {
            return Err(RespondError::Gone);
        };
        let inst = &mut self.instances[idx];
        if inst.generation != request.generation {
            return Err(RespondError::Gone);
        }
        let Some(conn) = inst.phase.connection() else { return Err(RespondError::Gone) };
        match conn.respond(hv, response) {
            Ok(true) => {
                let dt = hv.now_ns().saturating_sub(request.seen_ns);
                self.stats.count += 1;
                self.stats.total_ns += dt;
                self.stats.max_ns = self.stats.max_ns.max(dt);
                Ok(())
            }
            Ok(false) => Err(RespondError::Gone),
            Err(e) => {
                self.close(hv, idx);
                Err(RespondError::Page(e))
            }
        }
    }

    /// The next attach/detach event, if any.
    pub fn take_event(&mut self) -> Option<BackendEvent> {
        self.events.pop_front()
    }

    /// Local ports of connected frontends (for the loop's wait set).
    pub fn ports(&self) -> Vec<EvtchnPort> {
        self.instances
            .iter()
            .filter_map(|i| match &i.phase {
                Phase::Connected(c) => Some(c.port),
                _ => None,
            })
            .collect()
    }

    /// Number of connected frontends.
    pub fn connected(&self) -> usize {
        self.instances.iter().filter(|i| matches!(i.phase, Phase::Connected(_))).count()
    }

    /// Number of backend directories we are handling (connected or not; refused dirs of other
    /// domains do not count).
    pub fn instances(&self) -> usize {
        self.instances.iter().filter(|i| !matches!(i.phase, Phase::Foreign)).count()
    }

    /// The UUID of a frontend we know.
    pub fn uuid(&self, fe: FrontendId) -> Option<[u8; 16]> {
        self.instances.iter().find(|i| i.id == fe).map(|i| i.uuid)
    }

    /// True while `request` belongs to the frontend's current connection: a response to it
    /// would be delivered ([`TpmBack::respond`] answers `Gone` otherwise).
    pub fn is_current(&self, request: &Request) -> bool {
        self.instances.iter().any(|i| {
            i.id == request.frontend && i.generation == request.generation && matches!(i.phase, Phase::Connected(_))
        })
    }

    /// Our state in a few words (each backend dir's phase, the connection's ring, port and
    /// whether a request is being served, the last failed ring; the binding, the next in the
    /// round robin, queued events), for the model checker (`tests/src/model`). Generations
    /// are left out (they only grow; [`TpmBack::is_current`] says what they decide). Not a
    /// stable format.
    pub fn describe(&self) -> String {
        let mut s = format!("bound={:?} last={:?} events={:?};", self.bound, self.last_served, self.events);
        for i in &self.instances {
            let phase = match &i.phase {
                Phase::Refused => String::from("refused"),
                Phase::Foreign => String::from("foreign"),
                Phase::InitWait => String::from("initwait"),
                Phase::Connected(c) => {
                    format!("connected(ring={} rport={} port={} {})", c.ring_ref, c.remote_port, c.port.0, c.describe())
                }
                Phase::Closing => String::from("closing"),
                Phase::Closed => String::from("closed"),
            };
            s.push_str(&format!(" {}/{} {} failed={:?};", i.id.domid.0, i.id.handle, phase, i.failed));
        }
        s
    }

    /// Service statistics since start.
    pub fn stats(&self) -> ServiceStats {
        self.stats
    }

    /// Disconnects every frontend and moves each backend to Closed.
    pub fn shutdown(&mut self, hv: &mut X) {
        for idx in 0..self.instances.len() {
            self.close(hv, idx);
            let _ = hv.unwatch(&join(&self.instances[idx].fe_dir, "state"), &self.token);
        }
        self.instances.clear();
        let _ = hv.unwatch(BACKEND_DIR, &self.token);
    }

    /// Brings our view in line with xenstore: new and vanished backend dirs, then every
    /// frontend's state.
    fn reconcile(&mut self, hv: &mut X) {
        let present = list_backend_dirs(hv);
        // Backend dirs removed by the toolstack (domain destroyed, detach finished), also
        // those removed and made again between two looks (a quick `xl vtpm-detach` +
        // `vtpm-attach`): the new dir lacks the `feature-protocol-v2` we wrote into the old.
        let mut idx = 0;
        while idx < self.instances.len() {
            let inst = &self.instances[idx];
            let recreated =
                matches!(hv.read(XsTx::NONE, &join(&inst.be_dir, "feature-protocol-v2")), Err(XsError::NoEnt))
                    && !matches!(inst.phase, Phase::Refused | Phase::Foreign);
            if present.contains(&inst.id) && !recreated {
                idx += 1;
                continue;
            }
            self.disconnect(hv, idx);
            let inst = self.instances.remove(idx);
            let _ = hv.unwatch(&join(&inst.fe_dir, "state"), &self.token);
            log::info!("tpmback: backend dir of {}/{} removed", inst.id.domid.0, inst.id.handle);
        }
        self.waiting.retain(|w| present.contains(w));
        for id in present {
            if !self.instances.iter().any(|i| i.id == id) {
                self.create(hv, id);
            }
        }
        let mut idx = 0;
        while idx < self.instances.len() {
            if self.step(hv, idx) {
                idx += 1;
            } else {
                let inst = self.instances.remove(idx);
                let _ = hv.unwatch(&join(&inst.fe_dir, "state"), &self.token);
            }
        }
    }

    /// Whether the domain this backend is bound to still exists (`None` if not bound or Xen
    /// did not say). For an image deciding whether its guest is gone for good.
    pub fn bound_domain_exists(&self, hv: &mut X) -> Option<bool> {
        self.bound.and_then(|b| hv.domain_exists(b))
    }

    /// Time-driven work: removes the dirs of devices the toolstack detached (Closed for
    /// [`DETACH_REMOVE_DELAY_NS`]). Call it at every wake-up; [`TpmBack::next_deadline`] says
    /// when it has something to do next.
    pub fn tick(&mut self, hv: &mut X) {
        let now = hv.now_ns();
        let mut idx = 0;
        while idx < self.instances.len() {
            match self.instances[idx].detached_at {
                Some(t) if now.saturating_sub(t) >= DETACH_REMOVE_DELAY_NS => {
                    let inst = self.instances.remove(idx);
                    let _ = hv.unwatch(&join(&inst.fe_dir, "state"), &self.token);
                    if let Err(e) = hv.rm(XsTx::NONE, &inst.be_dir) {
                        log::warn!(
                            "tpmback: {}/{}: cannot remove {}: {:?}",
                            inst.id.domid.0,
                            inst.id.handle,
                            inst.be_dir,
                            e
                        );
                    }
                    // the per-domain dir too, once empty (as libxl's own cleanup does)
                    let parent = format!("{}/{}", BACKEND_DIR, inst.id.domid.0);
                    if matches!(hv.directory(XsTx::NONE, &parent), Ok(v) if v.is_empty()) {
                        let _ = hv.rm(XsTx::NONE, &parent);
                    }
                    log::info!(
                        "tpmback: {}/{} detached by the toolstack; backend dir removed",
                        inst.id.domid.0,
                        inst.id.handle
                    );
                }
                _ => idx += 1,
            }
        }
    }

    /// When [`TpmBack::tick`] has work next (`None`: nothing pending).
    pub fn next_deadline(&self) -> Option<u64> {
        self.instances.iter().filter_map(|i| i.detached_at).map(|t| t.saturating_add(DETACH_REMOVE_DELAY_NS)).min()
    }

    /// Looks at xenstore again without a watch event: a dir of another domain that waits for
    /// the bound domain to be gone (see [`FrontendBinding`]) may bind now. The image calls it
    /// periodically while it has no frontend.
    pub fn recheck(&mut self, hv: &mut X) {
        self.reconcile(hv);
    }

    /// Takes over a new backend dir. A dir whose keys are not all there yet is left for a later
    /// event; one with an invalid `uuid` is refused once (as Mini-OS does).
    fn create(&mut self, hv: &mut X, id: FrontendId) {
        let be_dir = format!("{}/{}/{}", BACKEND_DIR, id.domid.0, id.handle);
        let Ok(frontend) = hv.read(XsTx::NONE, &join(&be_dir, "frontend")) else { return };
        let Ok(uuid_s) = hv.read(XsTx::NONE, &join(&be_dir, "uuid")) else { return };
        let fe_dir = String::from(frontend.trim_end_matches('\0'));
        let generation = self.bump_generation();
        let pos = self.instances.iter().position(|i| i.id > id).unwrap_or(self.instances.len());
        let refused = |phase, uuid| Instance {
            id,
            be_dir: be_dir.clone(),
            fe_dir: fe_dir.clone(),
            uuid,
            phase,
            failed: None,
            generation,
            warnings: WarnLimit::default(),
            detached_at: None,
        };
        if let Some(bound) = self.bound.filter(|&b| b != id.domid && self.binding != FrontendBinding::AnyDomain)
            && self.binding == FrontendBinding::FirstDomain
            && !self.instances.iter().any(|i| i.id.domid == bound && !matches!(i.phase, Phase::Foreign))
        {
            // The bound domain has no device left: if it is gone, the binding has ended (fall
            // through); while it exists (a detached guest, or one being destroyed for a
            // reboot), the dir waits untouched and is looked at again (`recheck`).
            if hv.domain_exists(bound) != Some(false) {
                if !self.waiting.contains(&id) {
                    log::warn!(
                        "tpmback: {}/{}: waiting: this vtpm is bound to domain {}, which has no device now; not connecting while it exists",
                        id.domid.0,
                        id.handle,
                        bound.0
                    );
                    self.waiting.push(id);
                }
                return;
            }
        } else if let Some(bound) = self.bound.filter(|&b| b != id.domid && self.binding != FrontendBinding::AnyDomain)
        {
            log::warn!(
                "tpmback: {}/{}: refused: this vtpm is bound to domain {}; not connecting",
                id.domid.0,
                id.handle,
                bound.0
            );
            if let Err(e) = switch_state(hv, &be_dir, XenbusState::Closed) {
                log::warn!("tpmback: {}/{}: cannot write state: {:?}", id.domid.0, id.handle, e);
            }
            self.instances.insert(pos, refused(Phase::Foreign, [0; 16]));
            self.events.push_back(BackendEvent::Refused(id, bound));
            return;
        }
        let Some(uuid) = parse_uuid(&uuid_s) else {
            log::error!("tpmback: {}/{}: invalid uuid {:?}; ignoring this device", id.domid.0, id.handle, uuid_s);
            self.instances.insert(pos, refused(Phase::Refused, [0; 16]));
            return;
        };
        // The frontend must be a device dir of the frontend's own domain (security review I9).
        let home = format!("/local/domain/{}/", id.domid.0);
        if !fe_dir.starts_with(&home) || fe_dir.len() <= home.len() {
            log::error!(
                "tpmback: {}/{}: invalid frontend path {:?}; ignoring this device",
                id.domid.0,
                id.handle,
                fe_dir
            );
            self.instances.insert(pos, refused(Phase::Refused, uuid));
            return;
        }
        self.waiting.retain(|w| *w != id);
        let _ = hv.write(XsTx::NONE, &join(&be_dir, "feature-protocol-v2"), "1");
        let _ = hv.watch(&join(&fe_dir, "state"), &self.token);
        if let Err(e) = switch_state(hv, &be_dir, XenbusState::InitWait) {
            log::warn!("tpmback: {}/{}: cannot write state: {:?}", id.domid.0, id.handle, e);
        }
        log::debug!("tpmback: new frontend {}/{} at {}", id.domid.0, id.handle, fe_dir);
        if self.binding == FrontendBinding::FirstDomain {
            match self.bound {
                None => log::info!("tpmback: bound to frontend domain {}", id.domid.0),
                Some(from) if from != id.domid => {
                    log::info!("tpmback: domain {} is gone; bound to frontend domain {}", from.0, id.domid.0);
                    self.events.push_back(BackendEvent::Rebound { from, to: id.domid });
                }
                Some(_) => {}
            }
            self.bound = Some(id.domid);
        }
        let inst = refused(Phase::InitWait, uuid);
        self.instances.insert(pos, inst);
    }

    /// Runs one frontend's state machine. Returns false if the instance is to be dropped.
    fn step(&mut self, hv: &mut X, idx: usize) -> bool {
        let inst = &self.instances[idx];
        if matches!(inst.phase, Phase::Refused | Phase::Foreign) {
            return true;
        }
        let be_dir = inst.be_dir.clone();
        let fe_dir = inst.fe_dir.clone();
        if hv.read(XsTx::NONE, &join(&be_dir, "online")).ok().as_deref().map(|s| s.trim_end_matches('\0')) == Some("0")
        {
            // The toolstack is detaching us (it wrote online=0 and state=5): Closed now, our
            // dir removed a moment later (`tick`).
            self.close(hv, idx);
            if self.instances[idx].detached_at.is_none() {
                self.instances[idx].detached_at = Some(hv.now_ns());
            }
            return true;
        }
        let fe_state = match read_state(hv, &fe_dir) {
            Ok(s) => s,
            // A missing `state` in a frontend dir that is still there is Unknown (security
            // review L2: the guest owns that node and may delete it; that is no reason to
            // tear down the toolstack's device).
            Err(XsError::NoEnt) if !matches!(hv.directory(XsTx::NONE, &fe_dir), Err(XsError::NoEnt)) => {
                Some(XenbusState::Unknown)
            }
            Err(XsError::NoEnt) => {
                log::info!("tpmback: frontend {} vanished; cleaning up", fe_dir);
                self.disconnect(hv, idx);
                let _ = switch_state(hv, &be_dir, XenbusState::Closed);
                let _ = hv.rm(XsTx::NONE, &be_dir);
                return false;
            }
            Err(e) => {
                log::warn!("tpmback: cannot read {}/state: {:?}", fe_dir, e);
                return true;
            }
        };
        let Some(fe_state) = fe_state else { return true };
        let was_init_wait = matches!(self.instances[idx].phase, Phase::InitWait);
        match fe_state {
            XenbusState::Initialised | XenbusState::Connected => {
                let (ring, port) = match read_ring(hv, &fe_dir) {
                    Ok(v) => v,
                    Err(()) => return true, // keys not there (yet): wait for the next change
                };
                if let Some(c) = self.instances[idx].phase.connection() {
                    if c.ring_ref == ring && c.remote_port == port {
                        return true;
                    }
                    self.disconnect(hv, idx);
                }
                if self.instances[idx].failed == Some((ring, port)) {
                    return true;
                }
                match self.connect(hv, idx, ring, port) {
                    Ok(()) => {}
                    Err(why) => {
                        let now = hv.now_ns();
                        if let Some(n) = self.instances[idx].warnings.admit(now) {
                            log::error!("tpmback: cannot connect to {}: {}{}", fe_dir, why, held_back(n));
                        }
                        self.instances[idx].failed = Some((ring, port));
                        self.close(hv, idx);
                    }
                }
            }
            XenbusState::Closing => {
                self.disconnect(hv, idx);
                let _ = switch_state(hv, &be_dir, XenbusState::Closing);
                self.instances[idx].phase = Phase::Closing;
            }
            XenbusState::Closed => {
                if was_init_wait {
                    self.disconnect(hv, idx);
                } else {
                    self.close(hv, idx);
                }
            }
            XenbusState::Unknown | XenbusState::Initialising | XenbusState::InitWait => {
                self.disconnect(hv, idx);
                let inst = &mut self.instances[idx];
                inst.failed = None;
                inst.phase = Phase::InitWait;
                let _ = switch_state(hv, &be_dir, XenbusState::InitWait);
            }
            XenbusState::Reconfiguring | XenbusState::Reconfigured => {}
        }
        true
    }

    fn connect(&mut self, hv: &mut X, idx: usize, ring: u32, port: u32) -> Result<(), &'static str> {
        let inst = &self.instances[idx];
        let (id, fe_dir, be_dir) = (inst.id, inst.fe_dir.clone(), inst.be_dir.clone());
        match hv.read(XsTx::NONE, &join(&fe_dir, "feature-protocol-v2")) {
            Ok(v) if v.trim_end_matches('\0') == "1" => {}
            _ => return Err("frontend does not speak tpmif protocol v2 (feature-protocol-v2 != 1)"),
        }
        let mapping = hv.map_grant_ref(id.domid, GrantRef(ring), false).map_err(|_| "cannot map ring-ref")?;
        let local = match hv.bind_interdomain(id.domid, EvtchnPort(port)) {
            Ok(p) => p,
            Err(_) => {
                let _ = hv.unmap_grant_ref(mapping);
                return Err("cannot bind event-channel");
            }
        };
        let _ = hv.write(XsTx::NONE, &join(&be_dir, "ready"), "1");
        let _ = switch_state(hv, &be_dir, XenbusState::Connected);
        let generation = self.bump_generation();
        let inst = &mut self.instances[idx];
        inst.phase = Phase::Connected(Connection::new(mapping, local, ring, port));
        inst.failed = None;
        inst.generation = generation;
        // The image prints the C vtpm's `Info: VTPM attached to Frontend X/Y` on `Attached`.
        log::debug!("tpmback: connected to frontend {}/{}", id.domid.0, id.handle);
        self.events.push_back(BackendEvent::Attached(id));
        Ok(())
    }

    /// Unmaps and unbinds, if connected (the phase becomes Closed).
    fn disconnect(&mut self, hv: &mut X, idx: usize) {
        let inst = &mut self.instances[idx];
        if !matches!(inst.phase, Phase::Connected(_)) {
            return;
        }
        if let Phase::Connected(conn) = core::mem::replace(&mut inst.phase, Phase::Closed) {
            hv.close(conn.port);
            if hv.unmap_grant_ref(conn.mapping).is_err() {
                log::warn!("tpmback: unmap failed for {}/{}", inst.id.domid.0, inst.id.handle);
            }
            log::debug!("tpmback: disconnected from frontend {}/{}", inst.id.domid.0, inst.id.handle);
            self.events.push_back(BackendEvent::Detached(inst.id));
        }
    }

    /// Closes one backend dir: disconnects if connected, writes our state Closed (6) and
    /// remembers the phase Closed.
    fn close(&mut self, hv: &mut X, idx: usize) {
        self.disconnect(hv, idx);
        let inst = &mut self.instances[idx];
        let _ = switch_state(hv, &inst.be_dir, XenbusState::Closed);
        inst.phase = Phase::Closed;
    }

    fn bump_generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }
}

/// Lists `backend/vtpm/<domid>/<handle>`; names that are not numbers are skipped.
fn list_backend_dirs<X: Xen>(hv: &mut X) -> Vec<FrontendId> {
    let mut out = Vec::new();
    let Ok(doms) = hv.directory(XsTx::NONE, BACKEND_DIR) else { return out };
    for d in doms {
        let Some(domid) = xenbus::parse_u64(&d).and_then(DomId::ordinary_from) else { continue };
        let Ok(handles) = hv.directory(XsTx::NONE, &join(BACKEND_DIR, &d)) else { continue };
        for h in handles {
            if let Some(handle) = xenbus::parse_u64(&h).filter(|v| *v <= u64::from(u32::MAX)) {
                out.push(FrontendId { domid, handle: handle as u32 });
            }
        }
    }
    out
}

/// Reads the frontend's `ring-ref` and `event-channel`.
fn read_ring<X: Xen>(hv: &mut X, fe_dir: &str) -> Result<(u32, u32), ()> {
    let ring = xenbus::read_u64(hv, &join(fe_dir, "ring-ref")).map_err(|_| ())?;
    let port = xenbus::read_u64(hv, &join(fe_dir, "event-channel")).map_err(|_| ())?;
    if ring > u64::from(u32::MAX) || port > u64::from(u32::MAX) {
        return Err(());
    }
    Ok((ring as u32, port as u32))
}
