//! TakeOwnership, the EK commands, OwnerClear / ForceClear and their
//! disables, SetOwnerInstall, OwnerSetDisable, ChangeAuthOwner.

use super::owned::{OWNER, SRK, client, owned, owned_with};
use super::{be32s, rqu};
use crate::codec::Writer;
use crate::constants::{cap, et, kh, ord, pid};
use crate::testing::client::{Client, WELL_KNOWN};
use crate::{Rc, TpmOptions};

fn owner_prop(t: &mut crate::Tpm) -> bool {
    let (rc, body) = rqu(t, ord::GetCapability, &be32s(&[cap::PROPERTY, 4, cap::PROP_OWNER]));
    assert_eq!(rc, 0);
    body[4] == 1
}

#[test]
fn take_ownership_and_ek_reads() {
    let mut t = super::started();
    // Before ownership the EK is readable; CreateEndorsementKeyPair is refused (EK exists).
    let (rc, body) = rqu(&mut t, ord::ReadPubek, &[7; 20]);
    assert_eq!(rc, 0);
    let (pubkey, checksum) = body.split_at(body.len() - 20);
    assert_eq!(checksum, crate::crypto::sha1(&[pubkey, &[7; 20]]));
    let mut w = Writer::new();
    w.bytes(&[0; 20]).u32(1).u16(3).u16(1).u32(12).u32(2048).u32(2).u32(0);
    assert_eq!(rqu(&mut t, ord::CreateEndorsementKeyPair, w.as_slice()).0, Rc::DISABLED_CMD.0);
    assert_eq!(rqu(&mut t, ord::ReadPubek, &[7; 19]).0, Rc::BAD_PARAM_SIZE.0);
    let r = Client::new(|c| t.execute(0, c), 1).take_ownership(WELL_KNOWN, WELL_KNOWN).unwrap();
    assert_eq!(r.rc, 0);
    let srk = crate::cmd::keys::blob::TpmKey::from_bytes(&r.body).unwrap();
    assert_eq!(srk.pub_key.len(), 256);
    assert!(srk.enc_data.is_empty());
    assert!(owner_prop(&mut t));
    assert!(t.state_changed());
    // readPubek is now FALSE; the owner reads the EK and the SRK.
    assert_eq!(rqu(&mut t, ord::ReadPubek, &[7; 20]).0, Rc::DISABLED_CMD.0);
    let mut c = Client::new(|c| t.execute(0, c), 2);
    let mut s = c.oiap(WELL_KNOWN).unwrap();
    s.keep = true;
    let r = c.auth(ord::OwnerReadInternalPub, &[], &be32s(&[kh::EK]), &mut [&mut s], 0).unwrap();
    assert_eq!((r.rc, &r.body[..]), (0, pubkey));
    let r = c.auth(ord::OwnerReadInternalPub, &[], &be32s(&[kh::SRK]), &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, 0);
    assert!(r.body.ends_with(&srk.pub_key));
    let r = c.auth(ord::OwnerReadInternalPub, &[], &be32s(&[0x1234]), &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, Rc::BAD_PARAMETER.0);
    // A second owner is refused.
    assert_eq!(c.take_ownership(WELL_KNOWN, WELL_KNOWN).unwrap_err(), "ReadPubek rc 0x8");
}

