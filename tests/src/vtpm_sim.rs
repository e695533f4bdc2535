//! A simulated vtpm stub domain: our tpmback in front of a TPM engine, run as an actor of the
//! simulated machine. It serves one request at a time (optionally holding each for a while, to
//! model a slow command) and records who was served, in order.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use drivers::hv::Clock;
use drivers::tpmback::{BackendEvent, FrontendBinding, FrontendId, Request, TpmBack};

use crate::simxen::{SimDomain, World};

/// A TPM engine as the vtpm uses it (the shape of `tpm12::Tpm::execute`).
pub trait Engine {
    /// Executes one command.
    fn execute(&mut self, locality: u8, cmd: &[u8]) -> Vec<u8>;
}

impl Engine for crate::fake_tpm::FakeTpm {
    fn execute(&mut self, locality: u8, cmd: &[u8]) -> Vec<u8> {
        crate::fake_tpm::FakeTpm::execute(self, locality, cmd)
    }
}

/// Handles to a running simulated vtpm.
#[derive(Clone)]
pub struct VtpmSim {
    /// The backend.
    pub back: Rc<RefCell<TpmBack<SimDomain>>>,
    /// Its domain.
    pub dom: SimDomain,
    /// How long each request is held before it is answered (virtual ns).
    pub hold_ns: Rc<Cell<u64>>,
    /// Frontends served, in order.
    pub served: Rc<RefCell<Vec<FrontendId>>>,
    /// Attach/detach events seen.
    pub events: Rc<RefCell<Vec<BackendEvent>>>,
    /// Responses that could not be delivered (frontend gone).
    pub undeliverable: Rc<Cell<u32>>,
}

/// Starts tpmback in domain `be` (it has to exist) with `engine`, as an actor, with the
/// product's default binding (the first frontend domain).
pub fn spawn_vtpm<E: Engine + 'static>(world: &World, be: u16, engine: Rc<RefCell<E>>) -> VtpmSim {
    spawn_vtpm_bound(world, be, engine, FrontendBinding::FirstDomain)
}

/// As [`spawn_vtpm`], one engine for the frontends of every domain (`FrontendBinding::AnyDomain`):
/// for the tests of multi-frontend scheduling and hostile neighbours.
pub fn spawn_shared_vtpm<E: Engine + 'static>(world: &World, be: u16, engine: Rc<RefCell<E>>) -> VtpmSim {
    spawn_vtpm_bound(world, be, engine, FrontendBinding::AnyDomain)
}

/// As [`spawn_vtpm`], with an explicit binding.
pub fn spawn_vtpm_bound<E: Engine + 'static>(
    world: &World,
    be: u16,
    engine: Rc<RefCell<E>>,
    binding: FrontendBinding,
) -> VtpmSim {
    let mut dom = world.domain(be);
    let back = Rc::new(RefCell::new(TpmBack::new()));
    back.borrow_mut().set_binding(binding);
    back.borrow_mut().start(&mut dom).expect("tpmback start");
    let sim = VtpmSim {
        back,
        dom: dom.clone(),
        hold_ns: Rc::new(Cell::new(0)),
        served: Rc::new(RefCell::new(vec![])),
        events: Rc::new(RefCell::new(vec![])),
        undeliverable: Rc::new(Cell::new(0)),
    };
    let s = sim.clone();
    let mut held: Option<(Request, u64)> = None;
    world.add_actor(be, move || {
        let mut dom = s.dom.clone();
        let mut back = s.back.borrow_mut();
        back.poll(&mut dom);
        while let Some(e) = back.take_event() {
            s.events.borrow_mut().push(e);
        }
        loop {
            if held.is_none() {
                match back.next_request(&mut dom) {
                    Some(r) => {
                        let until = dom.now_ns() + s.hold_ns.get();
                        held = Some((r, until));
                    }
                    None => break,
                }
            }
            let Some((req, until)) = held.as_ref() else { break };
            if dom.now_ns() < *until {
                break;
            }
            let resp = engine.borrow_mut().execute(req.locality, &req.command);
            if back.respond(&mut dom, req, &resp).is_err() {
                s.undeliverable.set(s.undeliverable.get() + 1);
            }
            s.served.borrow_mut().push(req.frontend);
            held = None;
        }
    });
    sim
}
