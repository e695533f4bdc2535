//! The vtpm's persistent state through the manager (`vtpm::persist`) in the simulated Xen: a
//! test manager domain (`sim_manager`, our tpmback + an in-memory uuid → blob map) and the
//! state disk as a `FaultyDisk`. First start then restart keeps the owner and the EK; a guest's
//! Extends cost no disk write and no manager round trip; corrupt, foreign and unacknowledged
//! disks are refused with nothing written; a manager that comes late is waited for; a save
//! torn or failed at any write leaves exactly the old or the new state after a restart.

#[path = "support/vtpm_client.rs"]
mod vtpm_client;

use integration_tests::shared_disk::SharedDisk;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use integration_tests::linux_tpmfront::LinuxTpmFront;
use integration_tests::sim_manager::{SimManager, spawn_manager, spawn_manager_with};
use integration_tests::simxen::{SimDomain, World, toolstack};
use tpm12::TpmOptions;
use tpm12::platform::ManualClock;
use tpm12::testing::DetRng;
use tpm12::testing::client::Client;
use vtpm::Tpm12Engine;
use vtpm::engine::Engine;
use vtpm::manager::Manager;
use vtpm::options::VtpmOptions;
use vtpm::persist::{self, Persistence};
use vtpm::service::{Lines, Output, StateSink, Step, VtpmService};
use vtpm::state_disk::{BlkDisk, HostDisk};
use vtpm_store::{
    CacheFate, Fault, FaultyDisk, Landing, MemDisk, OwnerUuid, RecordDigest, RecordKey, RecordKind, SlotStore,
};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const MGR: u16 = 3;
const UUID: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const UUID_BYTES: [u8; 16] =
    [0xaa, 0xaa, 0xaa, 0xaa, 0xbb, 0xbb, 0x4c, 0xcc, 0x8d, 0xdd, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee];
const OTHER_UUID: &str = "12345678-1234-4234-8234-123456789abc";
/// 8 MiB, Xen's suggested vtpm disk.
const SECTORS: u64 = 16384;
const OWNER: [u8; 20] = [0x11; 20];
const SRK: [u8; 20] = [0x22; 20];

type P = Persistence<SimDomain, HostDisk<SharedDisk<FaultyDisk>>>;
type BlkPersistence = Persistence<SimDomain, BlkDisk<SimDomain>>;

fn new_disk() -> Rc<RefCell<FaultyDisk>> {
    Rc::new(RefCell::new(FaultyDisk::new(SECTORS)))
}

fn tpm_opts() -> TpmOptions {
    TpmOptions { ek_bits: 1024, ..vtpm::tpm12_engine::tpm_options(&VtpmOptions::default()) }
}

/// A running vtpm (started in the test's thread; the other domains run while it waits).
struct Booted {
    dom: SimDomain,
    dev: toolstack::DevicePaths,
    lines: Vec<String>,
    started: Option<(Tpm12Engine, P)>,
}

/// Creates vtpm domain `id` with `vtpm=["backend=<MGR>,uuid=<uuid>"]` and runs the image's
/// start with a manager (as `serve.rs`), over `disk`.
fn boot(w: &World, id: u16, uuid: &str, disk: &Rc<RefCell<FaultyDisk>>) -> Booted {
    boot_with(w, id, uuid, disk, &VtpmOptions::default())
}

/// As [`boot`], with options.
fn boot_with(w: &World, id: u16, uuid: &str, disk: &Rc<RefCell<FaultyDisk>>, opts: &VtpmOptions) -> Booted {
    boot_on(w, id, MGR, uuid, disk, opts)
}

/// As [`boot_with`], with the manager in domain `mgr`.
fn boot_on(w: &World, id: u16, mgr: u16, uuid: &str, disk: &Rc<RefCell<FaultyDisk>>, opts: &VtpmOptions) -> Booted {
    w.add_domain(id);
    let dev = toolstack::vtpm_attach(w, id, mgr, 0, uuid);
    let mut dom = w.domain(id);
    let mut out = Lines::default();
    assert!(vtpm::manager::configured(&mut dom));
    let mut mgr = Manager::connect(&mut dom, &mut out);
    let random = mgr.get_random(&mut dom, 32).expect("the manager's GetRandom");
    assert_eq!(random.len(), 32);
    let started = persist::start(
        &mut dom,
        mgr,
        HostDisk(SharedDisk(disk.clone())),
        Box::new(DetRng::new(u64::from(id))),
        Box::new(DetRng::new(1000 + u64::from(id))),
        Box::new(ManualClock(0)),
        tpm_opts(),
        opts,
        &mut out,
    );
    Booted { dom, dev, lines: out.0, started }
}

