//! The vtpm's service loop, host-buildable: [`VtpmService`] owns tpmback and the engine, and
//! [`VtpmService::step`] is one iteration of the image's loop: handle tpmback's xenstore
//! events (attach/detach lines on the console), serve at most one round-robin pass of requests
//! through the engine, count and report (at `loglevel=debug`), and say whether to wait or
//! power off.
//!
//! When is the guest gone for good? When its last device is gone the vtpm asks Xen whether the
//! guest domain still exists (`EventChannels::domain_exists`). It does after `xl vtpm-detach`:
//! the vtpm waits, for as long as the domain lives, for the device to be attached again (same
//! TPM, not reset). It does not once the domain is destroyed — by `xl shutdown`/`destroy`, or
//! by `xl reboot`, which makes the guest again as a new domain: the vtpm then waits
//! `reboot_wait` seconds (default 30) for a new domain's device, which binds it
//! (`BackendEvent::Rebound`) after a platform reset of the TPM (PCRs cleared, permanent state
//! kept), and powers off if none comes (the C vtpm powers off at once, so a rebooted guest
//! found no TPM). The image loops
//! `step` + `Clock::wait_until`; the host tests run the same `step` as a simulated domain.
//!
//! Console lines go to an [`Output`]: the image prints them, the tests record them.
//!
//! With a manager, a [`StateSink`] (`persist::Persistence`) is given the engine's state image
//! after each command that changed it, before the response goes out.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use drivers::hv::{Xen, XenStore};
use drivers::tpmback::{BackendEvent, FrontendBinding, FrontendId, TpmBack};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::locality::LocalityPolicy;
use crate::options::{self, VtpmOptions};
use crate::stats::{self, EngineCounters};

/// How often the service-time summary is printed at `loglevel=debug` (while requests come in).
pub const REPORT_EVERY_NS: u64 = 10_000_000_000;
const IDLE_WAIT_NS: u64 = 60_000_000_000;

/// Where the service's console lines go, and what an observer may want to know.
pub trait Output {
    /// One console line (the image prints it as is).
    fn line(&mut self, line: &str);
    /// A tpmback event, after its console line.
    fn event(&mut self, _event: &BackendEvent) {}
    /// A request of `frontend` was executed; `delivered` is false if the response could not
    /// be written (the frontend went away meanwhile).
    fn served(&mut self, _frontend: FrontendId, _delivered: bool) {}
}

/// Where a persisting vtpm's state goes (`persist::Persistence`).
pub trait StateSink<X> {
    /// The engine's permanent state changed: persist `image` now (the response waits). A
    /// failure is said on `out`; the engine keeps serving.
    fn save(&mut self, hv: &mut X, image: &[u8], out: &mut dyn Output);
    /// State disk writes since the start.
    fn disk_writes(&self) -> u64;
    /// Manager requests since the start.
    fn manager_round_trips(&self) -> u64;
    /// True while the last change is not saved (a save failed: the manager or the disk was
    /// away); [`StateSink::retry`] tries again.
    fn pending(&self) -> bool {
        false
    }
    /// Tries the failed save again (the service calls it every [`SAVE_RETRY_NS`] while
    /// [`StateSink::pending`], and once more before the vtpm powers off).
    fn retry(&mut self, _hv: &mut X, _out: &mut dyn Output) {}
}

/// How often a failed save is tried again while no new change comes.
pub const SAVE_RETRY_NS: u64 = 10_000_000_000;

/// How often the vtpm looks whether its guest still exists while it has no frontend.
pub const GUEST_POLL_NS: u64 = 1_000_000_000;

/// Where the vtpm's guest is while none of its devices is left (after it had one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Absence {
    /// A frontend is there (or never was).
    No,
    /// The device was detached (`xl vtpm-detach`); the guest domain still exists.
    Detached,
    /// The guest domain is gone (destroyed, or rebooted by the toolstack) since this time.
    Gone { since_ns: u64 },
}

/// What the image's loop does after a [`VtpmService::step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `Clock::wait_until(deadline_ns)`, then step again.
    Wait(u64),
    /// The last frontend is gone: power off.
    PowerOff,
}

/// Without a manager (no `device/vtpm/0`; with one, `persist::start` says where the state is):
/// says the TPM state is volatile, and which options cannot apply.
pub fn report_persistence<X: XenStore>(_hv: &mut X, opts: &VtpmOptions, out: &mut impl Output) {
    out.line("Info: no vTPM manager (no device/vtpm/0): TPM state is volatile (lost when this domain stops)");
    if opts.hwinitpcr != 0 {
        out.line(&format!(
            "Warning: hwinitpcr={}: hardware PCR values come from the manager; not applied without a manager",
            options::format_pcr_mask(opts.hwinitpcr)
        ));
    }
}

