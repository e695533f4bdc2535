//! Hostile frontends against tpmback: the backend answers or drops them and keeps serving the
//! well-behaved guest. Plus fairness across frontends.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use drivers::hv::DomId;
use drivers::tpmback::FrontendId;
use integration_tests::fake_tpm::{self, FakeTpm};
use integration_tests::linux_tpmfront::LinuxTpmFront;
use integration_tests::raw_front::RawFront;
use integration_tests::simxen::{World, toolstack};
use integration_tests::vtpm_sim::{VtpmSim, spawn_shared_vtpm};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

fn uuid(n: u16) -> String {
    format!("00000000-0000-0000-0000-{n:012x}")
}

/// vtpm in dom 1, a Linux guest in dom 2 (connected), hostile domains 3.. attached.
fn setup(hostile: &[u16]) -> (World, VtpmSim, LinuxTpmFront, Vec<toolstack::DevicePaths>) {
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    toolstack::vtpm_attach(&w, 2, 1, 0, &uuid(2));
    let mut devs = vec![];
    for &d in hostile {
        w.add_domain(d);
        devs.push(toolstack::vtpm_attach(&w, d, 1, 0, &uuid(d)));
    }
    let vtpm = spawn_shared_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    let linux = LinuxTpmFront::probe(&w, 2).unwrap();
    w.run_until(MS, S, || linux.fe_state == 4);
    (w, vtpm, linux, devs)
}

fn good_guest_still_served(linux: &mut LinuxTpmFront) {
    let r = linux.transmit(&fake_tpm::pcr_read(0)).expect("good guest served");
    assert_eq!(r.len(), 30);
}

fn rc(resp: &[u8]) -> u32 {
    u32::from_be_bytes(resp[6..10].try_into().unwrap())
}

#[test]
fn malformed_lengths_and_offsets_are_answered_with_tpm_errors() {
    let (w, vtpm, mut linux, _) = setup(&[3]);
    let mut bad = RawFront::setup(&w, 3, 0);
    w.run_until(MS, S, || vtpm.back().connected() == 2);

    bad.submit_raw(&[], 0, 0);
    w.step();
    let r = bad.response().expect("length 0 answered");
    assert_eq!((r.len(), rc(&r)), (10, 3), "TPM_BAD_PARAMETER");

    bad.submit_raw(&fake_tpm::pcr_read(1), 5000, 0);
    w.step();
    assert_eq!(rc(&bad.response().expect("length > 4088 answered")), 23, "TPM_SIZE");

    bad.submit_raw(&fake_tpm::pcr_read(1), 4089, 0);
    w.step();
    assert_eq!(rc(&bad.response().unwrap()), 23);

    // nr_extra_pages = 255: the packet starts at 8 + 1020; a packet that fits is served there.
    bad.submit_raw(&fake_tpm::pcr_read(1), 14, 255);
    w.step();
    let r = bad.response().unwrap();
    assert_eq!((r.len(), rc(&r)), (30, 0));
    bad.submit_raw(&fake_tpm::pcr_read(1), 4096 - 1028 + 1, 255);
    w.step();
    assert_eq!(rc(&bad.response().unwrap()), 23);

    // A frame whose paramSize disagrees with length reaches the engine, which refuses it.
    let mut lying = fake_tpm::pcr_read(1);
    lying[5] = 200;
    bad.submit(&lying);
    w.step();
    assert_eq!(rc(&bad.response().unwrap()), 3);

    assert_eq!(vtpm.back().stats().rejected, 4);
    good_guest_still_served(&mut linux);
}

#[test]
fn state_flipping_and_garbage_keys_do_not_wedge_the_backend() {
    let (w, vtpm, mut linux, devs) = setup(&[3]);
    let mut bad = RawFront::setup(&w, 3, 0);
    for s in ["5", "3", "6", "4", "1", "4", "2", "0", "x", "99", "7", "3", "", "6", "1", "3"] {
        w.xs_write(&format!("{}/state", devs[0].frontend), s);
        w.step();
        good_guest_still_served(&mut linux);
    }
    // Back at 3 with the same ring: connected again and served.
    w.run_until(MS, 100 * MS, || vtpm.back().connected() == 2);
    bad.submit(&fake_tpm::pcr_read(4));
    w.step();
    assert_eq!(rc(&bad.response().expect("served after the flipping")), 0);

    // Garbage ring keys: never connected, no panic, the good guest unaffected.
    for (k, v) in [
        ("ring-ref", "abc"),
        ("ring-ref", "-1"),
        ("ring-ref", "99999999999"),
        ("ring-ref", "4000"),
        ("event-channel", "77"),
    ] {
        bad.set_state(1);
        w.step();
        bad.write_key(k, v);
        bad.set_state(3);
        w.step();
        w.step();
        good_guest_still_served(&mut linux);
    }
    assert_eq!(vtpm.back().connected(), 1);
    assert_eq!(toolstack::state(&w, &devs[0].backend), Some(6), "failed connect → Closed");
    // Old-protocol frontend (no feature-protocol-v2) is refused.
    bad.set_state(1);
    w.step();
    bad.write_key("ring-ref", &bad.gref.0.to_string());
    bad.write_key("event-channel", &bad.port.0.to_string());
    bad.write_key("feature-protocol-v2", "0");
    bad.set_state(3);
    w.step();
    assert_eq!(vtpm.back().connected(), 1);
    good_guest_still_served(&mut linux);
}

