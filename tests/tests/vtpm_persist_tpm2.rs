//! A vtpm serving a TPM 2.0 (`tpm2=1`) keeps its state through the manager exactly as the TPM
//! 1.2 one does (`vtpm::persist::start_with` with `Tpm20Factory`): a first start saves the new
//! TPM, a change (an owner authValue set by TPM2_HierarchyChangeAuth) survives a restart, and
//! a disk holding a TPM 1.2 state is refused with a line naming it, nothing written.

use std::cell::RefCell;
use std::rc::Rc;

use integration_tests::shared_disk::SharedDisk;
use integration_tests::sim_manager::spawn_manager;
use integration_tests::simxen::{SimDomain, World, toolstack};
use vtpm::engine::Engine;
use vtpm::manager::Manager;
use vtpm::options::VtpmOptions;
use vtpm::persist::{self, Persistence};
use vtpm::service::{Lines, StateSink};
use vtpm::state_disk::HostDisk;
use vtpm::tpm20_engine::{Tpm20Engine, Tpm20Factory};
use vtpm_store::FaultyDisk;

const MGR: u16 = 3;
const UUID: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const SECTORS: u64 = 16384;

type P = Persistence<SimDomain, HostDisk<SharedDisk<FaultyDisk>>>;

fn rng(seed: u8) -> Box<dyn tpm20::TpmRng> {
    use rand_chacha::rand_core::SeedableRng;
    Box::new(rand_chacha::ChaCha20Rng::from_seed([seed; 32]))
}

struct Booted {
    dom: SimDomain,
    dev: toolstack::DevicePaths,
    lines: Vec<String>,
    started: Option<(Tpm20Engine, P)>,
}

/// vtpm domain `id` with `tpm2=1` and its manager, over `disk` (as `serve.rs` starts it).
fn boot_tpm2(w: &World, id: u16, disk: &Rc<RefCell<FaultyDisk>>) -> Booted {
    w.add_domain(id);
    let dev = toolstack::vtpm_attach(w, id, MGR, 0, UUID);
    let mut dom = w.domain(id);
    let mut out = Lines::default();
    let mgr = Manager::connect(&mut dom, &mut out);
    let opts = VtpmOptions { tpm2: true, ..VtpmOptions::default() };
    let factory = Tpm20Factory { rng: rng(id as u8), clock: Box::new(tpm20::ManualClock(0)) };
    let started = persist::start_with(
        &mut dom,
        mgr,
        HostDisk(SharedDisk(disk.clone())),
        factory,
        Box::new(tpm12::testing::DetRng::new(1000 + u64::from(id))),
        &opts,
        &mut out,
    );
    Booted { dom, dev, lines: out.0, started }
}

fn stop(w: &World, b: Booted, disk: &Rc<RefCell<FaultyDisk>>) {
    drop(b.started);
    w.destroy_domain(b.dom.id);
    toolstack::detach_finish(w, &b.dev);
    disk.borrow_mut().restart();
}

fn said(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| l.contains(text))
}

/// TPM2_HierarchyChangeAuth(TPM_RH_OWNER, new) authorized by the password `old`.
fn change_owner_auth(old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut session = Vec::new();
    session.extend_from_slice(&0x4000_0009u32.to_be_bytes()); // TPM_RS_PW
    session.extend_from_slice(&0u16.to_be_bytes()); // nonce
    session.push(0); // attributes
    session.extend_from_slice(&(old.len() as u16).to_be_bytes());
    session.extend_from_slice(old);
    let mut body = Vec::new();
    body.extend_from_slice(&0x4000_0001u32.to_be_bytes()); // TPM_RH_OWNER
    body.extend_from_slice(&(session.len() as u32).to_be_bytes());
    body.extend_from_slice(&session);
    body.extend_from_slice(&(new.len() as u16).to_be_bytes());
    body.extend_from_slice(new);
    tpm_frame::command(0x8002, 0x129, &body)
}

