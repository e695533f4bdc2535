//! Backup and migration between two managers in the simulated Xen, end to end: two hosts (two
//! worlds), each with the manager image's loop (`vtpmmgr::manager`, `tpmdriver=none`: its own
//! disk and root secret) and `vtpmctl` in dom0 reaching it over dom0's tpmfront
//! (`vtpmctl::mgmt_link::FrontLink`, found by `find_device` as on a real dom0). The real vtpm
//! (`vtpm::persist`) saves an owned TPM on host A; `vtpmctl export` to B's `manager-key`;
//! `vtpmctl import` on B; the same disk restores on B with the same owner and EK; A refuses the
//! vtpm afterwards; a replayed and a tampered import are refused; backup → delete → restore on
//! A brings a vtpm back; a vtpm's own management frames are refused (`TPM_AUTHFAIL`, tag
//! `0x01C5`), dom0's are answered.

#[path = "support/vtpm_client.rs"]
mod vtpm_client;

use integration_tests::shared_disk::SharedDisk;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use drivers::hv::{XenStore, XsTx};
use drivers::tpmfront::{FrontStyle, TpmFront};
use integration_tests::simxen::blkback::{Blkback, Flavor};
use integration_tests::simxen::{SimDomain, World, toolstack};
use tpm12::testing::DetRng;
use tpm12::testing::client::Client;
use vtpm::Tpm12Engine;
use vtpm::persist::Persistence;
use vtpm::service::Lines;
use vtpm::state_disk::HostDisk;
use vtpm_store::MemDisk;
use vtpmctl::host::{CmdOutput, Host};
use vtpmctl::mgmt_link::{self, FrontLink, ManagerLink};
use vtpmmgr::manager::{self, BlkDisk, Manager, SharedHv};
use vtpmmgr::rng::MgrRng;
use vtpmmgr_core::Service;
use vtpmmgr_core::admin_key::{AdminKey, KdfParams};
use vtpmmgr_core::mgmt::{self, MgmtRequest};

const S: u64 = 1_000_000_000;
const MGR: u16 = 1;
const U1: &str = "aaaaaaaa-1111-4111-8111-000000000001";
const U2: &str = "aaaaaaaa-2222-4222-8222-000000000002";
const DOM0_UUID: &str = "d0d0d0d0-0000-4000-8000-000000000000";
const OWNER: [u8; 20] = [0x11; 20];
const SRK: [u8; 20] = [0x22; 20];

type Lines2 = Rc<RefCell<Vec<String>>>;
type SimManager = Manager<SimDomain, BlkDisk<'static, 'static, SimDomain>>;
type P = Persistence<SimDomain, HostDisk<SharedDisk<MemDisk>>>;

fn leak(dom: SimDomain) -> &'static SharedHv<'static, SimDomain> {
    Box::leak(Box::new(RefCell::new(Box::leak(Box::new(dom)))))
}

/// One host: a world, its manager domain (`tpmdriver=none`, its own disk and passphrase),
/// named `vtpmmgr` in xenstore, and dom0's management device to it (`device/vtpm/0`).
struct HostSim {
    w: World,
    lines: Lines2,
    _mgr: Rc<RefCell<SimManager>>,
}

