//! Regression tests for the three link bugs the model checker found (`docs/model-checking.md`),
//! each the shortest trace it printed, replayed step by step: our tpmfront and tpmback on the
//! simulated Xen, called in turn (no actors, so the interleaving is exactly the one written).

use std::task::Poll;

use drivers::tpmback::TpmBack;
use drivers::tpmfront::{FrontStyle, TpmFront, TpmFrontError};
use integration_tests::simxen::{SimDomain, World, toolstack};
use tpm_frame::{TPM_TAG_RQU_COMMAND, TPM_TAG_RSP_COMMAND};

const UUID: &str = "5e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
const S: u64 = 1_000_000_000;

fn command(id: u32) -> Vec<u8> {
    tpm_frame::command(TPM_TAG_RQU_COMMAND, 0x46, &id.to_be_bytes())
}

fn response(id: u32) -> Vec<u8> {
    tpm_frame::command(TPM_TAG_RSP_COMMAND, 0, &id.to_be_bytes())
}

struct Link {
    w: World,
    be: SimDomain,
    fe: SimDomain,
    back: TpmBack<SimDomain>,
    front: TpmFront<SimDomain>,
}

/// Backend in domain 1, frontend in domain 2, connected (Mini-OS style).
fn connected() -> Link {
    let w = World::new();
    let mut be = w.add_domain(1);
    let fe = w.add_domain(2);
    toolstack::vtpm_attach(&w, 2, 1, 0, UUID);
    let mut back = TpmBack::new();
    back.start(&mut be).unwrap();
    let mut l = Link { w, be, fe, back, front: TpmFront::new("device/vtpm/0") };
    l.front.connect_start(&mut l.fe, FrontStyle::MiniOs, 10 * S).unwrap();
    l.back.poll(&mut l.be);
    assert_eq!(l.front.poll_connect(&mut l.fe), Poll::Ready(Ok(())));
    assert_eq!(l.back.connected(), 1);
    l
}

#[test]
fn a_cancelled_requests_late_answer_is_never_taken_for_the_next_requests() {
    let mut l = connected();
    l.front.submit(&mut l.fe, &command(1), 30 * S).unwrap();
    let req = l.back.next_request(&mut l.be).expect("request 1 taken");
    l.front.cancel(&mut l.fe);
    // The backend is busy with request 1: the page is not ours until it answers the CANCEL.
    assert_eq!(l.front.submit(&mut l.fe, &command(2), 30 * S), Err(TpmFrontError::NotReady));
    l.back.respond(&mut l.be, &req, &response(1)).unwrap();
    l.front.submit(&mut l.fe, &command(2), 30 * S).unwrap();
    let req = l.back.next_request(&mut l.be).expect("request 2 taken");
    assert_eq!(req.command, command(2));
    l.back.respond(&mut l.be, &req, &response(2)).unwrap();
    assert_eq!(l.front.poll_response(&mut l.fe), Poll::Ready(Ok(response(2))));
}

#[test]
fn transact_after_a_cancel_waits_for_the_backend_and_gets_its_own_answer() {
    let mut l = connected();
    l.front.submit(&mut l.fe, &command(1), 30 * S).unwrap();
    let req = l.back.next_request(&mut l.be).expect("request 1 taken");
    l.front.cancel(&mut l.fe);
    // The backend answers request 1 late, then serves request 2, while transact waits.
    let back = std::rc::Rc::new(std::cell::RefCell::new((l.back, Some(req))));
    let (b, mut be) = (back.clone(), l.be.clone());
    l.w.add_actor(1, move || {
        let (back, held) = &mut *b.borrow_mut();
        if let Some(r) = held.take() {
            back.respond(&mut be, &r, &response(1)).unwrap();
            return;
        }
        back.poll(&mut be);
        if let Some(r) = back.next_request(&mut be) {
            let id: [u8; 4] = r.command[10..14].try_into().unwrap();
            back.respond(&mut be, &r, &response(u32::from_be_bytes(id))).unwrap();
        }
    });
    assert_eq!(l.front.transact(&mut l.fe, &command(2), 30 * S), Ok(response(2)));
}

#[test]
fn a_minios_frontend_restarted_without_closing_is_connected_to_again() {
    let mut l = connected();
    // The driver goes away without a word (kexec, a crash): state 4 and its ring stay behind.
    l.front = TpmFront::new("device/vtpm/0");
    l.front.connect_start(&mut l.fe, FrontStyle::MiniOs, 10 * S).unwrap();
    l.back.poll(&mut l.be);
    assert_eq!(l.front.poll_connect(&mut l.fe), Poll::Ready(Ok(())));
    l.front.submit(&mut l.fe, &command(7), 30 * S).unwrap();
    let req = l.back.next_request(&mut l.be).expect("the backend maps the new ring");
    l.back.respond(&mut l.be, &req, &response(7)).unwrap();
    assert_eq!(l.front.poll_response(&mut l.fe), Poll::Ready(Ok(response(7))));
}

#[test]
fn a_quick_detach_and_attach_is_seen_by_a_connected_frontend() {
    let mut l = connected();
    let p = toolstack::DevicePaths {
        frontend: String::from("/local/domain/2/device/vtpm/0"),
        backend: String::from("/local/domain/1/backend/vtpm/2/0"),
    };
    toolstack::detach_begin(&l.w, &p);
    toolstack::detach_finish(&l.w, &p);
    toolstack::vtpm_attach(&l.w, 2, 1, 0, UUID);
    l.back.poll(&mut l.be);
    assert_eq!(toolstack::state(&l.w, &p.backend), Some(2), "the new backend dir starts over");
    assert!(l.front.backend_gone(&mut l.fe), "our old page is served by nobody now");
    l.front.abandon(&mut l.fe);
    l.front.connect_start(&mut l.fe, FrontStyle::MiniOs, 10 * S).unwrap();
    l.back.poll(&mut l.be);
    assert_eq!(l.front.poll_connect(&mut l.fe), Poll::Ready(Ok(())));
    l.front.submit(&mut l.fe, &command(3), 30 * S).unwrap();
    let req = l.back.next_request(&mut l.be).expect("served on the new connection");
    l.back.respond(&mut l.be, &req, &response(3)).unwrap();
    assert_eq!(l.front.poll_response(&mut l.fe), Poll::Ready(Ok(response(3))));
}