/// The vtpm domain goes away (power cycle of its disk too).
fn stop(w: &World, b: Booted, disk: &Rc<RefCell<FaultyDisk>>) {
    drop(b.started);
    w.destroy_domain(b.dom.id);
    toolstack::detach_finish(w, &b.dev);
    disk.borrow_mut().restart();
}

fn said(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| l.contains(text))
}

/// Runs `f` with a TPM client over the engine, saving as the service does after each command.
fn with_client<R>(b: &mut Booted, seed: u64, f: impl FnOnce(&mut Client) -> R) -> R {
    let (engine, p) = b.started.as_mut().expect("started");
    vtpm_client::with_saving_client(engine, p, &mut b.dom, &mut b.lines, seed, f)
}

/// What a restart would load: the slot the manager's record names, decrypted.
fn acknowledged_payload(disk: &Rc<RefCell<FaultyDisk>>, mgr: &SimManager, uuid: [u8; 16]) -> Option<Vec<u8>> {
    let blob = mgr.records.borrow().get(&uuid)?.clone();
    let mut store = SlotStore::open(MemDisk::from_image(disk.borrow().media().to_vec())).ok()?;
    let digest = RecordDigest(blob[..32].try_into().ok()?);
    let key = RecordKey::from_bytes(blob[32..64].try_into().ok()?);
    store.load_matching(&key, RecordKind::TPM12_STATE, OwnerUuid(uuid), &digest).ok().map(|l| l.payload.to_vec())
}

fn machine() -> (World, SimManager) {
    let w = World::new();
    w.add_domain(MGR);
    let m = spawn_manager(&w, MGR);
    (w, m)
}

#[test]
fn first_start_then_restart_keeps_the_owner_and_the_ek() {
    let (w, mgr) = machine();
    let disk = new_disk();
    let mut b = boot(&w, 10, UUID, &disk);
    assert!(b.started.is_some(), "{:?}", b.lines);
    assert!(said(&b.lines, "Info: connected to the vTPM manager (device/vtpm/0 -> /local/domain/3/backend/vtpm/10/0)"));
    assert!(said(&b.lines, &format!("Info: TPM state is persistent: vTPM uuid {UUID} at the manager")));
    assert!(said(&b.lines, "Info: TPM 1.2 engine manufactured in "), "{:?}", b.lines);
    assert!(
        said(
            &b.lines,
            "Info: first start: the manager had no state for this vTPM and its disk was blank; the new TPM is saved (slot A, sequence 1, "
        ),
        "{:?}",
        b.lines
    );
    assert!(mgr.records.borrow().contains_key(&UUID_BYTES));
    let ek = with_client(&mut b, 1, |c| {
        let ek = c.read_pubek().unwrap();
        assert_eq!(c.take_ownership(OWNER, SRK).unwrap().rc, 0);
        ek
    });
    stop(&w, b, &disk);

    let mut b = boot(&w, 11, UUID, &disk);
    assert!(b.started.is_some(), "{:?}", b.lines);
    // sequence 1 the first start, 2 the audit counter (first audited command), 3 TakeOwnership
    assert!(said(&b.lines, "Info: TPM state restored (slot A, sequence 3, "), "{:?}", b.lines);
    assert!(said(&b.lines, "TPM_Startup(ST_CLEAR) rc=0, TPM_SelfTestFull rc=0"), "{:?}", b.lines);
    let tpm = &b.started.as_ref().unwrap().0.0;
    assert!(tpm.owner_installed(), "the owner is still there");
    assert_eq!(tpm.perm().data.endorsement_key.as_ref().map(|k| k.modulus()), Some(ek), "the same EK");
    assert_eq!(tpm.perm().data.owner_auth.0, OWNER, "the owner's secret");
    with_client(&mut b, 2, |c| {
        // TakeOwnership refused: the owner disabled ReadPubek, and the TPM says an owner is set
        assert_eq!(c.read_pubek(), Err("ReadPubek rc 0x8".to_string()));
        let r = c.rqu(0x0D, &[0; 20]).unwrap();
        assert_ne!(r.rc, 0, "TakeOwnership with garbage refused");
    });
}

type Service = Rc<RefCell<VtpmService<SimDomain, Tpm12Engine>>>;

