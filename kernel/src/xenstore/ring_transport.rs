//! The guest's xenstore transport: the `xenstore_domain_interface` page (`start_info.store_mfn`)
//! and its event channel (`store_evtchn`).

use core::sync::atomic::{Ordering, fence};

use xen_abi::types::{DomId, EvtchnPort};
use xen_abi::xs_wire::{XENSTORE_RING_SIZE, XenstoreDomainInterface};

use super::client::XsTransport;
use super::wire::XsError;
use crate::mm::pagetable::{mfn_to_pfn, pfn_to_mfn, pfn_to_va};
use crate::mm::window::{self, MapKind};
use crate::ring;

pub struct RingTransport {
    intf: *mut XenstoreDomainInterface,
    port: EvtchnPort,
}

impl RingTransport {
    /// Uses the ring described by start_info (`None` for dom0, which has none).
    pub fn from_start_info() -> Option<RingTransport> {
        let si = crate::start_info::start_info();
        if si.is_initdomain() || si.store_mfn == 0 {
            return None;
        }
        let mfn = si.store_mfn;
        let pfn = mfn_to_pfn(mfn);
        let va = if pfn_to_mfn(pfn) == Some(mfn) {
            pfn_to_va(pfn)
        } else {
            window::map_frames(&[mfn], DomId::SELF, MapKind::ReadWrite).ok()?
        };
        Some(RingTransport { intf: va as *mut XenstoreDomainInterface, port: EvtchnPort(si.store_evtchn) })
    }

    pub fn port(&self) -> EvtchnPort {
        self.port
    }
}

/// Address of a field of the ring page; only used inside `unsafe` blocks whose SAFETY notes
/// cover it (the ring page stays mapped for the life of the domain).
macro_rules! field {
    ($self:ident, $f:ident) => {
        core::ptr::addr_of_mut!((*$self.intf).$f)
    };
}

impl XsTransport for RingTransport {
    fn send(&mut self, data: &[u8]) -> Result<usize, XsError> {
        // SAFETY: see `field!`.
        let cons = unsafe { core::ptr::read_volatile(field!(self, req_cons)) };
        // SAFETY: see `field!`.
        let prod = unsafe { core::ptr::read_volatile(field!(self, req_prod)) };
        fence(Ordering::Acquire);
        let mut p = prod;
        let mut done = 0;
        while done < data.len() {
            let (off, len) = ring::write_span(cons, p, XENSTORE_RING_SIZE)
                .map_err(|_| XsError::Malformed("corrupt request ring indices"))?;
            if len == 0 {
                break;
            }
            let n = len.min(data.len() - done);
            // SAFETY: [off, off + n) is inside `req` and producer-owned (write_span).
            unsafe {
                let dst = (field!(self, req) as *mut u8).add(off);
                core::ptr::copy_nonoverlapping(data[done..].as_ptr(), dst, n);
            }
            p = p.wrapping_add(n as u32);
            done += n;
        }
        fence(Ordering::Release);
        // SAFETY: see `field!`; we are the only producer of requests.
        unsafe { core::ptr::write_volatile(field!(self, req_prod), p) };
        Ok(done)
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, XsError> {
        // SAFETY: see `field!`.
        let mut cons = unsafe { core::ptr::read_volatile(field!(self, rsp_cons)) };
        // SAFETY: see `field!`.
        let prod = unsafe { core::ptr::read_volatile(field!(self, rsp_prod)) };
        fence(Ordering::Acquire);
        let mut done = 0;
        while done < buf.len() {
            let (off, len) = ring::read_span(cons, prod, XENSTORE_RING_SIZE)
                .map_err(|_| XsError::Malformed("corrupt response ring indices"))?;
            if len == 0 {
                break;
            }
            let n = len.min(buf.len() - done);
            // SAFETY: [off, off + n) is inside `rsp` and holds published bytes (read_span).
            unsafe {
                let src = (field!(self, rsp) as *const u8).add(off);
                core::ptr::copy_nonoverlapping(src, buf[done..].as_mut_ptr(), n);
            }
            cons = cons.wrapping_add(n as u32);
            done += n;
        }
        if done > 0 {
            fence(Ordering::Release);
            // SAFETY: see `field!`; we are the only consumer of responses.
            unsafe { core::ptr::write_volatile(field!(self, rsp_cons), cons) };
            let _ = crate::events::send(self.port);
        }
        Ok(done)
    }

    fn notify(&mut self) {
        let _ = crate::events::send(self.port);
    }

    fn wait(&mut self, deadline_ns: u64) {
        crate::events::wait(&[self.port], Some(deadline_ns));
    }

    fn now_ns(&self) -> u64 {
        crate::time::now_ns()
    }
}
