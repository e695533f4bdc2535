//! blkfront's ring half: the shared request/response ring in one granted page and the data
//! pages of each request (blkif, `io/ring.h`). Requests are written slot by slot and published
//! by moving `req_prod`; responses are copied out one slot at a time (copy once) and matched to
//! the requests in flight by `id`. A response for an unknown id, or a `rsp_prod` that runs ahead
//! of what was requested, is ignored and reported: the backend cannot make us panic or reuse a
//! page it still holds.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use xen_abi::blkif::{
    self, BlkifRequest, BlkifResponse, OFFSET_REQ_EVENT, OFFSET_REQ_PROD, OFFSET_RSP_EVENT, OFFSET_RSP_PROD, RING_SIZE,
};

use crate::hv::{GrantRef, GrantTable, HvError, PageAccess};

/// A request in flight: its data pages and their grants.
pub(crate) struct InFlight<P> {
    pub operation: u8,
    pub pages: Vec<(P, GrantRef)>,
    pub len: usize,
}

/// A response matched to its request.
pub(crate) struct Matched<P> {
    pub id: u64,
    pub status: i16,
    pub req: InFlight<P>,
}

/// The front end of the ring. The ring page itself belongs to blkfront's
/// [`FrontendLink`](crate::xenbus::FrontendLink) and is passed in.
pub(crate) struct Ring<P> {
    req_prod_pvt: u32,
    rsp_cons: u32,
    pub inflight: BTreeMap<u64, InFlight<P>>,
    /// Responses ignored because they made no sense.
    pub bogus: u64,
}

impl<P: PageAccess> Ring<P> {
    /// Initialises the shared ring header (`SHARED_RING_INIT`: producers 0, events 1).
    pub fn new(page: &mut P) -> Result<Self, HvError> {
        page.write_u32_le(OFFSET_REQ_PROD, 0)?;
        page.write_u32_le(OFFSET_RSP_PROD, 0)?;
        page.write_u32_le(OFFSET_REQ_EVENT, 1)?;
        page.write_u32_le(OFFSET_RSP_EVENT, 1)?;
        Ok(Ring { req_prod_pvt: 0, rsp_cons: 0, inflight: BTreeMap::new(), bogus: 0 })
    }

    /// Free request slots.
    pub fn free_slots(&self) -> u32 {
        RING_SIZE - self.req_prod_pvt.wrapping_sub(self.rsp_cons)
    }

    /// Writes a request into the next slot and publishes it. Returns whether the backend wants
    /// a notification.
    pub fn push(&mut self, page: &mut P, req: &BlkifRequest, inflight: InFlight<P>) -> Result<bool, HvError> {
        page.write(blkif::slot_offset(self.req_prod_pvt), &req.encode())?;
        let old = self.req_prod_pvt;
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
        page.write_u32_le(OFFSET_REQ_PROD, self.req_prod_pvt)?;
        self.inflight.insert(req.id, inflight);
        let event = page.read_u32_le(OFFSET_REQ_EVENT)?;
        Ok(blkif::need_notify(old, self.req_prod_pvt, event))
    }

    /// Takes every available response (`RING_FINAL_CHECK_FOR_RESPONSES` included).
    pub fn take_responses(&mut self, page: &mut P) -> Result<Vec<Matched<P>>, HvError> {
        let mut out = Vec::new();
        loop {
            let prod = page.read_u32_le(OFFSET_RSP_PROD)?;
            let avail = prod.wrapping_sub(self.rsp_cons);
            let outstanding = self.req_prod_pvt.wrapping_sub(self.rsp_cons);
            if avail > outstanding {
                // The backend claims more responses than we have requests: ignore the claim.
                self.bogus += 1;
                log::warn!("blkfront: backend rsp_prod {} runs ahead of requests", prod);
                return Ok(out);
            }
            while self.rsp_cons != prod {
                let mut raw = [0u8; 16];
                page.read(blkif::slot_offset(self.rsp_cons), &mut raw)?;
                self.rsp_cons = self.rsp_cons.wrapping_add(1);
                let rsp = BlkifResponse::decode(&raw);
                match self.inflight.remove(&rsp.id) {
                    Some(req) if req.operation == rsp.operation => {
                        out.push(Matched { id: rsp.id, status: rsp.status, req })
                    }
                    Some(req) => {
                        // Wrong operation echoed: still completes that request, as an error.
                        self.bogus += 1;
                        out.push(Matched { id: rsp.id, status: blkif::BLKIF_RSP_ERROR, req });
                    }
                    None => {
                        self.bogus += 1;
                        log::warn!("blkfront: response for unknown id {}", rsp.id);
                    }
                }
            }
            page.write_u32_le(OFFSET_RSP_EVENT, self.rsp_cons.wrapping_add(1))?;
            if page.read_u32_le(OFFSET_RSP_PROD)? == prod {
                return Ok(out);
            }
        }
    }
}

impl<P> Drop for Ring<P> {
    /// Data pages of requests still in flight are still granted to the backend: a ring dropped
    /// without `release` (the driver dropped while connected) leaks them instead of freeing
    /// memory the backend can still write (security review L7).
    fn drop(&mut self) {
        for (_, f) in core::mem::take(&mut self.inflight) {
            for (page, _) in f.pages {
                core::mem::forget(page);
            }
        }
    }
}

/// Ends the grants of a request's pages and frees them (a page whose grant cannot be ended is
/// leaked, never reused).
pub(crate) fn release_pages<G: GrantTable + ?Sized>(hv: &mut G, pages: Vec<(G::Page, GrantRef)>) {
    for (page, gref) in pages {
        if hv.end_foreign_access(gref).is_err() {
            log::warn!("blkfront: grant {} still in use; leaking its page", gref.0);
            core::mem::forget(page);
        }
    }
}