/// Runs the started vtpm `b` (domain 10) as the image does (`VtpmService::step` with its
/// persistence) and connects a Linux guest (domain 20) to it; the service's console lines are
/// collected.
fn serve_guest(w: &World, b: &mut Booted) -> (Service, Rc<RefCell<Vec<String>>>, LinuxTpmFront) {
    let (engine, p) = b.started.take().expect("started");
    let mut out = Lines::default();
    let svc = Rc::new(RefCell::new(
        VtpmService::new(&mut b.dom, engine, &VtpmOptions::default(), &mut out).with_persistence(Box::new(p)),
    ));
    let (s2, mut dom) = (svc.clone(), b.dom.clone());
    let lines = Rc::new(RefCell::new(Vec::<String>::new()));
    let l2 = lines.clone();
    w.add_actor(10, move || {
        let mut rec = Lines::default();
        let _ = s2.borrow_mut().step(&mut dom, &mut rec) == Step::PowerOff;
        l2.borrow_mut().extend(rec.0);
    });
    w.add_domain(20);
    toolstack::vtpm_attach(w, 20, 10, 0, OTHER_UUID);
    let linux = LinuxTpmFront::probe(w, 20).unwrap();
    (svc, lines, linux)
}

fn extend(i: u32) -> Vec<u8> {
    let mut body = (i % 16).to_be_bytes().to_vec();
    body.extend_from_slice(&[i as u8; 20]);
    tpm_frame::command(tpm_frame::TPM_TAG_RQU_COMMAND, 0x14, &body)
}

#[test]
fn a_thousand_extends_cost_no_disk_write_and_no_manager_round_trip() {
    let (w, mgr) = machine();
    let disk = new_disk();
    let mut b = boot(&w, 10, UUID, &disk);
    let (svc, lines, mut linux) = serve_guest(&w, &mut b);
    w.run_until(MS, S, || linux.fe_state == 4);
    let (writes0, trips0) = (disk.borrow().ops(), mgr.round_trips());
    let c0 = svc.borrow().counters();
    for i in 0..1000 {
        let r = linux.transmit(&extend(i)).unwrap();
        assert_eq!(tpm_frame::return_code(&r), Some(0));
    }
    let c1 = svc.borrow().counters();
    assert_eq!(c1.extends - c0.extends, 1000);
    assert_eq!(c1.disk_writes - c0.disk_writes, 0, "no disk write for Extends");
    assert_eq!(c1.manager_round_trips, c0.manager_round_trips, "no manager round trip for Extends");
    assert_eq!(c1.manager_round_trips, Some(0));
    assert_eq!(disk.borrow().ops(), writes0, "the disk saw nothing");
    assert_eq!(mgr.round_trips(), trips0, "the manager saw nothing");
    // a change of permanent state: one save (disk writes) and one SAVEHASHKEY, before the answer
    let mut client = Client::new(|cmd: &[u8]| linux.transmit(cmd).unwrap(), 3);
    assert_eq!(client.take_ownership(OWNER, SRK).unwrap().rc, 0);
    let c2 = svc.borrow().counters();
    assert!(c2.disk_writes > c1.disk_writes);
    // two saves: the first audited command of the boot (OIAP, audited by default as in libtpms)
    // moves the permanent audit counter, then TakeOwnership
    assert_eq!(c2.manager_round_trips, Some(2));
    assert_eq!(mgr.requests.borrow().last(), Some(&vtpmmgr_core::proto::VTPM_ORD_SAVEHASHKEY));
    assert!(lines.borrow().iter().all(|l| !l.starts_with("ERROR")), "{:?}", lines.borrow());
}

/// A first start on `disk` with uuid `UUID`, then the domain stops.
fn first_start(w: &World, disk: &Rc<RefCell<FaultyDisk>>) {
    let b = boot(w, 10, UUID, disk);
    assert!(b.started.is_some(), "{:?}", b.lines);
    stop(w, b, disk);
}

#[test]
fn a_corrupt_disk_is_refused_and_left_as_it_is() {
    let (w, _mgr) = machine();
    let disk = new_disk();
    first_start(&w, &disk);
    let at = vtpm_store::Geometry::for_disk(SECTORS).unwrap().start(vtpm_store::Slot::A) as usize * 512 + 300;
    disk.borrow_mut().media_mut()[at] ^= 0x01;
    let before = disk.borrow().media().to_vec();
    let b = boot(&w, 11, UUID, &disk);
    assert!(b.started.is_none());
    assert!(
        said(
            &b.lines,
            "ERROR: TPM state not loaded: no state slot matches the manager's hash (rolled back or lost); refusing to serve (the state disk is left as it is); powering off"
        ),
        "{:?}",
        b.lines
    );
    assert!(disk.borrow().media() == &before[..], "nothing written");
}

