//! OSAP sessions are bound to their entity's current secret (security review H1, M1, I2):
//! a changed owner/SRK secret, a redefined NV space or a released counter ends every OSAP
//! session on it, loaded or saved. The first two tests are the review's appendix probes,
//! inverted; the old format-1 image vector checks that sessions from before still load.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::RefCell;

use super::nv::define_body;
use super::owned::{OWNER, SRK, client, owned};
use super::{be32s, rqu};
use crate::Rc;
use crate::constants::{et, kh, nv_per, ord, rt, st, tag};
use crate::crypto::Secret;
use crate::platform::ManualClock;
use crate::state::{PermanentFlags, PermanentState};
use crate::testing::client::{Client, Session};
use crate::testing::{DetRng, request, response_rc};
use crate::{Tpm, TpmOptions};

fn save_session(c: &mut Client<'_>, handle: u32) -> Vec<u8> {
    let r = c.rqu(ord::SaveContext, &[be32s(&[handle, rt::AUTH]), vec![0; 16]].concat()).unwrap();
    assert_eq!(r.rc, 0, "SaveContext");
    r.body[4..].to_vec()
}

fn load_session(c: &mut Client<'_>, handle: u32, blob: &[u8]) -> u32 {
    let load = [&handle.to_be_bytes()[..], &[1], &(blob.len() as u32).to_be_bytes(), blob].concat();
    c.rqu(ord::LoadContext, &load).unwrap().rc
}

fn change_auth_owner(c: &mut Client<'_>, s: &mut Session, entity: u16, new: [u8; 20]) -> u32 {
    let q = [&4u16.to_be_bytes()[..], &Client::adip(s, &new), &entity.to_be_bytes()].concat();
    c.auth(ord::ChangeAuthOwner, &[], &q, &mut [s], 0).unwrap().rc
}

/// Appendix probe `nv_osap_session_survives_redefinition`, inverted (M1).
#[test]
fn nv_osap_session_dies_with_redefinition() {
    let perm = PermanentState { flags: PermanentFlags::manufactured(), ..Default::default() };
    let mut t = Tpm::from_state(perm, None, Box::new(DetRng::new(7)), Box::new(ManualClock(0)), TpmOptions::default());
    assert_eq!(response_rc(&t.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &st::CLEAR.to_be_bytes()))), 0);
    let (idx, old_auth, new_auth) = (0x2000u32, [0x11u8; 20], [0x22u8; 20]);
    let attrs = nv_per::AUTHREAD | nv_per::AUTHWRITE;
    let define = |t: &mut Tpm, auth| rqu(t, ord::NV_DefineSpace, &define_body(idx, attrs, 8, auth)).0;
    assert_eq!(define(&mut t, old_auth), 0);
    let tref = RefCell::new(t);
    let mut c = Client::new(|cmd: &[u8]| tref.borrow_mut().execute(0, cmd), 3);
    let mut s = c.osap(et::NV, idx, old_auth).unwrap();
    s.keep = true;
    // A second session on the old space, saved before the redefinition.
    let mut saved = c.osap(et::NV, idx, old_auth).unwrap();
    saved.keep = true;
    let blob = save_session(&mut c, saved.handle);
    assert_eq!(c.rqu(ord::NV_DefineSpace, &define_body(idx, attrs, 8, new_auth)).unwrap().rc, 0);
    let mut p = be32s(&[idx, 0, 4]);
    p.extend_from_slice(b"PWND");
    // The loaded session was terminated by the redefinition.
    let r = c.auth(ord::NV_WriteValueAuth, &[], &p, &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, Rc::INVALID_AUTHHANDLE.0);
    // The saved blob is genuine, but its entity digest no longer matches (libtpms' code).
    assert_eq!(load_session(&mut c, saved.handle, &blob), Rc::RESOURCEMISSING.0);
    let r = c.auth(ord::NV_WriteValueAuth, &[], &p, &mut [&mut saved], 0).unwrap();
    assert_eq!(r.rc, Rc::INVALID_AUTHHANDLE.0);
    // A fresh session with the new secret works.
    let mut fresh = c.osap(et::NV, idx, new_auth).unwrap();
    assert_eq!(c.auth(ord::NV_WriteValueAuth, &[], &p, &mut [&mut fresh], 0).unwrap().rc, 0);
    drop(c);
    assert_ne!(tref.borrow().perm.data.nv[0].data[..4], *b"\xff\xff\xff\xff");
}

