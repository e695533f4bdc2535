//! A simulated Xen for host tests: several domains in one process sharing granted pages,
//! interdomain event channels, a xenstore with watches and permissions, a virtual clock, a
//! memory-backed block backend and a TIS register model.
//!
//! [`World`] owns the hypervisor state; [`SimDomain`] is one domain's view of it and implements
//! the `drivers::hv` traits, so the same driver code runs here and on the real kernel. Domains
//! run as "actors" (closures) that the test steps in turn; [`World::run_until`] is the
//! scheduler. A blocking driver helper that calls `Clock::wait_until` lets the other actors run.

pub mod blkback;
pub mod evtchn;
pub mod grant;
pub mod store;
pub mod tis;

pub mod toolstack;

use std::cell::RefCell;
use std::rc::Rc;

use drivers::hv::{self, DomId, EvtchnPort, GrantRef, HvError, XsError, XsTx};

pub use grant::{SimMapping, SimPage};

/// The shared hypervisor state.
#[derive(Default)]
pub struct State {
    /// Virtual time.
    pub now_ns: u64,
    /// xenstore.
    pub store: store::Store,
    /// Event channels.
    pub evtchn: evtchn::EventChannels,
    /// Grant tables.
    pub grants: grant::Grants,
}

impl State {
    /// Hashes the hypervisor's state as far as it decides what the drivers do next (xenstore,
    /// event channels, grants and their pages; see each part's `fingerprint`), for the model
    /// checker (`crate::model`). The clock is left out: a model keeps its own view of which
    /// deadlines passed.
    pub fn fingerprint<H: std::hash::Hasher>(&self, h: &mut H) {
        self.store.fingerprint(h);
        self.evtchn.fingerprint(h);
        self.grants.fingerprint(h);
    }
}

type Actor = Rc<RefCell<Box<dyn FnMut()>>>;

/// The simulated machine.
#[derive(Clone, Default)]
pub struct World {
    /// Hypervisor state (borrow briefly; never across a call into an actor).
    pub state: Rc<RefCell<State>>,
    actors: Rc<RefCell<Vec<(u16, Actor)>>>,
}

impl World {
    /// An empty machine with dom0's `/local/domain/0`.
    pub fn new() -> World {
        let w = World::default();
        w.add_domain(0);
        w
    }

    /// Creates `/local/domain/<id>` (owned by the domain, as the toolstack does) and returns the
    /// domain's handle.
    pub fn add_domain(&self, id: u16) -> SimDomain {
        {
            let mut s = self.state.borrow_mut();
            let p = format!("/local/domain/{id}");
            s.store.write(0, 0, &p, Some("")).expect("toolstack write");
            s.store.write(0, 0, &format!("{p}/domid"), Some(&id.to_string())).expect("toolstack write");
            s.store.set_perms(&p, id, &[]);
            s.store.set_perms(&format!("{p}/domid"), id, &[]);
            s.evtchn.domain_created(id);
        }
        self.domain(id)
    }

    /// A handle for an existing domain.
    pub fn domain(&self, id: u16) -> SimDomain {
        SimDomain { id, world: self.clone() }
    }

    /// Destroys a domain: its xenstore dir, watches, ports and grants go away.
    pub fn destroy_domain(&self, id: u16) {
        let mut s = self.state.borrow_mut();
        let _ = s.store.rm(0, 0, &format!("/local/domain/{id}"));
        s.store.forget_domain(id);
        s.evtchn.destroy_domain(id);
        s.grants.destroy_domain(id);
        drop(s);
        self.actors.borrow_mut().retain(|(d, _)| *d != id);
    }

    /// Registers an actor: one step of a domain's event loop.
    pub fn add_actor(&self, dom: u16, f: impl FnMut() + 'static) {
        self.actors.borrow_mut().push((dom, Rc::new(RefCell::new(Box::new(f)))));
    }

    /// Removes a domain's actors (e.g. a backend that crashed or was stopped).
    pub fn remove_actors(&self, dom: u16) {
        self.actors.borrow_mut().retain(|(d, _)| *d != dom);
    }

    /// Runs every actor once, except those of `skip` and any actor already running.
    pub fn step_except(&self, skip: Option<u16>) {
        let list: Vec<(u16, Actor)> = self.actors.borrow().clone();
        for (d, a) in list {
            if Some(d) == skip {
                continue;
            }
            if let Ok(mut f) = a.try_borrow_mut() {
                (f)();
            }
        }
    }

    /// Runs all actors once.
    pub fn step(&self) {
        self.step_except(None);
    }

    /// Current virtual time.
    pub fn now(&self) -> u64 {
        self.state.borrow().now_ns
    }

    /// Advances virtual time.
    pub fn advance(&self, ns: u64) {
        self.state.borrow_mut().now_ns += ns;
    }

    /// Steps all actors, advancing time by `tick_ns` after each round, until `cond` holds or
    /// `limit_ns` of virtual time passed. Returns whether `cond` held.
    pub fn run_until(&self, tick_ns: u64, limit_ns: u64, mut cond: impl FnMut() -> bool) -> bool {
        let end = self.now() + limit_ns;
        loop {
            self.step();
            if cond() {
                return true;
            }
            if self.now() >= end {
                return false;
            }
            self.advance(tick_ns);
        }
    }