/// The vtpm serving its frontends from one engine.
pub struct VtpmService<X: Xen, E: Engine> {
    back: TpmBack<X>,
    engine: E,
    debug: bool,
    counters: EngineCounters,
    seen_frontend: bool,
    reported: u64,
    next_report: u64,
    locality: LocalityPolicy,
    sink: Option<Box<dyn StateSink<X>>>,
    /// When a pending save is tried again.
    next_retry: u64,
    /// The options a platform reset starts the engine with again.
    opts: VtpmOptions,
    absence: Absence,
}

impl<X: Xen, E: Engine> VtpmService<X, E> {
    /// Starts tpmback (watching `backend/vtpm`) in front of `engine`, bound to the first
    /// frontend domain that attaches (one guest per vTPM; security review M4).
    pub fn new(hv: &mut X, engine: E, opts: &VtpmOptions, out: &mut impl Output) -> Self {
        Self::with_binding(hv, engine, opts, FrontendBinding::FirstDomain, out)
    }

    /// As [`VtpmService::new`], with an explicit frontend binding.
    pub fn with_binding(
        hv: &mut X,
        engine: E,
        opts: &VtpmOptions,
        binding: FrontendBinding,
        out: &mut impl Output,
    ) -> Self {
        let mut back = TpmBack::<X>::new();
        back.set_binding(binding);
        if let Err(e) = back.start(hv) {
            out.line(&format!("ERROR: cannot watch backend/vtpm: {e:?}"));
        }
        let locality = LocalityPolicy::new(&opts.locality, out);
        out.line("Info: VTPM serving frontends (backend/vtpm)");
        VtpmService {
            back,
            engine,
            debug: opts.debug,
            counters: EngineCounters::default(),
            seen_frontend: false,
            reported: 0,
            next_report: hv.now_ns() + REPORT_EVERY_NS,
            locality,
            sink: None,
            next_retry: 0,
            opts: opts.clone(),
            absence: Absence::No,
        }
    }

    /// Persists the engine's state through `sink` from now on (see [`StateSink`]).
    pub fn with_persistence(mut self, sink: Box<dyn StateSink<X>>) -> Self {
        self.counters.manager_round_trips = Some(sink.manager_round_trips());
        self.counters.disk_writes = sink.disk_writes();
        self.sink = Some(sink);
        self
    }

    /// The state sink, if the state is persistent.
    pub fn sink(&self) -> Option<&dyn StateSink<X>> {
        self.sink.as_deref()
    }

    /// The backend (for its counters and connections).
    pub fn backend(&self) -> &TpmBack<X> {
        &self.back
    }

    /// The engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// What the vtpm counted besides tpmback's statistics.
    pub fn counters(&self) -> EngineCounters {
        self.counters
    }

    /// Handles tpmback's xenstore events: attach/detach lines (and a summary on detach).
    fn handle_events(&mut self, hv: &mut X, out: &mut impl Output) {
        self.back.poll(hv);
        while let Some(ev) = self.back.take_event() {
            match ev {
                BackendEvent::Attached(id) => {
                    out.line(&format!("Info: VTPM attached to Frontend {}/{}", id.domid.0, id.handle))
                }
                BackendEvent::Detached(id) => {
                    out.line(&format!("Info: VTPM detached from Frontend {}/{}", id.domid.0, id.handle));
                    if self.debug {
                        log::debug!("{}", stats::summary(&self.back.stats(), &self.counters));
                        self.reported = self.back.stats().count;
                    }
                }
                BackendEvent::Rebound { from, to } => {
                    let how = self.engine.platform_reset(&self.opts);
                    out.line(&format!(
                        "Info: guest domain {} is gone and domain {} took its place (a reboot): TPM reset; {how}",
                        from.0, to.0
                    ));
                    self.absence = Absence::No;
                    self.persist_changes(hv, out);
                }
                #[allow(unreachable_patterns)]
                _ => {}
            }
            out.event(&ev);
        }
    }

    /// Hands a changed engine state to the sink (or counts the change when volatile).
    fn persist_changes(&mut self, hv: &mut X, out: &mut impl Output) {
        if let Some(sink) = self.sink.as_mut() {
            if let Some(image) = self.engine.take_image_if_changed() {
                self.counters.state_changes += 1;
                sink.save(hv, &image, out);
                if sink.pending() {
                    // tried just now: the next try after the retry interval
                    self.next_retry = hv.now_ns().saturating_add(SAVE_RETRY_NS);
                }
                self.counters.disk_writes = sink.disk_writes();
                self.counters.manager_round_trips = Some(sink.manager_round_trips());
            }
        } else if self.engine.take_changed() {
            self.counters.state_changes += 1;
        }
    }

