//! OIAP, OSAP, Terminate_Handle, FlushSpecific, response HMACs, nonce rolling,
//! continueAuthSession, DA lockout and ResetLockValue.

use alloc::boxed::Box;

use super::owned::{OWNER, client, oiap_keep, owned};
use super::{be32s, rqu};
use crate::Rc;
use crate::codec::Writer;
use crate::constants::{cap, et, kh, ord, rt, tag};
use crate::platform::ManualClock;
use crate::testing::{request, response_rc};

fn handles(t: &mut crate::Tpm, rtype: u32) -> usize {
    let (rc, body) = rqu(t, ord::GetCapability, &be32s(&[cap::HANDLE, 4, rtype]));
    assert_eq!(rc, 0);
    usize::from(u16::from_be_bytes([body[4], body[5]]))
}

#[test]
fn oiap_terminate_and_flush() {
    let mut t = super::started();
    let (rc, body) = rqu(&mut t, ord::OIAP, &[]);
    assert_eq!(rc, 0);
    assert_eq!(body.len(), 24);
    let h = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    assert_eq!(handles(&mut t, rt::AUTH), 1);
    assert_eq!(rqu(&mut t, ord::Terminate_Handle, &be32s(&[h])).0, 0);
    assert_eq!(rqu(&mut t, ord::Terminate_Handle, &be32s(&[h])).0, Rc::INVALID_AUTHHANDLE.0);
    let (_, body) = rqu(&mut t, ord::OIAP, &[]);
    let h = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    assert_eq!(rqu(&mut t, ord::FlushSpecific, &be32s(&[h, rt::AUTH])).0, 0);
    assert_eq!(rqu(&mut t, ord::FlushSpecific, &be32s(&[h, rt::AUTH])).0, Rc::INVALID_AUTHHANDLE.0);
    assert_eq!(rqu(&mut t, ord::FlushSpecific, &be32s(&[h, 0x77])).0, Rc::INVALID_RESOURCE.0);
    assert_eq!(handles(&mut t, rt::AUTH), 0);
}

#[test]
fn session_errors() {
    let mut t = super::started();
    // Trailing bytes, wrong tag, short OSAP.
    assert_eq!(rqu(&mut t, ord::OIAP, &[0]).0, Rc::BAD_PARAM_SIZE.0);
    let r = t.execute(0, &request(tag::RQU_AUTH1_COMMAND, ord::OIAP, &[0; 45]));
    assert_eq!(response_rc(&r), Rc::BADTAG.0);
    assert_eq!(rqu(&mut t, ord::OSAP, &[0, 2, 0, 0]).0, Rc::BAD_PARAM_SIZE.0);
    let osap = |etype: u16, value: u32| {
        let mut w = Writer::new();
        w.u16(etype).u32(value).bytes(&[9; 20]);
        w.into_vec()
    };
    // No owner yet; unknown key; unknown entity type; AES ADIP.
    assert_eq!(rqu(&mut t, ord::OSAP, &osap(et::OWNER, kh::OWNER)).0, Rc::NOSRK.0);
    assert_eq!(rqu(&mut t, ord::OSAP, &osap(et::KEYHANDLE, 0x0100_0042)).0, Rc::INVALID_KEYHANDLE.0);
    assert_eq!(rqu(&mut t, ord::OSAP, &osap(0x0077, 0)).0, Rc::BAD_PARAMETER.0);
    assert_eq!(rqu(&mut t, ord::OSAP, &osap(0x0602, kh::OWNER)).0, Rc::INAPPROPRIATE_ENC.0);
    // The table fills up.
    for _ in 0..crate::state::sessions::MAX_SESSIONS {
        assert_eq!(rqu(&mut t, ord::OIAP, &[]).0, 0);
    }
    assert_eq!(rqu(&mut t, ord::OIAP, &[]).0, Rc::RESOURCES.0);
}

#[test]
fn owner_auth_checks_roll_nonces_and_end_sessions() {
    let mut t = owned();
    let mut c = client(&mut t);
    let mut s = oiap_keep(&mut c, OWNER);
    let first_nonce = s.nonce_even;
    // Two commands on one session; the client verifies each response HMAC.
    for _ in 0..2 {
        let r = c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut s], 0).unwrap();
        assert_eq!(r.rc, 0);
    }
    assert_ne!(s.nonce_even, first_nonce);
    // Replaying an old nonceEven fails and ends the session.
    let mut stale = s.clone();
    stale.nonce_even = first_nonce;
    let r = c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut stale], 0).unwrap();
    assert_eq!(r.rc, Rc::AUTHFAIL.0);
    let r = c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, Rc::INVALID_AUTHHANDLE.0);
    // Wrong secret.
    let mut bad = c.oiap([0x99; 20]).unwrap();
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut bad], 0).unwrap().rc, Rc::AUTHFAIL.0);
    // continueAuthSession FALSE ends the session after success.
    let mut once = c.oiap(OWNER).unwrap();
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut once], 0).unwrap().rc, 0);
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut once], 0).unwrap().rc, Rc::INVALID_AUTHHANDLE.0);
    // An authorized command with an unknown handle.
    let mut ghost = once.clone();
    ghost.handle = 0x0dead;
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut ghost], 0).unwrap().rc, Rc::INVALID_AUTHHANDLE.0);
}

