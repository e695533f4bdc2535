//! Audit: the default audited ordinals, the audit digest as an independent client would
//! recompute it from the commands and responses, TPM_SetOrdinalAuditStatus refusals,
//! TPM_GetAuditDigestSigned (signature, closeAudit), the digest across SaveState /
//! Startup, owner clear, and the audit state in the image (a format-2 image loads).

use alloc::vec::Vec;

use super::owned::{KEY_AUTH, OWNER, SRK, client, load_new_key, owned, public, template};
use super::{be32s, rqu};
use crate::cmd::keys::rsa_ops::verify_sha1;
use crate::codec::{Reader, Writer};
use crate::constants::{key_usage, ord, scheme, st};
use crate::crypto::{Digest, sha1};
use crate::platform::ManualClock;
use crate::state::audit::DEFAULT_AUDITED;
use crate::testing::DetRng;
use crate::testing::client::{Client, identity_template};
use crate::{Rc, Tpm, TpmOptions};

/// (counter, auditDigest, ordList) from TPM_GetAuditDigest(start).
fn audit_digest(t: &mut Tpm, start: u32) -> (u32, Digest, Vec<u32>) {
    let (rc, b) = rqu(t, ord::GetAuditDigest, &be32s(&[start]));
    assert_eq!(rc, 0, "GetAuditDigest");
    let mut r = Reader::new(&b);
    assert_eq!(r.u16().unwrap(), 0x000E, "TPM_COUNTER_VALUE tag");
    assert_eq!(r.array::<4>().unwrap(), [0; 4], "label");
    let counter = r.u32().unwrap();
    let digest: Digest = r.array().unwrap();
    assert!(!r.bool().unwrap(), "more");
    let list = r.sized32().unwrap().chunks(4).map(|c| u32::from_be_bytes(c.try_into().unwrap())).collect();
    r.finish().unwrap();
    (counter, digest, list)
}

/// The verifier's side of Part 3 §8.1: extends `digest` with one audited command.
fn extend(digest: Digest, counter: u32, ordinal: u32, params: &[u8], out_params: &[u8]) -> Digest {
    let cv = [&[0u8, 0x0E][..], &[0; 4], &counter.to_be_bytes()].concat();
    let input = sha1(&[&ordinal.to_be_bytes(), params]);
    let output = sha1(&[&0u32.to_be_bytes(), &ordinal.to_be_bytes(), out_params]);
    let d = sha1(&[&digest, &[0, 0x12], &input, &cv]);
    sha1(&[&d, &[0, 0x13], &output, &cv])
}

/// TPM_OwnerReadPubek (audited by default); returns its output parameters.
fn owner_read_pubek(t: &mut Tpm) -> Vec<u8> {
    let mut c = client(t);
    let mut s = c.oiap(OWNER).unwrap();
    let r = c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, 0);
    r.body
}

fn set_audit(t: &mut Tpm, ordinal: u32, on: bool, owner: Digest) -> u32 {
    let mut c = client(t);
    let mut s = c.oiap(owner).unwrap();
    let p = [&ordinal.to_be_bytes()[..], &[u8::from(on)]].concat();
    c.auth(ord::SetOrdinalAuditStatus, &[], &p, &mut [&mut s], 0).unwrap().rc
}

#[test]
fn defaults_and_the_digest_a_verifier_recomputes() {
    let mut t = owned();
    let (counter, digest, list) = audit_digest(&mut t, 0);
    // TakeOwnership (audited by default) ran before the image was taken, then ST_CLEAR.
    assert_eq!((counter, digest), (1, [0; 20]));
    let mut want: Vec<u32> = DEFAULT_AUDITED.to_vec();
    want.sort_unstable();
    assert_eq!(list, want);
    assert_eq!(audit_digest(&mut t, ord::PhysicalEnable).2, want[want.iter().position(|o| *o == 0x6F).unwrap()..]);
    // OwnerReadPubek is audited: a new audit session (counter 2) with its in and out digests.
    let out = owner_read_pubek(&mut t);
    let (counter, digest, _) = audit_digest(&mut t, 0);
    assert_eq!(counter, 2);
    let expected = extend([0; 20], 2, ord::OwnerReadPubek, &[], &out);
    assert_eq!(digest, expected);
    // Extend is not audited until the owner says so; failures are never audited.
    let ext = [&be32s(&[10])[..], &[1; 20]].concat();
    assert_eq!(rqu(&mut t, ord::Extend, &ext).0, 0);
    assert_eq!(audit_digest(&mut t, 0).1, expected);
    assert_eq!(set_audit(&mut t, ord::Extend, true, OWNER), 0);
    let expected = extend(expected, 2, ord::SetOrdinalAuditStatus, &[0, 0, 0, 0x14, 1], &[]);
    assert_eq!(audit_digest(&mut t, 0).1, expected);
    let (rc, out) = rqu(&mut t, ord::Extend, &ext);
    assert_eq!(rc, 0);
    let expected = extend(expected, 2, ord::Extend, &ext, &out);
    assert_eq!(audit_digest(&mut t, 0).1, expected);
    assert_eq!(rqu(&mut t, ord::Extend, &[0; 3]).0, Rc::BAD_PARAM_SIZE.0);
    assert_eq!(audit_digest(&mut t, 0).1, expected, "a failed command is not audited");
    assert!(audit_digest(&mut t, 0).2.contains(&ord::Extend));
    // Switching SetOrdinalAuditStatus off is audited (by the status before it).
    assert_eq!(set_audit(&mut t, ord::SetOrdinalAuditStatus, false, OWNER), 0);
    let expected = extend(expected, 2, ord::SetOrdinalAuditStatus, &[0, 0, 0, 0x8D, 0], &[]);
    assert_eq!(audit_digest(&mut t, 0).1, expected);
    assert_eq!(set_audit(&mut t, ord::SetOrdinalAuditStatus, true, OWNER), 0);
    assert_eq!(audit_digest(&mut t, 0).1, expected, "switching it on is not");
}

