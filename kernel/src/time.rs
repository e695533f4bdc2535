//! Time: monotonic system time from `vcpu_time_info` (TSC scaled by Xen's factors), the wall
//! clock from `shared_info.wc_*`, and a one-shot timer (`HYPERVISOR_set_timer_op`, which
//! raises `VIRQ_TIMER`).

use core::sync::atomic::{AtomicU64, Ordering, fence};

use xen_abi::errno::XenErrno;
use xen_abi::hypercall::{HYPERVISOR_SET_TIMER_OP, VIRQ_TIMER};
use xen_abi::shared_info::VcpuTimeInfo;
use xen_abi::types::EvtchnPort;

use crate::arch::cpu::rdtsc;
use crate::arch::hypercall::hypercall1;
use crate::sync::Global;

static LAST: AtomicU64 = AtomicU64::new(0);
static TIMER_PORT: Global<Option<EvtchnPort>> = Global::new(None);

/// A consistent copy of vCPU 0's time info (retries while Xen updates it).
pub fn vcpu_time_info() -> VcpuTimeInfo {
    let si = crate::shared_info::shared_info();
    if si.is_null() {
        return VcpuTimeInfo::default();
    }
    loop {
        // SAFETY: shared_info is mapped; Xen updates this struct under the version protocol
        // (odd = in progress), which the loop follows; volatile reads of plain data.
        let (v1, copy, v2) = unsafe {
            let t = core::ptr::addr_of!((*si).vcpu_info[0].time);
            let v1 = core::ptr::read_volatile(core::ptr::addr_of!((*t).version));
            fence(Ordering::Acquire);
            let copy = core::ptr::read_volatile(t);
            fence(Ordering::Acquire);
            let v2 = core::ptr::read_volatile(core::ptr::addr_of!((*t).version));
            (v1, copy, v2)
        };
        if v1 & 1 == 0 && v1 == v2 {
            return copy;
        }
    }
}

pub use crate::tsc::scale_delta;

/// Monotonic system time in ns (Xen's clock; never goes backwards).
pub fn now_ns() -> u64 {
    let t = vcpu_time_info();
    let ns = t.system_time + scale_delta(rdtsc().wrapping_sub(t.tsc_timestamp), t.tsc_to_system_mul, t.tsc_shift);
    let prev = LAST.fetch_max(ns, Ordering::SeqCst);
    ns.max(prev)
}

/// Wall-clock time (seconds, nanoseconds since the Unix epoch).
pub fn wall_clock() -> (u64, u32) {
    let si = crate::shared_info::shared_info();
    if si.is_null() {
        return (0, 0);
    }
    let (sec, nsec) = loop {
        // SAFETY: shared_info is mapped; wc_* follow the same version protocol.
        let (v1, sec, hi, nsec, v2) = unsafe {
            let v1 = core::ptr::read_volatile(core::ptr::addr_of!((*si).wc_version));
            fence(Ordering::Acquire);
            let sec = core::ptr::read_volatile(core::ptr::addr_of!((*si).wc_sec));
            let hi = core::ptr::read_volatile(core::ptr::addr_of!((*si).wc_sec_hi));
            let nsec = core::ptr::read_volatile(core::ptr::addr_of!((*si).wc_nsec));
            fence(Ordering::Acquire);
            let v2 = core::ptr::read_volatile(core::ptr::addr_of!((*si).wc_version));
            (v1, sec, hi, nsec, v2)
        };
        if v1 & 1 == 0 && v1 == v2 {
            break (((hi as u64) << 32) | sec as u64, nsec);
        }
    };
    let total = nsec as u64 + now_ns();
    (sec + total / 1_000_000_000, (total % 1_000_000_000) as u32)
}

/// The port `VIRQ_TIMER` is bound to (bound on first use).
pub fn timer_port() -> Result<EvtchnPort, XenErrno> {
    TIMER_PORT.with(|p| {
        if let Some(port) = *p {
            return Ok(port);
        }
        let port = crate::events::bind_virq(VIRQ_TIMER)?;
        *p = Some(port);
        Ok(port)
    })
}

/// Arms the one-shot timer: `VIRQ_TIMER` fires at `deadline_ns` (system time). 0 cancels.
pub fn set_timer(deadline_ns: u64) -> Result<(), XenErrno> {
    timer_port()?;
    // SAFETY: set_timer_op takes the deadline by value.
    let rc = unsafe { hypercall1(HYPERVISOR_SET_TIMER_OP, deadline_ns) };
    XenErrno::check(rc).map(|_| ())
}

/// Sleeps (in the event loop sense: nothing else runs) for `ns`.
pub fn sleep_ns(ns: u64) {
    let deadline = now_ns().saturating_add(ns);
    while now_ns() < deadline {
        crate::events::wait(&[], Some(deadline));
    }
}