fn host(passphrase: &str) -> HostSim {
    let w = World::new();
    let dom = w.add_domain(MGR);
    w.domain(0).write(XsTx::NONE, "/local/domain/0/name", "Domain-0").unwrap();
    w.domain(0).write(XsTx::NONE, &format!("/local/domain/{MGR}/name"), "vtpmmgr").unwrap();
    toolstack::vbd_attach(&w, MGR, 0, 768);
    Blkback::spawn(&w, 0, Flavor::Qdisk, Rc::new(RefCell::new(vec![0u8; 4096 * 512])), 512, false);
    let hv = leak(dom);
    let (disk, _) = BlkDisk::connect(hv).expect("hda");
    let key = AdminKey::parse_passphrase(passphrase).expect("passphrase");
    let mut rng = MgrRng::new(passphrase.as_bytes());
    let (store, line) = manager::open_store_with_admin_key(disk, &key, KdfParams::MINIMAL, &mut rng).expect("store");
    let lines: Lines2 = Rc::new(RefCell::new(vec![line]));
    let l = lines.clone();
    let m = Rc::new(RefCell::new(Manager::start(hv, Service::new(store), &mut |s| l.borrow_mut().push(s.into()))));
    let (m2, l2) = (m.clone(), lines.clone());
    w.add_actor(MGR, move || {
        let Ok(mut m) = m2.try_borrow_mut() else { return };
        m.step_without_tpm(hv, &mut rng, &mut |s| l2.borrow_mut().push(s.into()));
    });
    // `xl vtpm-attach 0 backend=vtpmmgr`
    toolstack::vtpm_attach(&w, 0, MGR, 0, DOM0_UUID);
    HostSim { w, lines, _mgr: m }
}

/// vtpmctl's view of the simulated dom0: xenstore and the management link are the world's;
/// there is no `xl` (the vtpm domains are started by the test).
struct SimHost {
    xs: SimDomain,
    link: Option<FrontLink<SimDomain>>,
}

struct Borrowed<'a>(&'a mut dyn ManagerLink);

impl ManagerLink for Borrowed<'_> {
    fn transact(&mut self, request: &[u8]) -> Result<Vec<u8>, String> {
        self.0.transact(request)
    }
}

impl Host for SimHost {
    fn run(&mut self, program: &str, _args: &[&str]) -> Result<CmdOutput, String> {
        Err(format!("cannot run {program} in the simulated dom0"))
    }
    fn xenstore(&mut self) -> Result<&mut dyn XenStore, String> {
        Ok(&mut self.xs)
    }
    fn now_ms(&self) -> u64 {
        0
    }
    fn sleep_ms(&mut self, _ms: u64) {}
    fn random(&mut self, buf: &mut [u8]) -> Result<(), String> {
        buf.fill(0x5a);
        Ok(())
    }
    fn console_log(&mut self, _name: &str) -> Option<String> {
        None
    }
    fn set_console_dir(&mut self, _dir: PathBuf) {}
    fn probe(&mut self, _peer: Option<u16>) -> Vec<xen_dom0::probe::Check> {
        Vec::new()
    }
    fn manager(&mut self, name: &str) -> Result<Box<dyn ManagerLink + '_>, String> {
        // as RealHost: dom0's device to the manager, by name (one connection for the test)
        if self.link.is_none() {
            let node = mgmt_link::find_device(&mut self.xs, name)?;
            self.link = Some(FrontLink::connect(self.xs.clone(), &node)?);
        }
        match self.link.as_mut() {
            Some(l) => Ok(Box::new(Borrowed(l))),
            None => Err("no link".into()),
        }
    }
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn vtpmctl(h: &HostSim, state: &Path, args: &[&str]) -> Run {
    let mut host = SimHost { xs: h.w.domain(0), link: None };
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = vtpmctl::run(&args, Some(state.to_path_buf()), &mut host, &mut out, &mut err);
    Run { code, out: String::from_utf8_lossy(&out).into(), err: String::from_utf8_lossy(&err).into() }
}

/// A registry record as `vtpmctl create` writes it (the test makes the disk itself).
fn register(state: &Path, name: &str, uuid: &str, disk: &Path) {
    std::fs::create_dir_all(state).unwrap();
    let cfg = state.join(format!("{name}.cfg"));
    std::fs::write(&cfg, format!("name = \"{name}\"\n")).unwrap();
    let rec = format!(
        "name={name}\nuuid={uuid}\ndisk={}\nsize_mib=8\ncfg={}\nmanager=vtpmmgr\nguest=domu\nguest_cfg=/nonexistent\nguest_line=printed\n",
        disk.display(),
        cfg.display()
    );
    std::fs::write(state.join(format!("{name}.vtpm")), rec).unwrap();
}

