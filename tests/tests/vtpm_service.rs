//! The vtpm image's own service loop (`vtpm::VtpmService`) in the simulated Xen: the console
//! lines the real-Xen end-to-end test greps, power-off when the last frontend leaves, and the
//! engine's start as the image does it.

use std::cell::RefCell;
use std::rc::Rc;

use integration_tests::fake_tpm::{self, FakeTpm};
use integration_tests::linux_tpmfront::LinuxTpmFront;
use integration_tests::simxen::{World, toolstack};
use integration_tests::vtpm_sim::{spawn_shared_vtpm, spawn_vtpm};
use tpm12::TpmOptions;
use tpm12::platform::ManualClock;
use tpm12::testing::DetRng;
use vtpm::options::VtpmOptions;
use vtpm::service::Lines;

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const UUID: &str = "11111111-2222-3333-4444-555555555555";

#[test]
fn console_lines_and_power_off_after_the_last_frontend() {
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    let dev = toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let vtpm = spawn_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    let mut linux = LinuxTpmFront::probe(&w, 2).unwrap();
    w.run_until(MS, S, || linux.fe_state == 4);
    assert!(linux.transmit(&fake_tpm::pcr_read(0)).is_ok());
    toolstack::detach_begin(&w, &dev);
    w.run_until(MS, S, || vtpm.back().connected() == 0);
    toolstack::detach_finish(&w, &dev);
    w.run_until(MS, S, || false);
    assert!(!vtpm.powered_off.get(), "the guest still exists: the vtpm waits for it");
    w.destroy_domain(2);
    assert!(w.run_until(MS, 35 * S, || vtpm.powered_off.get()), "powers off");
    let lines = vtpm.lines.borrow();
    assert_eq!(
        lines.as_slice(),
        [
            "Info: locality: every frontend's commands run at locality 0, whatever locality its requests ask for",
            "Info: VTPM serving frontends (backend/vtpm)",
            "Info: VTPM attached to Frontend 2/0",
            "Info: VTPM detached from Frontend 2/0",
            "Info: no frontend left; guest domain 2 still exists (device detached): waiting for it to attach again",
            "Info: guest domain 2 is gone; waiting 30 s for it to come back (a reboot; reboot_wait=)",
            "Info: last frontend gone; shutting down",
        ]
    );
}

#[test]
fn the_engine_starts_as_the_image_starts_it() {
    let w = World::new();
    let dom = w.add_domain(1);
    let opts = VtpmOptions { maintcmds: true, ..VtpmOptions::default() };
    let tpm_opts = TpmOptions { ek_bits: 1024, ..vtpm::tpm12_engine::tpm_options(&opts) };
    assert!(tpm_opts.maintcmds);
    let (_engine, line) =
        vtpm::tpm12_engine::start(&dom, Box::new(DetRng::new(1)), Box::new(ManualClock(0)), tpm_opts, &opts)
            .expect("manufactured");
    assert!(line.starts_with("Info: TPM 1.2 engine manufactured in "), "{line}");
    assert!(
        line.ends_with(
            " ms (EK generated); TPM_Startup(ST_CLEAR) rc=0, TPM_SelfTestFull rc=0; maintenance commands on"
        ),
        "{line}"
    );
    let mut out = Lines::default();
    let mut dom = dom;
    vtpm::service::report_persistence(&mut dom, &opts, &mut out);
    assert_eq!(
        out.0,
        ["Info: no vTPM manager (no device/vtpm/0): TPM state is volatile (lost when this domain stops)"]
    );
}

/// A CPU whose RDSEED/RDRAND give the listed values (then nothing), and a counting TSC.
struct Cpu {
    rdseed: Vec<u64>,
    rdrand: Vec<u64>,
    tsc: u64,
}

impl Cpu {
    fn new(rdseed: Vec<u64>, rdrand: Vec<u64>) -> Cpu {
        Cpu { rdseed, rdrand, tsc: 1000 }
    }
}

