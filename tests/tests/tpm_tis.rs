//! The TIS driver against the TIS register model, with a TPM 1.2 and a TPM 2.0 behind it.

use std::cell::RefCell;
use std::rc::Rc;

use drivers::hv::Mmio;
use drivers::tpm_tis::version::read_version;
use drivers::tpm_tis::{Tis, TisError, TpmFamily};
use integration_tests::fake_tpm::{self, FakeTpm};
use integration_tests::simxen::tis::Tis as TisModel;
use integration_tests::simxen::{SimDomain, World};

const MS: u64 = 1_000_000;

fn tpm12_model(w: &World) -> (TisModel, Rc<RefCell<FakeTpm>>) {
    let tpm = Rc::new(RefCell::new(FakeTpm::new()));
    let t = tpm.clone();
    (TisModel::new(w, false, Box::new(move |l, c| t.borrow_mut().execute(l, c))), tpm)
}

/// A minimal TPM 2.0: GetCapability(TPM_PROPERTIES) and SelfTest; anything else
/// TPM_RC_COMMAND_CODE.
fn tpm2_engine(_l: u8, cmd: &[u8]) -> Vec<u8> {
    let cc = u32::from_be_bytes(cmd[6..10].try_into().unwrap());
    let rsp = |rc: u32, body: &[u8]| {
        let mut v = vec![0x80, 0x01];
        v.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
        v.extend_from_slice(&rc.to_be_bytes());
        v.extend_from_slice(body);
        v
    };
    if u16::from_be_bytes([cmd[0], cmd[1]]) != 0x8001 {
        // A TPM 2.0 answers a 1.2 frame with TPM_RC_BAD_TAG in a 1.2-style header.
        return vec![0x00, 0xC4, 0, 0, 0, 10, 0, 0, 0, 0x1E];
    }
    match cc {
        0x17A => {
            let props = [(0x100u32, 0x322E_3000u32), (0x105, 0x4942_4D20), (0x10B, 0x2019_1023)];
            let mut b = vec![0u8];
            b.extend_from_slice(&6u32.to_be_bytes());
            b.extend_from_slice(&(props.len() as u32).to_be_bytes());
            for (p, v) in props {
                b.extend_from_slice(&p.to_be_bytes());
                b.extend_from_slice(&v.to_be_bytes());
            }
            rsp(0, &b)
        }
        0x143 => rsp(0, &[]),
        _ => rsp(0x143, &[]),
    }
}

/// Wraps an engine so it answers every command with `not_started_rc` (in a frame of `tag`)
/// until it sees the Startup ordinal, as a TPM no firmware started does.
/// A TPM model's command handler: (locality, command) → response.
type Handler = Box<dyn FnMut(u8, &[u8]) -> Vec<u8>>;

fn unstarted(
    tag: u16,
    not_started_rc: u32,
    startup_ord: u32,
    mut inner: impl FnMut(u8, &[u8]) -> Vec<u8> + 'static,
) -> Handler {
    let mut started = false;
    Box::new(move |l, c| {
        let ord = u32::from_be_bytes(c[6..10].try_into().unwrap());
        if !started && ord == startup_ord {
            started = true;
            let mut v = tag.to_be_bytes().to_vec();
            v.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 0]);
            return v;
        }
        if !started {
            let mut v = tag.to_be_bytes().to_vec();
            v.extend_from_slice(&10u32.to_be_bytes());
            v.extend_from_slice(&not_started_rc.to_be_bytes());
            return v;
        }
        inner(l, c)
    })
}

