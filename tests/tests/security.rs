//! Regression tests for the driver findings of the security review (December 2026), one per
//! finding, on the simulated Xen: M4 (one vtpm, one guest), L2 (a guest deleting its `state`),
//! L4 (guest-triggered log lines), L7 (a driver dropped while its page is granted), I9 (the
//! frontend path must be the frontend domain's). L3 (unwatch) is a kernel xenstore client test
//! (`kernel/src/xenstore/tests.rs`), M2 a unit test in `drivers/src/tpmback/page.rs`.

use std::cell::RefCell;
use std::rc::Rc;

use drivers::blkfront::BlkFront;
use drivers::hv::{DomId, XenStore, XsTx};
use drivers::tpmback::{BackendEvent, FrontendBinding, FrontendId};
use drivers::tpmfront::{FrontStyle, TpmFront};
use integration_tests::fake_tpm::{self, FakeTpm};
use integration_tests::linux_tpmfront::LinuxTpmFront;
use integration_tests::log_capture;
use integration_tests::raw_front::RawFront;
use integration_tests::simxen::blkback::{Blkback, Flavor};
use integration_tests::simxen::grant::pages_freed_while_shared;
use integration_tests::simxen::{World, toolstack};
use integration_tests::vtpm_sim::{spawn_vtpm, spawn_vtpm_bound};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

fn uuid(n: u16) -> String {
    format!("00000000-0000-0000-0000-{n:012x}")
}

fn fe(d: u16, handle: u32) -> FrontendId {
    FrontendId { domid: DomId(d), handle }
}

/// M4: the first frontend domain binds the vtpm; another domain's device is refused (our state
/// Closed, never mapped, never served), while the bound domain may have several handles and
/// reconnect.
#[test]
fn m4_a_second_domain_is_refused_and_never_connected() {
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    w.add_domain(3);
    let d2 = toolstack::vtpm_attach(&w, 2, 1, 0, &uuid(2));
    let vtpm = spawn_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    let mut linux = LinuxTpmFront::probe(&w, 2).unwrap();
    w.run_until(MS, S, || linux.fe_state == 4);
    assert_eq!(vtpm.back().bound_domain(), Some(DomId(2)));

    // Domain 3 gets the same vtpm attached (misconfiguration, or a hostile toolstack user).
    let d3 = toolstack::vtpm_attach(&w, 3, 1, 0, &uuid(3));
    let mut other = RawFront::setup(&w, 3, 0);
    other.submit(&fake_tpm::pcr_read(0));
    w.run_until(MS, S, || toolstack::state(&w, &d3.backend) == Some(6));
    w.step();
    assert_eq!(toolstack::state(&w, &d3.backend), Some(6), "refused: Closed, what libxl understands");
    assert_eq!(w.state.borrow().grants.map_count(3, other.gref.0), 0, "its page is never mapped");
    assert_eq!(other.state(), 1, "its request is never served");
    assert!(vtpm.events.borrow().contains(&BackendEvent::Refused(fe(3, 0), DomId(2))));
    assert_eq!(vtpm.back().connected(), 1);
    assert_eq!(vtpm.back().instances(), 1, "a refused dir does not keep the vtpm alive");

    // The bound domain's second vtpm device is served.
    let d2b = toolstack::vtpm_attach(&w, 2, 1, 1, &uuid(2));
    let mut second = RawFront::setup(&w, 2, 1);
    w.run_until(MS, S, || vtpm.back().connected() == 2);
    assert_eq!(toolstack::state(&w, &d2b.backend), Some(4));
    second.submit(&fake_tpm::pcr_read(0));
    w.run_until(MS, S, || second.response().is_some());
    let r = linux.transmit(&fake_tpm::pcr_read(0)).unwrap();
    assert_eq!(r.len(), 30);
    assert_eq!(toolstack::state(&w, &d2.backend), Some(4));
}

/// M4 with an explicit binding: a domain other than the named one is refused even if it came
/// first.
#[test]
fn m4_an_explicit_binding_refuses_everybody_else() {
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    w.add_domain(3);
    let d2 = toolstack::vtpm_attach(&w, 2, 1, 0, &uuid(2));
    let d3 = toolstack::vtpm_attach(&w, 3, 1, 0, &uuid(3));
    let vtpm = spawn_vtpm_bound(&w, 1, Rc::new(RefCell::new(FakeTpm::new())), FrontendBinding::Domain(DomId(3)));
    w.step();
    assert_eq!(toolstack::state(&w, &d2.backend), Some(6));
    assert_eq!(toolstack::state(&w, &d3.backend), Some(2));
    assert_eq!(vtpm.events.borrow().as_slice(), &[BackendEvent::Refused(fe(2, 0), DomId(3))]);
}

