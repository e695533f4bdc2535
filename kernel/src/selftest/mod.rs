//! In-guest checks of the kernel (`extra="selftest"`): each prints
//! `selftest: <name> ... ok` or `selftest: <name> ... FAILED: <why>`; the runtime prints the
//! closing `selftest: N passed, M failed`. As dom0 (no xenstore) the xenstore checks are left
//! out of the list rather than reported as passed.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use xen_abi::types::{DomId, EvtchnPort};

use crate::events::{self, Wake};
use crate::grant;
use crate::image::Env;
use crate::mm::{self, Page};
use crate::time;

type Check = fn(&mut Env) -> Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Err(format!($($msg)*));
        }
    };
}

mod drivers_hv;
mod xenstore;

use drivers_hv::{check_driver_traits, check_mmio};
use xenstore::{
    check_xs_conflict, check_xs_directory, check_xs_identity, check_xs_rm, check_xs_transaction, check_xs_watch,
    check_xs_write_read,
};

const BASE_CHECKS: &[(&str, Check)] = &[
    ("start_info", check_start_info),
    ("cmdline", check_cmdline),
    ("shared_info", check_shared_info),
    ("console", check_console),
    ("clock", check_clock),
    ("timer", check_timer),
    ("poll-timeout", check_poll_timeout),
    ("evtchn-loopback", check_evtchn_loopback),
    ("evtchn-mask", check_evtchn_mask),
    ("evtchn-many-ports", check_many_ports),
    ("frame-allocator", check_frames),
    ("frame-pool-exhaustion", check_frame_fallback),
    ("heap", check_heap),
    ("window-map", check_window_map),
    ("grant-self-map", check_grant_self_map),
    ("grant-end-while-mapped", check_grant_busy),
    ("driver-traits", check_driver_traits),
];

const XENSTORE_CHECKS: &[(&str, Check)] = &[
    ("xenstore-identity", check_xs_identity),
    ("xenstore-write-read", check_xs_write_read),
    ("xenstore-directory", check_xs_directory),
    ("xenstore-rm-enoent", check_xs_rm),
    ("xenstore-watch", check_xs_watch),
    ("xenstore-transaction", check_xs_transaction),
    ("xenstore-transaction-eagain", check_xs_conflict),
];

/// Runs all checks that apply; returns (passed, failed).
pub fn run(env: &mut Env) -> (u32, u32) {
    let mut checks: Vec<(&str, Check)> = BASE_CHECKS.to_vec();
    if env.xs.is_some() {
        checks.extend_from_slice(XENSTORE_CHECKS);
    }
    if env.option("mmiotest").is_some() {
        checks.push(("mmio-map", check_mmio));
    }
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in checks {
        match check(env) {
            Ok(()) => {
                passed += 1;
                crate::println!("selftest: {} ... ok", name);
            }
            Err(why) => {
                failed += 1;
                crate::println!("selftest: {} ... FAILED: {}", name, why);
            }
        }
    }
    (passed, failed)
}

fn check_start_info(_: &mut Env) -> Result<(), String> {
    let si = crate::start_info::start_info();
    ensure!(si.magic_ok(), "bad magic");
    ensure!(si.nr_pages >= 256, "only {} pages", si.nr_pages);
    let l = mm::layout().ok_or("no memory layout")?;
    ensure!(l.first_free_pfn < l.mapped_end_pfn, "no free frames: {:?}", l);
    ensure!(l.mapped_end_pfn <= si.nr_pages, "mapped beyond nr_pages");
    log::info!(
        "memory: {} pages, bootstrap mapped to pfn {:#x}, direct map to {:#x}, {} new L1s, heap {} KiB",
        si.nr_pages,
        l.boot_mapped_end_pfn,
        l.mapped_end_pfn,
        l.new_l1_tables,
        l.heap_size / 1024
    );
    Ok(())
}

fn check_cmdline(env: &mut Env) -> Result<(), String> {
    let si = crate::start_info::start_info();
    let reparsed = crate::cmdline::parse(si.cmd_line_bytes());
    ensure!(reparsed == env.options, "re-parse differs");
    ensure!(crate::cmdline::has_flag(&reparsed, "selftest"), "selftest flag not seen in start_info.cmd_line");
    // libxenguest (and Xen's dom0 builder) always terminate the field: byte 1023 is NUL.
    ensure!(si.cmd_line[1023] == 0, "start_info.cmd_line[1023] is {:#x}, not NUL", si.cmd_line[1023]);
    Ok(())
}