#[test]
fn a_tpm_nobody_started_is_started() {
    // TPM 1.2: GetCapability → TPM_INVALID_POSTINIT → TPM_Startup(ST_CLEAR) → retry.
    let w = World::new();
    let mut c = clock(&w);
    let tpm = Rc::new(RefCell::new(FakeTpm::new()));
    let t = tpm.clone();
    let model = TisModel::new(&w, false, unstarted(0x00C4, 38, 0x99, move |l, c| t.borrow_mut().execute(l, c)));
    let tis = Tis::probe(model.clone(), &mut c, 0).unwrap();
    assert_eq!(tis.info().family, TpmFamily::Tpm12);
    assert_eq!(tis.timeouts().durations[0], 3000 * MS, "durations read after the startup");
    let ords: Vec<u32> =
        model.0.borrow().commands.iter().map(|(_, c)| u32::from_be_bytes(c[6..10].try_into().unwrap())).collect();
    assert_eq!(ords, vec![0x17A, 0x65, 0x99, 0x65, 0x65, 0x53]);
    // TPM 2.0: SelfTest → TPM_RC_INITIALIZE → TPM2_Startup(SU_CLEAR) → SelfTest.
    let w = World::new();
    let mut c = clock(&w);
    let model = TisModel::new(&w, true, unstarted(0x8001, 0x100, 0x144, tpm2_engine));
    let mut tis = Tis::probe(model.clone(), &mut c, 0).unwrap();
    assert_eq!(tis.info().family, TpmFamily::Tpm20);
    let ords: Vec<u32> =
        model.0.borrow().commands.iter().map(|(_, c)| u32::from_be_bytes(c[6..10].try_into().unwrap())).collect();
    assert_eq!(ords, vec![0x17A, 0x143, 0x144, 0x143]);
    assert!(read_version(&mut tis, &mut c).is_ok());
}

fn clock(w: &World) -> SimDomain {
    w.add_domain(1)
}

#[test]
fn tpm12_probe_timeouts_version_and_commands() {
    let w = World::new();
    let mut c = clock(&w);
    let (model, tpm) = tpm12_model(&w);
    let mut tis = Tis::probe(model.clone(), &mut c, 0).unwrap();
    let info = tis.info();
    assert_eq!(info.family, TpmFamily::Tpm12);
    assert_eq!((info.did, info.vid, info.rid), (0x0001, 0x1014, 1));
    assert_eq!(drivers::tpm_tis::interface_version(info.intf_caps), 2);
    assert_eq!(tis.timeouts().abcd, [750 * MS, 2000 * MS, 750 * MS, 750 * MS]);
    assert_eq!(tis.timeouts().durations[..3], [3000 * MS, 3000 * MS, 600_000 * MS]);
    let ords: Vec<u32> =
        model.0.borrow().commands.iter().map(|(_, c)| u32::from_be_bytes(c[6..10].try_into().unwrap())).collect();
    assert_eq!(ords, vec![0x17A, 0x65, 0x65, 0x53], "family probe, timeouts, durations, ContinueSelfTest");
    let v = read_version(&mut tis, &mut c).unwrap();
    assert_eq!(v.to_string(), "TPM 1.2 version 1.2.0.7 specLevel 2 errataRev 3 manufacturer ETHZ");
    let r = tis.transmit(&mut c, &fake_tpm::extend(7, &[9; 20])).unwrap();
    assert_eq!(&r[10..30], &fake_tpm::extend_value(&[0; 20], &[9; 20]));
    assert_eq!(tpm.borrow().pcr(7), fake_tpm::extend_value(&[0; 20], &[9; 20]));
}

#[test]
fn tpm20_is_recognised_and_identified() {
    let w = World::new();
    let mut c = clock(&w);
    let model = TisModel::new(&w, true, Box::new(tpm2_engine));
    let mut tis = Tis::probe(model.clone(), &mut c, 0).unwrap();
    assert_eq!(tis.info().family, TpmFamily::Tpm20);
    assert_eq!(drivers::tpm_tis::interface_version(tis.info().intf_caps), 3);
    assert_eq!(tis.timeouts().abcd[2], 200 * MS);
    let v = read_version(&mut tis, &mut c).unwrap();
    assert_eq!(v.version, *b"2.0\0");
    assert_eq!(v.to_string(), "TPM 2.0 manufacturer IBM firmware 0x20191023");
    let last = &model.0.borrow().commands[1].1;
    assert_eq!(last, &vec![0x80, 0x01, 0, 0, 0, 0x0B, 0, 0, 0x01, 0x43, 0x01], "TPM2_SelfTest(full)");
}

