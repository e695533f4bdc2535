//! The manager's two other modes in the simulated Xen, with the image's real wiring
//! (`vtpmmgr::manager`):
//! - `tpmdriver=tpmfront`: the manager's own `device/vtpm/0` frontend to a backend domain
//!   whose TPM is swtpm (1.2 and `--tpm2`); it waits for that backend with a clear line, sends
//!   the hardware-TPM commands at its `tpmlocality`, serves vtpms, and a manager restart over
//!   the same disk and TPM loads what was saved;
//! - `tpmdriver=none`: the key store opened with an administrator key (passphrase), the real
//!   vtpm (`vtpm::persist`) against it end to end — first start, restart, a manager restart —,
//!   a wrong passphrase refused with the disk untouched, and a vtpm's `hwinitpcr=` stopping with
//!   a clear line (there are no hardware PCRs).
//!
//! swtpm is started by the manager core's own test helper (`vtpmmgr/core/tests/support`).
//! Skips, with a printed reason, only when swtpm is not installed.

#[path = "../../vtpmmgr/core/tests/support/mod.rs"]
mod support;

use integration_tests::shared_disk::SharedDisk;
use std::cell::RefCell;
use std::rc::Rc;

use drivers::tpmback::{FrontendBinding, TpmBack};
use drivers::tpmfront::{FrontStyle, TpmFront};
use integration_tests::simxen::blkback::{Blkback, Flavor};
use integration_tests::simxen::{SimDomain, World, toolstack};
use support::{StateDir, Swtpm, have_swtpm};
use tpm_frame::Family;
use vtpm_store::MemDisk;
use vtpmmgr::manager::{self, BlkDisk, FrontTpm, Manager, SharedHv};
use vtpmmgr::rng::MgrRng;
use vtpmmgr_core::HardwareTpm;
use vtpmmgr_core::admin_key::{AdminKey, KdfParams};
use vtpmmgr_core::proto;
use vtpmmgr_core::{HwConfig, Service};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const UUID_A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const MGR: u16 = 1;
const TPM_DOM: u16 = 7;

type Lines = Rc<RefCell<Vec<String>>>;
type SimManager = Manager<SimDomain, BlkDisk<'static, 'static, SimDomain>>;

fn said(lines: &Lines, text: &str) -> bool {
    lines.borrow().iter().any(|l| l.contains(text))
}

fn leak(dom: SimDomain) -> &'static SharedHv<'static, SimDomain> {
    // the image's `&mut Env` lives as long as the image; here the domain handle is leaked
    Box::leak(Box::new(RefCell::new(Box::leak(Box::new(dom)))))
}

/// A domain serving its TPM (swtpm) to any frontend with our tpmback, from simulated time
/// `start_at` on; records the locality of every request.
fn spawn_tpm_domain(w: &World, tpm: Rc<RefCell<Swtpm>>, start_at: u64) -> Rc<RefCell<Vec<u8>>> {
    let mut hv = w.add_domain(TPM_DOM);
    let mut back = TpmBack::new();
    back.set_binding(FrontendBinding::AnyDomain);
    let localities = Rc::new(RefCell::new(Vec::new()));
    let l = localities.clone();
    let (wc, mut started) = (w.clone(), false);
    w.add_actor(TPM_DOM, move || {
        if !started {
            if wc.now() < start_at {
                return;
            }
            back.start(&mut hv).expect("the TPM domain watches backend/vtpm");
            started = true;
        }
        back.poll(&mut hv);
        while back.take_event().is_some() {}
        while let Some(req) = back.next_request(&mut hv) {
            l.borrow_mut().push(req.locality);
            let resp = tpm.borrow_mut().transmit(&req.command).expect("swtpm answers");
            let _ = back.respond(&mut hv, &req, &resp);
        }
    });
    localities
}