#[test]
fn set_ordinal_audit_status_refusals() {
    let mut t = owned();
    assert_eq!(set_audit(&mut t, ord::Extend, true, [0x99; 20]), Rc::AUTHFAIL.0);
    assert!(!audit_digest(&mut t, 0).2.contains(&ord::Extend));
    for o in [ord::GetAuditDigest, ord::GetAuditDigestSigned, 0x1234, ord::DSAP] {
        assert_eq!(set_audit(&mut t, o, true, OWNER), Rc::BAD_PARAMETER.0, "{o:#x}");
    }
    assert_eq!(set_audit(&mut t, 0x1234, false, OWNER), Rc::BADINDEX.0);
    assert_eq!(set_audit(&mut t, 0x77, false, OWNER), 0, "an ordinal below 256 can be switched off");
    assert_eq!(set_audit(&mut t, ord::TSC_PhysicalPresence, true, OWNER), 0);
    assert_eq!(audit_digest(&mut t, 0x1000).2, [ord::TSC_PhysicalPresence], "TSC ordinals are always listed");
    // RQU is refused (owner authorization is required).
    assert_eq!(rqu(&mut t, ord::SetOrdinalAuditStatus, &[0, 0, 0, 0x14, 1]).0, Rc::BADTAG.0);
}

/// `TPM_SIGN_INFO { "ADIG", antiReplay, auditDigest ‖ counterValue ‖ ordinalDigest }`.
fn adig_info(nonce: &Digest, digest: &Digest, counter: u32, ordinal_digest: &Digest) -> Digest {
    let mut w = Writer::new();
    w.u16(5).bytes(b"ADIG").bytes(nonce).u32(20 + 10 + 20).bytes(digest);
    w.u16(0x0E).bytes(&[0; 4]).u32(counter).bytes(ordinal_digest);
    sha1(&[w.as_slice()])
}

fn signed(c: &mut Client<'_>, key: u32, auth: Digest, close: bool, nonce: Digest) -> crate::testing::client::Reply {
    let mut s = c.oiap(auth).unwrap();
    let p = [&[u8::from(close)][..], &nonce].concat();
    c.auth(ord::GetAuditDigestSigned, &[key], &p, &mut [&mut s], 0).unwrap()
}

#[test]
fn get_audit_digest_signed_and_close() {
    let mut t = owned();
    let mut c = client(&mut t);
    let (key, blob) = load_new_key(
        &mut c,
        &template(key_usage::SIGNING, 0x0001, scheme::SS_RSASSAPKCS1V15_SHA1, 2048, 0, false, &[]),
    );
    let modulus = super::owned::modulus_of_key(&blob);
    drop(c);
    owner_read_pubek(&mut t);
    let (counter, digest, list) = audit_digest(&mut t, 0);
    assert_ne!(digest, [0; 20]);
    let ordinal_digest = sha1(&[&list.iter().flat_map(|o| o.to_be_bytes()).collect::<Vec<u8>>()]);
    let mut c = client(&mut t);
    let r = signed(&mut c, key, KEY_AUTH, false, [5; 20]);
    assert_eq!(r.rc, 0);
    let mut rd = Reader::new(&r.body);
    assert_eq!(rd.array::<10>().unwrap()[6..], counter.to_be_bytes());
    assert_eq!(rd.array::<20>().unwrap(), digest);
    assert_eq!(rd.array::<20>().unwrap(), ordinal_digest);
    let sig = rd.sized32().unwrap().to_vec();
    rd.finish().unwrap();
    assert!(verify_sha1(&public(&modulus), &adig_info(&[5; 20], &digest, counter, &ordinal_digest), &sig));
    // Wrong key secret; closeAudit with a signing key: refused, digest untouched.
    assert_eq!(signed(&mut c, key, [0; 20], false, [5; 20]).rc, Rc::AUTHFAIL.0);
    assert_eq!(signed(&mut c, key, KEY_AUTH, true, [5; 20]).rc, Rc::INVALID_KEYUSAGE.0);
    // A storage key cannot sign the digest.
    let r = c.rqu(ord::GetAuditDigestSigned, &[&be32s(&[crate::constants::kh::SRK])[..], &[0], &[0; 20]].concat());
    assert_eq!(r.unwrap().rc, Rc::AUTHFAIL.0, "RQU with a key that needs authorization");
    let mut s = c.oiap(SRK).unwrap();
    let p = [&[0u8][..], &[0; 20]].concat();
    let r = c.auth(ord::GetAuditDigestSigned, &[crate::constants::kh::SRK], &p, &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, Rc::INVALID_KEYUSAGE.0);
    // An AIK closes the audit session: the signed digest is returned, the TPM's is zeroed,
    // and the next audited command opens a new session (counter + 1).
    let mut w = Writer::new();
    identity_template(&mut w);
    let r = c.make_identity(OWNER, SRK, [0x44; 20], &[0; 20], w.as_slice()).unwrap();
    assert_eq!(r.rc, 0);
    let aik_blob = crate::cmd::keys::blob::TpmKey::decode(&mut Reader::new(&r.body)).unwrap().to_bytes();
    let (aik, _) = c.load_key2(crate::constants::kh::SRK, SRK, &aik_blob).unwrap();
    drop(c);
    let (counter, digest, _) = audit_digest(&mut t, 0);
    let mut c = client(&mut t);
    let r = signed(&mut c, aik, [0x44; 20], true, [6; 20]);
    assert_eq!(r.rc, 0);
    assert_eq!(r.body[10..30], digest);
    drop(c);
    assert_eq!(audit_digest(&mut t, 0).1, [0; 20]);
    owner_read_pubek(&mut t);
    assert_eq!(audit_digest(&mut t, 0).0, counter + 1);
}

