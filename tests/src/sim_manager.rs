//! A test-side vTPM manager: our tpmback in a simulated domain, answering the manager protocol
//! (`vtpmmgr_core::proto`) from an in-memory uuid → blob map, with the hardware TPM's
//! `TPM_GetRandom` / `TPM_PCRRead` passthroughs answered with fixed values. Enough for the
//! vtpm's persistence tests; the real manager service is `vtpmmgr_core` (not used here).
//!
//! It identifies a vtpm by the uuid the toolstack wrote into its backend dir (tpmback's
//! `Request::uuid`), as the real manager does. LOADHASHKEY for a uuid never saved answers
//! `proto::RC_NO_RECORD`. A test can make SAVEHASHKEY fail, or make the manager lose its reply.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use drivers::tpmback::{FrontendBinding, TpmBack};
use vtpmmgr_core::proto::{self, Request, VTPM_TAG_REQ};

use crate::simxen::World;

/// Handles to a running test manager.
#[derive(Clone, Default)]
pub struct SimManager {
    /// uuid → the last SAVEHASHKEY blob.
    pub records: Rc<RefCell<HashMap<[u8; 16], Vec<u8>>>>,
    /// Requests answered, in order (their ordinals).
    pub requests: Rc<RefCell<Vec<u32>>>,
    /// While set, SAVEHASHKEY answers an error (rc 9, `TPM_FAIL`) and stores nothing.
    pub fail_save: Rc<Cell<bool>>,
}

impl SimManager {
    /// The number of requests answered.
    pub fn round_trips(&self) -> usize {
        self.requests.borrow().len()
    }
}

fn answer(m: &SimManager, uuid: [u8; 16], frame: &[u8]) -> Vec<u8> {
    match proto::decode_request(frame) {
        Err(reply) => reply.to_vec(),
        Ok(Request::SaveHashKey(blob)) => {
            m.requests.borrow_mut().push(proto::VTPM_ORD_SAVEHASHKEY);
            if m.fail_save.get() {
                return proto::error_reply(VTPM_TAG_REQ, 9).to_vec();
            }
            m.records.borrow_mut().insert(uuid, blob.to_vec());
            proto::reply(VTPM_TAG_REQ, 0, &[])
        }
        Ok(Request::LoadHashKey) => {
            m.requests.borrow_mut().push(proto::VTPM_ORD_LOADHASHKEY);
            match m.records.borrow().get(&uuid) {
                Some(blob) => proto::reply(VTPM_TAG_REQ, 0, blob),
                None => proto::error_reply(VTPM_TAG_REQ, proto::RC_NO_RECORD).to_vec(),
            }
        }
        Ok(Request::GetRandom { bytes }) => {
            m.requests.borrow_mut().push(proto::TPM_ORD_GET_RANDOM);
            let n = bytes.min(128);
            let mut body = n.to_be_bytes().to_vec();
            body.extend((0..n).map(|i| (i as u8).wrapping_mul(73).wrapping_add(11)));
            proto::reply(tpm_frame::TPM_TAG_RQU_COMMAND, 0, &body)
        }
        Ok(Request::PcrRead { index }) => {
            m.requests.borrow_mut().push(proto::TPM_ORD_PCR_READ);
            proto::reply(tpm_frame::TPM_TAG_RQU_COMMAND, 0, &[index as u8; 20])
        }
        Ok(Request::GetBootHash) | Ok(Request::Other { .. }) => {
            proto::error_reply(tpm_frame::tag(frame).unwrap_or(VTPM_TAG_REQ), proto::TPM_BAD_ORDINAL).to_vec()
        }
    }
}

/// Starts the test manager in domain `dom` (it has to exist), serving every vtpm domain.
pub fn spawn_manager(world: &World, dom: u16) -> SimManager {
    spawn_manager_with(world, dom, SimManager::default())
}

/// As [`spawn_manager`], with the records (and switches) of an earlier manager.
pub fn spawn_manager_with(world: &World, dom: u16, m: SimManager) -> SimManager {
    let mut hv = world.domain(dom);
    let mut back = TpmBack::new();
    back.set_binding(FrontendBinding::AnyDomain);
    back.start(&mut hv).expect("manager watches backend/vtpm");
    let handle = m.clone();
    world.add_actor(dom, move || {
        back.poll(&mut hv);
        while back.take_event().is_some() {}
        while let Some(req) = back.next_request(&mut hv) {
            let resp = answer(&m, req.uuid, &req.command);
            let _ = back.respond(&mut hv, &req, &resp);
        }
    });
    handle
}
