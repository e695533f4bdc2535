//! The HVM bridge's tpmif transport (`vtpm_bridge::tpmif::TpmifTransport`: vtpmctl's dom0
//! `FrontLink`, i.e. `drivers::tpmfront`) against the vtpm's real service loop with a real
//! TPM 1.2 engine, in the simulated Xen: commands at the locality QEMU set, CMD_INIT's
//! answer on tpmif, the vtpm going away (the command fails, the guest gets a failure instead
//! of a hang) and coming back (the next command reconnects).

use core::task::Poll;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use integration_tests::simxen::{World, toolstack};
use integration_tests::vtpm_sim::spawn_vtpm;
use tpm12::platform::ManualClock;
use tpm12::testing::DetRng;
use tpm12::{Tpm, TpmOptions};
use vtpm::Tpm12Engine;
use vtpm_bridge::tpmif::TpmifTransport;
use vtpm_bridge::transport::{PowerOn, TpmTransport, TransportError};
use vtpmctl::mgmt_link::FrontLink;

const S: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;
const VTPM: u16 = 5;
const UUID: &str = "11111111-2222-3333-4444-555555555555";

fn engine() -> Rc<RefCell<Tpm12Engine>> {
    let opts = TpmOptions { ek_bits: 1024, ..TpmOptions::default() };
    let mut tpm = Tpm::manufacture(Box::new(DetRng::new(3)), Box::new(ManualClock(0)), opts).expect("manufacture");
    let r = tpm.execute(0, &[0x00, 0xC1, 0, 0, 0, 12, 0, 0, 0, 0x99, 0, 1]);
    assert_eq!(&r[6..10], &[0, 0, 0, 0], "TPM_Startup(ST_CLEAR)");
    Rc::new(RefCell::new(Tpm12Engine(tpm)))
}

fn pcr_read(pcr: u32) -> Vec<u8> {
    let mut c = vec![0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15];
    c.extend_from_slice(&pcr.to_be_bytes());
    c
}

/// Submits and drives the world until the answer is there.
fn exchange(w: &World, t: &mut dyn TpmTransport, locality: u8, cmd: &[u8]) -> Result<Vec<u8>, TransportError> {
    t.submit(locality, cmd)?;
    let mut out = None;
    w.run_until(MS, 30 * S, || match t.poll_response() {
        Poll::Ready(r) => {
            out = Some(r);
            true
        }
        Poll::Pending => false,
    });
    out.expect("an answer within 30 s of virtual time")
}

#[test]
fn the_bridges_tpmif_transport_reaches_the_vtpm_and_survives_its_loss() {
    let w = World::new();
    w.add_domain(VTPM);
    // `xl vtpm-attach 0 backend=VTPM`: dom0's frontend, which the bridge drives
    toolstack::vtpm_attach(&w, 0, VTPM, 0, UUID);
    let vtpm = spawn_vtpm(&w, VTPM, engine());
    let w2 = w.clone();
    let connect = Box::new(move || FrontLink::connect_within(w2.domain(0), "device/vtpm/0", 10 * S));
    let mut t = TpmifTransport::new("vtpm 5", connect, Duration::from_secs(30));
    assert!(t.describe().contains("not connected"));

    // CMD_INIT: no reset on tpmif, said so; the link comes up
    match t.power_on() {
        Ok(PowerOn::NotReset(why)) => assert!(why.contains("connected") && why.contains("PCRs keep"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(t.is_connected());
    assert!(t.describe().contains("device/vtpm/0"), "{}", t.describe());

    let r = exchange(&w, &mut t, 0, &pcr_read(0)).expect("PCRRead");
    assert_eq!((&r[..2], r.len(), &r[6..10]), (&[0x00, 0xC4][..], 30, &[0, 0, 0, 0][..]));
    // a locality QEMU set reaches the page (the vtpm's policy clamps it to 0 here)
    let r = exchange(&w, &mut t, 3, &pcr_read(1)).expect("PCRRead at locality 3");
    assert_eq!(&r[6..10], &[0, 0, 0, 0]);
    // one command at a time
    t.submit(0, &pcr_read(0)).unwrap();
    assert_eq!(t.submit(0, &pcr_read(0)), Err(TransportError::Busy));
    assert!(w.run_until(MS, 30 * S, || t.poll_response().is_ready()));
    // too long for the page
    assert!(matches!(t.submit(0, &vec![0u8; 5000]), Err(TransportError::Bad(_))));

    // the vtpm goes away with a command in flight: the command fails (Gone), no hang
    t.submit(0, &pcr_read(0)).unwrap();
    w.destroy_domain(VTPM);
    drop(vtpm);
    std::thread::sleep(Duration::from_millis(600)); // the in-flight backend check is every 500 ms
    let mut got = None;
    w.run_until(MS, 5 * S, || match t.poll_response() {
        Poll::Ready(r) => {
            got = Some(r);
            true
        }
        Poll::Pending => false,
    });
    assert!(matches!(got, Some(Err(TransportError::Gone(_)))), "{got:?}");
    assert!(!t.is_connected());
    // while it is away every command fails at once
    assert!(matches!(t.submit(0, &pcr_read(0)), Err(TransportError::Gone(_))));

    // a new vtpm for the same device (a restarted stub domain): the bridge reconnects
    w.add_domain(VTPM);
    toolstack::vtpm_attach(&w, 0, VTPM, 0, UUID);
    let _vtpm = spawn_vtpm(&w, VTPM, engine());
    std::thread::sleep(tpmif_reconnect_wait());
    let r = exchange(&w, &mut t, 0, &pcr_read(0)).expect("reconnected");
    assert_eq!(&r[6..10], &[0, 0, 0, 0]);
}

fn tpmif_reconnect_wait() -> Duration {
    vtpm_bridge::tpmif::RECONNECT_EVERY + Duration::from_millis(50)
}