#[test]
fn cancel_storm() {
    let (w, vtpm, mut linux, _) = setup(&[3]);
    let mut bad = RawFront::setup(&w, 3, 0);
    w.run_until(MS, S, || vtpm.back().connected() == 2);
    for i in 0..1000 {
        bad.cancel();
        if i % 3 == 0 {
            w.step();
            assert_eq!(bad.state(), 0, "CANCEL while idle → IDLE");
        }
        if i % 100 == 0 {
            good_guest_still_served(&mut linux);
        }
    }
    // Cancels while a request is being served are ignored; the answer comes as FINISH.
    // (The engine holds the request inside the vtpm's step; the other domains run meanwhile,
    // so the guest's cancels come from its own actor.)
    vtpm.hold_ns.set(10 * MS);
    bad.submit(&fake_tpm::pcr_read(2));
    let bad = Rc::new(RefCell::new(bad));
    let cancels = Rc::new(Cell::new(0));
    {
        let (bad, cancels) = (bad.clone(), cancels.clone());
        w.add_actor(3, move || {
            let mut bad = bad.borrow_mut();
            if bad.state() != 2 && cancels.get() < 50 {
                bad.cancel();
                cancels.set(cancels.get() + 1);
            }
        });
    }
    w.step();
    w.run_until(MS, S, || bad.borrow().state() == 2);
    assert!(cancels.get() > 0, "cancelled while being served");
    w.remove_actors(3);
    assert_eq!(rc(&bad.borrow().response().unwrap()), 0);
    vtpm.hold_ns.set(0);
    good_guest_still_served(&mut linux);
}

#[test]
fn page_taken_away_disconnects_only_that_frontend() {
    let (w, vtpm, mut linux, devs) = setup(&[3]);
    let mut bad = RawFront::setup(&w, 3, 0);
    w.run_until(MS, S, || vtpm.back().connected() == 2);
    bad.submit(&fake_tpm::pcr_read(2));
    w.state.borrow_mut().grants.revoke(3, bad.gref.0);
    w.step();
    assert_eq!(vtpm.back().connected(), 1);
    assert_eq!(toolstack::state(&w, &devs[0].backend), Some(6));
    good_guest_still_served(&mut linux);
}

#[test]
fn frontend_dir_removed_mid_request() {
    let (w, vtpm, mut linux, devs) = setup(&[3]);
    let mut bad = RawFront::setup(&w, 3, 0);
    w.run_until(MS, S, || vtpm.back().connected() == 2);
    vtpm.hold_ns.set(50 * MS);
    bad.submit(&fake_tpm::pcr_read(2));
    // the toolstack removes the frontend's dir while the engine executes the request
    {
        let (w2, fe) = (w.clone(), devs[0].frontend.clone());
        let done = Cell::new(false);
        w.add_actor(0, move || {
            if !done.replace(true) {
                w2.xs_rm(&fe);
            }
        });
    }
    w.step(); // taken, being "executed"
    w.run_until(MS, S, || vtpm.undeliverable.get() == 1);
    assert_eq!(vtpm.back().connected(), 1);
    assert_eq!(w.xs(&devs[0].backend), None, "own backend dir removed");
    vtpm.hold_ns.set(0);
    good_guest_still_served(&mut linux);
}

#[test]
fn frontends_are_served_round_robin_not_lowest_domid_first() {
    let w = World::new();
    w.add_domain(1);
    let doms = [5u16, 3, 4];
    for d in doms {
        w.add_domain(d);
        toolstack::vtpm_attach(&w, d, 1, 0, &uuid(d));
    }
    let vtpm = spawn_shared_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    vtpm.hold_ns.set(MS);
    let fronts: Vec<Rc<RefCell<RawFront>>> =
        doms.iter().map(|&d| Rc::new(RefCell::new(RawFront::setup(&w, d, 0)))).collect();
    w.run_until(MS, S, || vtpm.back().connected() == 3);
    // Each frontend resubmits the moment it sees its answer (a greedy guest loop).
    for f in &fronts {
        f.borrow_mut().submit(&fake_tpm::pcr_read(0));
        let f = f.clone();
        let id = f.borrow().dom.id;
        w.add_actor(id, move || {
            let mut f = f.borrow_mut();
            if f.state() == 2 {
                f.submit(&fake_tpm::pcr_read(0));
            }
        });
    }
    w.run_until(MS, 10 * S, || vtpm.served.borrow().len() >= 300);
    let served = vtpm.served.borrow();
    for d in doms {
        let n = served.iter().filter(|f| **f == FrontendId { domid: DomId(d), handle: 0 }).count();
        assert!((99..=101).contains(&n), "domain {d} served {n} of {}", served.len());
    }
    for pair in served.windows(2) {
        assert_ne!(pair[0], pair[1], "never the same frontend twice while others wait");
    }
}
