//! The tpmif link, checked: our `drivers::tpmfront` in one simulated domain, our
//! `drivers::tpmback` in another, the toolstack (libxl's attach and detach) in dom0, all on the
//! simulated Xen — the real driver code, each call one atomic event.
//!
//! The backend's server takes a request (`TpmBack::poll` + `next_request`, as
//! `VtpmService::step` and the manager's loop do) in one event and answers it in a later one
//! (the engine's work, or a save to the manager, runs in between while the frontend's domain
//! runs on), answering each request `id` with a response that carries the same `id`. The
//! frontend's client uses the poll-style API as the vtpm's manager client and pvgrub do
//! (`connect_start`/`poll_connect`, `submit`/`poll_response`/`cancel`, `close_start`/`poll_close`,
//! and `backend_gone` → `abandon`, what `transact` and `vtpm::manager` do when the backend
//! leaves).
//!
//! Disruptions, each bounded by [`Budget`]: cancel, close (then reopen), time passing beyond
//! every deadline, the frontend restarting in its domain (a kexec or pvgrub → kernel handover:
//! the old driver's keys stay behind), the frontend's domain destroyed, the backend's domain
//! destroyed and a new one started (a manager restart; the toolstack re-points the device),
//! `xl vtpm-detach` (two halves) and `xl vtpm-attach`.
//!
//! Safety, on every transition: a response is the one to the request in flight (never an
//! earlier one's); no request is served twice; a response the backend says it delivered went
//! to the connection the request came on. Liveness, from every state ([`Model::settle`]): with
//! no more disruptions (a dead backend restarted, a detach finished and the device attached
//! again), every request in flight gets exactly one outcome the sender sees, the link reaches
//! Connected again and one more request gets its own response; or, the frontend's domain
//! destroyed, the backend drops the device and removes its directory.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::task::Poll;

use drivers::tpmback::{Request, RespondError, TpmBack};
use drivers::tpmfront::{FrontStyle, TpmFront, TpmFrontError};
use tpm_frame::{TPM_TAG_RQU_COMMAND, TPM_TAG_RSP_COMMAND};

use super::explore::Model;
use crate::simxen::grant::pages_freed_while_shared;
use crate::simxen::{SimDomain, World, toolstack};

const S: u64 = 1_000_000_000;
/// The frontend's domain.
pub const FE: u16 = 2;
/// The first backend domain; a restarted one gets `FE + 1`, then higher.
pub const BE: u16 = 1;
const UUID: &str = "5e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
/// The frontend's deadlines (those of `vtpm::manager`: connect 10 s, request 30 s) and a close's.
const CONNECT_TIMEOUT_NS: u64 = 10 * S;
const REQUEST_TIMEOUT_NS: u64 = 30 * S;
const CLOSE_TIMEOUT_NS: u64 = 10 * S;
/// A tick moves the clock past every deadline.
const TICK_NS: u64 = 61 * S;
/// The probe request of [`Model::settle`] (never one of the explored ones).
const PROBE_ID: u32 = 0xF00D;

/// How often each disruption may happen in one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Budget {
    /// Requests the frontend sends.
    pub requests: u8,
    /// Cancels of the request in flight.
    pub cancels: u8,
    /// Closes (each may be followed by a reopen).
    pub closes: u8,
    /// Ticks of the clock past every deadline.
    pub ticks: u8,
    /// Restarts of the frontend's driver in its domain.
    pub fe_restarts: u8,
    /// Destruction of the frontend's domain (the end of the frontend).
    pub fe_destroys: u8,
    /// Crashes of the backend's domain (each followed by a new backend domain).
    pub be_crashes: u8,
    /// `xl vtpm-detach` (each may be followed by `xl vtpm-attach`).
    pub detaches: u8,
}

/// The model: which frontend style, how many disruptions.
#[derive(Clone, Copy, Debug)]
pub struct LinkModel {
    /// How the frontend announces itself.
    pub style: FrontStyle,
    /// The disruptions allowed.
    pub budget: Budget,
}