impl vtpm::entropy::CpuEntropy for Cpu {
    fn rdseed64(&mut self) -> Option<u64> {
        (!self.rdseed.is_empty()).then(|| self.rdseed.remove(0))
    }
    fn rdrand64(&mut self) -> Option<u64> {
        (!self.rdrand.is_empty()).then(|| self.rdrand.remove(0))
    }
    fn tsc(&mut self) -> u64 {
        self.tsc += 977;
        self.tsc
    }
}

fn good(n: u64) -> Vec<u64> {
    (1..=n).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect()
}

#[test]
fn no_strong_entropy_source_refuses_to_manufacture() {
    let w = World::new();
    let mut dom = w.add_domain(1);
    let mut out = Lines::default();
    let pool = vtpm::entropy::strong_pool(&mut dom, &mut Cpu::new(vec![], vec![]), &mut out);
    assert!(pool.is_none(), "timing alone is not a seed");
    assert_eq!(out.0.len(), 1, "{:?}", out.0);
    assert!(out.0[0].starts_with("ERROR: no strong entropy source ("), "{}", out.0[0]);
    assert!(out.0[0].contains("refusing to manufacture the TPM"), "{}", out.0[0]);
}

#[test]
fn rdrand_all_ones_and_repeats_do_not_count() {
    let w = World::new();
    let mut dom = w.add_domain(1);
    // the AMD after-resume bug: all-ones with the carry flag set
    let mut out = Lines::default();
    assert!(vtpm::entropy::strong_pool(&mut dom, &mut Cpu::new(vec![], vec![u64::MAX; 32]), &mut out).is_none());
    assert!(out.0[0].contains("0 good RDSEED and 0 good RDRAND values"), "{}", out.0[0]);
    // a stuck generator: one value over and over counts once
    let mut out = Lines::default();
    assert!(vtpm::entropy::strong_pool(&mut dom, &mut Cpu::new(vec![7; 16], vec![7; 32]), &mut out).is_none());
    assert!(out.0[0].contains("1 good RDSEED and 0 good RDRAND values"), "{}", out.0[0]);
    // 31 good RDRAND values and one zero: not enough
    let mut r = good(31);
    r.push(0);
    let mut out = Lines::default();
    assert!(vtpm::entropy::strong_pool(&mut dom, &mut Cpu::new(vec![], r), &mut out).is_none());
    // 32 good ones are
    let mut out = Lines::default();
    let pool = vtpm::entropy::strong_pool(&mut dom, &mut Cpu::new(vec![], good(32)), &mut out).unwrap();
    assert_eq!((pool.rdseed, pool.rdrand), (0, 32));
    assert!(out.0[0].starts_with("Info: RNG: ChaCha20 seeded from 32 RDRAND values"), "{}", out.0[0]);
    // RDSEED: 8 good values suffice
    let mut out = Lines::default();
    let pool = vtpm::entropy::strong_pool(&mut dom, &mut Cpu::new(good(8), vec![]), &mut out).unwrap();
    assert_eq!(pool.rdseed, 8);
    assert!(out.0[0].starts_with("Info: RNG: ChaCha20 seeded from 8 RDSEED values"), "{}", out.0[0]);
}

#[test]
fn the_toolstack_seed_is_taken_deleted_and_never_printed() {
    let w = World::new();
    let mut dom = w.add_domain(1);
    let seed = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    w.xs_write("/local/domain/1/vtpm-seed", seed);
    let mut out = Lines::default();
    let pool = vtpm::entropy::strong_pool(&mut dom, &mut Cpu::new(vec![], vec![]), &mut out).expect("strong");
    assert!(pool.toolstack_seed);
    assert_eq!(w.xs("/local/domain/1/vtpm-seed"), None, "deleted after reading");
    assert_eq!(
        out.0,
        [
            "Info: RNG: ChaCha20 seeded from the toolstack's vtpm-seed (HKDF-SHA256, with TSC/xenstore timing mixed in); rekeyed every 64 KiB of output"
        ]
    );
    for l in &out.0 {
        assert!(!l.to_lowercase().contains("00112233"), "never printed: {l}");
    }
    // the engine starts from it
    let rng = vtpm::rng::ReseedingRng::new(&pool.bytes, || None);
    let opts = VtpmOptions::default();
    let tpm_opts = TpmOptions { ek_bits: 1024, ..vtpm::tpm12_engine::tpm_options(&opts) };
    assert!(vtpm::tpm12_engine::start(&dom, Box::new(rng), Box::new(ManualClock(0)), tpm_opts, &opts).is_ok());
    // a second boot has no seed (and a malformed one is dropped, unused, with a warning)
    w.xs_write("/local/domain/1/vtpm-seed", "not hex");
    let mut out = Lines::default();
    assert!(vtpm::entropy::strong_pool(&mut dom, &mut Cpu::new(vec![], vec![]), &mut out).is_none());
    assert_eq!(out.0[0], "Warning: vtpm-seed is not 64 hex digits; not used");
    assert_eq!(w.xs("/local/domain/1/vtpm-seed"), None);
}