/// Appendix probe `saved_owner_osap_context_survives_change_auth_owner`, inverted (H1).
#[test]
fn saved_owner_osap_context_dies_with_change_auth_owner() {
    let old_owner = [0xAAu8; 20];
    let mut perm = PermanentState { flags: PermanentFlags::manufactured(), ..Default::default() };
    perm.data.owner_installed = true;
    perm.data.owner_auth = Secret(old_owner);
    let mut t = Tpm::from_state(perm, None, Box::new(DetRng::new(8)), Box::new(ManualClock(0)), TpmOptions::default());
    assert_eq!(response_rc(&t.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &st::CLEAR.to_be_bytes()))), 0);
    let tref = RefCell::new(t);
    let mut c = Client::new(|cmd: &[u8]| tref.borrow_mut().execute(0, cmd), 4);
    let mut stale = c.osap(et::OWNER, kh::OWNER, old_owner).unwrap();
    stale.keep = true;
    let blob = save_session(&mut c, stale.handle);
    let mut s2 = c.osap(et::OWNER, kh::OWNER, old_owner).unwrap();
    assert_eq!(change_auth_owner(&mut c, &mut s2, et::OWNER, [0xBB; 20]), 0);
    assert_eq!(load_session(&mut c, stale.handle, &blob), Rc::RESOURCEMISSING.0);
    assert_eq!(change_auth_owner(&mut c, &mut stale, et::OWNER, [0xCC; 20]), Rc::INVALID_AUTHHANDLE.0);
    drop(c);
    assert!(tref.borrow().perm.data.owner_auth == Secret([0xBB; 20]));
}

/// The entity digest alone (without the saved-list reset or the termination of loaded
/// sessions) stops a session whose entity changed underneath it: here the owner secret
/// changes behind the engine's back. Saved: LoadContext refuses it; loaded: the check before
/// any HMAC or ADIP use refuses it, and ChangeAuthOwner through it changes nothing.
#[test]
fn owner_session_with_a_stale_digest_fails_load_and_auth() {
    let mut t = owned();
    let (mut loaded, blob, saved) = {
        let mut c = client(&mut t);
        let mut loaded = c.osap(et::OWNER, kh::OWNER, OWNER).unwrap();
        loaded.keep = true;
        let saved = c.osap(et::OWNER, kh::OWNER, OWNER).unwrap();
        let blob = save_session(&mut c, saved.handle);
        (loaded, blob, saved.handle)
    };
    let mut other = {
        let mut c = client(&mut t);
        let mut s = c.osap(et::OWNER, kh::OWNER, OWNER).unwrap();
        s.keep = true;
        s
    };
    t.perm.data.owner_auth = Secret([0x44; 20]);
    let mut c = client(&mut t);
    assert_eq!(load_session(&mut c, saved, &blob), Rc::RESOURCEMISSING.0);
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut loaded], 0).unwrap().rc, Rc::AUTHFAIL.0);
    assert_eq!(change_auth_owner(&mut c, &mut other, et::OWNER, [0x46; 20]), Rc::AUTHFAIL.0);
    drop(c);
    assert!(t.perm.data.owner_auth == Secret([0x44; 20]));
}

/// A saved owner session with an unchanged owner still works after LoadContext (the
/// digest travels in the context blob).
#[test]
fn saved_owner_session_still_works() {
    let mut t = owned();
    let mut c = client(&mut t);
    let mut s = c.osap(et::OWNER, kh::OWNER, OWNER).unwrap();
    s.keep = true;
    let blob = save_session(&mut c, s.handle);
    assert_eq!(load_session(&mut c, s.handle, &blob), 0);
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut s], 0).unwrap().rc, 0);
}

