//! A guest's lifecycle as the toolstack drives it, seen by the vtpm's real service loop in the
//! simulated Xen: `xl vtpm-detach` + `vtpm-attach` while the guest runs (the same TPM comes
//! back, not reset), `xl reboot` (the guest destroyed and made again under a new domid: the new
//! domain gets the same TPM after a platform reset), `xl shutdown` (the vtpm waits
//! `reboot_wait`, then powers off), and another domain's device while the guest is only
//! detached (never served).

use std::cell::RefCell;
use std::rc::Rc;

use drivers::hv::DomId;
use drivers::tpmback::BackendEvent;
use integration_tests::fake_tpm::{self, FakeTpm};
use integration_tests::linux_tpmfront::LinuxTpmFront;
use integration_tests::simxen::{World, toolstack};
use integration_tests::vtpm_sim::{VtpmSim, spawn_vtpm, spawn_vtpm_with};
use vtpm::options::{DEFAULT_REBOOT_WAIT_S, VtpmOptions};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const UUID: &str = "11111111-2222-3333-4444-555555555555";
const VTPM: u16 = 1;

/// Extends PCR 0 through `linux` and returns the value the engine then has.
fn extend_pcr0(linux: &mut LinuxTpmFront, engine: &Rc<RefCell<FakeTpm>>) -> [u8; 20] {
    let resp = linux.transmit(&fake_tpm::extend(0, &[7; 20])).expect("extend answered");
    assert_eq!(&resp[6..10], &[0, 0, 0, 0], "TPM_SUCCESS");
    engine.borrow().pcr(0)
}

/// A guest `fe` attached to the vtpm and connected.
fn boot_guest(w: &World, fe: u16) -> (toolstack::DevicePaths, LinuxTpmFront) {
    let dev = toolstack::vtpm_attach(w, fe, VTPM, 0, UUID);
    let linux = LinuxTpmFront::probe(w, fe)
        .unwrap_or_else(|e| panic!("probe: {e}; backend state {:?}", toolstack::state(w, &dev.backend)));
    assert!(w.run_until(MS, 5 * S, || linux.fe_state == 4 && toolstack::state(w, &dev.backend) == Some(4)));
    (dev, linux)
}

/// What libxl does to the guest's devices when it destroys it, then the domain itself.
fn destroy_guest(w: &World, fe: u16, dev: &toolstack::DevicePaths, vtpm: &VtpmSim) {
    toolstack::detach_begin(w, dev);
    assert!(w.run_until(MS, 5 * S, || toolstack::state(w, &dev.backend) == Some(6)), "backend Closed");
    toolstack::detach_finish(w, dev);
    w.destroy_domain(fe);
    assert!(w.run_until(MS, 5 * S, || vtpm.back().instances() == 0));
}

/// A vtpm (default options, FakeTpm) and the guest domain 2, not attached yet.
fn machine() -> (World, Rc<RefCell<FakeTpm>>, VtpmSim) {
    let w = World::new();
    w.add_domain(VTPM);
    w.add_domain(2);
    let engine = Rc::new(RefCell::new(FakeTpm::new()));
    let vtpm = spawn_vtpm(&w, VTPM, engine.clone());
    (w, engine, vtpm)
}

#[test]
fn detach_and_attach_while_the_guest_runs_brings_the_same_tpm_back() {
    let (w, engine, vtpm) = machine();
    let (dev, mut linux) = boot_guest(&w, 2);
    let pcr = extend_pcr0(&mut linux, &engine);
    // libxl waits for the driver domain to remove its backend dir: at once, not after 10 s
    let took = toolstack::detach_as_libxl(&w, &dev).expect("xl vtpm-detach");
    assert!(took < 2 * S, "detach took {took} ns");
    // a long while without a device: the guest still exists, so the vtpm stays
    w.run_until(MS, 10 * 60 * S, || vtpm.powered_off.get());
    assert!(!vtpm.powered_off.get(), "{:?}", vtpm.lines.borrow());
    assert!(vtpm.said("guest domain 2 still exists (device detached): waiting for it to attach again"));
    // xl vtpm-attach: a new frontend in the same domain, the same TPM (not reset)
    drop(linux); // xen-tpmfront's remove at the detach
    let (_dev, mut linux) = boot_guest(&w, 2);
    assert_eq!(engine.borrow().pcr(0), pcr, "not reset by the re-attach");
    let resp = linux.transmit(&fake_tpm::pcr_read(0)).expect("served again");
    assert_eq!(&resp[10..30], &pcr);
    assert!(!vtpm.events.borrow().iter().any(|e| matches!(e, BackendEvent::Rebound { .. })));
    assert_eq!(vtpm.lines.borrow().iter().filter(|l| l.contains("attached to Frontend 2/0")).count(), 2);
}