#[test]
fn take_ownership_errors() {
    // OSAP instead of OIAP; a bad protocol ID; SetOwnerInstall FALSE; deactivated.
    let mut t = super::started();
    let mut c = Client::new(|c| t.execute(0, c), 1);
    let mut p = Writer::new();
    p.u16(pid::OWNER).sized32(&[0; 256]).sized32(&[0; 256]);
    crate::testing::client::srk_template(&mut p);
    let mut s = c.oiap(WELL_KNOWN).unwrap();
    let r = c.auth(ord::TakeOwnership, &[], p.as_slice(), &mut [&mut s], 0).unwrap();
    // Garbage that does not OAEP-decrypt under the EK.
    assert_eq!(r.rc, Rc::DECRYPT_ERROR.0);
    let mut p2 = Writer::new();
    p2.u16(pid::ADIP).sized32(&[0; 256]).sized32(&[0; 256]);
    crate::testing::client::srk_template(&mut p2);
    let mut s = c.oiap(WELL_KNOWN).unwrap();
    assert_eq!(c.auth(ord::TakeOwnership, &[], p2.as_slice(), &mut [&mut s], 0).unwrap().rc, Rc::BAD_PARAMETER.0);
    drop(c);
    assert_eq!(rqu(&mut t, ord::SetOwnerInstall, &[0]).0, 0);
    let r = Client::new(|c| t.execute(0, c), 1).take_ownership(WELL_KNOWN, WELL_KNOWN).unwrap();
    assert_eq!(r.rc, Rc::INSTALL_DISABLED.0);
    assert_eq!(rqu(&mut t, ord::SetOwnerInstall, &[2]).0, Rc::BAD_PARAMETER.0);
    // Without physical presence SetOwnerInstall is refused.
    let mut t = super::started();
    t.options.hardware_physical_presence = false;
    assert_eq!(rqu(&mut t, ord::SetOwnerInstall, &[1]).0, Rc::BAD_PRESENCE.0);
    t.vol.stclear_flags.deactivated = true;
    let r =
        t.execute(0, &crate::testing::request(crate::constants::tag::RQU_AUTH1_COMMAND, ord::TakeOwnership, &[0; 60]));
    assert_eq!(crate::testing::response_rc(&r), Rc::DEACTIVATED.0);
}

#[test]
fn owner_clear_and_its_disable() {
    let mut t = owned();
    {
        let mut c = client(&mut t);
        let mut s = c.oiap(OWNER).unwrap();
        assert_eq!(c.auth(ord::DisableOwnerClear, &[], &[], &mut [&mut s], 0).unwrap().rc, 0);
        let mut s = c.oiap(OWNER).unwrap();
        assert_eq!(c.auth(ord::OwnerClear, &[], &[], &mut [&mut s], 0).unwrap().rc, Rc::CLEAR_DISABLED.0);
    }
    assert!(owner_prop(&mut t));
    // ForceClear still works (physical presence) and clears the disable too.
    assert_eq!(rqu(&mut t, ord::ForceClear, &[]).0, 0);
    assert!(!owner_prop(&mut t));
    assert!(t.perm.data.srk.is_none() && t.perm.flags.readPubek && !t.perm.flags.disableOwnerClear);
    let r = Client::new(|c| t.execute(0, c), 1).take_ownership(OWNER, SRK).unwrap();
    assert_eq!(r.rc, 0);
    let mut c = client(&mut t);
    let mut s = c.oiap(OWNER).unwrap();
    s.keep = true;
    let r = c.auth(ord::OwnerClear, &[], &[], &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, 0);
    // The response says the session ended, and it did.
    assert_eq!(r.raw[r.raw.len() - 21], 0);
    drop(c);
    assert_eq!(t.sessions.loaded(), 0);
    assert!(!owner_prop(&mut t));
    // Owner commands now answer TPM_NOSRK.
    let mut c = client(&mut t);
    let mut s = c.oiap(OWNER).unwrap();
    assert_eq!(c.auth(ord::OwnerClear, &[], &[], &mut [&mut s], 0).unwrap().rc, Rc::NOSRK.0);
}

#[test]
fn force_clear_rules() {
    let mut t = owned_with(TpmOptions { hardware_physical_presence: false, ..TpmOptions::default() });
    assert_eq!(rqu(&mut t, ord::ForceClear, &[]).0, Rc::BAD_PRESENCE.0);
    t.options.hardware_physical_presence = true;
    assert_eq!(rqu(&mut t, ord::DisableForceClear, &[]).0, 0);
    assert_eq!(rqu(&mut t, ord::ForceClear, &[]).0, Rc::CLEAR_DISABLED.0);
    assert!(owner_prop(&mut t));
}

