//! The vtpm stub domain's real service loop (`vtpm::VtpmService::step`) run as an actor of the
//! simulated machine, in front of any [`Engine`]. Each actor step is one iteration of the
//! image's loop. A request can be held for a while before the engine answers (a slow command):
//! the engine then waits on the domain's clock, letting the other domains run meanwhile, as a
//! long command does on real Xen. Console lines, events and who was served are recorded.

use std::cell::{Cell, Ref, RefCell};
use std::rc::Rc;

use drivers::hv::Clock;
use drivers::tpmback::{BackendEvent, FrontendBinding, FrontendId, TpmBack};
use vtpm::options::VtpmOptions;
use vtpm::{Engine, Output, Step, VtpmService};
use zeroize::Zeroizing;

use crate::simxen::{SimDomain, World};

/// The test's engine, shared with the test, optionally slow.
pub struct SimEngine<E> {
    engine: Rc<RefCell<E>>,
    dom: SimDomain,
    hold_ns: Rc<Cell<u64>>,
}

impl<E: Engine> Engine for SimEngine<E> {
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        let until = self.dom.now_ns() + self.hold_ns.get();
        while self.dom.now_ns() < until {
            self.dom.wait_until(until);
        }
        self.engine.borrow_mut().execute(locality, command)
    }
    fn take_image_if_changed(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        self.engine.borrow_mut().take_image_if_changed()
    }
    fn take_changed(&mut self) -> bool {
        self.engine.borrow_mut().take_changed()
    }
    fn platform_reset(&mut self, opts: &VtpmOptions) -> String {
        self.engine.borrow_mut().platform_reset(opts)
    }
}

/// What the service told its console and observer.
#[derive(Clone, Default)]
pub struct Recorder {
    /// Console lines, in order.
    pub lines: Rc<RefCell<Vec<String>>>,
    /// Attach/detach events seen.
    pub events: Rc<RefCell<Vec<BackendEvent>>>,
    /// Frontends served, in order.
    pub served: Rc<RefCell<Vec<FrontendId>>>,
    /// Responses that could not be delivered (frontend gone).
    pub undeliverable: Rc<Cell<u32>>,
}

impl Output for Recorder {
    fn line(&mut self, line: &str) {
        self.lines.borrow_mut().push(line.to_string());
    }
    fn event(&mut self, event: &BackendEvent) {
        self.events.borrow_mut().push(*event);
    }
    fn served(&mut self, frontend: FrontendId, delivered: bool) {
        self.served.borrow_mut().push(frontend);
        if !delivered {
            self.undeliverable.set(self.undeliverable.get() + 1);
        }
    }
}

/// The service of a running simulated vtpm.
pub type SimService<E> = VtpmService<SimDomain, SimEngine<E>>;

/// Handles to a running simulated vtpm.
pub struct VtpmSim<E: Engine = crate::fake_tpm::FakeTpm> {
    /// The service loop.
    pub service: Rc<RefCell<SimService<E>>>,
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
    /// Console lines.
    pub lines: Rc<RefCell<Vec<String>>>,
    /// Set when `step` returned [`Step::PowerOff`] (the actor then stops).
    pub powered_off: Rc<Cell<bool>>,
    /// The most requests one `step` served (the loop returns to `wait_until` after each step).
    pub max_per_step: Rc<Cell<usize>>,
}

impl<E: Engine> VtpmSim<E> {
    /// The backend.
    pub fn back(&self) -> Ref<'_, TpmBack<SimDomain>> {
        Ref::map(self.service.borrow(), |s| s.backend())
    }

    /// True if a console line contains `text`.
    pub fn said(&self, text: &str) -> bool {
        self.lines.borrow().iter().any(|l| l.contains(text))
    }
}

/// Starts the vtpm service in domain `be` (it has to exist) with `engine` and default options.
pub fn spawn_vtpm<E: Engine + 'static>(world: &World, be: u16, engine: Rc<RefCell<E>>) -> VtpmSim<E> {
    spawn_vtpm_with(world, be, engine, &VtpmOptions::default())
}

/// As [`spawn_vtpm`], one engine for the frontends of every domain (`FrontendBinding::AnyDomain`):
/// for the tests of multi-frontend scheduling and hostile neighbours.
pub fn spawn_shared_vtpm<E: Engine + 'static>(world: &World, be: u16, engine: Rc<RefCell<E>>) -> VtpmSim<E> {
    spawn_vtpm_bound(world, be, engine, FrontendBinding::AnyDomain)
}

/// As [`spawn_vtpm`], with an explicit frontend binding.
pub fn spawn_vtpm_bound<E: Engine + 'static>(
    world: &World,
    be: u16,
    engine: Rc<RefCell<E>>,
    binding: FrontendBinding,
) -> VtpmSim<E> {
    spawn_vtpm_full(world, be, engine, &VtpmOptions::default(), binding)
}

/// Starts the vtpm service in domain `be` with `engine` and `opts`, as an actor (bound to the
/// first frontend domain, as the image).
pub fn spawn_vtpm_with<E: Engine + 'static>(
    world: &World,
    be: u16,
    engine: Rc<RefCell<E>>,
    opts: &VtpmOptions,
) -> VtpmSim<E> {
    spawn_vtpm_full(world, be, engine, opts, FrontendBinding::FirstDomain)
}

/// Starts the vtpm service in domain `be` with `engine`, `opts` and `binding`, as an actor.
pub fn spawn_vtpm_full<E: Engine + 'static>(
    world: &World,
    be: u16,
    engine: Rc<RefCell<E>>,
    opts: &VtpmOptions,
    binding: FrontendBinding,
) -> VtpmSim<E> {
    let mut dom = world.domain(be);
    let hold_ns = Rc::new(Cell::new(0));
    let mut rec = Recorder::default();
    let engine = SimEngine { engine, dom: dom.clone(), hold_ns: hold_ns.clone() };
    let service = Rc::new(RefCell::new(VtpmService::with_binding(&mut dom, engine, opts, binding, &mut rec)));
    let sim = VtpmSim {
        service: service.clone(),
        dom: dom.clone(),
        hold_ns,
        served: rec.served.clone(),
        events: rec.events.clone(),
        undeliverable: rec.undeliverable.clone(),
        lines: rec.lines.clone(),
        powered_off: Rc::new(Cell::new(false)),
        max_per_step: Rc::new(Cell::new(0)),
    };
    let (off, max) = (sim.powered_off.clone(), sim.max_per_step.clone());
    world.add_actor(be, move || {
        if off.get() {
            return;
        }
        let before = rec.served.borrow().len();
        if service.borrow_mut().step(&mut dom, &mut rec) == Step::PowerOff {
            off.set(true);
        }
        max.set(max.get().max(rec.served.borrow().len() - before));
    });
    sim
}
