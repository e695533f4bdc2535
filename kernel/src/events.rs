//! Event channels (2-level ABI) and the one blocking primitive of the kernel: [`wait`] —
//! "until one of these ports fires or a deadline passes" — built on `SCHEDOP_poll`.
//!
//! Events are polled, never delivered by upcall: `evtchn_upcall_mask` stays set, no callback
//! is registered. A port "fires" when its bit in `shared_info.evtchn_pending` is set; `wait`
//! clears the bits of the ports it reports. Xen wakes a poller even for masked ports, so
//! masking only matters to peers that look at the mask.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use xen_abi::errno::XenErrno;
use xen_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindVirq, EvtchnClose, EvtchnOp, EvtchnSend, EvtchnUnmask,
};
use xen_abi::hypercall::{HYPERVISOR_EVENT_CHANNEL_OP, HYPERVISOR_SCHED_OP, SCHEDOP_POLL, SCHEDOP_YIELD};
use xen_abi::sched::{SCHED_POLL_MAX_PORTS, SchedPoll};
use xen_abi::shared_info::NR_EVENT_CHANNELS;
use xen_abi::types::{DomId, EvtchnPort};

use crate::arch::hypercall::hypercall2;
use crate::shared_info::shared_info;

fn word(array: *mut [u64; 64], port: EvtchnPort) -> Option<(&'static AtomicU64, u64)> {
    let p = port.0 as usize;
    if p >= NR_EVENT_CHANNELS || array.is_null() {
        return None;
    }
    // SAFETY: `array` points into the mapped shared_info page and p / 64 < 64; the words
    // are shared with Xen and only accessed atomically.
    let w = unsafe { AtomicU64::from_ptr((array as *mut u64).add(p / 64)) };
    Some((w, 1u64 << (p % 64)))
}

fn pending_word(port: EvtchnPort) -> Option<(&'static AtomicU64, u64)> {
    let si = shared_info();
    // SAFETY: field address only.
    word(unsafe { core::ptr::addr_of_mut!((*si).evtchn_pending) }, port)
}

fn mask_word(port: EvtchnPort) -> Option<(&'static AtomicU64, u64)> {
    let si = shared_info();
    // SAFETY: field address only.
    word(unsafe { core::ptr::addr_of_mut!((*si).evtchn_mask) }, port)
}

/// True if `port` is pending (without clearing it).
pub fn is_pending(port: EvtchnPort) -> bool {
    pending_word(port).is_some_and(|(w, b)| w.load(Ordering::SeqCst) & b != 0)
}

/// Clears `port`'s pending bit; returns whether it was set.
pub fn test_and_clear(port: EvtchnPort) -> bool {
    pending_word(port).is_some_and(|(w, b)| w.fetch_and(!b, Ordering::SeqCst) & b != 0)
}

pub fn is_masked(port: EvtchnPort) -> bool {
    mask_word(port).is_some_and(|(w, b)| w.load(Ordering::SeqCst) & b != 0)
}

/// Sets the mask bit of `port`.
pub fn mask(port: EvtchnPort) {
    if let Some((w, b)) = mask_word(port) {
        w.fetch_or(b, Ordering::SeqCst);
    }
}

/// `HYPERVISOR_event_channel_op(T::CMD, arg)`: the struct type names its command.
fn evtchn_op<T: EvtchnOp>(arg: &mut T) -> Result<(), XenErrno> {
    // SAFETY: `arg` is a live struct of the type Xen expects for `T::CMD` (the `EvtchnOp`
    // impls in xen-abi pair each struct with its command).
    let rc = unsafe { hypercall2(HYPERVISOR_EVENT_CHANNEL_OP, T::CMD, arg as *mut T as u64) };
    XenErrno::check(rc).map(|_| ())
}

/// Clears the mask bit of `port` (via Xen, which re-delivers a pending event).
pub fn unmask(port: EvtchnPort) -> Result<(), XenErrno> {
    evtchn_op(&mut EvtchnUnmask { port: port.0 })
}