/// One atomic step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ev {
    /// The backend's loop: xenstore events, then take the next request (if none is taken).
    BackPoll,
    /// The backend answers the request it took.
    BackRespond,
    /// The backend's domain is destroyed.
    BackCrash,
    /// A new backend domain starts (after a crash).
    BackRestart,
    /// The frontend starts its handshake.
    FeConnect,
    /// The frontend polls (handshake, response or close, whichever is under way).
    FePoll,
    /// The frontend sends the next request.
    FeSubmit,
    /// The frontend cancels the request in flight.
    FeCancel,
    /// The frontend starts closing.
    FeClose,
    /// The frontend looks whether its backend left, and abandons the connection if so.
    FeCheckGone,
    /// The frontend's driver restarts in the same domain (the old one's keys stay).
    FeRestart,
    /// The frontend's domain is destroyed.
    FeDestroy,
    /// `xl vtpm-detach`, first half: backend `online=0`, `state=5`.
    DetachBegin,
    /// The detach's end (or libxl's cleanup of a dead backend): both directories removed.
    DetachFinish,
    /// `xl vtpm-attach` to the current backend.
    Attach,
    /// Time passes beyond every deadline.
    Tick,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Device {
    Attached,
    Detaching,
    Detached,
}

struct Server {
    hv: SimDomain,
    back: TpmBack<SimDomain>,
    taken: Option<Request>,
}

impl Server {
    fn start(w: &World, dom: u16) -> Server {
        let mut hv = w.domain(dom);
        let mut back = TpmBack::new();
        // Errors here show up as a link that never connects (settle fails).
        let _ = back.start(&mut hv);
        Server { hv, back, taken: None }
    }
}

struct Client {
    hv: SimDomain,
    front: TpmFront<SimDomain>,
    inflight: Option<u32>,
}

impl Client {
    fn phase(&self, now: u64) -> String {
        self.front.describe(now)
    }
    fn is(&self, now: u64, prefix: &str) -> bool {
        self.phase(now).starts_with(prefix)
    }
}

/// The running system.
pub struct LinkSys {
    w: World,
    be: u16,
    /// The backend domain the device's directories name.
    dev_be: u16,
    server: Option<Server>,
    client: Option<Client>,
    device: Device,
    used: Budget,
    next_id: u32,
    /// Requests the backend took (each at most once).
    taken_ids: BTreeSet<u32>,
    /// What the sender saw for each request.
    outcomes: BTreeMap<u32, String>,
    /// Requests whose response the backend wrote.
    delivered: BTreeSet<u32>,
}

fn command(id: u32) -> Vec<u8> {
    tpm_frame::command(TPM_TAG_RQU_COMMAND, 0x46, &id.to_be_bytes())
}

fn response(id: u32) -> Vec<u8> {
    tpm_frame::command(TPM_TAG_RSP_COMMAND, 0, &id.to_be_bytes())
}

fn id_of(frame: &[u8]) -> Option<u32> {
    let b: [u8; 4] = frame.get(10..14)?.try_into().ok()?;
    (frame.len() == 14).then(|| u32::from_be_bytes(b))
}

impl LinkSys {
    fn outcome(&mut self, id: u32, what: String) -> Result<(), String> {
        if let Some(old) = self.outcomes.insert(id, what.clone()) {
            return Err(format!("request {id} got a second outcome ({what}) after {old}"));
        }
        Ok(())
    }

    fn fe_dir(&self) -> String {
        format!("/local/domain/{FE}/device/vtpm/0")
    }

    fn be_dir(&self) -> String {
        format!("/local/domain/{}/backend/vtpm/{FE}/0", self.dev_be)
    }

    /// True if the device names the running backend.
    fn device_on_live_backend(&self) -> bool {
        self.server.is_some() && self.dev_be == self.be
    }
}

impl LinkModel {
    fn back_poll(&self, s: &mut LinkSys) -> Result<(), String> {
        let Some(srv) = s.server.as_mut() else { return Ok(()) };
        if srv.taken.is_some() {
            return Ok(());
        }
        srv.back.poll(&mut srv.hv);
        while srv.back.take_event().is_some() {}
        if let Some(req) = srv.back.next_request(&mut srv.hv) {
            let Some(id) = id_of(&req.command) else {
                return Err(format!("the backend took a command nobody sent: {:02x?}", req.command));
            };
            if !s.taken_ids.insert(id) {
                return Err(format!("request {id} was served twice"));
            }
            srv.taken = Some(req);
        }
        Ok(())
    }