fn check_shared_info(_: &mut Env) -> Result<(), String> {
    let t = time::vcpu_time_info();
    ensure!(t.version & 1 == 0, "vcpu_time_info.version {} is odd", t.version);
    ensure!(t.tsc_to_system_mul != 0, "tsc_to_system_mul is 0 (shared_info not mapped?)");
    ensure!(!crate::shared_info::shared_info().is_null(), "shared_info not mapped");
    // Events are polled: upcalls must stay masked.
    let mask = crate::shared_info::upcall_mask();
    ensure!(mask == 1, "evtchn_upcall_mask is {}", mask);
    Ok(())
}

fn check_console(_: &mut Env) -> Result<(), String> {
    if crate::console::has_ring() {
        let before = crate::console::out_prod();
        crate::println!("selftest: console ring write");
        let after = crate::console::out_prod();
        ensure!(
            after.wrapping_sub(before) as usize >= "selftest: console ring write\r\n".len(),
            "out_prod did not advance"
        );
    } else {
        let rc = crate::console::console_io_write(b"selftest: console_io write\n");
        ensure!(rc >= 0, "console_io returned {}", rc);
    }
    Ok(())
}

fn check_clock(_: &mut Env) -> Result<(), String> {
    let a = time::now_ns();
    let mut spins = 0u64;
    while time::now_ns() == a && spins < 10_000_000 {
        spins += 1;
    }
    let b = time::now_ns();
    ensure!(b > a, "monotonic clock did not advance ({a})");
    ensure!(a > 0, "system time is 0");
    let (sec, nsec) = time::wall_clock();
    // 2020-01-01 .. 2100-01-01
    ensure!((1_577_836_800..4_102_444_800).contains(&sec), "wall clock {sec}.{nsec:09} not sane");
    log::info!("clock: system time {} ns, wall clock {}.{:09}", b, sec, nsec);
    Ok(())
}

fn check_timer(_: &mut Env) -> Result<(), String> {
    let port = time::timer_port().map_err(|e| format!("bind VIRQ_TIMER: errno {}", e.0))?;
    events::test_and_clear(port);
    let start = time::now_ns();
    let deadline = start + 20_000_000;
    time::set_timer(deadline).map_err(|e| format!("set_timer_op: errno {}", e.0))?;
    let limit = start + 2_000_000_000;
    match events::wait(&[port], Some(limit)) {
        Wake::Fired(_) => {}
        Wake::Timeout => return Err("VIRQ_TIMER did not fire within 2 s".into()),
    }
    let now = time::now_ns();
    // Xen may fire up to its timer slop early; allow 1 ms.
    ensure!(now + 1_000_000 >= deadline, "timer fired {} ns early", deadline - now);
    Ok(())
}

fn check_poll_timeout(_: &mut Env) -> Result<(), String> {
    let port = events::alloc_unbound(DomId::SELF).map_err(|e| format!("alloc_unbound: errno {}", e.0))?;
    let start = time::now_ns();
    let r = events::wait(&[port], Some(start + 10_000_000));
    let elapsed = time::now_ns() - start;
    let _ = events::close(port);
    ensure!(r == Wake::Timeout, "quiet port fired: {:?}", r);
    ensure!(elapsed >= 10_000_000, "returned after {} ns", elapsed);
    Ok(())
}

fn loopback(env: &Env) -> Result<(EvtchnPort, EvtchnPort), String> {
    let a = events::alloc_unbound(env.domid).map_err(|e| format!("alloc_unbound: errno {}", e.0))?;
    let b = events::bind_interdomain(env.domid, a).map_err(|e| format!("bind_interdomain: errno {}", e.0))?;
    Ok((a, b))
}

fn check_evtchn_loopback(env: &mut Env) -> Result<(), String> {
    let (a, b) = loopback(env)?;
    let r = (|| {
        events::send(b).map_err(|e| format!("send: errno {}", e.0))?;
        let w = events::wait(&[a], Some(time::now_ns() + 1_000_000_000));
        ensure!(w == Wake::Fired(alloc::vec![a]), "a did not fire: {:?}", w);
        events::send(a).map_err(|e| format!("send back: errno {}", e.0))?;
        let w = events::wait(&[a, b], Some(time::now_ns() + 1_000_000_000));
        ensure!(w == Wake::Fired(alloc::vec![b]), "b did not fire: {:?}", w);
        ensure!(!events::is_pending(a) && !events::is_pending(b), "pending bits not cleared");
        Ok(())
    })();
    let _ = events::close(b);
    let _ = events::close(a);
    r
}

