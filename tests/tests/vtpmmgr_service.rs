//! The manager image's service loop (`vtpmmgr::manager`) in the simulated Xen, with its real
//! drivers: its disk over blkfront (a simulated qdisk), the hardware TPM over TIS (the
//! simulated TIS registers in front of swtpm 1.2), tpmback serving vtpm frontends of several
//! domains. First boot, SAVE/LOAD per uuid, one connection per uuid (released on detach), and
//! a manager restart (a new manager domain on the same disk and TPM) that loads what was saved;
//! and the disk adapter's transfers longer than one blkif request.
//! Skips, with a printed reason, only when swtpm is not installed.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use drivers::tpm_tis::Tis;
use drivers::tpmfront::{FrontStyle, TpmFront};
use integration_tests::simxen::blkback::{Blkback, Flavor};
use integration_tests::simxen::tis::Tis as TisModel;
use integration_tests::simxen::{SimDomain, World, toolstack};
use vtpmmgr::manager::{self, BlkDisk, Manager, SharedHv};
use vtpmmgr::rng::MgrRng;
use vtpmmgr_core::proto;
use vtpmmgr_core::{HwConfig, Service};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const UUID_A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const UUID_B: &str = "bbbbbbbb-0000-4000-8000-000000000002";

struct Swtpm {
    child: Child,
    _dir: tempdir::Dir,
    conn: Rc<RefCell<TcpStream>>,
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let n =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
            let p = std::env::temp_dir().join(format!("mgr-sim-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).expect("state dir");
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn swtpm12() -> Option<Swtpm> {
    if Command::new("swtpm").arg("--version").output().is_err() {
        eprintln!("\n!!!!!!!! SKIPPED: swtpm not installed (apt-get install swtpm) !!!!!!!!\n");
        return None;
    }
    let dir = tempdir::Dir::new();
    let port = loop {
        let l = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let p = l.local_addr().expect("addr").port();
        drop(l);
        if p < 65535 && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    let child = Command::new("swtpm")
        .args(["socket", "--tpmstate"])
        .arg(format!("dir={}", dir.0.display()))
        .args(["--server", &format!("type=tcp,port={port},bindaddr=127.0.0.1")])
        .args(["--ctrl", &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1)])
        .args(["--flags", "not-need-init"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start swtpm");
    let deadline = Instant::now() + Duration::from_secs(10);
    let conn = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(e) if Instant::now() > deadline => panic!("connect swtpm: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    conn.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    Some(Swtpm { child, _dir: dir, conn: Rc::new(RefCell::new(conn)) })
}

fn engine(conn: Rc<RefCell<TcpStream>>) -> integration_tests::simxen::tis::TisEngine {
    Box::new(move |_l, cmd| {
        let mut c = conn.borrow_mut();
        c.write_all(cmd).expect("to swtpm");
        let mut hdr = [0u8; 10];
        c.read_exact(&mut hdr).expect("from swtpm");
        let n = u32::from_be_bytes([hdr[2], hdr[3], hdr[4], hdr[5]]) as usize;
        let mut rest = vec![0u8; n.saturating_sub(10)];
        c.read_exact(&mut rest).expect("from swtpm");
        [hdr.to_vec(), rest].concat()
    })
}

type SimManager = Manager<SimDomain, BlkDisk<'static, 'static, SimDomain>>;

/// A manager domain `id` in `w` with `disk` (hda, dom0's qdisk) and the TIS in front of
/// `tpm`: boots its key store as the image does and runs `Manager::step` as its actor.
fn spawn_manager(
    w: &World,
    id: u16,
    disk: Rc<RefCell<Vec<u8>>>,
    tpm: &Swtpm,
) -> (Rc<RefCell<SimManager>>, Rc<RefCell<Vec<String>>>) {
    let mut dom = w.add_domain(id);
    toolstack::vbd_attach(w, id, 0, 768);
    Blkback::spawn(w, 0, Flavor::Qdisk, disk, 512, false);
    let model = TisModel::new(w, false, engine(tpm.conn.clone()));
    let mut tis = Tis::probe(model, &mut dom, 0).expect("TIS");
    // the image's `&mut Env` lives as long as the image; here the domain handle is leaked
    let hv: &'static SharedHv<'static, SimDomain> = Box::leak(Box::new(RefCell::new(Box::leak(Box::new(dom)))));
    let (disk, info) = BlkDisk::connect(hv).expect("hda");
    assert_eq!(info.sector_size, 512);
    let mut rng = MgrRng::new(b"simulated cpu");
    let config = HwConfig::default();
    let lines = Rc::new(RefCell::new(Vec::new()));
    let (store, line) = manager::open_store(disk, &mut tis, hv, &mut rng, &config).expect("key store");
    lines.borrow_mut().push(line);
    let l = lines.clone();
    let m = Rc::new(RefCell::new(Manager::start(hv, Service::new(store), &mut |s| l.borrow_mut().push(s.into()))));
    let (m2, l2) = (m.clone(), lines.clone());
    w.add_actor(id, move || {
        let Ok(mut m) = m2.try_borrow_mut() else { return };
        m.step(hv, &mut tis, &mut rng, &config, &mut |s| l2.borrow_mut().push(s.into()));
    });
    (m, lines)
}

/// A vtpm domain `dom` whose backend dir (written by the toolstack) names `uuid`, connected
/// with the vtpm image's own tpmfront (Mini-OS style).
struct Vtpm {
    dom: SimDomain,
    front: TpmFront<SimDomain>,
}

impl Vtpm {
    fn transmit(&mut self, cmd: &[u8]) -> Vec<u8> {
        self.front.transact(&mut self.dom, cmd, 10 * S).expect("reply")
    }
}

fn vtpm(w: &World, dom: u16, mgr: u16, uuid: &str) -> (Vtpm, toolstack::DevicePaths) {
    let mut d = w.add_domain(dom);
    let dev = toolstack::vtpm_attach(w, dom, mgr, 0, uuid);
    let mut front: TpmFront<SimDomain> = TpmFront::new("device/vtpm/0");
    front.connect(&mut d, FrontStyle::MiniOs, 10 * S).expect("connected");
    (Vtpm { dom: d, front }, dev)
}

fn rc(r: &[u8]) -> u32 {
    u32::from_be_bytes([r[6], r[7], r[8], r[9]])
}

#[test]
fn manager_serves_vtpms_over_tpmback_and_keeps_their_keys_across_a_restart() {
    let Some(tpm) = swtpm12() else { return };
    let disk = Rc::new(RefCell::new(vec![0u8; 4096 * 512]));
    let w = World::new();
    let (mgr, lines) = spawn_manager(&w, 1, disk.clone(), &tpm);
    assert!(lines.borrow()[0].starts_with("INFO[VTPM]: first boot"), "{:?}", lines.borrow());
    assert!(lines.borrow().iter().any(|l| l == manager::WAITING));
    let blob_a: Vec<u8> = (0..64).collect();
    let (mut a, dev_a) = vtpm(&w, 2, 1, UUID_A);
    assert_eq!(rc(&a.transmit(&proto::load_hash_key())), 2, "nothing saved yet");
    assert_eq!(rc(&a.transmit(&proto::save_hash_key(&blob_a))), 0);
    let l = a.transmit(&proto::load_hash_key());
    assert_eq!(*proto::decode_load_hash_key_reply(&l).unwrap(), blob_a);
    let r = a.transmit(&proto::get_random(16));
    assert!(!proto::decode_get_random_reply(&r).unwrap().is_empty());
    // another domain, another uuid: its own (empty) record, then its own save
    let (mut b, _dev_b) = vtpm(&w, 3, 1, UUID_B);
    assert_eq!(rc(&b.transmit(&proto::load_hash_key())), 2, "B cannot load A's");
    assert_eq!(rc(&b.transmit(&proto::save_hash_key(&[9; 52]))), 0);
    // a third domain whose backend dir says A's uuid: refused while A is connected
    let (mut a2, _dev_a2) = vtpm(&w, 4, 1, UUID_A);
    assert_eq!(rc(&a2.transmit(&proto::load_hash_key())), 7, "TPM_DISABLED");
    toolstack::detach_begin(&w, &dev_a);
    assert!(w.run_until(MS, 10 * S, || mgr.borrow().backend().connected() == 2), "A detached");
    toolstack::detach_finish(&w, &dev_a);
    drop(a);
    let l = a2.transmit(&proto::load_hash_key());
    assert_eq!(*proto::decode_load_hash_key_reply(&l).unwrap(), blob_a, "after A left");
    assert_eq!(mgr.borrow().service().store().len(), 2);
    let log = lines.borrow().clone();
    assert!(log.iter().any(|l| l.starts_with("INFO[VTPM]: vTPM attached: Frontend 2/0")), "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("INFO[VTPM]: vTPM detached: Frontend 2/0")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("one connection per uuid")), "{log:?}");

    // the manager restarts (a new machine state around the same disk and TPM)
    drop((mgr, a2, b));
    w.remove_actors(1);
    let w2 = World::new();
    let (mgr2, lines2) = spawn_manager(&w2, 1, disk, &tpm);
    assert_eq!(lines2.borrow()[0], "INFO[VTPM]: key store loaded: 2 vTPM record(s), root sequence 3");
    let (mut a3, _) = vtpm(&w2, 5, 1, UUID_A);
    let l = a3.transmit(&proto::load_hash_key());
    assert_eq!(*proto::decode_load_hash_key_reply(&l).unwrap(), blob_a, "after the restart");
    let (mut b3, _) = vtpm(&w2, 6, 1, UUID_B);
    let l = b3.transmit(&proto::load_hash_key());
    assert_eq!(*proto::decode_load_hash_key_reply(&l).unwrap(), [9; 52]);
    assert_eq!(mgr2.borrow().service().store().len(), 2);
}

/// The manager's disk adapter over blkfront: reads and writes longer than one blkif request
/// (11 segments, 44 KiB) — a table of a few hundred records is — are split, not refused.
#[test]
fn the_disk_adapter_splits_long_transfers() {
    use vtpm_store::BlockDevice;
    let w = World::new();
    let mut dom = w.add_domain(1);
    toolstack::vbd_attach(&w, 1, 0, 768);
    let disk = Rc::new(RefCell::new(vec![0u8; 4096 * 512]));
    Blkback::spawn(&w, 0, Flavor::Qdisk, disk.clone(), 512, false);
    let hv: SharedHv<'_, SimDomain> = RefCell::new(&mut dom);
    let (mut d, _) = BlkDisk::connect(&hv).expect("hda");
    let data: Vec<u8> = (0..200 * 512).map(|i| (i % 251) as u8).collect();
    d.write(7, &data).expect("a 100 KiB write");
    d.flush().expect("flush");
    assert_eq!(&disk.borrow()[7 * 512..207 * 512], &data[..]);
    let mut back = vec![0u8; data.len()];
    d.read(7, &mut back).expect("a 100 KiB read");
    assert_eq!(back, data);
    assert_eq!(d.write(4090, &[0; 4096]), Err(vtpm_store::BlockError::OutOfRange));
    assert_eq!(d.read(0, &mut [0; 100]), Err(vtpm_store::BlockError::Unaligned));
}