    fn back_respond(&self, s: &mut LinkSys) -> Result<(), String> {
        let Some(srv) = s.server.as_mut() else { return Ok(()) };
        let Some(req) = srv.taken.take() else { return Ok(()) };
        let Some(id) = id_of(&req.command) else { return Err(String::from("taken request without id")) };
        let current = srv.back.is_current(&req);
        match srv.back.respond(&mut srv.hv, &req, &response(id)) {
            Ok(()) if !current => Err(format!("request {id}'s response was written into a later connection")),
            Ok(()) => {
                s.delivered.insert(id);
                Ok(())
            }
            // A page that went away (the frontend's domain destroyed) is an error, not a bug.
            Err(e @ RespondError::Gone) if current => {
                Err(format!("request {id}'s response was refused on its own connection ({e:?})"))
            }
            Err(_) => Ok(()),
        }
    }

    fn fe_poll(&self, s: &mut LinkSys) -> Result<(), String> {
        let now = s.w.now();
        let Some(c) = s.client.as_mut() else { return Ok(()) };
        if c.is(now, "connecting") {
            let _ = c.front.poll_connect(&mut c.hv);
        } else if c.is(now, "closing") {
            let _ = c.front.poll_close(&mut c.hv);
        } else if let Some(id) = c.inflight {
            match c.front.poll_response(&mut c.hv) {
                Poll::Pending => {}
                Poll::Ready(r) => {
                    c.inflight = None;
                    let what = match r {
                        Ok(resp) if resp == response(id) => String::from("ok"),
                        Ok(resp) => {
                            return Err(format!(
                                "request {id} got the response to request {:?} ({:02x?})",
                                id_of(&resp),
                                resp
                            ));
                        }
                        Err(e) => format!("error {e:?}"),
                    };
                    s.outcome(id, what)?;
                }
            }
        }
        Ok(())
    }

    fn fe_submit(&self, s: &mut LinkSys, id: u32) -> Result<(), String> {
        let Some(c) = s.client.as_mut() else { return Ok(()) };
        match c.front.submit(&mut c.hv, &command(id), REQUEST_TIMEOUT_NS) {
            Ok(()) => {
                c.inflight = Some(id);
                Ok(())
            }
            Err(e) => s.outcome(id, format!("not sent: {e:?}")),
        }
    }

    fn fe_check_gone(&self, s: &mut LinkSys) -> Result<(), String> {
        let now = s.w.now();
        let Some(c) = s.client.as_mut() else { return Ok(()) };
        if !c.is(now, "connected") || !c.front.backend_gone(&mut c.hv) {
            return Ok(());
        }
        c.front.abandon(&mut c.hv);
        if let Some(id) = c.inflight.take() {
            s.outcome(id, format!("error {:?}", TpmFrontError::BackendClosed))?;
        }
        Ok(())
    }

    fn fe_connect(&self, s: &mut LinkSys) {
        let now = s.w.now();
        let Some(c) = s.client.as_mut() else { return };
        if c.is(now, "idle") {
            let _ = c.front.connect_start(&mut c.hv, self.style, CONNECT_TIMEOUT_NS);
        }
    }

    fn attach(&self, s: &mut LinkSys) {
        toolstack::vtpm_attach(&s.w, FE, s.be, 0, UUID);
        s.dev_be = s.be;
        s.device = Device::Attached;
    }

    fn detach_finish(&self, s: &mut LinkSys) {
        let (fe, be) = (s.fe_dir(), s.be_dir());
        s.w.xs_rm(&be);
        s.w.xs_rm(&fe);
        s.device = Device::Detached;
    }

    fn back_restart(&self, s: &mut LinkSys) {
        s.be = s.be.max(FE) + 1;
        s.w.add_domain(s.be);
        s.server = Some(Server::start(&s.w, s.be));
    }

    /// One round of every party taking its turn, for [`Model::settle`].
    fn settle_round(&self, s: &mut LinkSys) -> Result<(), String> {
        if s.server.is_none() {
            self.back_restart(s);
        }
        match s.device {
            Device::Detaching => self.detach_finish(s),
            // attached to a backend that is gone: libxl's cleanup, then attach again
            Device::Attached if s.client.is_some() && !s.device_on_live_backend() => self.detach_finish(s),
            Device::Detached if s.client.is_some() => self.attach(s),
            _ => {}
        }
        self.back_poll(s)?;
        self.back_respond(s)?;
        self.fe_check_gone(s)?;
        self.fe_connect(s);
        self.fe_poll(s)
    }
}