/// Allocates a port that `remote` can bind with `bind_interdomain`.
pub fn alloc_unbound(remote: DomId) -> Result<EvtchnPort, XenErrno> {
    let mut op = EvtchnAllocUnbound { dom: DomId::SELF.0, remote_dom: remote.0, port: 0 };
    evtchn_op(&mut op)?;
    Ok(EvtchnPort(op.port))
}

/// Connects a new local port to `remote_port` of `remote`.
pub fn bind_interdomain(remote: DomId, remote_port: EvtchnPort) -> Result<EvtchnPort, XenErrno> {
    let mut op = EvtchnBindInterdomain { remote_dom: remote.0, _pad: 0, remote_port: remote_port.0, local_port: 0 };
    evtchn_op(&mut op)?;
    Ok(EvtchnPort(op.local_port))
}

/// Binds a virtual IRQ (`VIRQ_TIMER`, …) of vCPU 0 to a new port.
pub fn bind_virq(virq: u32) -> Result<EvtchnPort, XenErrno> {
    let mut op = EvtchnBindVirq { virq, vcpu: 0, port: 0 };
    evtchn_op(&mut op)?;
    Ok(EvtchnPort(op.port))
}

/// Notifies the other end of `port`.
pub fn send(port: EvtchnPort) -> Result<(), XenErrno> {
    evtchn_op(&mut EvtchnSend { port: port.0 })
}

/// Closes `port` and clears any pending event on it.
pub fn close(port: EvtchnPort) -> Result<(), XenErrno> {
    let r = evtchn_op(&mut EvtchnClose { port: port.0 });
    test_and_clear(port);
    r
}

/// What ended a [`wait`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wake {
    /// These ports fired (their pending bits are now clear).
    Fired(Vec<EvtchnPort>),
    /// The deadline passed first.
    Timeout,
}

/// Blocks until one of `ports` is pending or monotonic time reaches `deadline_ns` (`None`:
/// no deadline). Up to 128 ports are polled by Xen directly; more are scanned every 1 ms.
/// Ports that fired are reported and cleared; other
/// pending ports keep their bits for whoever waits on them.
pub fn wait(ports: &[EvtchnPort], deadline_ns: Option<u64>) -> Wake {
    // Xen polls at most 128 ports; with more, poll none and wake every millisecond to look
    // at all of them (slower, never deaf).
    let too_many = ports.len() > SCHED_POLL_MAX_PORTS;
    let raw: Vec<u32> = if too_many { Vec::new() } else { ports.iter().map(|p| p.0).collect() };
    loop {
        let fired: Vec<EvtchnPort> = ports.iter().copied().filter(|&p| test_and_clear(p)).collect();
        if !fired.is_empty() {
            return Wake::Fired(fired);
        }
        let now = crate::time::now_ns();
        if let Some(d) = deadline_ns
            && now >= d
        {
            return Wake::Timeout;
        }
        let deadline_ns =
            if too_many { Some(deadline_ns.unwrap_or(u64::MAX).min(now + 1_000_000)) } else { deadline_ns };
        if raw.is_empty() && deadline_ns.is_none_or(|d| d > i64::MAX as u64) {
            // Nothing could ever wake us: give the CPU away and report a timeout.
            yield_cpu();
            return Wake::Timeout;
        }
        let mut poll = SchedPoll {
            ports: raw.as_ptr() as u64,
            nr_ports: raw.len() as u32,
            _pad: 0,
            // Xen's timeout is absolute system time (signed ns), the same clock as `now_ns`;
            // a deadline beyond i64::MAX means "never" (0), not a timer in the past.
            timeout: deadline_ns.filter(|&d| d <= i64::MAX as u64).unwrap_or(0),
        };
        // SAFETY: `poll` and the port array it points to live across the call.
        let rc = unsafe { hypercall2(HYPERVISOR_SCHED_OP, SCHEDOP_POLL, &mut poll as *mut SchedPoll as u64) };
        if rc < 0 {
            // Should not happen (bad port numbers are filtered by Xen with -EINVAL); avoid
            // spinning hot.
            yield_cpu();
        }
    }
}

/// `SCHEDOP_yield`.
pub fn yield_cpu() {
    // SAFETY: SCHEDOP_yield takes no argument.
    unsafe { hypercall2(HYPERVISOR_SCHED_OP, SCHEDOP_YIELD, 0) };
}