/// L2: a guest deleting its own `state` node is "Unknown": the backend waits; it neither
/// removes the toolstack's backend dir nor drops the device (which would power the vtpm off).
#[test]
fn l2_a_deleted_frontend_state_node_does_not_remove_the_backend_dir() {
    let w = World::new();
    w.add_domain(1);
    let mut guest = w.add_domain(2);
    let dev = toolstack::vtpm_attach(&w, 2, 1, 0, &uuid(2));
    let vtpm = spawn_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    let mut front: TpmFront<_> = TpmFront::new("device/vtpm/0");
    front.connect(&mut guest, FrontStyle::MiniOs, S).unwrap();
    guest.rm(XsTx::NONE, "device/vtpm/0/state").unwrap();
    w.step();
    w.step();
    assert!(w.xs(&format!("{}/state", dev.backend)).is_some(), "backend dir kept");
    assert_eq!(vtpm.back().instances(), 1, "device kept (no power off)");
    // The guest writes its state again and is served again.
    guest.write(XsTx::NONE, "device/vtpm/0/state", "4").unwrap();
    w.run_until(MS, S, || vtpm.back().connected() == 1);
    let r = front.transact(&mut guest, &fake_tpm::pcr_read(0), S).unwrap();
    assert_eq!(r.len(), 30);
}

/// L4: a guest that sends malformed requests in a loop gets one warning line per interval, with
/// a count of the lines held back, not one line per request.
#[test]
fn l4_guest_triggered_warnings_are_rate_limited() {
    log_capture::start();
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    toolstack::vtpm_attach(&w, 2, 1, 0, &uuid(2));
    let vtpm = spawn_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    let mut bad = RawFront::setup(&w, 2, 0);
    w.run_until(MS, S, || vtpm.back().connected() == 1);
    for _ in 0..50 {
        bad.submit_raw(&[0u8; 4], 4, 0); // shorter than a TPM header
        w.run_until(MS, S, || bad.state() == 2);
    }
    assert_eq!(vtpm.back().stats().rejected, 50, "every one answered");
    let lines = log_capture::lines_with("invalid request from 2/0");
    assert_eq!(lines.len(), 1, "{lines:?}");
    // After the interval, the next one is logged with the count of those held back.
    w.run_until(MS, 11 * S, || false);
    bad.submit_raw(&[0u8; 4], 4, 0);
    w.run_until(MS, S, || bad.state() == 2);
    let lines = log_capture::lines_with("invalid request from 2/0");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].contains("49 similar lines suppressed"), "{lines:?}");
}

/// L7: dropping a connected tpmfront (an image's error path) must not free the page the
/// backend still maps.
#[test]
fn l7_a_dropped_connected_tpmfront_never_frees_its_granted_page() {
    let w = World::new();
    w.add_domain(1);
    let mut guest = w.add_domain(2);
    toolstack::vtpm_attach(&w, 2, 1, 0, &uuid(2));
    let _vtpm = spawn_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    let mut front: TpmFront<_> = TpmFront::new("device/vtpm/0");
    front.connect(&mut guest, FrontStyle::Linux, S).unwrap();
    let before = pages_freed_while_shared();
    drop(front);
    assert_eq!(pages_freed_while_shared(), before, "granted page leaked, not freed");
}

/// L7 for blkfront: the ring page and the data pages of a request in flight.
#[test]
fn l7_a_dropped_blkfront_never_frees_granted_pages() {
    let w = World::new();
    let mut dom = w.add_domain(5);
    let disk = Rc::new(RefCell::new(vec![0u8; 1 << 20]));
    toolstack::vbd_attach(&w, 5, 0, 768);
    let _ctl = Blkback::spawn(&w, 0, Flavor::LinuxBlkback, disk, 512, false);
    let mut f: BlkFront<_> = BlkFront::new("device/vbd/768");
    f.connect(&mut dom, 5 * S).unwrap();
    f.submit_read(&mut dom, 0, 8192).unwrap();
    let before = pages_freed_while_shared();
    drop(f);
    assert_eq!(pages_freed_while_shared(), before, "granted pages leaked, not freed");
}

/// I9: a backend dir whose `frontend` points outside `/local/domain/<frontend-id>/` is refused.
#[test]
fn i9_a_frontend_path_of_another_domain_is_refused() {
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    w.add_domain(3);
    let d2 = toolstack::vtpm_attach(&w, 2, 1, 0, &uuid(2));
    let d3 = toolstack::vtpm_attach(&w, 3, 1, 0, &uuid(3));
    // The backend dir of domain 2 names domain 3's device as its frontend.
    w.xs_write(&format!("{}/frontend", d2.backend), &d3.frontend);
    let vtpm = spawn_vtpm_bound(&w, 1, Rc::new(RefCell::new(FakeTpm::new())), FrontendBinding::Domain(DomId(2)));
    let _raw = RawFront::setup(&w, 3, 0);
    w.step();
    w.step();
    assert_eq!(toolstack::state(&w, &d2.backend), Some(1), "refused: left as the toolstack wrote it");
    assert_eq!(vtpm.back().connected(), 0);
}
