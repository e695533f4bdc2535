//! The whole chain with the real TPM 1.2 engine (vtpm/tpm12): our tpmfront and the Linux
//! xen-tpmfront model, through tpmback, to `tpm12::Tpm::execute`.

use std::cell::RefCell;
use std::rc::Rc;

use drivers::tpmfront::{FrontStyle, TpmFront};
use integration_tests::fake_tpm;
use integration_tests::linux_tpmfront::LinuxTpmFront;
use integration_tests::simxen::{World, toolstack};
use integration_tests::vtpm_sim::spawn_shared_vtpm;
use tpm12::platform::ManualClock;
use tpm12::testing::DetRng;
use tpm12::{Tpm, TpmOptions};
use vtpm::Tpm12Engine;

const S: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

/// A manufactured engine after TPM_Startup(ST_CLEAR), as the vtpm image starts it. A 1024-bit
/// EK keeps debug-build key generation short; key size plays no part in the transport.
fn engine() -> Rc<RefCell<Tpm12Engine>> {
    let opts = TpmOptions { ek_bits: 1024, ..TpmOptions::default() };
    let mut tpm = Tpm::manufacture(Box::new(DetRng::new(7)), Box::new(ManualClock(0)), opts).expect("manufacture");
    let r = tpm.execute(0, &[0x00, 0xC1, 0, 0, 0, 12, 0, 0, 0, 0x99, 0, 1]);
    assert_eq!(&r[6..10], &[0, 0, 0, 0], "TPM_Startup(ST_CLEAR)");
    Rc::new(RefCell::new(Tpm12Engine(tpm)))
}

fn rc(r: &[u8]) -> u32 {
    u32::from_be_bytes(r[6..10].try_into().unwrap())
}

#[test]
fn linux_guest_and_our_frontend_share_one_engine() {
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    let mut pvgrub = w.add_domain(3);
    toolstack::vtpm_attach(&w, 2, 1, 0, "11111111-2222-3333-4444-555555555555");
    toolstack::vtpm_attach(&w, 3, 1, 0, "11111111-2222-3333-4444-666666666666");
    let vtpm = spawn_shared_vtpm(&w, 1, engine());

    // Linux probe: GetCapability(0x115, 0x120) answered by the engine before/at connect.
    let mut linux = LinuxTpmFront::probe(&w, 2).expect("probe against the real engine");
    assert!(linux.probe_ns < 100 * MS);
    assert!(linux.durations_ns[0] >= 10 * MS, "engine durations are in µs and large enough");
    w.run_until(MS, S, || linux.fe_state == 4);

    // pvgrub-style measurement through our tpmfront: three Extends, then PCRRead.
    let mut front: TpmFront<_> = TpmFront::new("device/vtpm/0");
    front.connect(&mut pvgrub, FrontStyle::MiniOs, 5 * S).unwrap();
    let digests = [[1u8; 20], [2u8; 20], [3u8; 20]];
    for (pcr, d) in [(4, digests[0]), (5, digests[1]), (5, digests[2])] {
        let r = front.transact(&mut pvgrub, &fake_tpm::extend(pcr, &d), 5 * S).unwrap();
        assert_eq!(rc(&r), 0);
    }
    let pcr5 = fake_tpm::extend_value(&fake_tpm::extend_value(&[0; 20], &digests[1]), &digests[2]);
    let r = front.transact(&mut pvgrub, &fake_tpm::pcr_read(5), 5 * S).unwrap();
    assert_eq!(&r[10..30], &pcr5, "the engine's PCR 5 is SHA-1 chained");

    // The guest sees the same TPM (one engine for all frontends, as the C vtpm).
    let r = linux.transmit(&fake_tpm::pcr_read(5)).unwrap();
    assert_eq!(&r[10..30], &pcr5);
    for i in 0..50u8 {
        let r = linux.transmit(&fake_tpm::extend(16, &[i; 20])).unwrap();
        assert_eq!(rc(&r), 0);
    }
    // GetRandom (Linux's hwrng).
    let r = linux.transmit(&[0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x46, 0, 0, 0, 32]).unwrap();
    assert_eq!((rc(&r), r.len()), (0, 14 + 32));
    // pvgrub closes and leaves the device reusable.
    front.close(&mut pvgrub, S).unwrap();
    assert_eq!(vtpm.back().connected(), 1);
    assert_eq!(vtpm.back().stats().rejected, 0);
}