/// A running vtpm: the engine and its persistence.
struct Vtpm {
    dom: SimDomain,
    dev: toolstack::DevicePaths,
    lines: Vec<String>,
    started: Option<(Tpm12Engine, P)>,
}

fn vtpm_start(w: &World, id: u16, uuid: &str, state: &Rc<RefCell<MemDisk>>) -> Vtpm {
    w.add_domain(id);
    let dev = toolstack::vtpm_attach(w, id, MGR, 0, uuid);
    let mut dom = w.domain(id);
    let mut out = Lines::default();
    let mgr = vtpm::manager::Manager::connect(&mut dom, &mut out);
    let opts = vtpm::options::VtpmOptions::default();
    let tpm_opts = tpm12::TpmOptions { ek_bits: 1024, ..vtpm::tpm12_engine::tpm_options(&opts) };
    let started = vtpm::persist::start(
        &mut dom,
        mgr,
        HostDisk(SharedDisk(state.clone())),
        Box::new(DetRng::new(u64::from(id))),
        Box::new(DetRng::new(1000 + u64::from(id))),
        Box::new(tpm12::platform::ManualClock(0)),
        tpm_opts,
        &opts,
        &mut out,
    );
    Vtpm { dom, dev, lines: out.0, started }
}

fn vtpm_stop(w: &World, v: Vtpm) {
    drop(v.started);
    w.destroy_domain(v.dom.id);
    toolstack::detach_finish(w, &v.dev);
}

/// Runs `f` with a TPM client over the vtpm's engine, saving as its service does.
fn with_client<R>(v: &mut Vtpm, seed: u64, f: impl FnOnce(&mut Client) -> R) -> R {
    let (engine, p) = v.started.as_mut().expect("started");
    vtpm_client::with_saving_client(engine, p, &mut v.dom, &mut v.lines, seed, f)
}