    /// Reads a xenstore node as dom0 would (no permission check).
    pub fn xs(&self, path: &str) -> Option<String> {
        self.state.borrow().store.get(path)
    }

    /// Writes a xenstore node as dom0.
    pub fn xs_write(&self, path: &str, value: &str) {
        let _ = self.state.borrow_mut().store.write(0, 0, path, Some(value));
    }

    /// Removes a xenstore subtree as dom0.
    pub fn xs_rm(&self, path: &str) {
        let _ = self.state.borrow_mut().store.rm(0, 0, path);
    }
}

/// One domain's view of the machine: implements the driver traits.
#[derive(Clone)]
pub struct SimDomain {
    /// The domain id.
    pub id: u16,
    /// The machine.
    pub world: World,
}

impl hv::EventChannels for SimDomain {
    fn alloc_unbound(&mut self, remote: DomId) -> Result<EvtchnPort, HvError> {
        Ok(EvtchnPort(self.world.state.borrow_mut().evtchn.alloc_unbound(self.id, remote.0)))
    }
    fn bind_interdomain(&mut self, remote: DomId, remote_port: EvtchnPort) -> Result<EvtchnPort, HvError> {
        self.world.state.borrow_mut().evtchn.bind_interdomain(self.id, remote.0, remote_port.0).map(EvtchnPort)
    }
    fn notify(&mut self, port: EvtchnPort) -> Result<(), HvError> {
        self.world.state.borrow_mut().evtchn.send(self.id, port.0)
    }
    fn close(&mut self, port: EvtchnPort) {
        self.world.state.borrow_mut().evtchn.close(self.id, port.0)
    }
    fn take_pending(&mut self, port: EvtchnPort) -> bool {
        self.world.state.borrow_mut().evtchn.take_pending(self.id, port.0)
    }
}

impl hv::GrantTable for SimDomain {
    type Page = SimPage;
    type Mapping = SimMapping;
    fn alloc_page(&mut self) -> Result<SimPage, HvError> {
        Ok(SimPage::new())
    }
    fn grant_foreign_access(&mut self, page: &SimPage, domid: DomId, readonly: bool) -> Result<GrantRef, HvError> {
        Ok(GrantRef(self.world.state.borrow_mut().grants.grant(self.id, page, domid.0, readonly)))
    }
    fn end_foreign_access(&mut self, gref: GrantRef) -> Result<(), HvError> {
        self.world.state.borrow_mut().grants.end(self.id, gref.0)
    }
    fn map_grant_ref(&mut self, domid: DomId, gref: GrantRef, readonly: bool) -> Result<SimMapping, HvError> {
        self.world.state.borrow_mut().grants.map(self.id, domid.0, gref.0, readonly)
    }
    fn unmap_grant_ref(&mut self, mapping: SimMapping) -> Result<(), HvError> {
        self.world.state.borrow_mut().grants.unmap(mapping)
    }
}

impl hv::XenStore for SimDomain {
    fn read(&mut self, tx: XsTx, path: &str) -> Result<String, XsError> {
        self.world.state.borrow_mut().store.read(self.id, tx.0, path)
    }
    fn write(&mut self, tx: XsTx, path: &str, value: &str) -> Result<(), XsError> {
        self.world.state.borrow_mut().store.write(self.id, tx.0, path, Some(value))
    }
    fn mkdir(&mut self, tx: XsTx, path: &str) -> Result<(), XsError> {
        self.world.state.borrow_mut().store.write(self.id, tx.0, path, None)
    }
    fn rm(&mut self, tx: XsTx, path: &str) -> Result<(), XsError> {
        self.world.state.borrow_mut().store.rm(self.id, tx.0, path)
    }
    fn directory(&mut self, tx: XsTx, path: &str) -> Result<Vec<String>, XsError> {
        self.world.state.borrow_mut().store.directory(self.id, tx.0, path)
    }
    fn transaction_start(&mut self) -> Result<XsTx, XsError> {
        Ok(XsTx(self.world.state.borrow_mut().store.tx_start(self.id)))
    }
    fn transaction_end(&mut self, tx: XsTx, commit: bool) -> Result<(), XsError> {
        self.world.state.borrow_mut().store.tx_end(self.id, tx.0, commit)
    }
    fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.world.state.borrow_mut().store.watch(self.id, path, token)
    }
    fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.world.state.borrow_mut().store.unwatch(self.id, path, token)
    }
    fn next_watch_event(&mut self, token: &str) -> Option<String> {
        self.world.state.borrow_mut().store.next_event(self.id, token)
    }
}

impl hv::Clock for SimDomain {
    fn now_ns(&self) -> u64 {
        self.world.now()
    }
    /// Lets the other domains run once, then moves virtual time to the deadline (or by 1 ms
    /// if the deadline is further: an event may have arrived).
    fn wait_until(&mut self, deadline_ns: u64) {
        self.world.step_except(Some(self.id));
        let now = self.world.now();
        if deadline_ns > now {
            self.world.advance((deadline_ns - now).min(1_000_000));
        }
    }
}