#[test]
fn owner_set_disable_and_disabled_state() {
    let mut t = owned();
    let mut c = client(&mut t);
    let mut s = c.oiap(OWNER).unwrap();
    s.keep = true;
    assert_eq!(c.auth(ord::OwnerSetDisable, &[], &[1], &mut [&mut s], 0).unwrap().rc, 0);
    // Disabled: owner-authorized commands fail, OwnerSetDisable still works.
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut s], 0).unwrap().rc, Rc::DISABLED.0);
    let mut s = c.oiap(OWNER).unwrap();
    assert_eq!(c.auth(ord::OwnerSetDisable, &[], &[0], &mut [&mut s], 0).unwrap().rc, 0);
    let mut s = c.oiap(OWNER).unwrap();
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut s], 0).unwrap().rc, 0);
}

#[test]
fn change_auth_owner_and_srk() {
    let mut t = owned();
    let new_owner = [0x44; 20];
    let new_srk = [0x55; 20];
    let mut c = client(&mut t);
    let change = |c: &mut Client<'_>, secret, new, entity: u16| {
        let mut s = c.osap(et::OWNER, kh::OWNER, secret).unwrap();
        let mut p = Writer::new();
        p.u16(pid::ADCP).bytes(&Client::adip(&s, &new)).u16(entity);
        c.auth(ord::ChangeAuthOwner, &[], p.as_slice(), &mut [&mut s], 0).unwrap().rc
    };
    assert_eq!(change(&mut c, OWNER, new_owner, et::OWNER), 0);
    let mut old = c.oiap(OWNER).unwrap();
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut old], 0).unwrap().rc, Rc::AUTHFAIL.0);
    let mut new = c.oiap(new_owner).unwrap();
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut new], 0).unwrap().rc, 0);
    assert_eq!(change(&mut c, new_owner, new_srk, et::SRK), 0);
    assert_eq!(change(&mut c, new_owner, new_srk, et::DATA), Rc::WRONG_ENTITYTYPE.0);
    // OIAP cannot carry the new secret (no ADIP).
    let mut s = c.oiap(new_owner).unwrap();
    let mut p = Writer::new();
    p.u16(pid::ADCP).bytes(&[0; 20]).u16(et::OWNER);
    assert_eq!(c.auth(ord::ChangeAuthOwner, &[], p.as_slice(), &mut [&mut s], 0).unwrap().rc, Rc::INVALID_AUTHHANDLE.0);
    // The SRK now answers to its new secret.
    assert!(c.osap(et::SRK, kh::SRK, new_srk).is_ok());
    let r = c.seal(kh::SRK, new_srk, [1; 20], b"x").unwrap();
    assert_eq!(r.rc, 0);
    let r = c.seal(kh::SRK, SRK, [1; 20], b"x").unwrap();
    assert_eq!(r.rc, Rc::AUTHFAIL.0);
}

#[test]
fn disable_pubek_read() {
    let mut t = owned();
    t.perm.flags.readPubek = true;
    assert_eq!(rqu(&mut t, ord::ReadPubek, &[0; 20]).0, 0);
    let mut c = client(&mut t);
    let mut s = c.oiap(OWNER).unwrap();
    assert_eq!(c.auth(ord::DisablePubekRead, &[], &[], &mut [&mut s], 0).unwrap().rc, 0);
    drop(c);
    assert_eq!(rqu(&mut t, ord::ReadPubek, &[0; 20]).0, Rc::DISABLED_CMD.0);
}

/// The embedder's read-only view (`Tpm` fields are crate-private).
#[test]
fn getters_show_owner_and_state() {
    let t = super::owned::owned();
    assert!(t.owner_installed());
    assert!(t.perm().data.owner_installed);
    assert!(t.saved().is_none());
    assert!(!t.options().maintcmds);
    assert!(!super::started().owner_installed());
}