    /// No frontend is left (and one was there): is the guest detached, gone for a while, or
    /// gone for good? Returns `Some(PowerOff)` once it has been gone for `reboot_wait`.
    fn without_frontend(&mut self, hv: &mut X, out: &mut impl Output) -> Option<Step> {
        // a rebooted guest's dir may be waiting for the old domain to be gone
        self.back.recheck(hv);
        self.handle_events(hv, out);
        if self.back.instances() > 0 {
            return None;
        }
        let now = hv.now_ns();
        let domain = self.back.bound_domain().map(|d| d.0).unwrap_or(0);
        let exists = self.back.bound_domain_exists(hv) == Some(true);
        match (exists, self.absence) {
            (true, Absence::Detached) => {}
            (true, _) => {
                out.line(&format!(
                    "Info: no frontend left; guest domain {domain} still exists (device detached): waiting for it to attach again"
                ));
                self.absence = Absence::Detached;
            }
            (false, Absence::Gone { since_ns }) => {
                if now.saturating_sub(since_ns) >= u64::from(self.opts.reboot_wait_s) * 1_000_000_000 {
                    return Some(Step::PowerOff);
                }
            }
            (false, _) => {
                if self.opts.reboot_wait_s == 0 {
                    return Some(Step::PowerOff);
                }
                out.line(&format!(
                    "Info: guest domain {domain} is gone; waiting {} s for it to come back (a reboot; reboot_wait=)",
                    self.opts.reboot_wait_s
                ));
                self.absence = Absence::Gone { since_ns: now };
            }
        }
        None
    }

    /// One iteration of the service loop (see the module docs).
    pub fn step(&mut self, hv: &mut X, out: &mut impl Output) -> Step {
        self.back.tick(hv);
        self.handle_events(hv, out);
        // At most one round-robin pass per step: a guest that resubmits the moment it sees its
        // answer must not keep the loop from xenstore (attach, detach, control/shutdown).
        let budget = self.back.connected().max(1);
        let mut served = 0;
        while served < budget
            && let Some(mut req) = self.back.next_request(hv)
        {
            served += 1;
            let command = Zeroizing::new(core::mem::take(&mut req.command));
            let locality = self.locality.apply(req.frontend, req.locality, out);
            let response = Zeroizing::new(self.engine.execute(locality, &command));
            self.persist_changes(hv, out);
            // a command may take long: a frontend that left meanwhile is not written to
            self.handle_events(hv, out);
            let delivered = match self.back.respond(hv, &req, &response) {
                Ok(()) => {
                    if stats::ordinal(&command) == Some(stats::ORD_EXTEND) {
                        self.counters.extend_served(hv.now_ns().saturating_sub(req.seen_ns));
                    }
                    true
                }
                Err(e) => {
                    log::warn!(
                        "vtpm: response to {}/{} not delivered: {e:?}",
                        req.frontend.domid.0,
                        req.frontend.handle
                    );
                    false
                }
            };
            out.served(req.frontend, delivered);
        }
        let t = hv.now_ns();
        if let Some(sink) = self.sink.as_mut()
            && sink.pending()
            && (t >= self.next_retry || matches!(self.absence, Absence::Gone { .. }))
        {
            sink.retry(hv, out);
            self.counters.disk_writes = sink.disk_writes();
            self.counters.manager_round_trips = Some(sink.manager_round_trips());
            self.next_retry = hv.now_ns().saturating_add(SAVE_RETRY_NS);
        }
        if self.back.instances() > 0 {
            self.seen_frontend = true;
            self.absence = Absence::No;
        } else if self.seen_frontend && self.without_frontend(hv, out) == Some(Step::PowerOff) {
            if self.sink.as_ref().is_some_and(|s| s.pending()) {
                out.line(
                    "ERROR: the last TPM state change could not be saved (see above); it is lost with this domain",
                );
            }
            out.line("Info: last frontend gone; shutting down");
            if self.debug {
                log::debug!("{}", stats::summary(&self.back.stats(), &self.counters));
            }
            return Step::PowerOff;
        }
        let now = hv.now_ns();
        if self.debug && now >= self.next_report {
            if self.back.stats().count != self.reported {
                self.reported = self.back.stats().count;
                log::debug!("{}", stats::summary(&self.back.stats(), &self.counters));
            }
            self.next_report = now + REPORT_EVERY_NS;
        }
        if served == budget {
            // there may be more: look at xenstore and the event channels, then come back
            return Step::Wait(now);
        }
        let mut wake = if self.debug { self.next_report } else { now + IDLE_WAIT_NS };
        if self.sink.as_ref().is_some_and(|s| s.pending()) {
            wake = wake.min(self.next_retry);
        }
        if self.absence != Absence::No || (self.seen_frontend && self.back.instances() == 0) {
            wake = wake.min(now + GUEST_POLL_NS);
        }
        if let Some(t) = self.back.next_deadline() {
            wake = wake.min(t);
        }
        Step::Wait(wake)
    }
}

/// An [`Output`] that keeps the lines (for tests and for callers that print later).
#[derive(Default)]
pub struct Lines(pub Vec<String>);

impl Output for Lines {
    fn line(&mut self, line: &str) {
        self.0.push(line.into());
    }
}