#[test]
fn a_truncated_record_is_refused() {
    let (w, _mgr) = machine();
    let disk = new_disk();
    first_start(&w, &disk);
    // the record's payload length (offset 36, docs/formats.md) now claims more than its slot
    let at = vtpm_store::Geometry::for_disk(SECTORS).unwrap().start(vtpm_store::Slot::A) as usize * 512;
    disk.borrow_mut().media_mut()[at + 36..at + 40].copy_from_slice(&[0x7f, 0xff, 0xff, 0x00]);
    let before = disk.borrow().media().to_vec();
    let b = boot(&w, 11, UUID, &disk);
    assert!(b.started.is_none());
    assert!(
        said(&b.lines, "ERROR: TPM state not loaded: the state record is truncated; refusing to serve"),
        "{:?}",
        b.lines
    );
    assert!(disk.borrow().media() == &before[..]);
}

#[test]
fn a_disk_of_another_format_is_refused() {
    let (w, _mgr) = machine();
    let disk = new_disk();
    first_start(&w, &disk);
    disk.borrow_mut().media_mut()[0] ^= 0xff; // the disk header's magic
    let before = disk.borrow().media().to_vec();
    let b = boot(&w, 11, UUID, &disk);
    assert!(b.started.is_none());
    assert!(
        said(
            &b.lines,
            "ERROR: TPM state not loaded: the state disk holds no state of ours (bad magic); refusing to serve"
        ),
        "{:?}",
        b.lines
    );
    assert!(disk.borrow().media() == &before[..]);
}

#[test]
fn another_uuids_disk_is_refused() {
    let (w, _mgr) = machine();
    let disk1 = new_disk();
    first_start(&w, &disk1); // UUID's disk
    let disk2 = new_disk();
    let b = boot(&w, 12, OTHER_UUID, &disk2); // OTHER_UUID's own first start
    assert!(b.started.is_some());
    stop(&w, b, &disk2);
    let before = disk1.borrow().media().to_vec();
    let b = boot(&w, 13, OTHER_UUID, &disk1); // the wrong disk attached
    assert!(b.started.is_none());
    assert!(
        said(&b.lines, "ERROR: TPM state not loaded: the state disk belongs to another uuid; refusing to serve"),
        "{:?}",
        b.lines
    );
    assert!(disk1.borrow().media() == &before[..]);
}

#[test]
fn no_record_at_the_manager_but_a_written_disk_is_refused() {
    let (w, mgr) = machine();
    let disk = new_disk();
    first_start(&w, &disk);
    mgr.records.borrow_mut().clear();
    let before = disk.borrow().media().to_vec();
    let b = boot(&w, 11, UUID, &disk);
    assert!(b.started.is_none());
    assert!(
        said(
            &b.lines,
            "ERROR: TPM state not loaded: the manager holds no state for this vTPM, but its state disk is not blank; refusing to serve (the state disk is left as it is); powering off"
        ),
        "{:?}",
        b.lines
    );
    assert!(disk.borrow().media() == &before[..]);
    assert!(mgr.records.borrow().is_empty(), "the manager was not given a new record");
}

#[test]
fn a_manager_record_without_its_disk_is_refused() {
    let (w, _mgr) = machine();
    let disk = new_disk();
    first_start(&w, &disk);
    let blank = new_disk();
    let b = boot(&w, 11, UUID, &blank);
    assert!(b.started.is_none());
    assert!(said(&b.lines, "ERROR: TPM state not loaded: the state disk is blank (never written)"), "{:?}", b.lines);
    assert!(blank.borrow().media().iter().all(|&x| x == 0), "no fresh TPM written over it");
}

#[test]
fn a_late_manager_is_waited_for() {
    let w = World::new();
    w.add_domain(MGR);
    let late = SimManager::default();
    let (w2, m2) = (w.clone(), late.clone());
    let mut spawned = false;
    w.add_actor(0, move || {
        if !spawned && w2.now() >= 25 * S {
            spawned = true;
            spawn_manager_with(&w2, MGR, m2.clone());
        }
    });
    let disk = new_disk();
    let b = boot(&w, 10, UUID, &disk);
    assert!(b.started.is_some(), "{:?}", b.lines);
    let waiting = b.lines.iter().position(|l| l.starts_with("Info: waiting for the vTPM manager (device/vtpm/0 -> "));
    let connected = b.lines.iter().position(|l| l.starts_with("Info: connected to the vTPM manager"));
    assert!(waiting.is_some() && connected.is_some() && waiting < connected, "{:?}", b.lines);
    let waits = b.lines.iter().filter(|l| l.starts_with("Info: waiting for the vTPM manager")).count();
    assert!(waits >= 2, "repeated while it is absent: {:?}", b.lines);
    assert!(late.records.borrow().contains_key(&UUID_BYTES), "first start saved at the late manager");
}

