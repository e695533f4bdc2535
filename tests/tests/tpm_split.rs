//! tpmfront ↔ tpmback ↔ TPM engine, and a model of Linux xen-tpmfront ↔ tpmback, on the
//! simulated Xen.

use std::cell::RefCell;
use std::rc::Rc;

use drivers::hv::{DomId, XenbusState};
use drivers::tpmback::{BackendEvent, FrontendId};
use drivers::tpmfront::{FrontStyle, TpmFront, TpmFrontError};
use integration_tests::fake_tpm::{self, FakeTpm};
use integration_tests::linux_tpmfront::{self, LinuxTpmFront};
use integration_tests::simxen::{World, toolstack};
use integration_tests::vtpm_sim::{spawn_shared_vtpm, spawn_vtpm};

const UUID: &str = "2b4e1c5a-8f3d-4a7e-9b1c-0123456789ab";
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

fn fe_id(d: u16) -> FrontendId {
    FrontendId { domid: DomId(d), handle: 0 }
}

#[test]
fn our_tpmfront_through_tpmback_to_engine_and_reopen() {
    let w = World::new();
    w.add_domain(1); // vtpm
    let mut guest = w.add_domain(2);
    let dev = toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let tpm = Rc::new(RefCell::new(FakeTpm::new()));
    let vtpm = spawn_vtpm(&w, 1, tpm.clone());
    w.step();
    assert_eq!(toolstack::state(&w, &dev.backend), Some(2), "InitWait at once (libxl waits 10 s for it)");
    assert_eq!(w.xs(&format!("{}/feature-protocol-v2", dev.backend)).as_deref(), Some("1"));

    let mut front: TpmFront<_> = TpmFront::new("device/vtpm/0");
    front.connect(&mut guest, FrontStyle::Linux, 5 * S).unwrap();
    assert_eq!(toolstack::state(&w, &dev.backend), Some(4));
    assert_eq!(toolstack::state(&w, &dev.frontend), Some(4));
    assert_eq!(w.xs(&format!("{}/ready", dev.backend)).as_deref(), Some("1"));
    assert_eq!(vtpm.events.borrow().as_slice(), &[BackendEvent::Attached(fe_id(2))]);
    assert_eq!(vtpm.back().uuid(fe_id(2)).unwrap()[0], 0x2b);

    let digest = [7u8; 20];
    let r = front.transact(&mut guest, &fake_tpm::extend(10, &digest), S).unwrap();
    assert_eq!(&r[6..10], &[0, 0, 0, 0]);
    let expect = fake_tpm::extend_value(&[0; 20], &digest);
    assert_eq!(&r[10..30], &expect);
    front.set_locality(2);
    let r = front.transact(&mut guest, &fake_tpm::pcr_read(10), S).unwrap();
    assert_eq!(&r[10..30], &expect);
    // the locality travels in the page (tpmback reads 2), and the vtpm does not trust it (M3):
    // the engine runs the command at locality 0
    assert!(vtpm.said("Warning: Frontend 2/0 asked for locality 2;"), "locality travels in the page");
    assert_eq!(tpm.borrow().log.last(), Some(&(0, 0x15)), "run at locality 0");
    assert_eq!(tpm.borrow().pcr(10), expect);

    // Too large a command is refused locally.
    assert_eq!(front.submit(&mut guest, &vec![0u8; 4089], S), Err(TpmFrontError::BadCommand));

    // Close leaves the device reusable: FE ends at 1, the backend at InitWait.
    front.close(&mut guest, S).unwrap();
    assert_eq!(toolstack::state(&w, &dev.frontend), Some(1));
    w.step();
    assert_eq!(toolstack::state(&w, &dev.backend), Some(2));
    assert!(vtpm.events.borrow().contains(&BackendEvent::Detached(fe_id(2))));
    assert_eq!(w.state.borrow().grants.active_grants(2), 0, "page grant ended");
    assert_eq!(w.state.borrow().evtchn.open_ports(1), 0, "backend unbound");

    // Reopen Mini-OS style (state 4 directly), as pvgrub → kernel handover would.
    front.connect(&mut guest, FrontStyle::MiniOs, 5 * S).unwrap();
    let r = front.transact(&mut guest, &fake_tpm::pcr_read(10), S).unwrap();
    assert_eq!(&r[10..30], &expect);
    assert_eq!(vtpm.back().stats().count, 3);
}