/// The manager domain with `tpmdriver=tpmfront tpmlocality=<locality>`: hda on dom0's qdisk,
/// `device/vtpm/0` to the TPM domain (attached now, or by the test later: `attach_tpm`).
fn spawn_tpmfront_manager(
    w: &World,
    disk: Rc<RefCell<Vec<u8>>>,
    locality: u8,
    config: HwConfig,
    tpm2: bool,
) -> (Rc<RefCell<SimManager>>, Lines) {
    let dom = w.add_domain(MGR);
    toolstack::vbd_attach(w, MGR, 0, 768);
    toolstack::vtpm_attach(w, MGR, TPM_DOM, 0, "cccccccc-0000-4000-8000-00000000000c");
    Blkback::spawn(w, 0, Flavor::Qdisk, disk, 512, false);
    let hv = leak(dom);
    let (disk, _) = BlkDisk::connect(hv).expect("hda");
    let lines: Lines = Rc::new(RefCell::new(Vec::new()));
    let l = lines.clone();
    let mut front = FrontTpm::connect(hv, locality, tpm2, &mut |s| l.borrow_mut().push(s.into()));
    let mut rng = MgrRng::new(b"simulated cpu");
    let (store, line) = manager::open_store(disk, &mut front, hv, &mut rng, &config).expect("key store");
    lines.borrow_mut().push(line);
    let l = lines.clone();
    let m = Rc::new(RefCell::new(Manager::start(hv, Service::new(store), &mut |s| l.borrow_mut().push(s.into()))));
    let (m2, l2) = (m.clone(), lines.clone());
    w.add_actor(MGR, move || {
        let Ok(mut m) = m2.try_borrow_mut() else { return };
        m.step(hv, &mut front, &mut rng, &config, &mut |s| l2.borrow_mut().push(s.into()));
    });
    (m, lines)
}

struct Vtpm {
    dom: SimDomain,
    front: TpmFront<SimDomain>,
}

impl Vtpm {
    fn transmit(&mut self, cmd: &[u8]) -> Vec<u8> {
        self.front.transact(&mut self.dom, cmd, 10 * S).expect("reply")
    }
}

fn raw_vtpm(w: &World, dom: u16, uuid: &str) -> Vtpm {
    let mut d = w.add_domain(dom);
    toolstack::vtpm_attach(w, dom, MGR, 0, uuid);
    let mut front: TpmFront<SimDomain> = TpmFront::new("device/vtpm/0");
    front.connect(&mut d, FrontStyle::MiniOs, 10 * S).expect("connected");
    Vtpm { dom: d, front }
}

fn rc(r: &[u8]) -> u32 {
    u32::from_be_bytes([r[6], r[7], r[8], r[9]])
}

fn tpmfront_manager(family: Family) {
    if !have_swtpm() {
        return;
    }
    let dir = StateDir::new("mgr-tpmfront");
    let tpm = Rc::new(RefCell::new(Swtpm::start(&dir.0, family)));
    let config = match family {
        Family::Tpm12 => HwConfig::default(),
        Family::Tpm20 => {
            let mut c = HwConfig::default();
            c.apply("tpm2=1").expect("tpm2=1");
            c
        }
    };
    let tpm2 = family == Family::Tpm20;
    let disk = Rc::new(RefCell::new(vec![0u8; 4096 * 512]));
    let w = World::new();
    // the TPM domain's backend comes up 15 simulated seconds after the manager: it waits, saying so
    let locs = spawn_tpm_domain(&w, tpm.clone(), w.now() + 15 * S);
    let (mgr, lines) = spawn_tpmfront_manager(&w, disk.clone(), 2, config.clone(), tpm2);
    assert!(said(&lines, "Info: waiting for the hardware TPM's backend (device/vtpm/0 -> "), "{:?}", lines.borrow());
    assert!(said(&lines, "INFO[TPM]: tpmdriver=tpmfront: connected (device/vtpm/0 -> "), "{:?}", lines.borrow());
    let name = if tpm2 { "TPM 2.0" } else { "TPM 1.2" };
    assert!(said(&lines, "INFO[TPM]: hardware TPM over tpmfront ("), "{:?}", lines.borrow());
    assert!(said(&lines, &format!("): {name}")), "{:?}", lines.borrow());
    assert!(said(&lines, "INFO[VTPM]: first boot: a new root is sealed to the hardware TPM"), "{:?}", lines.borrow());
    assert!(!locs.borrow().is_empty() && locs.borrow().iter().all(|&l| l == 2), "tpmlocality=2: {:?}", locs.borrow());
    // a vtpm saves and loads through it; GetRandom reaches swtpm
    let blob: Vec<u8> = (0..64).collect();
    let mut a = raw_vtpm(&w, 2, UUID_A);
    assert_eq!(rc(&a.transmit(&proto::load_hash_key())), 2);
    assert_eq!(rc(&a.transmit(&proto::save_hash_key(&blob))), 0);
    let r = a.transmit(&proto::get_random(16));
    assert!(!proto::decode_get_random_reply(&r).unwrap().is_empty());
    let pcr = [0, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15, 0, 0, 0, 16];
    assert_eq!(rc(&a.transmit(&pcr)), 0, "PCRRead passthrough");
    assert_eq!(mgr.borrow().service().store().len(), 1);

    // the manager restarts over the same disk and TPM (the TPM domain at once this time)
    drop((mgr, a));
    let w2 = World::new();
    spawn_tpm_domain(&w2, tpm.clone(), 0);
    let (mgr2, lines2) = spawn_tpmfront_manager(&w2, disk, 2, config, tpm2);
    assert!(said(&lines2, "INFO[VTPM]: key store loaded: 1 vTPM record(s), root sequence 2"), "{:?}", lines2.borrow());
    let mut a2 = raw_vtpm(&w2, 3, UUID_A);
    let l = a2.transmit(&proto::load_hash_key());
    assert_eq!(*proto::decode_load_hash_key_reply(&l).unwrap(), blob, "after the restart");
    assert_eq!(mgr2.borrow().service().store().len(), 1);
    assert!(w2.run_until(MS, S, || true));
}