/// The state after a first start and after TakeOwnership, as images.
struct Snapshot {
    media: Vec<u8>,
    records: HashMap<[u8; 16], Vec<u8>>,
    new_image: Vec<u8>,
}

fn snapshot() -> Snapshot {
    let (w, mgr) = machine();
    let disk = new_disk();
    let b = boot(&w, 10, UUID, &disk);
    let (mut engine, p) = b.started.expect("started");
    let media = disk.borrow().media().to_vec();
    let records = mgr.records.borrow().clone();
    let mut client = Client::new(|cmd: &[u8]| engine.execute(0, cmd), 5);
    assert_eq!(client.take_ownership(OWNER, SRK).unwrap().rc, 0);
    drop(client);
    let new_image = engine.take_image_if_changed().expect("changed").to_vec();
    drop(p);
    Snapshot { media, records, new_image }
}

#[test]
fn a_save_torn_or_failed_at_any_write_leaves_the_old_or_the_new_state() {
    let snap = snapshot();
    let mut faults = Vec::new();
    for op in 0..8 {
        faults.push(Fault::Fail { op });
        for landing in [Landing::Nothing, Landing::Prefix(1), Landing::Suffix(1), Landing::All] {
            for cache in [CacheFate::Lost, CacheFate::WrittenBack] {
                faults.push(Fault::PowerCut { op, landing, cache });
            }
        }
    }
    let (mut olds, mut news) = (0, 0);
    for fault in faults {
        let w = World::new();
        w.add_domain(MGR);
        let mgr = SimManager::default();
        *mgr.records.borrow_mut() = snap.records.clone();
        let mgr = spawn_manager_with(&w, MGR, mgr);
        let disk = Rc::new(RefCell::new(FaultyDisk::from_media(snap.media.clone())));
        let mut b = boot(&w, 10, UUID, &disk);
        let old = acknowledged_payload(&disk, &mgr, UUID_BYTES).expect("the old state");
        let (_, p) = b.started.as_mut().expect("restored");
        disk.borrow_mut().arm(fault);
        let result = p.save(&mut b.dom, &snap.new_image);
        let fail_only = matches!(fault, Fault::Fail { .. });
        if result.is_err() && fail_only {
            // the next change tries again, to the same unkept slot, and then counts
            assert!(p.save(&mut b.dom, &snap.new_image).is_ok(), "{fault:?}: retry");
        }
        stop(&w, b, &disk);
        let after = acknowledged_payload(&disk, &mgr, UUID_BYTES).unwrap_or_else(|| panic!("{fault:?}: unloadable"));
        if after == old {
            olds += 1;
        } else {
            assert_eq!(after, snap.new_image, "{fault:?}: neither old nor new");
            news += 1;
        }
        // and the vtpm itself starts from it
        let b = boot(&w, 11, UUID, &disk);
        assert!(b.started.is_some(), "{fault:?}: {:?}", b.lines);
    }
    assert!(olds > 0 && news > 0, "both outcomes seen ({olds} old, {news} new)");
}

#[test]
fn a_failing_manager_keeps_the_old_state_and_the_next_change_retries() {
    let (w, mgr) = machine();
    let disk = new_disk();
    first_start(&w, &disk);
    let old = acknowledged_payload(&disk, &mgr, UUID_BYTES).unwrap();
    let mut b = boot(&w, 11, UUID, &disk);
    mgr.fail_save.set(true);
    with_client(&mut b, 7, |c| assert_eq!(c.take_ownership(OWNER, SRK).unwrap().rc, 0, "the guest is served"));
    assert!(
        said(
            &b.lines,
            "ERROR: TPM state not saved: the manager's SAVEHASHKEY failed (rc 9); the TPM keeps serving from memory and tries again every 10 s and on the next change"
        ),
        "{:?}",
        b.lines
    );
    assert_eq!(acknowledged_payload(&disk, &mgr, UUID_BYTES).unwrap(), old, "the acknowledged slot is untouched");
    mgr.fail_save.set(false);
    // the next change (TPM_SaveState changes the saved state) saves everything
    with_client(&mut b, 8, |c| {
        let r = c.raw(&tpm_frame::command(tpm_frame::TPM_TAG_RQU_COMMAND, 0x98, &[]));
        assert_eq!(tpm_frame::return_code(&r), Some(0), "TPM_SaveState");
    });
    assert!(said(&b.lines, "Info: TPM state saved again (slot "), "{:?}", b.lines);
    let now = acknowledged_payload(&disk, &mgr, UUID_BYTES).unwrap();
    assert_ne!(now, old);
    stop(&w, b, &disk);
    let b = boot(&w, 12, UUID, &disk);
    assert!(b.started.as_ref().unwrap().0.0.owner_installed(), "the retried save was restored");
}

