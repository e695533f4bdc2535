//! Counter commands without authorization (error paths; auth paths are in the auth tests).

use super::*;
use crate::Rc;
use crate::crypto::Secret;
use crate::state::Counter;

#[test]
fn read_counter() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::ReadCounter, &be32s(&[1])).0, Rc::BAD_COUNTER.0);
    t.perm.data.counters.push(Counter { handle: 7, label: *b"labl", value: 42, auth: Secret([1; 20]) });
    let (rc, out) = rqu(&mut t, ord::ReadCounter, &be32s(&[7]));
    assert_eq!(rc, 0);
    assert_eq!(out, [&[0, 0x0e][..], b"labl", &42u32.to_be_bytes()].concat());
    assert_eq!(rqu(&mut t, ord::ReadCounter, &[0, 0, 7]).0, Rc::BAD_PARAM_SIZE.0);
}

#[test]
fn counter_commands_need_auth_and_owner() {
    let mut t = started();
    // State is checked before the tag (as libtpms): no owner wins over a bad tag.
    assert_eq!(rqu(&mut t, ord::IncrementCounter, &be32s(&[7])).0, Rc::NOSRK.0);
    // ReadCounter takes no session.
    let mut body = be32s(&[7]);
    body.extend_from_slice(&[0u8; 45]);
    let r = t.execute(0, &crate::testing::request(tag::RQU_AUTH1_COMMAND, ord::ReadCounter, &body));
    assert_eq!(crate::testing::response_rc(&r), Rc::BADTAG.0);
    // No owner: TPM_NOSRK for owner-only ordinals.
    let mut body = vec![0u8; 24];
    body.extend_from_slice(&[0u8; 45]);
    let r = t.execute(0, &crate::testing::request(tag::RQU_AUTH1_COMMAND, ord::CreateCounter, &body));
    check_shape(&r, tag::RSP_AUTH1_COMMAND);
    assert_eq!(crate::testing::response_rc(&r), Rc::NOSRK.0);
}