fn has(lines: &[String], text: &str) -> bool {
    lines.iter().any(|l| l.contains(text))
}

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        let p = std::env::temp_dir().join(format!("vtpmmgr-migrate-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
    fn s(&self, rel: &str) -> String {
        self.p(rel).to_str().unwrap().to_string()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn export_from_a_import_into_b_keeps_the_tpm_and_a_refuses_it_afterwards() {
    let tmp = Tmp::new("export");
    let (state_a, state_b) = (tmp.p("state-a"), tmp.p("state-b"));
    let a = host("text:the passphrase of manager A");
    let b = host("text:the passphrase of manager B");
    assert!(has(&a.lines.borrow(), "INFO[VTPM]: first boot: a new root is wrapped"), "{:?}", a.lines.borrow());

    // host A: the vtpm's first start, an owner, state saved through manager A
    let disk = Rc::new(RefCell::new(MemDisk::new(16384)));
    let mut v = vtpm_start(&a.w, 10, U1, &disk);
    assert!(v.started.is_some(), "{:?}", v.lines);
    let ek = with_client(&mut v, 1, |c| {
        let ek = c.read_pubek().unwrap();
        assert_eq!(c.take_ownership(OWNER, SRK).unwrap().rc, 0);
        ek
    });
    assert!(v.lines.iter().all(|l| !l.starts_with("ERROR")), "{:?}", v.lines);
    vtpm_stop(&a.w, v);
    // the vtpm's disk file, as vtpmctl create makes it
    let disk_file = tmp.p("v1.img");
    std::fs::write(&disk_file, disk.borrow().image()).unwrap();
    register(&state_a, "v1", U1, &disk_file);
    let o = vtpmctl(&a, &state_a, &["list"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains("manager vtpmmgr: 1 vTPM record(s)\n"), "{}", o.out);

    // B's key, A's export to it
    let o = vtpmctl(&b, &state_b, &["manager-key"]);
    assert_eq!(o.code, 0, "{}", o.err);
    let key_b = o.out.trim().to_string();
    assert_eq!(key_b.len(), 64);
    let file = tmp.s("v1.export");
    let o = vtpmctl(&a, &state_a, &["export", "v1", "--to", &key_b, &file]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains("its record at the manager vtpmmgr is retired"), "{}", o.out);
    assert!(has(&a.lines.borrow(), "exported; its record here is retired"), "{:?}", a.lines.borrow());

    // A refuses the vtpm from now on (its state stays as it is)
    let before = disk.borrow().image().to_vec();
    let v = vtpm_start(&a.w, 11, U1, &disk);
    assert!(v.started.is_none(), "{:?}", v.lines);
    assert!(has(&v.lines, "the manager's LOADHASHKEY failed (rc 1028)"), "{:?}", v.lines);
    assert!(disk.borrow().image() == &before[..], "the vtpm wrote nothing");
    assert!(has(&a.lines.borrow(), "was exported from this manager (retired)"), "{:?}", a.lines.borrow());
    vtpm_stop(&a.w, v);

    // a changed blob: refused by B's manager, nothing written
    let bytes = std::fs::read(&file).unwrap();
    let mut ar = vtpmctl::archive::Archive::decode(&bytes).unwrap();
    let n = ar.blob.len();
    ar.blob[n - 20] ^= 0x04;
    std::fs::write(tmp.p("tampered.export"), ar.encode()).unwrap();
    let o = vtpmctl(&b, &state_b, &["import", &tmp.s("tampered.export"), "--disk", &tmp.s("b-tampered.img")]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("IMPORT refused: not authorised, or the blob does not authenticate"), "{}", o.err);
    assert!(!tmp.p("b-tampered.img").exists());

    // host B imports; the same disk restores there with the same TPM
    let o = vtpmctl(&b, &state_b, &["import", &file, "--disk", &tmp.s("b-v1.img")]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains(&format!("imported vtpm v1 (uuid {U1}) at the manager vtpmmgr")), "{}", o.out);
    let disk_b = Rc::new(RefCell::new(MemDisk::from_image(std::fs::read(tmp.p("b-v1.img")).unwrap())));
    let v = vtpm_start(&b.w, 10, U1, &disk_b);
    assert!(v.started.is_some(), "{:?}", v.lines);
    assert!(has(&v.lines, "Info: TPM state restored ("), "{:?}", v.lines);
    let tpm = &v.started.as_ref().unwrap().0.0;
    assert!(tpm.owner_installed(), "the owner moved with the vtpm");
    assert_eq!(tpm.perm().data.endorsement_key.as_ref().map(|k| k.modulus()), Some(ek), "the same EK");
    assert_eq!(tpm.perm().data.owner_auth.0, OWNER);
    vtpm_stop(&b.w, v);

    // a replay is refused
    let o = vtpmctl(&b, &state_b, &["import", &file, "--disk", &tmp.s("b-again.img")]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("this export was imported before (replay refused)"), "{}", o.err);
    assert!(!tmp.p("b-again.img").exists());
    let o = vtpmctl(&b, &state_b, &["list", "--manager", "vtpmmgr"]);
    assert!(o.out.contains(&format!("  not made by vtpmctl: {U1}")), "{}", o.out);
}

#[test]
fn backup_delete_restore_on_one_manager() {
    let tmp = Tmp::new("backup");
    let state = tmp.p("state");
    let a = host("text:the passphrase of manager A");
    let disk = Rc::new(RefCell::new(MemDisk::new(16384)));
    let mut v = vtpm_start(&a.w, 10, U2, &disk);
    assert!(v.started.is_some(), "{:?}", v.lines);
    let ek = with_client(&mut v, 1, |c| {
        let ek = c.read_pubek().unwrap();
        assert_eq!(c.take_ownership(OWNER, SRK).unwrap().rc, 0);
        ek
    });
    vtpm_stop(&a.w, v);
    let disk_file = tmp.p("v2.img");
    std::fs::write(&disk_file, disk.borrow().image()).unwrap();
    register(&state, "v2", U2, &disk_file);
    let file = tmp.s("v2.backup");
    let o = vtpmctl(&a, &state, &["backup", "v2", &file]);
    assert_eq!(o.code, 0, "{}", o.err);
    // the vtpm is deleted: disk, cfg, record, and the manager's record
    let o = vtpmctl(&a, &state, &["delete", "v2", "--yes"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains(&format!("the manager vtpmmgr's record for uuid {U2} removed")), "{}", o.out);
    assert!(!disk_file.exists());
    // restored from the backup: the vtpm starts with its old TPM
    let o = vtpmctl(&a, &state, &["restore", &file, "--disk", &tmp.s("restored.img")]);
    assert_eq!(o.code, 0, "{}", o.err);
    let disk2 = Rc::new(RefCell::new(MemDisk::from_image(std::fs::read(tmp.p("restored.img")).unwrap())));
    let v = vtpm_start(&a.w, 11, U2, &disk2);
    assert!(v.started.is_some() && has(&v.lines, "Info: TPM state restored ("), "{:?}", v.lines);
    let tpm = &v.started.as_ref().unwrap().0.0;
    assert!(tpm.owner_installed());
    assert_eq!(tpm.perm().data.endorsement_key.as_ref().map(|k| k.modulus()), Some(ek));
    vtpm_stop(&a.w, v);
    // while the manager has the record again, a second restore is refused
    let o = vtpmctl(&a, &state, &["restore", &file, "--disk", &tmp.s("again.img")]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("a vTPM with this uuid exists at the manager (rc 0x401)"), "{}", o.err);
}

#[test]
fn only_dom0s_frontend_may_manage() {
    let a = host("text:the passphrase of manager A");
    // a vtpm domain sends a management frame (as a guest's bytes forwarded verbatim would be)
    let mut d = a.w.add_domain(12);
    toolstack::vtpm_attach(&a.w, 12, MGR, 0, U1);
    let mut front: TpmFront<SimDomain> = TpmFront::new("device/vtpm/0");
    front.connect(&mut d, FrontStyle::MiniOs, 10 * S).expect("connected");
    // first it is the admin vtpm (the first record), which the C manager let manage
    let r = front.transact(&mut d, &vtpmmgr_core::proto::save_hash_key(&[3; 64]), 10 * S).unwrap();
    assert_eq!(&r[6..10], &[0, 0, 0, 0]);
    for req in [MgmtRequest::GroupList, MgmtRequest::VtpmList { group: 0, offset: 0 }, MgmtRequest::ManagerKey] {
        let r = front.transact(&mut d, &mgmt::encode(&req), 10 * S).unwrap();
        assert_eq!(r, [0x01, 0xC5, 0, 0, 0, 10, 0, 0, 0, 1], "{req:?}");
    }
    assert!(has(&a.lines.borrow(), "only the management frontend (dom0) may send them"), "{:?}", a.lines.borrow());
    // dom0's frontend is answered
    let mut dom0 = a.w.domain(0);
    let node = mgmt_link::find_device(&mut dom0, "vtpmmgr").expect("dom0's device");
    assert_eq!(node, "device/vtpm/0");
    let mut link = FrontLink::connect(dom0, &node).expect("dom0 link");
    let r = link.transact(&mgmt::encode(&MgmtRequest::GroupList)).unwrap();
    assert_eq!(mgmt::decode_group_list(&r), Ok(1));
    let r = link.transact(&mgmt::encode(&MgmtRequest::VtpmList { group: 0, offset: 0 })).unwrap();
    assert_eq!(mgmt::decode_vtpm_list(&r).map(|(t, _)| t), Ok(1));
}