impl Model for LinkModel {
    type Event = Ev;
    type Sys = LinkSys;

    fn init(&self) -> LinkSys {
        let w = World::new();
        w.add_domain(BE);
        let hv = w.add_domain(FE);
        toolstack::vtpm_attach(&w, FE, BE, 0, UUID);
        let server = Server::start(&w, BE);
        let client = Client { hv, front: TpmFront::new("device/vtpm/0"), inflight: None };
        LinkSys {
            w,
            be: BE,
            dev_be: BE,
            server: Some(server),
            client: Some(client),
            device: Device::Attached,
            used: Budget::default(),
            next_id: 1,
            taken_ids: BTreeSet::new(),
            outcomes: BTreeMap::new(),
            delivered: BTreeSet::new(),
        }
    }

    fn enabled(&self, s: &mut LinkSys) -> Vec<Ev> {
        let (b, u, now) = (self.budget, s.used, s.w.now());
        let mut v = Vec::new();
        if let Some(srv) = &s.server {
            v.push(if srv.taken.is_some() { Ev::BackRespond } else { Ev::BackPoll });
            if u.be_crashes < b.be_crashes && s.device == Device::Attached {
                v.push(Ev::BackCrash);
            }
        } else {
            v.push(Ev::BackRestart);
        }
        if let Some(c) = &s.client {
            let phase = c.phase(now);
            if phase.starts_with("idle") {
                v.push(Ev::FeConnect);
            } else {
                v.push(Ev::FePoll);
            }
            if phase.starts_with("connected") {
                v.push(Ev::FeCheckGone);
            }
            if phase.starts_with("connected") && c.inflight.is_none() && u.requests < b.requests {
                v.push(Ev::FeSubmit);
            }
            if c.inflight.is_some() && u.cancels < b.cancels {
                v.push(Ev::FeCancel);
            }
            if (phase.starts_with("connected") || phase.starts_with("connecting")) && u.closes < b.closes {
                v.push(Ev::FeClose);
            }
            if u.fe_restarts < b.fe_restarts {
                v.push(Ev::FeRestart);
            }
            if u.fe_destroys < b.fe_destroys {
                v.push(Ev::FeDestroy);
            }
            match s.device {
                Device::Attached if s.device_on_live_backend() && u.detaches < b.detaches => v.push(Ev::DetachBegin),
                Device::Attached if !s.device_on_live_backend() => v.push(Ev::DetachFinish),
                Device::Detaching => v.push(Ev::DetachFinish),
                Device::Detached if s.server.is_some() => v.push(Ev::Attach),
                _ => {}
            }
        }
        if u.ticks < b.ticks {
            v.push(Ev::Tick);
        }
        v
    }

    fn apply(&self, s: &mut LinkSys, e: &Ev) -> Result<(), String> {
        let freed = pages_freed_while_shared();
        match e {
            Ev::BackPoll => self.back_poll(s)?,
            Ev::BackRespond => self.back_respond(s)?,
            Ev::BackCrash => {
                s.used.be_crashes += 1;
                s.w.destroy_domain(s.be);
                s.server = None;
            }
            Ev::BackRestart => self.back_restart(s),
            Ev::FeConnect => self.fe_connect(s),
            Ev::FePoll => self.fe_poll(s)?,
            Ev::FeSubmit => {
                s.used.requests += 1;
                let id = s.next_id;
                s.next_id += 1;
                self.fe_submit(s, id)?;
            }
            Ev::FeCancel => {
                s.used.cancels += 1;
                if let Some(c) = s.client.as_mut()
                    && let Some(id) = c.inflight.take()
                {
                    c.front.cancel(&mut c.hv);
                    s.outcome(id, String::from("cancelled by the sender"))?;
                }
            }
            Ev::FeClose => {
                s.used.closes += 1;
                if let Some(c) = s.client.as_mut() {
                    let _ = c.front.close_start(&mut c.hv, CLOSE_TIMEOUT_NS);
                    if let Some(id) = c.inflight.take() {
                        s.outcome(id, String::from("closed by the sender"))?;
                    }
                }
            }
            Ev::FeCheckGone => self.fe_check_gone(s)?,
            Ev::FeRestart => {
                s.used.fe_restarts += 1;
                if let Some(c) = s.client.as_mut() {
                    // The old driver vanishes without a word (its page stays granted: leaked).
                    let old = std::mem::replace(&mut c.front, TpmFront::new("device/vtpm/0"));
                    drop(old);
                    if let Some(id) = c.inflight.take() {
                        s.outcome(id, String::from("the sender restarted"))?;
                    }
                }
            }
            Ev::FeDestroy => {
                s.used.fe_destroys += 1;
                s.w.destroy_domain(FE);
                s.client = None;
            }
            Ev::DetachBegin => {
                s.used.detaches += 1;
                let p = toolstack::DevicePaths { frontend: s.fe_dir(), backend: s.be_dir() };
                toolstack::detach_begin(&s.w, &p);
                s.device = Device::Detaching;
            }
            Ev::DetachFinish => self.detach_finish(s),
            Ev::Attach => self.attach(s),
            Ev::Tick => {
                s.used.ticks += 1;
                s.w.advance(TICK_NS);
            }
        }
        if pages_freed_while_shared() != freed {
            return Err(String::from("a page was freed while its peer could still map it"));
        }
        Ok(())
    }