#[test]
fn tpmfront_times_out_instead_of_hanging_when_the_backend_dies() {
    let w = World::new();
    w.add_domain(1);
    let mut guest = w.add_domain(2);
    toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let tpm = Rc::new(RefCell::new(FakeTpm::new()));
    let _vtpm = spawn_vtpm(&w, 1, tpm);
    let mut front: TpmFront<_> = TpmFront::new("device/vtpm/0");
    front.connect(&mut guest, FrontStyle::MiniOs, 5 * S).unwrap();
    w.remove_actors(1); // the manager stops answering
    let t0 = w.now();
    assert_eq!(front.transact(&mut guest, &fake_tpm::pcr_read(0), 2 * S), Err(TpmFrontError::Timeout));
    assert!(w.now() - t0 >= 2 * S && w.now() - t0 < 3 * S);
    // Connecting to a backend that never comes up also ends.
    let w2 = World::new();
    w2.add_domain(1);
    let mut g2 = w2.add_domain(2);
    toolstack::vtpm_attach(&w2, 2, 1, 0, UUID);
    let mut f2: TpmFront<_> = TpmFront::new("device/vtpm/0");
    assert_eq!(f2.connect(&mut g2, FrontStyle::Linux, S), Err(TpmFrontError::Timeout));
}

#[test]
fn a_request_fails_early_when_the_backend_domain_is_destroyed() {
    let w = World::new();
    w.add_domain(1);
    let mut guest = w.add_domain(2);
    toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let _vtpm = spawn_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    let mut front: TpmFront<_> = TpmFront::new("device/vtpm/0");
    front.connect(&mut guest, FrontStyle::MiniOs, 5 * S).unwrap();
    w.destroy_domain(1); // xl destroy: the domain and its xenstore directory go
    let t0 = w.now();
    assert_eq!(front.transact(&mut guest, &fake_tpm::pcr_read(0), 30 * S), Err(TpmFrontError::BackendClosed));
    assert!(w.now() - t0 < 2 * S, "noticed within a second, not at the 30 s deadline");
    front.abandon(&mut guest);
    assert_eq!(toolstack::state(&w, "/local/domain/2/device/vtpm/0"), Some(1), "ready to connect again");
    assert_eq!(w.state.borrow().evtchn.open_ports(2), 0, "our port is closed");
}

#[test]
fn a_device_detached_and_attached_again_at_once_connects_to_the_new_backend_dir() {
    let w = World::new();
    w.add_domain(1);
    let mut guest = w.add_domain(2);
    let dev = toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let tpm = Rc::new(RefCell::new(FakeTpm::new()));
    let _vtpm = spawn_vtpm(&w, 1, tpm);
    let mut front: TpmFront<_> = TpmFront::new("device/vtpm/0");
    front.connect(&mut guest, FrontStyle::MiniOs, 5 * S).unwrap();
    front.abandon(&mut guest);
    // `xl vtpm-detach` + `xl vtpm-attach` before the backend looked again: a new backend dir
    // at the same path, without what the old instance had written
    toolstack::detach_finish(&w, &dev);
    let dev2 = toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    front.connect(&mut guest, FrontStyle::MiniOs, 5 * S).expect("connects to the new dir");
    assert_eq!(w.xs(&format!("{}/feature-protocol-v2", dev2.backend)).as_deref(), Some("1"));
    let r = front.transact(&mut guest, &fake_tpm::pcr_read(0), S).unwrap();
    assert_eq!(&r[6..10], &[0, 0, 0, 0]);
}

#[test]
fn frontends_that_existed_before_the_backend_started_are_picked_up() {
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    w.add_domain(3);
    let d2 = toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let d3 = toolstack::vtpm_attach(&w, 3, 1, 0, "00000000-0000-0000-0000-000000000003");
    let bad = toolstack::vtpm_attach(&w, 3, 1, 1, "not-a-uuid");
    let vtpm = spawn_shared_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    w.step();
    assert_eq!(toolstack::state(&w, &d2.backend), Some(2));
    assert_eq!(toolstack::state(&w, &d3.backend), Some(2));
    assert_eq!(toolstack::state(&w, &bad.backend), Some(1), "invalid uuid: device refused");
    assert_eq!(vtpm.back().instances(), 3);
}