#[test]
fn a_rebooted_guest_gets_the_same_tpm_after_a_platform_reset() {
    let (w, engine, vtpm) = machine();
    let (dev, mut linux) = boot_guest(&w, 2);
    extend_pcr0(&mut linux, &engine);
    destroy_guest(&w, 2, &dev, &vtpm);
    w.run_until(MS, 2 * S, || vtpm.said("guest domain 2 is gone"));
    assert!(vtpm.said(&format!("guest domain 2 is gone; waiting {DEFAULT_REBOOT_WAIT_S} s for it to come back")));
    // xl makes the guest again, 10 s later, as domain 3
    w.advance(10 * S);
    w.add_domain(3);
    let (_dev, mut linux) = boot_guest(&w, 3);
    assert!(!vtpm.powered_off.get());
    assert!(vtpm.events.borrow().contains(&BackendEvent::Rebound { from: DomId(2), to: DomId(3) }));
    assert!(vtpm.said("guest domain 2 is gone and domain 3 took its place (a reboot): TPM reset; FakeTpm reset"));
    assert_eq!(engine.borrow().pcr(0), [0; 20], "PCRs reset as on a platform reset");
    let resp = linux.transmit(&fake_tpm::pcr_read(0)).expect("the rebooted guest is served");
    assert_eq!(&resp[10..30], &[0; 20]);
    // and it stays bound to the new domain: the old one cannot come back
    w.run_until(MS, 2 * DEFAULT_REBOOT_WAIT_S as u64 * S, || vtpm.powered_off.get());
    assert!(!vtpm.powered_off.get(), "serving the rebooted guest");
    assert_eq!(vtpm.back().bound_domain(), Some(DomId(3)));
}

#[test]
fn a_guest_shut_down_for_good_powers_the_vtpm_off_after_reboot_wait() {
    for wait in [DEFAULT_REBOOT_WAIT_S, 0, 5] {
        let w = World::new();
        w.add_domain(VTPM);
        w.add_domain(2);
        let engine = Rc::new(RefCell::new(FakeTpm::new()));
        let opts = VtpmOptions { reboot_wait_s: wait, ..VtpmOptions::default() };
        let vtpm = spawn_vtpm_with(&w, VTPM, engine.clone(), &opts);
        let (dev, _linux) = boot_guest(&w, 2);
        destroy_guest(&w, 2, &dev, &vtpm);
        let gone_at = w.now();
        assert!(w.run_until(MS, (u64::from(wait) + 5) * S, || vtpm.powered_off.get()), "reboot_wait={wait}");
        let after = w.now() - gone_at;
        assert!(
            after >= (u64::from(wait) * S).saturating_sub(S) && after <= (u64::from(wait) + 2) * S,
            "{wait}: {after} ns"
        );
        let lines = vtpm.lines.borrow();
        assert_eq!(lines.last().map(String::as_str), Some("Info: last frontend gone; shutting down"));
        assert_eq!(lines.iter().any(|l| l.contains("waiting") && l.contains("come back")), wait > 0, "{lines:?}");
    }
}

#[test]
fn another_domain_is_not_served_while_the_detached_guest_exists() {
    let w = World::new();
    w.add_domain(VTPM);
    w.add_domain(2);
    w.add_domain(3);
    let engine = Rc::new(RefCell::new(FakeTpm::new()));
    let vtpm = spawn_vtpm(&w, VTPM, engine.clone());
    let (dev, _linux) = boot_guest(&w, 2);
    toolstack::detach_begin(&w, &dev);
    w.run_until(MS, 5 * S, || toolstack::state(&w, &dev.backend) == Some(6));
    toolstack::detach_finish(&w, &dev);
    // the toolstack gives domain 3 a device on this vtpm while domain 2 merely detached
    let other = toolstack::vtpm_attach(&w, 3, VTPM, 0, UUID);
    let probe = LinuxTpmFront::probe(&w, 3);
    w.run_until(MS, 30 * S, || vtpm.back().connected() > 0);
    assert_eq!(vtpm.back().connected(), 0, "domain 3 is not served");
    assert_ne!(toolstack::state(&w, &other.backend), Some(4));
    assert_eq!(vtpm.back().bound_domain(), Some(DomId(2)));
    drop(probe);
    // once domain 2 is gone for good, the waiting device binds (as a reboot would)
    w.destroy_domain(2);
    assert!(w.run_until(MS, 5 * S, || vtpm.back().bound_domain() == Some(DomId(3))));
    assert!(vtpm.events.borrow().contains(&BackendEvent::Rebound { from: DomId(2), to: DomId(3) }));
}