    fn fingerprint(&self, s: &mut LinkSys) -> u64 {
        let mut h = DefaultHasher::new();
        s.w.state.borrow().fingerprint(&mut h);
        let now = s.w.now();
        (s.be, s.dev_be, s.device, s.used, s.next_id, &s.taken_ids, &s.outcomes, &s.delivered).hash(&mut h);
        match &s.server {
            Some(srv) => {
                srv.back.describe().hash(&mut h);
                srv.taken.as_ref().map(|r| (id_of(&r.command), r.frontend, srv.back.is_current(r))).hash(&mut h);
            }
            None => "no server".hash(&mut h),
        }
        match &s.client {
            Some(c) => (c.phase(now), c.inflight).hash(&mut h),
            None => "no client".hash(&mut h),
        }
        h.finish()
    }

    fn settle(&self, mut s: LinkSys) -> Result<(), String> {
        let mut probe_sent = false;
        let mut ticks = 0;
        let mut before = self.fingerprint(&mut s);
        for _ in 0..60 {
            self.settle_round(&mut s)?;
            let now = s.w.now();
            if s.client.is_none() {
                let gone = s.w.xs(&s.be_dir()).is_none();
                if gone && s.server.as_ref().is_some_and(|srv| srv.back.instances() == 0) {
                    return Ok(());
                }
            } else if let Some(c) = s.client.as_ref()
                && c.is(now, "connected")
                && c.inflight.is_none()
                && s.server.as_ref().is_some_and(|srv| srv.taken.is_none())
            {
                if probe_sent {
                    match s.outcomes.get(&PROBE_ID) {
                        Some(o) if o == "ok" => return Ok(()),
                        // refused before it was sent (e.g. a cancel not yet acknowledged): later
                        Some(o) if o.starts_with("not sent") => {
                            s.outcomes.remove(&PROBE_ID);
                        }
                        o => return Err(format!("after settling, a request on the reconnected link got {o:?}")),
                    }
                }
                probe_sent = true;
                self.fe_submit(&mut s, PROBE_ID)?;
            }
            let after = self.fingerprint(&mut s);
            if after == before {
                if ticks == 4 {
                    break;
                }
                ticks += 1;
                s.w.advance(TICK_NS);
            }
            before = after;
        }
        Err(format!("did not settle: {}", self.describe(&mut s)))
    }

    fn describe(&self, s: &mut LinkSys) -> String {
        let now = s.w.now();
        let srv = match &s.server {
            Some(srv) => format!("{} taken={:?}", srv.back.describe(), srv.taken.as_ref().map(|r| id_of(&r.command))),
            None => String::from("(dead)"),
        };
        let cli = match &s.client {
            Some(c) => format!("{} inflight={:?}", c.phase(now), c.inflight),
            None => String::from("(destroyed)"),
        };
        let fe = s.fe_dir();
        let be = s.be_dir();
        let st = |d: &str| s.w.xs(&format!("{d}/state"));
        format!(
            "backend dom{} [{srv}] state={:?}; frontend [{cli}] state={:?}; device {:?}; outcomes {:?}",
            s.be,
            st(&be),
            st(&fe),
            s.device,
            s.outcomes
        )
    }
}