fn check_evtchn_mask(env: &mut Env) -> Result<(), String> {
    let (a, b) = loopback(env)?;
    let r = (|| {
        events::mask(a);
        ensure!(events::is_masked(a), "mask bit not set");
        events::send(b).map_err(|e| format!("send: errno {}", e.0))?;
        ensure!(events::is_pending(a), "masked port not pending after send");
        events::unmask(a).map_err(|e| format!("unmask: errno {}", e.0))?;
        ensure!(!events::is_masked(a), "mask bit still set");
        let w = events::wait(&[a], Some(time::now_ns() + 1_000_000_000));
        ensure!(w == Wake::Fired(alloc::vec![a]), "not delivered after unmask: {:?}", w);
        Ok(())
    })();
    let _ = events::close(b);
    let _ = events::close(a);
    r
}

/// More ports than SCHEDOP_poll takes (128): the wait must still see the one that fires, and
/// still time out when none does.
fn check_many_ports(env: &mut Env) -> Result<(), String> {
    let (a, b) = loopback(env)?;
    let mut ports = alloc::vec![a];
    let r = (|| {
        for _ in 0..130 {
            ports.push(events::alloc_unbound(env.domid).map_err(|e| format!("alloc_unbound: errno {}", e.0))?);
        }
        let quiet = events::wait(&ports, Some(time::now_ns() + 5_000_000));
        ensure!(quiet == Wake::Timeout, "quiet ports fired: {:?}", quiet);
        events::send(b).map_err(|e| format!("send: errno {}", e.0))?;
        let w = events::wait(&ports, Some(time::now_ns() + 1_000_000_000));
        ensure!(w == Wake::Fired(alloc::vec![a]), "wait over {} ports gave {:?}", ports.len(), w);
        Ok(())
    })();
    for p in ports.iter().skip(1) {
        let _ = events::close(*p);
    }
    let _ = events::close(b);
    let _ = events::close(a);
    r
}

fn check_frames(_: &mut Env) -> Result<(), String> {
    let (used0, avail0) = mm::frames::stats();
    let n = (avail0 / 2).min(512) as usize;
    ensure!(n >= 16, "only {} frames available", avail0);
    let mut pages: Vec<Page> = Vec::new();
    for i in 0..n {
        let mut p = Page::alloc().ok_or(format!("allocation {i} failed"))?;
        ensure!(p.bytes().iter().all(|&b| b == 0), "page {i} not zeroed");
        let pfn = p.pfn();
        p.bytes_mut().iter_mut().enumerate().for_each(|(j, b)| *b = (pfn as usize + j) as u8);
        ensure!(p.mfn() != 0, "no mfn for pfn {pfn:#x}");
        pages.push(p);
    }
    let mut pfns: Vec<u64> = pages.iter().map(|p| p.pfn()).collect();
    pfns.sort_unstable();
    pfns.dedup();
    ensure!(pfns.len() == n, "duplicate frames handed out");
    for p in &pages {
        let pfn = p.pfn();
        ensure!(
            p.bytes().iter().enumerate().all(|(j, &b)| b == (pfn as usize + j) as u8),
            "pattern of pfn {pfn:#x} corrupted"
        );
    }
    // Free every other page, reallocate, check reuse and totals.
    let mut keep = Vec::new();
    for (i, p) in pages.into_iter().enumerate() {
        if i % 2 == 0 {
            keep.push(p);
        }
    }
    let again: Vec<Page> = (0..n / 2).filter_map(|_| Page::alloc()).collect();
    ensure!(again.len() == n / 2, "reallocation failed");
    drop(keep);
    drop(again);
    let (used1, avail1) = mm::frames::stats();
    ensure!(used1 == used0 && avail1 == avail0, "leak: {used0}/{avail0} -> {used1}/{avail1}");
    Ok(())
}

/// Drains the frame pool completely, then allocates more pages (which come from the heap),
/// checks they are usable frames, and gives everything back.
fn check_frame_fallback(_: &mut Env) -> Result<(), String> {
    let (used0, avail0) = mm::frames::stats();
    let (heap0, _) = mm::heap::stats();
    let mut pages: Vec<Page> = Vec::with_capacity(avail0 as usize + 16);
    for i in 0..avail0 + 16 {
        let mut p = Page::alloc().ok_or(format!("allocation {i} of {} failed", avail0 + 16))?;
        let tag = (i as u32).to_le_bytes();
        p.bytes_mut()[..4].copy_from_slice(&tag);
        p.bytes_mut()[4092..].copy_from_slice(&tag);
        pages.push(p);
    }
    let from_heap = pages.iter().filter(|p| p.is_from_heap()).count();
    ensure!(from_heap == 16, "{from_heap} pages from the heap, expected 16");
    ensure!(mm::frames::stats().1 == 0, "pool not drained");
    for (i, p) in pages.iter().enumerate() {
        let tag = (i as u32).to_le_bytes();
        ensure!(p.bytes()[..4] == tag && p.bytes()[4092..] == tag, "page {i} corrupted");
        ensure!(p.va() % 4096 == 0 && p.mfn() != 0, "page {i} not a usable frame");
    }
    let mut pfns: Vec<u64> = pages.iter().map(|p| p.pfn()).collect();
    pfns.sort_unstable();
    pfns.dedup();
    ensure!(pfns.len() == pages.len(), "a frame was handed out twice");
    drop(pfns);
    drop(pages);
    ensure!(mm::frames::stats() == (used0, avail0), "pool not restored");
    ensure!(mm::heap::stats().0 == heap0, "heap pages leaked");
    Ok(())
}