#[test]
fn a_manager_restarted_while_the_vtpm_runs_is_reconnected_and_the_change_saved() {
    let (w, mgr) = machine();
    let disk = new_disk();
    first_start(&w, &disk);
    let old = acknowledged_payload(&disk, &mgr, UUID_BYTES).unwrap();
    let mut b = boot(&w, 11, UUID, &disk);
    let before = mgr.round_trips();
    // the manager is destroyed (xl destroy): its xenstore directory goes with it
    w.destroy_domain(MGR);
    with_client(&mut b, 7, |c| assert_eq!(c.take_ownership(OWNER, SRK).unwrap().rc, 0, "the guest is served"));
    assert!(said(&b.lines, "Warning: the vTPM manager went away (device/vtpm/0 -> "), "{:?}", b.lines);
    assert!(said(&b.lines, "ERROR: TPM state not saved: the vTPM manager is away ("), "{:?}", b.lines);
    assert!(b.started.as_ref().unwrap().1.pending(), "the change waits for the manager");
    assert_eq!(acknowledged_payload(&disk, &mgr, UUID_BYTES).unwrap(), old, "the acknowledged slot is untouched");
    // a new manager (domain 4, the same key store) and the device re-pointed, first with
    // another vTPM's uuid: that record is not this vtpm's and must not be used
    w.add_domain(4);
    let mgr2 = spawn_manager_with(&w, 4, mgr.clone());
    toolstack::detach_finish(&w, &b.dev);
    let wrong = toolstack::vtpm_attach(&w, 11, 4, 0, OTHER_UUID);
    let retry = |b: &mut Booted| {
        let (_, p) = b.started.as_mut().unwrap();
        let mut out = Lines::default();
        StateSink::retry(p, &mut b.dom, &mut out as &mut dyn Output);
        b.lines.extend(out.0);
    };
    retry(&mut b);
    assert!(b.started.as_ref().unwrap().1.pending(), "{:?}", b.lines);
    assert!(mgr.records.borrow().get(&uuid_bytes(OTHER_UUID)).is_none(), "nothing saved under the other uuid");
    toolstack::detach_finish(&w, &wrong);
    b.dev = toolstack::vtpm_attach(&w, 11, 4, 0, UUID);
    retry(&mut b);
    assert!(
        said(&b.lines, "Info: reconnected to the vTPM manager (device/vtpm/0 -> /local/domain/4/"),
        "{:?}",
        b.lines
    );
    assert!(said(&b.lines, "Info: TPM state saved again (slot "), "{:?}", b.lines);
    assert!(!b.started.as_ref().unwrap().1.pending());
    assert!(mgr2.round_trips() > before);
    assert_ne!(acknowledged_payload(&disk, &mgr2, UUID_BYTES).unwrap(), old);
    stop(&w, b, &disk);
    let b = boot_on(&w, 12, 4, UUID, &disk, &VtpmOptions::default());
    assert!(b.started.as_ref().unwrap().0.0.owner_installed(), "the change made while the manager was away survived");
}

#[test]
fn the_service_retries_a_save_every_ten_seconds_until_the_manager_is_back() {
    let (w, mgr) = machine();
    let disk = new_disk();
    first_start(&w, &disk);
    let mut b = boot(&w, 10, UUID, &disk);
    let (svc, lines, mut linux) = serve_guest(&w, &mut b);
    w.run_until(MS, S, || linux.fe_state == 4);
    w.destroy_domain(MGR);
    {
        let mut client = Client::new(|cmd: &[u8]| linux.transmit(cmd).unwrap(), 3);
        assert_eq!(client.take_ownership(OWNER, SRK).unwrap().rc, 0, "the guest is served while the manager is away");
    }
    let errors = |l: &[String]| l.iter().filter(|l| l.starts_with("ERROR: TPM state not saved")).count();
    assert_eq!(errors(&lines.borrow()), 1, "{:?}", lines.borrow());
    // 30 s without a manager: retried (debug lines only), the guest's TPM still answers
    let t0 = w.now();
    w.run_until(MS, 31 * S, || w.now() - t0 >= 30 * S);
    assert_eq!(errors(&lines.borrow()), 1, "said once per outage: {:?}", lines.borrow());
    assert!(svc.borrow().sink().unwrap().pending());
    // the new manager, the device re-pointed; no new change from the guest
    w.add_domain(4);
    let mgr2 = spawn_manager_with(&w, 4, mgr.clone());
    toolstack::detach_finish(&w, &b.dev);
    toolstack::vtpm_attach(&w, 10, 4, 0, UUID);
    let t1 = w.now();
    w.run_until(MS, 15 * S, || !svc.borrow().sink().unwrap().pending());
    assert!(!svc.borrow().sink().unwrap().pending(), "saved by the periodic retry: {:?}", lines.borrow());
    assert!(w.now() - t1 <= 11 * S, "within one retry interval");
    assert!(lines.borrow().iter().any(|l| l.starts_with("Info: TPM state saved again")), "{:?}", lines.borrow());
    assert_eq!(mgr2.requests.borrow().last(), Some(&vtpmmgr_core::proto::VTPM_ORD_SAVEHASHKEY));
    let r = linux.transmit(&extend(1)).unwrap();
    assert_eq!(tpm_frame::return_code(&r), Some(0), "still serving");
}