#[test]
fn tpmdriver_tpmfront_over_a_tpm12_domain() {
    tpmfront_manager(Family::Tpm12);
}

#[test]
fn tpmdriver_tpmfront_over_a_tpm20_domain() {
    tpmfront_manager(Family::Tpm20);
}

/// The manager domain with `tpmdriver=none root_key=<key>` over `disk` (dom0's qdisk), as the
/// image: the key store with the administrator key, then `step_without_tpm` as its actor.
fn spawn_keyed_manager(
    w: &World,
    disk: Rc<RefCell<Vec<u8>>>,
    key: &AdminKey,
) -> Result<(Rc<RefCell<SimManager>>, Lines), String> {
    let dom = w.add_domain(MGR);
    toolstack::vbd_attach(w, MGR, 0, 768);
    Blkback::spawn(w, 0, Flavor::Qdisk, disk, 512, false);
    let hv = leak(dom);
    let (disk, _) = BlkDisk::connect(hv).expect("hda");
    let mut rng = MgrRng::new(b"simulated cpu pool");
    let (store, line) = manager::open_store_with_admin_key(disk, key, KdfParams::DEFAULT, &mut rng)?;
    let lines: Lines = Rc::new(RefCell::new(vec![line]));
    let l = lines.clone();
    let m = Rc::new(RefCell::new(Manager::start(hv, Service::new(store), &mut |s| l.borrow_mut().push(s.into()))));
    let (m2, l2) = (m.clone(), lines.clone());
    w.add_actor(MGR, move || {
        let Ok(mut m) = m2.try_borrow_mut() else { return };
        m.step_without_tpm(hv, &mut rng, &mut |s| l2.borrow_mut().push(s.into()));
    });
    Ok((m, lines))
}

/// The real vtpm's start with a manager (as its `serve.rs`): domain `id`, `vtpm=["backend=1,
/// uuid=…"]`, its state disk `state`.
fn vtpm_start(
    w: &World,
    id: u16,
    state: &Rc<RefCell<MemDisk>>,
    opts: &vtpm::options::VtpmOptions,
) -> (Vec<String>, Option<vtpm::Tpm12Engine>, toolstack::DevicePaths) {
    use tpm12::testing::DetRng;
    w.add_domain(id);
    let dev = toolstack::vtpm_attach(w, id, MGR, 0, UUID_A);
    let mut dom = w.domain(id);
    let mut out = vtpm::service::Lines::default();
    let mgr = vtpm::manager::Manager::connect(&mut dom, &mut out);
    let tpm_opts = tpm12::TpmOptions { ek_bits: 1024, ..vtpm::tpm12_engine::tpm_options(opts) };
    let started = vtpm::persist::start(
        &mut dom,
        mgr,
        vtpm::state_disk::HostDisk(SharedDisk(state.clone())),
        Box::new(DetRng::new(u64::from(id))),
        Box::new(DetRng::new(1000 + u64::from(id))),
        Box::new(tpm12::platform::ManualClock(0)),
        tpm_opts,
        opts,
        &mut out,
    );
    (out.0, started.map(|(e, _)| e), dev)
}

fn has(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| l.contains(text))
}