fn access(model: &mut TisModel, l: u8) -> u8 {
    model.read8(usize::from(l) * 0x1000)
}

#[test]
fn firmware_left_locality_0_active_and_locality_2_seizes_it() {
    for tpm2 in [false, true] {
        let w = World::new();
        let mut c = clock(&w);
        let mut model = if tpm2 { TisModel::new(&w, true, Box::new(tpm2_engine)) } else { tpm12_model(&w).0 };
        model.foreign_request(0); // SeaBIOS took locality 0 and never relinquishes it
        // what the test bed shows: a request for 2 stays pending
        model.write8(0x2000, 0x02);
        assert_eq!((access(&mut model, 0), access(&mut model, 2)), (0xa5, 0x83));
        let t0 = w.now();
        let mut tis = Tis::probe(model.clone(), &mut c, 2).unwrap();
        assert!(w.now() - t0 >= 750 * MS, "waited timeout A before seizing");
        assert_eq!(model.active(), Some(2));
        assert_eq!(model.0.borrow().seize_writes, 1);
        assert_eq!(access(&mut model, 0), 0x80 | 0x10 | 0x01, "locality 0: beenSeized, no longer active");
        assert_eq!(access(&mut model, 2), 0x80 | 0x20 | 0x01, "locality 2 active, its request consumed");
        assert!(model.0.borrow().commands.iter().all(|(l, _)| *l == 2));
        assert!(read_version(&mut tis, &mut c).is_ok());
        assert_eq!(model.0.borrow().seize_writes, 1, "seized once, then kept");
    }
}

#[test]
fn a_higher_locality_is_not_seized() {
    let w = World::new();
    let mut c = clock(&w);
    let (mut model, _) = tpm12_model(&w);
    model.foreign_request(3);
    assert_eq!(Tis::probe(model.clone(), &mut c, 2).err(), Some(TisError::LocalityHeld { by: 3 }));
    assert_eq!(model.0.borrow().seize_writes, 0, "no Seize tried when the holder is visibly higher");
    assert_eq!(model.active(), Some(3));
    assert_eq!(access(&mut model, 3) & 0x10, 0);
    // and the model itself refuses a Seize from below
    model.write8(0x2000, 0x08);
    assert_eq!(model.active(), Some(3));
}

/// Only locality `l`'s page is mapped (`iomem=["fed42,1"]`): other pages read all ones.
#[derive(Clone)]
struct OnePage(TisModel, u8);

impl Mmio for OnePage {
    fn read8(&mut self, off: usize) -> u8 {
        if off / 0x1000 == usize::from(self.1) { self.0.read8(off) } else { 0xFF }
    }
    fn read32(&mut self, off: usize) -> u32 {
        if off / 0x1000 == usize::from(self.1) { self.0.read32(off) } else { u32::MAX }
    }
    fn write8(&mut self, off: usize, v: u8) {
        if off / 0x1000 == usize::from(self.1) {
            self.0.write8(off, v)
        }
    }
    fn write32(&mut self, off: usize, v: u32) {
        if off / 0x1000 == usize::from(self.1) {
            self.0.write32(off, v)
        }
    }
}

#[test]
fn with_only_our_page_mapped_seize_works_below_and_is_refused_above() {
    let w = World::new();
    let mut c = clock(&w);
    let (model, _) = tpm12_model(&w);
    model.foreign_request(0);
    let tis = Tis::probe(OnePage(model.clone(), 2), &mut c, 2).unwrap();
    assert_eq!((tis.locality(), model.active()), (2, Some(2)));

    let w = World::new();
    let mut c = clock(&w);
    let (model, _) = tpm12_model(&w);
    model.foreign_request(4);
    let t0 = w.now();
    assert_eq!(Tis::probe(OnePage(model.clone(), 2), &mut c, 2).err(), Some(TisError::SeizeRefused));
    assert!(w.now() - t0 >= 2 * 750 * MS, "timeout A for the request, then for the Seize");
    assert_eq!((model.active(), model.0.borrow().seize_writes), (Some(4), 1));
}

