//! The loader's disk reads (`pvgrub_measure::vbd`) on the simulated Xen: long reads keep many
//! blkif requests in flight, in whatever order the backend completes them; a failing request
//! fails the read and leaves the disk usable.

use std::cell::RefCell;
use std::rc::Rc;

use integration_tests::simxen::blkback::{Blkback, Control, Flavor};
use integration_tests::simxen::{SimDomain, World, toolstack};
use pvgrub_measure::vbd::GuestDisk;
use vtpm_store::BlockError;

const GUEST: u16 = 3;
const MIB: usize = 1 << 20;
const NODE: &str = "device/vbd/51712";

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i / 512) as u8) ^ (i as u8).wrapping_mul(7)).collect()
}

fn disk(len: usize) -> (World, SimDomain, Rc<RefCell<Control>>, Vec<u8>) {
    let w = World::new();
    let g = w.add_domain(GUEST);
    toolstack::vbd_attach(&w, GUEST, 0, 51712);
    let bytes = pattern(len);
    let ctl = Blkback::spawn(&w, 0, Flavor::LinuxBlkback, Rc::new(RefCell::new(bytes.clone())), 512, true);
    (w, g, ctl, bytes)
}

/// Reads `len` bytes at sector `first`; returns them and the virtual milliseconds it took.
fn timed_read(g: &mut SimDomain, d: &mut GuestDisk<SimDomain>, first: u64, len: usize) -> (Vec<u8>, u64) {
    let mut buf = vec![0u8; len];
    let t0 = hv_now(g);
    d.read_into(g, first, &mut buf).unwrap();
    (buf, (hv_now(g) - t0) / 1_000_000)
}

fn hv_now(g: &SimDomain) -> u64 {
    use drivers::hv::Clock;
    g.now_ns()
}

#[test]
fn a_long_read_keeps_the_ring_busy() {
    let (_w, mut g, ctl, bytes) = disk(8 * MIB);
    let mut d = GuestDisk::connect(&mut g, NODE).unwrap();
    let (buf, ms) = timed_read(&mut g, &mut d, 0, 8 * MIB);
    assert!(buf == bytes);
    // 8 MiB is 187 requests of 44 KiB. The simulated backend serves what is on the ring each
    // time the frontend waits (1 ms of virtual time): one request at a time took at least
    // 187 ms; 32 in flight take about 6 waits.
    let reads = ctl.borrow().reads;
    assert_eq!(reads, (8 * MIB).div_ceil(11 * 4096) as u64);
    eprintln!("8 MiB: {reads} requests in {ms} ms of virtual time");
    assert!(ms < 40, "{ms} ms: requests are not kept in flight");
    // An unaligned tail and a read at the end of the disk.
    let (buf, _) = timed_read(&mut g, &mut d, 3, 5 * 512 + 44 * 1024);
    assert!(buf[..] == bytes[3 * 512..3 * 512 + 5 * 512 + 44 * 1024]);
    let last = (8 * MIB / 512) as u64 - 2;
    let (buf, _) = timed_read(&mut g, &mut d, last, 1024);
    assert!(buf[..] == bytes[8 * MIB - 1024..]);
    let mut past = vec![0u8; 2048];
    assert_eq!(d.read_into(&mut g, last, &mut past), Err(BlockError::OutOfRange));
    assert_eq!(d.read_into(&mut g, 0, &mut [0u8; 100]), Err(BlockError::Unaligned));
}

#[test]
fn completions_in_any_order_and_a_slow_backend() {
    let (_w, mut g, ctl, bytes) = disk(4 * MIB);
    let mut d = GuestDisk::connect(&mut g, NODE).unwrap();
    ctl.borrow_mut().reverse = true;
    let (buf, _) = timed_read(&mut g, &mut d, 0, 4 * MIB);
    assert!(buf == bytes, "reverse completion order");
    ctl.borrow_mut().reverse = false;
    ctl.borrow_mut().max_per_step = 3;
    let (buf, _) = timed_read(&mut g, &mut d, 100, 2 * MIB);
    assert!(buf[..] == bytes[100 * 512..100 * 512 + 2 * MIB], "three requests per step");
}

#[test]
fn a_failing_request_fails_the_read_and_the_disk_stays_usable() {
    let (_w, mut g, ctl, bytes) = disk(4 * MIB);
    let mut d = GuestDisk::connect(&mut g, NODE).unwrap();
    ctl.borrow_mut().fail = vec![(MIB as u64, MIB as u64 + 512)];
    let mut buf = vec![0u8; 3 * MIB];
    assert_eq!(d.read_into(&mut g, 0, &mut buf), Err(BlockError::Io));
    ctl.borrow_mut().fail.clear();
    // Requests of the failed read still in flight are drained, not taken for this read's.
    let (buf, _) = timed_read(&mut g, &mut d, 2048, 2 * MIB);
    assert!(buf[..] == bytes[MIB..3 * MIB]);
}