#[test]
fn tpmdriver_none_serves_the_real_vtpm_across_restarts_and_refuses_a_wrong_passphrase() {
    let key = AdminKey::parse_passphrase("text:correct horse battery").expect("passphrase");
    let disk = Rc::new(RefCell::new(vec![0u8; 4096 * 512]));
    let state = Rc::new(RefCell::new(MemDisk::new(16384)));
    let w = World::new();
    let (mgr, lines) = spawn_keyed_manager(&w, disk.clone(), &key).expect("first boot");
    assert!(
        said(&lines, "INFO[VTPM]: first boot: a new root is wrapped by the administrator key"),
        "{:?}",
        lines.borrow()
    );
    let opts = vtpm::options::VtpmOptions::default();
    let (out, engine, dev) = vtpm_start(&w, 10, &state, &opts);
    assert!(engine.is_some(), "{out:?}");
    assert!(has(&out, "Info: first start: the manager had no state for this vTPM"), "{out:?}");
    assert!(
        said(&lines, "INFO[VTPM]: created vTPM record aaaaaaaa000040008000000000000001 (admin)"),
        "{:?}",
        lines.borrow()
    );
    drop(engine);
    w.destroy_domain(10);
    toolstack::detach_finish(&w, &dev);
    // the vtpm restarts: its state comes back through the keyed manager
    let (out, engine, dev) = vtpm_start(&w, 11, &state, &opts);
    assert!(engine.is_some() && has(&out, "Info: TPM state restored (slot A, sequence 1, "), "{out:?}");
    drop((engine, mgr));
    w.destroy_domain(11);
    toolstack::detach_finish(&w, &dev);

    // the manager restarts with a wrong passphrase: refused, its disk untouched
    let before = disk.borrow().clone();
    let w2 = World::new();
    let wrong = AdminKey::parse_passphrase("text:correct horse battery!").expect("passphrase");
    let e = spawn_keyed_manager(&w2, disk.clone(), &wrong).err().expect("refused");
    assert!(
        e.starts_with("ERROR[VTPM]: the manager's root cannot be opened: the administrator key does not open the root"),
        "{e}"
    );
    assert!(e.ends_with("; nothing was written"), "{e}");
    assert!(*disk.borrow() == before, "the disk is untouched");

    // with the right one: loaded, and the vtpm restores again; hwinitpcr stops with a line
    let w3 = World::new();
    let (_mgr, lines) = spawn_keyed_manager(&w3, disk.clone(), &key).expect("restart");
    assert!(said(&lines, "INFO[VTPM]: key store loaded: 1 vTPM record(s), root sequence 2"), "{:?}", lines.borrow());
    let (out, engine, dev) = vtpm_start(&w3, 12, &state, &opts);
    assert!(engine.is_some() && has(&out, "Info: TPM state restored (slot A, sequence 1, "), "{out:?}");
    drop(engine);
    w3.destroy_domain(12);
    toolstack::detach_finish(&w3, &dev);
    let pcr_opts = vtpm::options::VtpmOptions { hwinitpcr: 1, ..vtpm::options::VtpmOptions::default() };
    let (out, engine, _) = vtpm_start(&w3, 13, &state, &pcr_opts);
    assert!(engine.is_none(), "{out:?}");
    assert!(has(&out, "ERROR: hwinitpcr: TPM_PCRRead(0) via the manager failed (rc 8); refusing to serve"), "{out:?}");
    assert!(said(&lines, "but this manager has no hardware TPM (tpmdriver=none)"), "{:?}", lines.borrow());
}

