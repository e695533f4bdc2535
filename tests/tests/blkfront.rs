//! blkfront against a memory disk behind the simulated blkback (Linux blkback and qdisk
//! flavours), including backend errors.

use std::cell::RefCell;
use std::rc::Rc;

use drivers::blkfront::{BlkError, BlkFront, RequestId};
use integration_tests::simxen::blkback::{Blkback, Control, Flavor};
use integration_tests::simxen::{SimDomain, World, toolstack};

const S: u64 = 1_000_000_000;

struct Rig {
    w: World,
    dom: SimDomain,
    disk: Rc<RefCell<Vec<u8>>>,
    ctl: Rc<RefCell<Control>>,
    dev: toolstack::DevicePaths,
}

fn rig(flavor: Flavor, size: usize, sector_size: u32, readonly: bool) -> Rig {
    let w = World::new();
    let dom = w.add_domain(5);
    let disk = Rc::new(RefCell::new(vec![0u8; size]));
    let dev = toolstack::vbd_attach(&w, 5, 0, 768);
    let ctl = Blkback::spawn(&w, 0, flavor, disk.clone(), sector_size, readonly);
    Rig { w, dom, disk, ctl, dev }
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn handshake_reads_the_backend_features_of_both_backends() {
    for (flavor, barrier) in [(Flavor::LinuxBlkback, true), (Flavor::Qdisk, false)] {
        let mut r = rig(flavor, 1 << 20, 512, false);
        let mut f: BlkFront<_> = BlkFront::new("device/vbd/768");
        let info = f.connect(&mut r.dom, 5 * S).unwrap();
        assert_eq!(info.sectors, 2048);
        assert_eq!(info.sector_size, 512);
        assert!(info.flush_cache);
        assert_eq!(info.barrier, barrier, "{flavor:?}");
        assert_eq!(toolstack::state(&r.w, &r.dev.frontend), Some(4));
        assert_eq!(toolstack::state(&r.w, &r.dev.backend), Some(4));
        assert_eq!(r.w.xs(&format!("{}/protocol", r.dev.frontend)).as_deref(), Some("x86_64-abi"));
    }
}

#[test]
fn write_flush_read_back_and_a_second_boot_sees_the_data() {
    for (flavor, ss) in [(Flavor::LinuxBlkback, 512), (Flavor::Qdisk, 4096)] {
        let mut r = rig(flavor, 4 << 20, ss, false);
        let mut f: BlkFront<_> = BlkFront::new("device/vbd/768");
        f.connect(&mut r.dom, 5 * S).unwrap();
        for (i, len) in [4096usize, 8192, 11 * 4096].into_iter().enumerate() {
            let off = (i as u64 + 1) * 65536;
            let data = pattern(i as u8, len);
            f.write(&mut r.dom, off, &data, S).unwrap();
            assert_eq!(&r.disk.borrow()[off as usize..off as usize + len], &data[..], "bytes really on the disk");
            assert_eq!(f.read(&mut r.dom, off, len, S).unwrap(), data);
        }
        if ss == 512 {
            let d = pattern(9, 512);
            f.write(&mut r.dom, 512 * 7, &d, S).unwrap();
            assert_eq!(f.read(&mut r.dom, 512 * 7, 512, S).unwrap(), d);
        }
        f.flush(&mut r.dom, S).unwrap();
        assert_eq!(r.ctl.borrow().flushes, 1);
        f.close(&mut r.dom, 5 * S).unwrap();
        assert_eq!(toolstack::state(&r.w, &r.dev.frontend), Some(6));
        assert_eq!(toolstack::state(&r.w, &r.dev.backend), Some(6));
        assert_eq!(r.w.state.borrow().grants.active_grants(5), 0, "every grant ended");
        // Second boot: a new domain, the same disk.
        let w2 = World::new();
        let mut dom2 = w2.add_domain(6);
        toolstack::vbd_attach(&w2, 6, 0, 768);
        Blkback::spawn(&w2, 0, flavor, r.disk.clone(), ss, false);
        let mut f2: BlkFront<_> = BlkFront::new("device/vbd/768");
        f2.connect(&mut dom2, 5 * S).unwrap();
        assert_eq!(f2.read(&mut dom2, 65536, 4096, S).unwrap(), pattern(0, 4096));
    }
}

#[test]
fn several_requests_in_flight_completed_out_of_order() {
    let mut r = rig(Flavor::LinuxBlkback, 1 << 20, 512, false);
    let mut f: BlkFront<_> = BlkFront::new("device/vbd/768");
    f.connect(&mut r.dom, 5 * S).unwrap();
    {
        let mut c = r.ctl.borrow_mut();
        c.reverse = true;
        c.max_per_step = 5;
    }
    let mut ids = vec![];
    for i in 0..20u64 {
        ids.push((f.submit_write(&mut r.dom, i * 4096, &pattern(i as u8, 4096)).unwrap(), i));
    }
    assert_eq!(f.in_flight(), 20);
    let mut done = vec![];
    r.w.run_until(1_000_000, S, || {
        done.extend(f.poll(&mut r.dom));
        done.len() == 20
    });
    assert!(done.iter().all(|c| c.result == Ok(None)));
    let order: Vec<RequestId> = done.iter().map(|c| c.id).collect();
    assert_ne!(order, ids.iter().map(|(id, _)| *id).collect::<Vec<_>>(), "completions came back out of order");
    // Fill the ring: 32 slots, the 33rd is refused as a value.
    r.ctl.borrow_mut().max_per_step = 0;
    r.w.remove_actors(0);
    for i in 0..32u64 {
        f.submit_read(&mut r.dom, i * 4096, 4096).unwrap();
    }
    assert_eq!(f.submit_read(&mut r.dom, 0, 4096), Err(BlkError::RingFull));
}

#[test]
fn backend_errors_are_reported_as_values() {
    let mut r = rig(Flavor::Qdisk, 1 << 20, 512, false);
    let mut f: BlkFront<_> = BlkFront::new("device/vbd/768");
    f.connect(&mut r.dom, 5 * S).unwrap();
    r.ctl.borrow_mut().fail.push((8192, 12288));
    assert_eq!(f.read(&mut r.dom, 8192, 4096, S), Err(BlkError::Io));
    assert_eq!(f.write(&mut r.dom, 4096, &[1u8; 8192], S), Err(BlkError::Io), "straddles the bad range");
    assert!(f.read(&mut r.dom, 0, 4096, S).is_ok());
    r.ctl.borrow_mut().flush_unsupported = true;
    assert_eq!(f.flush(&mut r.dom, S), Err(BlkError::NotSupported));
    assert!(!f.info().unwrap().flush_cache, "not tried again");
    let flushes = r.ctl.borrow().flushes;
    assert_eq!(f.flush(&mut r.dom, S), Ok(()), "qdisk without flush or barrier: nothing to flush");
    assert_eq!(r.ctl.borrow().flushes, flushes);
    // Local checks: alignment, bounds, size.
    assert_eq!(f.submit_read(&mut r.dom, 100, 512), Err(BlkError::Unaligned));
    assert_eq!(f.submit_read(&mut r.dom, 0, 0), Err(BlkError::Unaligned));
    assert_eq!(f.submit_read(&mut r.dom, (1 << 20) - 512, 1024), Err(BlkError::OutOfRange));
    assert_eq!(f.submit_read(&mut r.dom, 0, 12 * 4096), Err(BlkError::TooLarge));
    assert_eq!(r.w.state.borrow().grants.active_grants(5), 1, "only the ring page is still granted");
    // A response carrying an id nobody asked for is ignored and counted; the request it should
    // have answered times out (as a value) and the driver carries on.
    r.ctl.borrow_mut().bogus_response = true;
    assert_eq!(f.read(&mut r.dom, 0, 512, S), Err(BlkError::Timeout));
    assert_eq!(f.bogus_responses(), 1);
    assert!(f.read(&mut r.dom, 0, 512, S).is_ok());
}

#[test]
fn flush_falls_back_to_a_barrier_on_linux_blkback() {
    let mut r = rig(Flavor::LinuxBlkback, 1 << 20, 512, false);
    let mut f: BlkFront<_> = BlkFront::new("device/vbd/768");
    f.connect(&mut r.dom, 5 * S).unwrap();
    r.ctl.borrow_mut().flush_unsupported = true;
    assert_eq!(f.flush(&mut r.dom, S), Err(BlkError::NotSupported));
    assert_eq!(f.flush(&mut r.dom, S), Ok(()));
    assert_eq!(r.ctl.borrow().barriers, 1);
}

#[test]
fn read_only_disk_and_missing_backend() {
    let mut r = rig(Flavor::LinuxBlkback, 1 << 20, 512, true);
    let mut f: BlkFront<_> = BlkFront::new("device/vbd/768");
    assert!(f.connect(&mut r.dom, 5 * S).unwrap().readonly());
    assert_eq!(f.submit_write(&mut r.dom, 0, &[0u8; 512]), Err(BlkError::ReadOnly));
    // No backend at all: connect gives up at its deadline.
    let w = World::new();
    let mut d = w.add_domain(7);
    toolstack::vbd_attach(&w, 7, 0, 768);
    let mut f: BlkFront<_> = BlkFront::new("device/vbd/768");
    assert_eq!(f.connect(&mut d, S), Err(BlkError::Timeout));
    let mut f: BlkFront<_> = BlkFront::new("device/vbd/51712");
    assert!(matches!(f.connect(&mut d, S), Err(BlkError::Xenbus(_))));
}