#[test]
fn locality_is_released_to_waiters_and_taken_back() {
    let w = World::new();
    let mut c = clock(&w);
    let (mut model, _) = tpm12_model(&w);
    let mut tis = Tis::probe(model.clone(), &mut c, 2).unwrap();
    assert_eq!(model.0.borrow().seize_writes, 0, "granted at once: nobody held it");
    // dom0 asks: after our next command we release the TPM to it.
    model.foreign_request(0);
    tis.transmit(&mut c, &fake_tpm::pcr_read(0)).unwrap();
    assert_eq!(model.active(), Some(0));
    // dom0 relinquishes in time: our request is granted without a Seize.
    model.write8(0x000, 0x20);
    tis.transmit(&mut c, &fake_tpm::pcr_read(0)).unwrap();
    assert_eq!(model.0.borrow().commands.last().unwrap().0, 2);
    assert_eq!(model.0.borrow().seize_writes, 0);
    // dom0 asks again and then keeps it past timeout A: we seize it back.
    model.foreign_request(0);
    tis.transmit(&mut c, &fake_tpm::pcr_read(0)).unwrap();
    assert_eq!(model.active(), Some(0));
    let t0 = w.now();
    tis.transmit(&mut c, &fake_tpm::pcr_read(0)).unwrap();
    assert!(w.now() - t0 >= 750 * MS);
    assert_eq!((model.active(), model.0.borrow().seize_writes), (Some(2), 1));
    assert_eq!(access(&mut model, 0) & 0x10, 0x10, "dom0 sees beenSeized");
    model.write8(0x000, 0x10);
    assert_eq!(access(&mut model, 0) & 0x10, 0, "beenSeized cleared by writing it");
}

#[test]
fn a_command_over_its_duration_is_cancelled_and_the_next_one_works() {
    let w = World::new();
    let mut c = clock(&w);
    let (model, _) = tpm12_model(&w);
    let mut tis = Tis::probe(model.clone(), &mut c, 0).unwrap();
    model.0.borrow_mut().exec_ns = 5_000 * MS; // longer than the 3 s short duration
    assert_eq!(tis.transmit(&mut c, &fake_tpm::pcr_read(0)), Err(TisError::DurationExceeded));
    assert_eq!(model.0.borrow().aborted, 1);
    model.0.borrow_mut().exec_ns = MS;
    assert!(tis.transmit(&mut c, &fake_tpm::pcr_read(0)).is_ok());
}

#[test]
fn small_burst_counts_and_bad_input() {
    for burst in [1u16, 3, 7] {
        let w = World::new();
        let mut c = clock(&w);
        let (model, _) = tpm12_model(&w);
        model.0.borrow_mut().burst = burst;
        let mut tis = Tis::probe(model.clone(), &mut c, 0).unwrap();
        let r = tis.transmit(&mut c, &fake_tpm::extend(1, &[3; 20])).unwrap();
        assert_eq!(r.len(), 30);
        assert_eq!(tis.transmit(&mut c, &[0u8; 5]), Err(TisError::BadCommand));
    }
    let w = World::new();
    let mut c = clock(&w);
    let (model, _) = tpm12_model(&w);
    assert_eq!(Tis::probe(model, &mut c, 5).err(), Some(TisError::BadLocality));
    struct Absent;
    impl Mmio for Absent {
        fn read8(&mut self, _: usize) -> u8 {
            0xFF
        }
        fn read32(&mut self, _: usize) -> u32 {
            u32::MAX
        }
        fn write8(&mut self, _: usize, _: u8) {}
        fn write32(&mut self, _: usize, _: u32) {}
    }
    assert_eq!(Tis::probe(Absent, &mut c, 0).err(), Some(TisError::NoDevice));
}