/// `root_key=hdb`: the key is read over blkfront from `device/vbd/832` (here served read-only
/// by another backend domain); a blank key disk is refused with a line; the disk made with
/// the key disk is refused with a passphrase, untouched.
#[test]
fn tpmdriver_none_with_a_key_disk() {
    const KEY_DOM: u16 = 8;
    let w = World::new();
    w.add_domain(KEY_DOM);
    let dom = w.add_domain(MGR);
    let key_sector: Vec<u8> = (0..512u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let key_disk = Rc::new(RefCell::new([key_sector.clone(), vec![0; 7 * 512]].concat()));
    toolstack::vbd_attach(&w, MGR, KEY_DOM, 832);
    Blkback::spawn(&w, KEY_DOM, Flavor::Qdisk, key_disk, 512, true);
    let hv = leak(dom);
    let key = manager::read_key_disk(hv).expect("the key disk");
    assert_eq!(key, AdminKey::from_key_disk(&key_sector).unwrap());
    // the manager's own disk, with that key; then the same disk with a passphrase
    let disk = Rc::new(RefCell::new(vec![0u8; 4096 * 512]));
    let w2 = World::new();
    let (_m, lines) = spawn_keyed_manager(&w2, disk.clone(), &key).expect("first boot");
    assert!(said(&lines, "a new root is wrapped by the administrator key"), "{:?}", lines.borrow());
    let before = disk.borrow().clone();
    let w3 = World::new();
    let e = spawn_keyed_manager(&w3, disk.clone(), &AdminKey::parse_passphrase("text:12345678").unwrap())
        .err()
        .expect("refused");
    assert!(e.contains("the disk's root is wrapped by a key disk (root_key=hdb), but a passphrase"), "{e}");
    assert!(*disk.borrow() == before);
    // a blank key disk
    let w4 = World::new();
    w4.add_domain(KEY_DOM);
    let dom = w4.add_domain(MGR);
    toolstack::vbd_attach(&w4, MGR, KEY_DOM, 832);
    Blkback::spawn(&w4, KEY_DOM, Flavor::Qdisk, Rc::new(RefCell::new(vec![0; 8 * 512])), 512, true);
    let e = manager::read_key_disk(leak(dom)).expect_err("blank");
    assert!(e.starts_with("device/vbd/832: the key disk's first 32 bytes are all the same"), "{e}");
}

/// `hw_seal_pcrs=16` (through the image's option parser) over tpmfront to a TPM 1.2: the root
/// is sealed to PCR 16; after an extend of PCR 16 (a changed boot chain) the next boot is
/// refused with a clear line and nothing written.
#[test]
fn hw_seal_pcrs_over_tpmfront_breaks_when_the_pcr_changes() {
    if !have_swtpm() {
        return;
    }
    let dir = StateDir::new("mgr-pcrs");
    let tpm = Rc::new(RefCell::new(Swtpm::start(&dir.0, Family::Tpm12)));
    let config =
        vtpmmgr::options::hw_config(&kernel::cmdline::parse(b"tpmdriver=tpmfront hw_seal_pcrs=16")).expect("options");
    assert!(!config.seal_pcrs.is_empty());
    let disk = Rc::new(RefCell::new(vec![0u8; 4096 * 512]));
    let w = World::new();
    spawn_tpm_domain(&w, tpm.clone(), 0);
    let (_m, lines) = spawn_tpmfront_manager(&w, disk.clone(), 0, config.clone(), false);
    assert!(said(&lines, "INFO[VTPM]: first boot"), "{:?}", lines.borrow());
    // the same PCR value: the root unseals
    let w2 = World::new();
    spawn_tpm_domain(&w2, tpm.clone(), 0);
    let (_m, lines) = spawn_tpmfront_manager(&w2, disk.clone(), 0, config.clone(), false);
    assert!(said(&lines, "INFO[VTPM]: key store loaded: 0 vTPM record(s), root sequence 1"), "{:?}", lines.borrow());
    // what is measured into PCR 16 changes
    let mut ext = tpm_frame::command(0x00C1, 0x14, &16u32.to_be_bytes());
    ext.extend_from_slice(&[0x42; 20]);
    ext[5] = 34;
    assert_eq!(tpm_frame::return_code(&tpm.borrow_mut().transmit(&ext).unwrap()), Some(0));
    let before = disk.borrow().clone();
    let w3 = World::new();
    spawn_tpm_domain(&w3, tpm.clone(), 0);
    let dom = w3.add_domain(MGR);
    toolstack::vbd_attach(&w3, MGR, 0, 768);
    toolstack::vtpm_attach(&w3, MGR, TPM_DOM, 0, "cccccccc-0000-4000-8000-00000000000c");
    Blkback::spawn(&w3, 0, Flavor::Qdisk, disk.clone(), 512, false);
    let hv = leak(dom);
    let (d, _) = BlkDisk::connect(hv).expect("hda");
    let mut front = FrontTpm::connect(hv, 0, false, &mut |_| {});
    let e = manager::open_store(d, &mut front, hv, &mut MgrRng::new(b"cpu"), &config).err().expect("refused");
    eprintln!("{e}");
    assert!(e.starts_with("ERROR[VTPM]: the manager's root cannot be unsealed: "), "{e}");
    assert!(e.ends_with("; nothing was written"), "{e}");
    assert!(*disk.borrow() == before, "the disk is untouched");
}