/// `TPM_PCR_Reset` of PCR 17 (the DRTM PCR only locality 4 may reset).
fn pcr_reset_17() -> Vec<u8> {
    vec![0x00, 0xC1, 0, 0, 0, 15, 0, 0, 0, 0xC8, 0, 3, 0, 0, 0x02]
}

fn rc(r: &[u8]) -> u32 {
    u32::from_be_bytes(r[6..10].try_into().unwrap())
}

/// A started TPM 1.2 engine (1024-bit EK: keeps debug-build key generation short).
fn tpm12() -> vtpm::Tpm12Engine {
    let w = World::new();
    let opts = VtpmOptions::default();
    let tpm_opts = TpmOptions { ek_bits: 1024, ..vtpm::tpm12_engine::tpm_options(&opts) };
    let (engine, _) =
        vtpm::tpm12_engine::start(&w.domain(0), Box::new(DetRng::new(3)), Box::new(ManualClock(0)), tpm_opts, &opts)
            .expect("manufactured");
    engine
}

#[test]
fn a_guest_asking_for_locality_4_cannot_reset_the_drtm_pcr() {
    use drivers::hv::PageAccess;
    use integration_tests::raw_front::RawFront;
    use vtpm::Engine;

    // the engine itself lets locality 4 reset PCR 17: the service must not pass the guest's 4 on
    let mut direct = tpm12();
    assert_eq!(rc(&direct.execute(4, &pcr_reset_17())), 0, "locality 4 may reset PCR 17");

    let w = World::new();
    w.add_domain(1);
    w.add_domain(3);
    toolstack::vtpm_attach(&w, 3, 1, 0, UUID);
    let opts = VtpmOptions { locality: vec!["guest_t=0,4".into()], ..VtpmOptions::default() };
    let vtpm = integration_tests::vtpm_sim::spawn_vtpm_with(&w, 1, Rc::new(RefCell::new(tpm12())), &opts);
    let mut front = RawFront::setup(&w, 3, 0);
    w.run_until(MS, S, || vtpm.back().connected() == 1);
    let before = {
        front.submit(&fake_tpm::pcr_read(17));
        w.run_until(MS, S, || front.state() == 2);
        front.response().unwrap()
    };
    front.page.write(5, &[4]).unwrap(); // the page's locality byte
    front.submit(&pcr_reset_17());
    w.run_until(MS, S, || front.state() == 2);
    assert_ne!(rc(&front.response().unwrap()), 0, "refused: the command ran at locality 0");
    front.submit(&fake_tpm::pcr_read(17));
    w.run_until(MS, S, || front.state() == 2);
    assert_eq!(front.response().unwrap(), before, "PCR 17 unchanged");
    assert!(vtpm.said(
        "Warning: Frontend 3/0 asked for locality 4; its commands run at locality 0 (no locality= entry matches it)"
    ));
    assert!(vtpm.said("Warning: locality=guest_t=0,4: the frontends' XSM labels cannot be read (no FLASK)"));
}