fn uuid_bytes(text: &str) -> [u8; 16] {
    drivers::uuid::parse_uuid(text).unwrap()
}

fn pcr_read(i: u32) -> Vec<u8> {
    tpm_frame::command(tpm_frame::TPM_TAG_RQU_COMMAND, 0x15, &i.to_be_bytes())
}

#[test]
fn hwinitpcr_copies_the_hardware_pcrs_through_the_manager() {
    let (w, mgr) = machine();
    let disk = new_disk();
    let opts = VtpmOptions { hwinitpcr: 0b1010_0001, ..VtpmOptions::default() };
    let mut b = boot_with(&w, 10, UUID, &disk, &opts);
    assert!(b.started.is_some(), "{:?}", b.lines);
    assert!(
        said(&b.lines, "Info: hwinitpcr=0,5,7: 3 PCRs copied from the hardware TPM through the manager"),
        "{:?}",
        b.lines
    );
    let reads = mgr.requests.borrow().iter().filter(|&&o| o == vtpmmgr_core::proto::TPM_ORD_PCR_READ).count();
    assert_eq!(reads, 3);
    let (engine, p) = b.started.as_mut().unwrap();
    // the test manager's PCR i holds [i; 20]
    for (i, v) in [(0u32, [0u8; 20]), (5, [5; 20]), (7, [7; 20]), (1, [0; 20])] {
        let r = engine.execute(0, &pcr_read(i));
        assert_eq!(tpm_frame::return_code(&r), Some(0));
        assert_eq!(&r[10..], &v[..], "PCR {i}");
    }
    assert_eq!(StateSink::<SimDomain>::manager_round_trips(p), 0, "the start's round trips are not counted later");
}

#[test]
fn save_state_then_startup_st_state_resumes_on_top_of_persistence() {
    let (w, _mgr) = machine();
    let disk = new_disk();
    let mut b = boot(&w, 10, UUID, &disk);
    let ext = tpm_frame::command(tpm_frame::TPM_TAG_RQU_COMMAND, 0x14, &{
        let mut body = 3u32.to_be_bytes().to_vec();
        body.extend_from_slice(&[0x5a; 20]);
        body
    });
    let pcr3 = with_client(&mut b, 1, |c| {
        assert_eq!(tpm_frame::return_code(&c.raw(&ext)), Some(0));
        let pcr3 = c.raw(&pcr_read(3))[10..].to_vec();
        assert_eq!(tpm_frame::return_code(&c.raw(&tpm_frame::command(0xC1, 0x98, &[]))), Some(0), "TPM_SaveState");
        pcr3
    });
    assert_ne!(pcr3, [0; 20]);
    stop(&w, b, &disk);
    // save: TPM_Startup(ST_STATE) restores the PCRs TPM_SaveState saved
    let opts = VtpmOptions { startup: vtpm::options::StartupMode::State, ..VtpmOptions::default() };
    let mut b = boot_with(&w, 11, UUID, &disk, &opts);
    assert!(said(&b.lines, "TPM_Startup(ST_STATE) rc=0"), "{:?}", b.lines);
    with_client(&mut b, 2, |c| assert_eq!(c.raw(&pcr_read(3))[10..], pcr3[..], "PCR 3 resumed"));
    stop(&w, b, &disk);
    // clear: the PCRs start at their reset values
    let mut b = boot(&w, 12, UUID, &disk);
    assert!(said(&b.lines, "TPM_Startup(ST_CLEAR) rc=0"), "{:?}", b.lines);
    with_client(&mut b, 3, |c| assert_eq!(c.raw(&pcr_read(3))[10..], [0u8; 20][..], "PCR 3 reset"));
}