#[test]
fn osap_is_bound_to_its_entity() {
    let mut t = owned();
    let mut c = client(&mut t);
    let mut s = c.osap(et::SRK, kh::SRK, super::owned::SRK).unwrap();
    // An SRK session cannot authorize the owner even with the right HMAC key.
    let r = c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, Rc::AUTHFAIL.0);
    let mut o = c.osap(et::OWNER, kh::OWNER, OWNER).unwrap();
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut o], 0).unwrap().rc, 0);
}

#[test]
fn dictionary_attack_lockout_and_reset() {
    let mut t = owned();
    for _ in 0..crate::auth::DA_THRESHOLD {
        let mut c = client(&mut t);
        let mut bad = c.oiap([0x99; 20]).unwrap();
        assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut bad], 0).unwrap().rc, Rc::AUTHFAIL.0);
    }
    let info = crate::auth::da_info(&mut t);
    assert!(info.active);
    assert_eq!(info.current_count, crate::auth::DA_THRESHOLD);
    {
        let mut c = client(&mut t);
        let mut good = c.oiap(OWNER).unwrap();
        let r = c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut good], 0).unwrap();
        assert_eq!(r.rc, Rc::DEFEND_LOCK_RUNNING.0);
        // The lockout does not end the session; ResetLockValue runs during lockout.
        let r = c.auth(ord::ResetLockValue, &[], &[], &mut [&mut good], 0).unwrap();
        assert_eq!(r.rc, 0);
        let mut again = c.oiap(OWNER).unwrap();
        assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut again], 0).unwrap().rc, 0);
    }
    // The lockout also expires with time.
    for _ in 0..crate::auth::DA_THRESHOLD {
        let mut c = client(&mut t);
        let mut bad = c.oiap([0x99; 20]).unwrap();
        c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut bad], 0).unwrap();
    }
    assert_eq!(crate::auth::check_lockout(&mut t), Err(Rc::DEFEND_LOCK_RUNNING));
    t.clock = Box::new(ManualClock(crate::auth::DA_BASE_LOCKOUT_S * 1_000_000 + 1));
    assert_eq!(crate::auth::check_lockout(&mut t), Ok(()));
}

#[test]
fn failed_reset_lock_value_disables_it_until_startup() {
    let mut t = owned();
    let mut c = client(&mut t);
    let mut bad = c.oiap([0x98; 20]).unwrap();
    assert_eq!(c.auth(ord::ResetLockValue, &[], &[], &mut [&mut bad], 0).unwrap().rc, Rc::AUTHFAIL.0);
    let mut good = c.oiap(OWNER).unwrap();
    assert_eq!(c.auth(ord::ResetLockValue, &[], &[], &mut [&mut good], 0).unwrap().rc, Rc::AUTHFAIL.0);
}

#[test]
fn sessions_survive_save_state() {
    let mut t = owned();
    let mut s = {
        let mut c = client(&mut t);
        oiap_keep(&mut c, OWNER)
    };
    assert_eq!(rqu(&mut t, ord::SaveState, &[]).0, 0);
    t.init();
    let r = t.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &crate::constants::st::STATE.to_be_bytes()));
    assert_eq!(response_rc(&r), 0);
    let mut c = client(&mut t);
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut s], 0).unwrap().rc, 0);
}

/// M5: the DA count and the lockout still to run are in the image, so a restart (a guest
/// reboot restarts the vtpm) neither resets the count nor ends the lockout; a failure and a
/// forgiven failure mark the state changed.
#[test]
fn dictionary_attack_state_survives_restart_and_decays() {
    use crate::auth::{DA_BASE_LOCKOUT_S, DA_DECAY_S, DA_THRESHOLD, check_lockout, da_info};
    let mut t = owned();
    let _ = t.save_image();
    for _ in 0..DA_THRESHOLD {
        let mut c = client(&mut t);
        let mut bad = c.oiap([0x99; 20]).unwrap();
        assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut bad], 0).unwrap().rc, Rc::AUTHFAIL.0);
    }
    assert!(t.state_changed());
    t.clock = Box::new(ManualClock(4_000_000));
    let img = t.save_image();
    // Restarted with a clock that starts elsewhere: 6 s of the 10 s lockout are still to run.
    let mut t2 = crate::Tpm::from_image(
        &img,
        Box::new(crate::testing::DetRng::new(3)),
        Box::new(ManualClock(500)),
        crate::TpmOptions::default(),
    )
    .unwrap();
    let info = da_info(&mut t2);
    assert_eq!((info.active, info.current_count, info.action_depend_value), (true, DA_THRESHOLD, 6));
    assert_eq!(check_lockout(&mut t2), Err(Rc::DEFEND_LOCK_RUNNING));
    t2.clock = Box::new(ManualClock(500 + (DA_BASE_LOCKOUT_S - 4) * 1_000_000));
    assert_eq!(check_lockout(&mut t2), Ok(()));
    // Decay: one failure forgiven per DA_DECAY_S of running time without failure (4 s of
    // quiet time ran before the restart).
    let _ = t2.save_image();
    t2.clock = Box::new(ManualClock(500 + (DA_DECAY_S - 4) * 1_000_000));
    assert_eq!(da_info(&mut t2).current_count, DA_THRESHOLD - 1);
    assert!(t2.state_changed());
}