#[test]
fn linux_probe_commands_sent_before_the_backend_connects_are_served() {
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    let dev = toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let tpm = Rc::new(RefCell::new(FakeTpm::new()));
    let vtpm = spawn_vtpm(&w, 1, tpm.clone());
    let dropped_before = w.state.borrow().evtchn.dropped;
    // The guest loads xen-tpmfront: SUBMIT + notify happen before tpmback has bound the port.
    let mut linux = LinuxTpmFront::probe(&w, 2).expect("probe");
    assert!(w.state.borrow().evtchn.dropped > dropped_before, "the probe's first notify went nowhere");
    assert!(linux.probe_ns < 100 * MS, "no probe stall: took {} ms", linux.probe_ns / MS);
    assert_eq!(linux.timeouts_ns, [750 * MS, 2000 * MS, 750 * MS, 750 * MS]);
    assert_eq!(linux.durations_ns, [3 * S, 3 * S, 600 * S]);
    assert_eq!(tpm.borrow().log[..2], [(0, 0x65), (0, 0x65)]);
    w.run_until(MS, S, || toolstack::state(&w, &dev.frontend) == Some(4));
    assert_eq!(linux.fe_state, 4);
    assert_eq!(toolstack::state(&w, &dev.backend), Some(4));
    assert_eq!(vtpm.events.borrow().as_slice(), &[BackendEvent::Attached(fe_id(2))]);

    // A loop of Extends, each checked by the core's paramSize == length rule.
    let mut expect = [0u8; 20];
    for i in 0..200u32 {
        let d = [i as u8; 20];
        let r = linux.transmit(&fake_tpm::extend(16, &d)).unwrap();
        expect = fake_tpm::extend_value(&expect, &d);
        assert_eq!(&r[10..30], &expect);
    }
    let stats = vtpm.back().stats();
    assert_eq!(stats.count, 202);
    assert_eq!(stats.rejected, 0);
}

#[test]
fn linux_cancel_of_a_slow_command_and_cancel_while_idle() {
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let tpm = Rc::new(RefCell::new(FakeTpm::new()));
    let vtpm = spawn_vtpm(&w, 1, tpm.clone());
    let mut linux = LinuxTpmFront::probe(&w, 2).unwrap();
    // A command the backend takes 500 ms for, with a 100 ms duration: Linux cancels (-ETIME).
    vtpm.hold_ns.set(500 * MS);
    let r = linux.transmit_with_duration(&fake_tpm::extend(3, &[1; 20]), 100 * MS);
    assert_eq!(r, Err(linux_tpmfront::ETIME));
    assert_eq!(linux.cancels, 1);
    // The busy backend ignores the CANCEL and finishes with FINISH; the next command waits
    // for "ready" (FINISH, within timeout C = 750 ms) and goes through.
    vtpm.hold_ns.set(0);
    let r = linux.transmit(&fake_tpm::pcr_read(3)).unwrap();
    assert_eq!(&r[10..30], &fake_tpm::extend_value(&[0; 20], &[1; 20]));
    // CANCEL while idle → IDLE + notify.
    let before = vtpm.back().stats().cancels;
    linux.cancel();
    w.step();
    assert_eq!(vtpm.back().stats().cancels, before + 1);
    let r = linux.transmit(&fake_tpm::pcr_read(3)).unwrap();
    assert_eq!(r.len(), 30);
}

#[test]
fn detach_reaches_closed_and_guest_destroy_cleans_up() {
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    w.add_domain(3);
    let d2 = toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let d3 = toolstack::vtpm_attach(&w, 3, 1, 0, UUID);
    let vtpm = spawn_shared_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    let _l2 = LinuxTpmFront::probe(&w, 2).unwrap();
    let _l3 = LinuxTpmFront::probe(&w, 3).unwrap();
    w.run_until(MS, S, || vtpm.back().connected() == 2);
    // xl vtpm-detach 2: online=0, state=5 → we must reach 6 (what libxl waits for), promptly.
    toolstack::detach_begin(&w, &d2);
    w.step();
    assert_eq!(toolstack::state(&w, &d2.backend), Some(6));
    toolstack::detach_finish(&w, &d2);
    w.step();
    assert_eq!(vtpm.back().instances(), 1);
    assert_eq!(vtpm.back().connected(), 1);
    // Guest 3 destroyed: its frontend dir vanishes; the backend cleans up and removes its dir.
    w.destroy_domain(3);
    w.step();
    assert_eq!(vtpm.back().connected(), 0);
    assert_eq!(w.xs(&d3.backend), None, "backend removed its own dir");
    let ev = vtpm.events.borrow();
    assert_eq!(ev.iter().filter(|e| matches!(e, BackendEvent::Detached(_))).count(), 2);
    assert_eq!(w.state.borrow().evtchn.open_ports(1), 0);
}

#[test]
fn frontend_closed_then_reinitialised_reconnects() {
    let w = World::new();
    w.add_domain(1);
    let mut guest = w.add_domain(2);
    let dev = toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let vtpm = spawn_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    let mut front: TpmFront<_> = TpmFront::new("device/vtpm/0");
    front.connect(&mut guest, FrontStyle::MiniOs, S).unwrap();
    // FE goes 5 then 6: backend follows to 5 then 6 (Closed, not InitWait).
    w.xs_write(&format!("{}/state", dev.frontend), "5");
    w.step();
    assert_eq!(toolstack::state(&w, &dev.backend), Some(XenbusState::Closing as u8));
    w.xs_write(&format!("{}/state", dev.frontend), "6");
    w.step();
    assert_eq!(toolstack::state(&w, &dev.backend), Some(XenbusState::Closed as u8));
    assert_eq!(vtpm.back().connected(), 0);
    // A guest reboot / new kernel: straight to 3 with a new ring (Linux) → reconnect.
    let mut linux = LinuxTpmFront::probe(&w, 2).unwrap();
    w.run_until(MS, S, || linux.fe_state == 4 && toolstack::state(&w, &dev.backend) == Some(4));
    assert!(linux.transmit(&fake_tpm::pcr_read(0)).is_ok());
}