/// ChangeAuthOwner(SRK) ends loaded and saved SRK sessions.
#[test]
fn change_auth_srk_ends_srk_sessions() {
    let mut t = owned();
    let mut c = client(&mut t);
    let mut srk = c.osap(et::SRK, kh::SRK, SRK).unwrap();
    srk.keep = true;
    let mut saved = c.osap(et::SRK, kh::SRK, SRK).unwrap();
    saved.keep = true;
    let blob = save_session(&mut c, saved.handle);
    let mut o = c.osap(et::OWNER, kh::OWNER, OWNER).unwrap();
    assert_eq!(change_auth_owner(&mut c, &mut o, et::SRK, [0x55; 20]), 0);
    assert_eq!(load_session(&mut c, saved.handle, &blob), Rc::RESOURCEMISSING.0);
    let r = c.rqu(ord::Terminate_Handle, &be32s(&[srk.handle])).unwrap();
    assert_eq!(r.rc, Rc::INVALID_AUTHHANDLE.0);
}

/// ReleaseCounter and ReleaseCounterOwner end the counter's OSAP sessions (M1).
#[test]
fn release_counter_ends_counter_sessions() {
    let mut t = owned();
    let mut c = client(&mut t);
    let counter_auth = [0x66u8; 20];
    let create = |c: &mut Client<'_>| {
        let mut o = c.osap(et::OWNER, kh::OWNER, OWNER).unwrap();
        let p = [&Client::adip(&o, &counter_auth)[..], b"ctr1"].concat();
        let r = c.auth(ord::CreateCounter, &[], &p, &mut [&mut o], 0).unwrap();
        assert_eq!(r.rc, 0, "CreateCounter");
        u32::from_be_bytes([r.body[0], r.body[1], r.body[2], r.body[3]])
    };
    for owner_release in [false, true] {
        let id = create(&mut c);
        let mut a = c.osap(et::COUNTER, id, counter_auth).unwrap();
        a.keep = true;
        let mut b = c.osap(et::COUNTER, id, counter_auth).unwrap();
        b.keep = true;
        if owner_release {
            let mut o = c.oiap(OWNER).unwrap();
            assert_eq!(c.auth(ord::ReleaseCounterOwner, &[], &be32s(&[id]), &mut [&mut o], 0).unwrap().rc, 0);
        } else {
            assert_eq!(c.auth(ord::ReleaseCounter, &[], &be32s(&[id]), &mut [&mut a], 0).unwrap().rc, 0);
        }
        let r = c.rqu(ord::Terminate_Handle, &be32s(&[b.handle])).unwrap();
        assert_eq!(r.rc, Rc::INVALID_AUTHHANDLE.0, "owner_release={owner_release}");
    }
}

/// A format-1 image (written by the engine before entity digests, `vectors/image_v1.bin`:
/// the owned test TPM after SaveState with an owner OSAP session 0x0200_0000 and an OIAP
/// session 0x0200_0001) still loads, and its OSAP session is bound at Startup(ST_STATE).
#[test]
fn format_1_image_loads_and_binds_its_sessions() {
    let img = include_bytes!("vectors/image_v1.bin");
    assert_eq!(u16::from_be_bytes([img[8], img[9]]), 1);
    let mut t =
        Tpm::from_image(img, Box::new(DetRng::new(11)), Box::new(ManualClock(0)), TpmOptions::default()).unwrap();
    assert_eq!(rqu(&mut t, ord::Startup, &st::STATE.to_be_bytes()).0, 0);
    let hex = |s: &str| -> [u8; 20] {
        let v: Vec<u8> = (0..20).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect();
        v.try_into().unwrap()
    };
    let shared = hex("32d76c32eba749d36cf4bae8588e1ec191c5aae2");
    let mut osap = Session {
        handle: 0x0200_0000,
        nonce_even: hex("240f88825b9aa608d595c828994d42f2cabd0332"),
        key: shared,
        shared_secret: Some(shared),
        keep: true,
    };
    let mut oiap = Session {
        handle: 0x0200_0001,
        nonce_even: hex("258a88255fd94fc99c1c7d43f9fb2a5372e7c1e9"),
        key: OWNER,
        shared_secret: None,
        keep: true,
    };
    let mut c = client(&mut t);
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut oiap], 0).unwrap().rc, 0);
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut osap], 0).unwrap().rc, 0);
    // Bound now: a secret change ends it like any other owner session.
    assert_eq!(change_auth_owner(&mut c, &mut osap, et::OWNER, [0x77; 20]), 0);
    drop(c);
    assert!(t.perm.data.owner_auth == Secret([0x77; 20]));
    // Saved again, the image is the current format.
    assert_eq!(u16::from_be_bytes([t.save_image()[8], t.save_image()[9]]), crate::state::image::VERSION);
}