/// The image's own path: the state disk through blkfront (`device/vbd/768`) to the simulated
/// blkback in dom0.
fn boot_blk(w: &World, id: u16) -> (Vec<String>, Option<(Tpm12Engine, BlkPersistence)>) {
    w.add_domain(id);
    toolstack::vtpm_attach(w, id, MGR, 0, UUID);
    toolstack::vbd_attach(w, id, 0, 768);
    let mut dom = w.domain(id);
    let mut out = Lines::default();
    let mgr = Manager::connect(&mut dom, &mut out);
    let disk = match BlkDisk::<SimDomain>::connect(&mut dom) {
        Ok(d) => d,
        Err(e) => {
            out.line(&e);
            return (out.0, None);
        }
    };
    let started = persist::start(
        &mut dom,
        mgr,
        disk,
        Box::new(DetRng::new(u64::from(id))),
        Box::new(DetRng::new(1000 + u64::from(id))),
        Box::new(ManualClock(0)),
        tpm_opts(),
        &VtpmOptions::default(),
        &mut out,
    );
    (out.0, started)
}

#[test]
fn the_state_disk_through_blkfront_and_blkback_survives_a_restart() {
    use integration_tests::simxen::blkback::{Blkback, Flavor};
    let (w, _mgr) = machine();
    let media = Rc::new(RefCell::new(vec![0u8; SECTORS as usize * 512]));
    let ctl = Blkback::spawn(&w, 0, Flavor::LinuxBlkback, media.clone(), 512, false);
    let (lines, started) = boot_blk(&w, 10);
    let (mut engine, mut p) = started.unwrap_or_else(|| panic!("{lines:?}"));
    assert!(said(&lines, "Info: first start: "), "{lines:?}");
    let mut out = Lines::default();
    let mut dom = w.domain(10);
    let mut client = Client::new(
        |cmd: &[u8]| {
            let r = engine.execute(0, cmd);
            if let Some(image) = engine.take_image_if_changed() {
                StateSink::save(&mut p, &mut dom, &image, &mut out as &mut dyn Output);
            }
            r
        },
        4,
    );
    assert_eq!(client.take_ownership(OWNER, SRK).unwrap().rc, 0);
    drop(client);
    assert!(out.0.is_empty(), "{:?}", out.0);
    assert!(ctl.borrow().flushes >= 4, "each save flushes");
    drop((engine, p));
    w.destroy_domain(10);
    let (lines, started) = boot_blk(&w, 11);
    assert!(said(&lines, "Info: TPM state restored (slot A, sequence 3, "), "{lines:?}");
    assert!(started.unwrap().0.0.owner_installed());
    // a disk whose reads fail: refused, naming the disk
    ctl.borrow_mut().fail.push((0, SECTORS * 512));
    w.destroy_domain(11);
    let (lines, started) = boot_blk(&w, 12);
    assert!(started.is_none());
    assert!(said(&lines, "ERROR: TPM state not loaded: the state disk failed (Io); refusing to serve"), "{lines:?}");
}

/// A CPU without RDSEED/RDRAND.
struct NoCpuEntropy(u64);

impl vtpm::entropy::CpuEntropy for NoCpuEntropy {
    fn rdseed64(&mut self) -> Option<u64> {
        None
    }
    fn rdrand64(&mut self) -> Option<u64> {
        None
    }
    fn tsc(&mut self) -> u64 {
        self.0 += 17;
        self.0
    }
}

#[test]
fn the_hardware_tpms_random_bytes_through_the_manager_are_a_strong_source() {
    let (w, _mgr) = machine();
    w.add_domain(10);
    toolstack::vtpm_attach(&w, 10, MGR, 0, UUID);
    let mut dom = w.domain(10);
    let mut out = Lines::default();
    let mut mgr = Manager::connect(&mut dom, &mut out);
    let random = mgr.get_random(&mut dom, vtpm::entropy::MANAGER_RANDOM_BYTES as u32).unwrap();
    let mut lines = Lines::default();
    let pool = vtpm::entropy::strong_pool_with(&mut dom, &mut NoCpuEntropy(0), Some(&random[..]), &mut lines);
    assert!(pool.is_some_and(|p| p.manager_random == 32));
    assert_eq!(
        lines.0,
        [
            "Info: RNG: ChaCha20 seeded from the hardware TPM via the manager (32 bytes of TPM_GetRandom) (HKDF-SHA256, with TSC/xenstore timing mixed in); rekeyed every 64 KiB of output"
        ]
    );
    // fewer bytes than that, and no CPU source: refused
    let mut lines = Lines::default();
    assert!(vtpm::entropy::strong_pool_with(&mut dom, &mut NoCpuEntropy(0), Some(&random[..16]), &mut lines).is_none());
    assert!(lines.0[0].starts_with("ERROR: no strong entropy source"), "{:?}", lines.0);
}