/// An engine that answers with frames a transport must not pass on as they are.
struct Oversized;

impl vtpm::Engine for Oversized {
    fn execute(&mut self, _l: u8, cmd: &[u8]) -> Vec<u8> {
        let n: usize = if cmd[9] == 0x15 { 5000 } else { 20 };
        let mut v = vec![0x00, 0xC4];
        v.extend_from_slice(&(n as u32).to_be_bytes());
        v.resize(n.min(30), 0); // for 0x15: claims 5000, is 30 bytes long → inconsistent
        if cmd[9] == 0x46 {
            // GetRandom: a consistent frame larger than the page
            v = vec![0x00, 0xC4, 0, 0, 0x13, 0x88, 0, 0, 0, 0];
            v.resize(5000, 0);
        }
        v
    }
    fn take_image_if_changed(&mut self) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        None
    }
    fn take_changed(&mut self) -> bool {
        false
    }
    fn platform_reset(&mut self, _: &vtpm::options::VtpmOptions) -> String {
        String::new()
    }
}

#[test]
fn responses_that_do_not_fit_or_lie_become_tpm_errors_instead_of_wedging() {
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let _vtpm = spawn_vtpm(&w, 1, Rc::new(RefCell::new(Oversized)));
    let mut linux = LinuxTpmFront::probe(&w, 2).err();
    assert_eq!(linux.take(), Some(linux_tpmfront::EINVAL), "probe gets TPM errors (rc != 0), not a hang");
    let mut g = w.domain(2);
    let mut front: TpmFront<_> = TpmFront::new("device/vtpm/0");
    w.xs_write("/local/domain/2/device/vtpm/0/state", "1");
    front.connect(&mut g, FrontStyle::MiniOs, S).unwrap();
    let r = front.transact(&mut g, &fake_tpm::pcr_read(0), S).unwrap();
    assert_eq!(r, vec![0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 9], "paramSize lie → TPM_FAIL");
    let r = front.transact(&mut g, &[0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x46, 0, 0, 0, 1], S).unwrap();
    assert_eq!(r, vec![0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 23], "too large for the page → TPM_SIZE");
    // and the interface is not wedged
    let r = front.transact(&mut g, &fake_tpm::pcr_read(0), S).unwrap();
    assert_eq!(r.len(), 10);
}

#[test]
fn pvgrub_measures_then_hands_the_device_to_the_linux_kernel() {
    let w = World::new();
    w.add_domain(1);
    let mut guest = w.add_domain(2);
    let dev = toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let tpm = Rc::new(RefCell::new(FakeTpm::new()));
    let vtpm = spawn_vtpm(&w, 1, tpm.clone());
    // pvgrub-measure: Mini-OS style open, three Extends (PCR 4 kernel, PCR 5 cmdline + initrd).
    let mut pvgrub: TpmFront<_> = TpmFront::new("device/vtpm/0");
    pvgrub.connect(&mut guest, FrontStyle::MiniOs, 5 * S).unwrap();
    for (pcr, d) in [(4, [4u8; 20]), (5, [5u8; 20]), (5, [6u8; 20])] {
        let r = pvgrub.transact(&mut guest, &fake_tpm::extend(pcr, &d), S).unwrap();
        assert_eq!(&r[6..10], &[0, 0, 0, 0]);
    }
    pvgrub.close(&mut guest, S).unwrap();
    drop(pvgrub);
    assert_eq!(toolstack::state(&w, &dev.frontend), Some(1), "left at Initialising for the next kernel");
    w.step();
    assert_eq!(toolstack::state(&w, &dev.backend), Some(2));
    // The kexec'd Linux kernel probes the same device in the same domain.
    let mut linux = LinuxTpmFront::probe(&w, 2).unwrap();
    w.run_until(MS, S, || linux.fe_state == 4);
    let r = linux.transmit(&fake_tpm::pcr_read(5)).unwrap();
    let expect = fake_tpm::extend_value(&fake_tpm::extend_value(&[0; 20], &[5; 20]), &[6; 20]);
    assert_eq!(&r[10..30], &expect, "the kernel sees pvgrub's measurements");
    let attached = vtpm.events.borrow().iter().filter(|e| matches!(e, BackendEvent::Attached(_))).count();
    assert_eq!(attached, 2);
}
