//! Deterministic random abuse of the drivers by their peers: random shared pages and xenstore
//! values against tpmback, a random ring against blkfront, random registers against tpm_tis.
//! The property checked: no panic, no hang, every outcome a value, and well-behaved peers are
//! still served afterwards.

use std::cell::RefCell;
use std::rc::Rc;

use drivers::blkfront::BlkFront;
use drivers::hv::{Mmio, PageAccess};
use drivers::tpm_tis::Tis;
use integration_tests::fake_tpm::{self, FakeTpm};
use integration_tests::linux_tpmfront::LinuxTpmFront;
use integration_tests::raw_front::RawFront;
use integration_tests::simxen::blkback::{Blkback, Flavor};
use integration_tests::simxen::{World, toolstack};
use integration_tests::vtpm_sim::spawn_shared_vtpm;

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn random_pages_and_xenstore_values_against_tpmback() {
    let w = World::new();
    w.add_domain(1);
    w.add_domain(2);
    w.add_domain(3);
    toolstack::vtpm_attach(&w, 2, 1, 0, "00000000-0000-0000-0000-000000000002");
    let dev3 = toolstack::vtpm_attach(&w, 3, 1, 0, "00000000-0000-0000-0000-000000000003");
    let vtpm = spawn_shared_vtpm(&w, 1, Rc::new(RefCell::new(FakeTpm::new())));
    let mut linux = LinuxTpmFront::probe(&w, 2).unwrap();
    w.run_until(MS, S, || linux.fe_state == 4);
    let mut bad = RawFront::setup(&w, 3, 0);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..3000 {
        if round % 50 == 0 {
            // The hostile guest "reboots" its driver: good keys, 1 then 3 → connected again.
            bad.write_key("ring-ref", &bad.gref.0.to_string());
            bad.write_key("event-channel", &bad.port.0.to_string());
            bad.write_key("feature-protocol-v2", "1");
            bad.set_state(1);
            w.step();
            bad.set_state(3);
            w.step();
            assert_eq!(vtpm.back().connected(), 2, "round {round}: hostile frontend reconnects");
        }
        match rng.below(40) {
            0..=14 => {
                // random header (and sometimes random data) in the shared page
                let mut hdr = rng.bytes(8);
                if rng.below(2) == 0 {
                    hdr[4] = rng.below(5) as u8; // mostly meaningful states
                }
                if rng.below(3) == 0 {
                    let n = rng.below(64) as usize;
                    let data = rng.bytes(n);
                    let _ = bad.page.write(
                        8 + 4 * usize::from(hdr[7]),
                        &data[..data.len().min(4096 - 8 - 4 * usize::from(hdr[7]))],
                    );
                }
                bad.page.write(0, &hdr).unwrap();
            }
            30 => {
                let v = match rng.below(4) {
                    0 => rng.below(8).to_string(),
                    1 => String::from_utf8_lossy(&rng.bytes(4)).chars().filter(|c| c.is_ascii_alphanumeric()).collect(),
                    _ => "3".into(),
                };
                w.xs_write(&format!("{}/state", dev3.frontend), &v);
            }
            31 => {
                let key = ["ring-ref", "event-channel", "feature-protocol-v2"][rng.below(3) as usize];
                let v = if rng.below(2) == 0 { rng.below(40).to_string() } else { bad.gref.0.to_string() };
                w.xs_write(&format!("{}/{key}", dev3.frontend), &v);
            }
            32..=34 => bad.cancel(),
            _ => {
                // a request with one byte flipped (often still valid)
                let mut c = fake_tpm::extend(1, &[0; 20]);
                let n = rng.below(c.len() as u64) as usize;
                c[n] ^= rng.next() as u8;
                bad.submit(&c);
            }
        }
        w.step();
        if round % 250 == 0 {
            assert!(linux.transmit(&fake_tpm::pcr_read(0)).is_ok(), "round {round}: the good guest is still served");
        }
        // Whatever the backend wrote is a consistent frame at the frame's offset.
        if let Some(r) = bad.response().filter(|r| (10..=4088).contains(&r.len())) {
            let size = u32::from_be_bytes(r[2..6].try_into().unwrap()) as usize;
            assert!(
                size == r.len() || r.len() == 4096 - 8 - 4 * usize::from(bad.page.read_u8(7).unwrap()),
                "round {round}"
            );
        }
    }
    assert!(linux.transmit(&fake_tpm::pcr_read(0)).is_ok());
    let st = vtpm.back().stats();
    assert!(st.count > 300 && st.rejected > 50 && st.cancels > 100, "the abuse reached the page code: {st:?}");
}

#[test]
fn random_ring_contents_against_blkfront() {
    let w = World::new();
    let mut dom = w.add_domain(5);
    let disk = Rc::new(RefCell::new(vec![0u8; 1 << 20]));
    let dev = toolstack::vbd_attach(&w, 5, 0, 768);
    Blkback::spawn(&w, 0, Flavor::LinuxBlkback, disk, 512, false);
    let mut f: BlkFront<_> = BlkFront::new("device/vbd/768");
    f.connect(&mut dom, S).unwrap();
    let gref: u32 = w.xs(&format!("{}/ring-ref", dev.frontend)).unwrap().parse().unwrap();
    let ring = w.state.borrow().grants.page_of(5, gref).unwrap();
    w.remove_actors(0); // from now on the "backend" is this test, writing garbage
    let mut rng = Rng(42);
    for _ in 0..2000 {
        if rng.below(3) == 0 {
            let _ = f.submit_read(&mut dom, rng.below(256) * 512, 512 * (1 + rng.below(8) as usize));
        }
        {
            let mut page = ring.borrow_mut();
            let off = 64 + rng.below(4096 - 64 - 16) as usize;
            let junk = rng.bytes(16);
            page[off..off + 16].copy_from_slice(&junk);
            if rng.below(2) == 0 {
                let p = page[8..12].try_into().map(u32::from_le_bytes).unwrap();
                let np = p.wrapping_add(rng.below(40) as u32).wrapping_sub(4);
                page[8..12].copy_from_slice(&np.to_le_bytes());
            }
        }
        for c in f.poll(&mut dom) {
            let _ = c.result; // any outcome, as a value
        }
    }
    assert!(f.in_flight() <= 32);
    assert!(f.bogus_responses() > 100, "the garbage reached the response code: {}", f.bogus_responses());
}

struct RandomMmio(Rng);
impl Mmio for RandomMmio {
    fn read8(&mut self, _: usize) -> u8 {
        self.0.next() as u8
    }
    fn read32(&mut self, _: usize) -> u32 {
        self.0.next() as u32
    }
    fn write8(&mut self, _: usize, _: u8) {}
    fn write32(&mut self, _: usize, _: u32) {}
}

#[test]
fn random_registers_against_tpm_tis() {
    let w = World::new();
    let mut clock = w.add_domain(1);
    for seed in 1..40u64 {
        let start = w.now();
        if let Ok(mut t) = Tis::probe(RandomMmio(Rng(seed)), &mut clock, (seed % 5) as u8) {
            let _ = t.transmit(&mut clock, &fake_tpm::pcr_read(0));
        }
        // bounded by the sum of the timeouts, never a hang
        assert!(w.now() - start < 1_000 * S, "seed {seed}");
    }
}
