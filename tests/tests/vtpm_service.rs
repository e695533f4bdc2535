//! The vtpm image's own service loop (`vtpm::VtpmService`) in the simulated Xen: the console
//! lines the real-Xen end-to-end test greps, power-off when the last frontend leaves, and the
//! engine's start as the image does it.

use std::cell::RefCell;
use std::rc::Rc;

use integration_tests::fake_tpm::{self, FakeTpm};
use integration_tests::linux_tpmfront::LinuxTpmFront;
use integration_tests::simxen::{World, toolstack};
use integration_tests::vtpm_sim::spawn_vtpm;
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
    assert!(w.run_until(MS, S, || vtpm.powered_off.get()), "powers off");
    let lines = vtpm.lines.borrow();
    assert_eq!(
        lines.as_slice(),
        [
            "Info: VTPM serving frontends (backend/vtpm)",
            "Info: VTPM attached to Frontend 2/0",
            "Info: VTPM detached from Frontend 2/0",
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
