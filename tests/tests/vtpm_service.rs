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