fn check_heap(_: &mut Env) -> Result<(), String> {
    let (used0, _) = mm::heap::stats();
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut seed: u32 = 12345;
    for i in 0..2000usize {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let size = 1 + (seed as usize >> 8) % 3000;
        blocks.push(alloc::vec![(i % 251) as u8; size]);
        if i % 3 == 0 {
            let victim = (seed as usize) % blocks.len();
            blocks.swap_remove(victim);
        }
    }
    let big: Box<[u64]> = alloc::vec![0xA5A5_A5A5_A5A5_A5A5u64; 128 * 1024].into_boxed_slice(); // 1 MiB
    ensure!(big.iter().all(|&w| w == 0xA5A5_A5A5_A5A5_A5A5), "1 MiB block corrupted");
    for b in &blocks {
        let v = b[0];
        ensure!(b.iter().all(|&x| x == v), "block of {} bytes corrupted", b.len());
    }
    drop(big);
    drop(blocks);
    let (used1, free1) = mm::heap::stats();
    ensure!(used1 == used0, "heap use {used0} -> {used1} after freeing everything");
    log::info!("heap: {} KiB used, {} KiB free", used1 / 1024, free1 / 1024);
    Ok(())
}

fn check_window_map(_: &mut Env) -> Result<(), String> {
    let mut p = Page::alloc().ok_or("no page")?;
    p.bytes_mut()[..8].copy_from_slice(b"windowed");
    let va = mm::window::map_frames(&[p.mfn()], DomId::SELF, mm::window::MapKind::ReadOnly)
        .map_err(|e| format!("map: errno {}", e.0))?;
    let mut seen = [0u8; 8];
    // Read through the second (read-only) mapping of the same frame.
    mm::window::read(va, &mut seen);
    mm::window::unmap_frames(va, 1);
    ensure!(&seen == b"windowed", "read {:?} through the window", seen);
    ensure!(crate::mm::pagetable::lookup_pte(va) == Some(0), "PTE not cleared after unmap");
    Ok(())
}

fn check_grant_self_map(env: &mut Env) -> Result<(), String> {
    let mut page = Page::alloc().ok_or("no page")?;
    page.bytes_mut()[..5].copy_from_slice(b"hello");
    let gref = env.gnttab.grant_access(env.domid, page.mfn(), false).map_err(|e| format!("grant: {e}"))?;
    let result = (|| {
        let m = grant::map_grant(env.domid, gref, false).map_err(|e| format!("map: {e}"))?;
        let mut buf = [0u8; 5];
        m.read(0, &mut buf);
        m.write(100, b"world");
        let via_map_ok = &buf == b"hello";
        let via_page_ok = &page.bytes()[100..105] == b"world";
        grant::unmap_grant(m).map_err(|e| format!("unmap: {e}"))?;
        ensure!(via_map_ok, "mapping shows {:?}", buf);
        ensure!(via_page_ok, "write through the mapping not visible in the page");
        Ok(())
    })();
    let end = env.gnttab.end_access(gref);
    result?;
    end.map_err(|e| format!("end_access: {e}"))?;
    Ok(())
}

fn check_grant_busy(env: &mut Env) -> Result<(), String> {
    let page = Page::alloc().ok_or("no page")?;
    let free0 = env.gnttab.free_refs();
    let window0 = mm::window::pages_in_use();
    let gref = env.gnttab.grant_access(env.domid, page.mfn(), true).map_err(|e| format!("grant: {e}"))?;
    let m = grant::map_grant(env.domid, gref, true).map_err(|e| format!("map: {e}"))?;
    let busy = env.gnttab.end_access(gref);
    let unmapped = grant::unmap_grant(m);
    let end = env.gnttab.end_access(gref);
    ensure!(busy == Err(grant::IN_USE), "end_access while mapped gave {:?}", busy);
    unmapped.map_err(|e| format!("unmap: {e}"))?;
    end.map_err(|e| format!("end_access after unmap: {e}"))?;
    ensure!(env.gnttab.free_refs() == free0, "grant reference leaked");
    ensure!(mm::window::pages_in_use() == window0, "window page leaked");
    ensure!(env.gnttab.end_access(gref) == Err(grant::BAD_REF), "double end_access accepted");
    drop(page);
    Ok(())
}