/// Runs `cmd` and, as the service loop does, saves what it changed.
fn run_and_save(b: &mut Booted, cmd: &[u8]) -> u32 {
    let (engine, p) = b.started.as_mut().expect("started");
    let r = engine.execute(0, cmd);
    if let Some(image) = engine.take_image_if_changed() {
        let mut out = Lines::default();
        StateSink::save(p, &mut b.dom, &image, &mut out);
        b.lines.extend(out.0);
    }
    tpm_frame::return_code(&r).unwrap_or(u32::MAX)
}

#[test]
fn a_tpm2_vtpm_keeps_its_state_through_the_manager() {
    let w = World::new();
    w.add_domain(MGR);
    let mgr = spawn_manager(&w, MGR);
    let disk = Rc::new(RefCell::new(FaultyDisk::new(SECTORS)));
    let mut b = boot_tpm2(&w, 10, &disk);
    assert!(b.started.is_some(), "{:?}", b.lines);
    assert!(said(&b.lines, "Info: TPM 2.0 engine manufactured in "), "{:?}", b.lines);
    assert!(
        said(&b.lines, "(primary seeds generated); TPM2_Startup(CLEAR) rc=0x0, TPM2_SelfTest rc=0x0"),
        "{:?}",
        b.lines
    );
    assert!(
        said(&b.lines, "Info: first start: the manager had no state for this vTPM and its disk was blank"),
        "{:?}",
        b.lines
    );
    assert_eq!(run_and_save(&mut b, &change_owner_auth(b"", b"owner secret")), 0);
    let records_before = mgr.records.borrow().len();
    stop(&w, b, &disk);

    let mut b = boot_tpm2(&w, 11, &disk);
    assert!(b.started.is_some(), "{:?}", b.lines);
    assert!(said(&b.lines, "Info: TPM state restored (slot "), "{:?}", b.lines);
    // the owner authValue of before the restart is needed now
    assert_ne!(run_and_save(&mut b, &change_owner_auth(b"", b"x")), 0, "the empty password no longer works");
    assert_eq!(run_and_save(&mut b, &change_owner_auth(b"owner secret", b"")), 0);
    assert_eq!(mgr.records.borrow().len(), records_before);
}

#[test]
fn a_tpm2_vtpm_refuses_a_tpm12_state_and_writes_nothing() {
    let w = World::new();
    w.add_domain(MGR);
    let _mgr = spawn_manager(&w, MGR);
    let disk = Rc::new(RefCell::new(FaultyDisk::new(SECTORS)));
    // a TPM 1.2 vtpm's first start on this disk and uuid
    w.add_domain(10);
    let dev = toolstack::vtpm_attach(&w, 10, MGR, 0, UUID);
    let mut dom = w.domain(10);
    let mut out = Lines::default();
    let m = Manager::connect(&mut dom, &mut out);
    let opts = VtpmOptions::default();
    let started = persist::start(
        &mut dom,
        m,
        HostDisk(SharedDisk(disk.clone())),
        Box::new(tpm12::testing::DetRng::new(1)),
        Box::new(tpm12::testing::DetRng::new(2)),
        Box::new(tpm12::platform::ManualClock(0)),
        tpm12::TpmOptions { ek_bits: 1024, ..vtpm::tpm12_engine::tpm_options(&opts) },
        &opts,
        &mut out,
    );
    assert!(started.is_some(), "{:?}", out.0);
    drop(started);
    w.destroy_domain(10);
    toolstack::detach_finish(&w, &dev);
    disk.borrow_mut().restart();
    let before = disk.borrow().media().to_vec();
    // the same disk and uuid, now with tpm2=1
    let b = boot_tpm2(&w, 11, &disk);
    assert!(b.started.is_none());
    assert!(
        said(&b.lines, "ERROR: TPM state not loaded: the state disk holds another kind of record (1: a TPM 1.2 state)"),
        "{:?}",
        b.lines
    );
    assert_eq!(disk.borrow().media(), &before[..], "nothing written");
}