#[test]
fn the_fake_engine_sees_locality_0_whatever_the_page_says() {
    use drivers::hv::PageAccess;
    use integration_tests::raw_front::RawFront;

    let w = World::new();
    w.add_domain(1);
    w.add_domain(3);
    toolstack::vtpm_attach(&w, 3, 1, 0, UUID);
    let tpm = Rc::new(RefCell::new(FakeTpm::new()));
    let vtpm = spawn_vtpm(&w, 1, tpm.clone());
    let mut front = RawFront::setup(&w, 3, 0);
    w.run_until(MS, S, || vtpm.back().connected() == 1);
    for l in [4u8, 2, 0] {
        front.page.write(5, &[l]).unwrap();
        front.submit(&fake_tpm::pcr_read(0));
        w.run_until(MS, S, || front.state() == 2);
    }
    assert_eq!(tpm.borrow().log, [(0, fake_tpm::TPM_ORD_PCR_READ); 3]);
    let told = vtpm.lines.borrow().iter().filter(|l| l.contains("asked for locality")).count();
    assert_eq!(told, 1, "said once per frontend");
}

#[test]
fn a_greedy_guest_does_not_keep_the_vtpm_from_xenstore() {
    use drivers::hv::DomId;
    use drivers::tpmback::{BackendEvent, FrontendId};
    use integration_tests::raw_front::RawFront;
    use std::cell::Cell;

    const ROUNDS: u32 = 200;
    let w = World::new();
    w.add_domain(1);
    for d in [3u16, 4] {
        w.add_domain(d);
        toolstack::vtpm_attach(&w, d, 1, 0, &format!("00000000-0000-0000-0000-00000000000{d}"));
    }
    // three guests on one vtpm: scheduling only (a product vtpm serves one domain)
    let vtpm = spawn_shared_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    vtpm.hold_ns.set(MS);
    let fronts: Vec<Rc<RefCell<RawFront>>> =
        [3u16, 4].iter().map(|&d| Rc::new(RefCell::new(RawFront::setup(&w, d, 0)))).collect();
    w.run_until(MS, S, || vtpm.back().connected() == 2);
    // both resubmit the moment they see their answer, ROUNDS times each
    for f in &fronts {
        f.borrow_mut().submit(&fake_tpm::pcr_read(0));
        let (f, left) = (f.clone(), Cell::new(ROUNDS));
        let id = f.borrow().dom.id;
        w.add_actor(id, move || {
            let mut f = f.borrow_mut();
            if f.state() == 2 && left.get() > 0 {
                left.set(left.get() - 1);
                f.submit(&fake_tpm::pcr_read(0));
            }
        });
    }
    // a third guest attaches while they hammer; note how many requests were served by then
    let third: Rc<RefCell<Option<RawFront>>> = Rc::new(RefCell::new(None));
    let attached_at = Rc::new(Cell::new(None::<usize>));
    {
        let (w2, third, attached_at) = (w.clone(), third.clone(), attached_at.clone());
        let (served, events) = (vtpm.served.clone(), vtpm.events.clone());
        w.add_actor(0, move || {
            if third.borrow().is_none() && served.borrow().len() >= 10 {
                w2.add_domain(5);
                toolstack::vtpm_attach(&w2, 5, 1, 0, "00000000-0000-0000-0000-000000000005");
                *third.borrow_mut() = Some(RawFront::setup(&w2, 5, 0));
            }
            let five = FrontendId { domid: DomId(5), handle: 0 };
            if attached_at.get().is_none() && events.borrow().contains(&BackendEvent::Attached(five)) {
                attached_at.set(Some(served.borrow().len()));
            }
        });
    }
    w.run_until(MS, 10 * S, || attached_at.get().is_some() && vtpm.served.borrow().len() >= 2 * ROUNDS as usize);
    let at = attached_at.get().expect("the third guest was attached");
    assert!(at < 40, "attached after {at} requests: xenstore waited for the greedy guests");
    // and each step served at most one round-robin pass before going back to `wait_until`
    // (where the kernel handles control/shutdown)
    assert!(vtpm.max_per_step.get() <= 3, "{} requests in one step", vtpm.max_per_step.get());
}