#[test]
fn digest_across_save_state_startup_and_owner_clear() {
    let mut t = owned();
    assert_eq!(set_audit(&mut t, ord::SaveState, true, OWNER), 0);
    let (counter, before, _) = audit_digest(&mut t, 0);
    assert_eq!(rqu(&mut t, ord::SaveState, &[]).0, 0);
    // SaveState is audited before it saves, input only.
    let cv = [&[0u8, 0x0E][..], &[0; 4], &counter.to_be_bytes()].concat();
    let saved = sha1(&[&before, &[0, 0x12], &sha1(&[&ord::SaveState.to_be_bytes()]), &cv]);
    let img = t.save_image();
    let mut t = Tpm::from_image(&img, Box::new(DetRng::new(3)), Box::new(ManualClock(0)), TpmOptions::default())
        .expect("image");
    assert_eq!(rqu(&mut t, ord::Startup, &st::STATE.to_be_bytes()).0, 0);
    let (c2, after, list) = audit_digest(&mut t, 0);
    assert_eq!((c2, after), (counter, saved), "kept by SaveState / Startup(ST_STATE)");
    assert!(list.contains(&ord::SaveState), "the audit status is permanent");
    t.init();
    assert_eq!(rqu(&mut t, ord::Startup, &st::CLEAR.to_be_bytes()).0, 0);
    assert_eq!(audit_digest(&mut t, 0).1, [0; 20], "nulled by Startup(ST_CLEAR)");
    // Owner clear puts the audit flags back to the defaults and keeps the counter.
    let mut c = client(&mut t);
    let mut s = c.oiap(OWNER).unwrap();
    assert_eq!(c.auth(ord::OwnerClear, &[], &[], &mut [&mut s], 0).unwrap().rc, 0);
    drop(c);
    let (c3, _, list) = audit_digest(&mut t, 0);
    assert!(!list.contains(&ord::SaveState));
    assert_eq!(c3, counter + 1, "OwnerClear itself was audited in a new session");
}

/// A format-2 image (`vectors/image_v2.bin`, written by the engine before audit: the owned
/// test TPM with two failed owner authorizations, after SaveState) loads: DA count kept,
/// default audit flags, counter 0, and the saved state restores with a zero audit digest.
#[test]
fn format_2_image_loads_with_default_audit_state() {
    let img = include_bytes!("vectors/image_v2.bin");
    assert_eq!(u16::from_be_bytes([img[8], img[9]]), 2);
    let mut t =
        Tpm::from_image(img, Box::new(DetRng::new(12)), Box::new(ManualClock(0)), TpmOptions::default()).unwrap();
    assert_eq!(t.perm.data.da.failures, 2);
    assert_eq!(rqu(&mut t, ord::Startup, &st::STATE.to_be_bytes()).0, 0);
    let (counter, digest, list) = audit_digest(&mut t, 0);
    assert_eq!((counter, digest, list.len()), (0, [0; 20], DEFAULT_AUDITED.len()));
    let mut c = client(&mut t);
    let mut s = c.oiap(OWNER).unwrap();
    assert_eq!(c.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut s], 0).unwrap().rc, 0);
    drop(c);
    assert_eq!(audit_digest(&mut t, 0).0, 1, "OwnerReadPubek is audited: the first session");
    let img3 = t.save_image();
    assert_eq!(u16::from_be_bytes([img3[8], img3[9]]), crate::state::image::VERSION);
    let t2 = Tpm::from_image(&img3, Box::new(DetRng::new(1)), Box::new(ManualClock(0)), TpmOptions::default()).unwrap();
    assert_eq!(t2.perm.data.audit, t.perm.data.audit);
}
