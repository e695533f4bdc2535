//! TPM_MakeIdentity and TPM_ActivateIdentity: the AIK and its binding signature, both
//! activation blob forms built as a privacy CA would, and the refusals (wrong AIK digest,
//! wrong owner / SRK / AIK secrets, session types, key parameters, PCR and locality
//! release conditions, DA lockout).

use alloc::vec::Vec;

use super::owned::{OWNER, SRK, client, client_at, load_new_key, owned, public, template};
use crate::Rc;
use crate::cmd::aik::structures::{ActivationBlob, SymmetricKey, identity_contents};
use crate::cmd::keys::blob::{TpmKey, key_flags};
use crate::cmd::keys::rsa_ops::verify_sha1;
use crate::cmd::nv::PcrInfoShort;
use crate::cmd::pcr::PcrSelection;
use crate::codec::{Reader, Writer};
use crate::constants::{alg, et, key_usage, kh, loc, ord, scheme};
use crate::crypto::{Digest, sha1};
use crate::testing::client::{Client, identity_template};
use crate::testing::test_ek;

/// usageAuth of the AIKs made here.
const AIK_AUTH: Digest = [0x44; 20];

fn aik_template() -> Vec<u8> {
    let mut w = Writer::new();
    identity_template(&mut w);
    w.into_vec()
}

/// labelPrivCADigest = SHA-1(label ‖ privacy CA's TPM_PUBKEY), as the TSS computes it.
fn label_digest() -> Digest {
    sha1(&[b"my AIK", b"privacy CA public key"])
}

/// Makes an AIK: returns (wrapped idKey, identityBinding).
fn make_aik(c: &mut Client<'_>) -> (TpmKey, Vec<u8>) {
    let r = c.make_identity(OWNER, SRK, AIK_AUTH, &label_digest(), &aik_template()).unwrap();
    assert_eq!(r.rc, 0, "MakeIdentity");
    let mut rd = Reader::new(&r.body);
    let key = TpmKey::decode(&mut rd).unwrap();
    let binding = rd.sized32().unwrap().to_vec();
    rd.finish().unwrap();
    (key, binding)
}

fn pubkey_bytes(k: &TpmKey) -> Vec<u8> {
    let mut w = Writer::new();
    k.encode_pubkey(&mut w);
    w.into_vec()
}

fn session_key() -> SymmetricKey {
    SymmetricKey {
        alg_id: alg::AES128,
        enc_scheme: scheme::ES_SYM_CTR,
        data: zeroize::Zeroizing::new((0u8..16).collect()),
    }
}

fn encrypt(c: &mut Client<'_>, b: &ActivationBlob) -> Vec<u8> {
    c.encrypt_to_ek(&test_ek().modulus(), &b.encode()).unwrap()
}

fn expected_key_bytes() -> Vec<u8> {
    let mut w = Writer::new();
    session_key().encode(&mut w);
    w.into_vec()
}

fn no_pcrs(locality: u8) -> PcrInfoShort {
    PcrInfoShort {
        selection: PcrSelection { select: alloc::vec![0, 0, 0] },
        locality_at_release: locality,
        digest_at_release: [0; 20],
    }
}

#[test]
fn make_identity_then_activate_both_forms() {
    let mut t = owned();
    let mut c = client(&mut t);
    let (aik, binding) = make_aik(&mut c);
    assert_eq!(aik.key_usage, key_usage::IDENTITY);
    assert!(!aik.migratable());
    assert_eq!(aik.pub_key.len(), 256);
    assert!(!aik.enc_data.is_empty());
    // identityBinding is the AIK's signature over SHA-1(TPM_IDENTITY_CONTENTS).
    let contents = identity_contents(&label_digest(), &pubkey_bytes(&aik));
    assert!(verify_sha1(&public(&aik.pub_key), &sha1(&[&contents]), &binding));
    assert!(!verify_sha1(&public(&aik.pub_key), &sha1(&[&identity_contents(&[0; 20], &pubkey_bytes(&aik))]), &binding));
    // It loads under the SRK with the identityAuth it was given.
    let (h, r) = c.load_key2(kh::SRK, SRK, &aik.to_bytes()).unwrap();
    assert_eq!(r.rc, 0);
    let id_digest = sha1(&[&pubkey_bytes(&aik)]);
    // 1.1 form: TPM_ASYM_CA_CONTENTS.
    let blob = encrypt(&mut c, &ActivationBlob::AsymCaContents { session_key: session_key(), id_digest });
    let r = c.activate_identity(h, AIK_AUTH, OWNER, &blob).unwrap();
    assert_eq!(r.rc, 0);
    assert_eq!(r.body, expected_key_bytes());
    // 1.2 form: TPM_EK_BLOB / TPM_EK_BLOB_ACTIVATE, no PCRs, any locality.
    let b = ActivationBlob::EkBlobActivate { session_key: session_key(), id_digest, pcr_info: no_pcrs(loc::ALL) };
    let blob = encrypt(&mut c, &b);
    let r = c.activate_identity(h, AIK_AUTH, OWNER, &blob).unwrap();
    assert_eq!(r.rc, 0);
    assert_eq!(r.body, expected_key_bytes());
    // A blob for another key is refused, in either form.
    let other = [0x5A; 20];
    let blob = encrypt(&mut c, &ActivationBlob::AsymCaContents { session_key: session_key(), id_digest: other });
    assert_eq!(c.activate_identity(h, AIK_AUTH, OWNER, &blob).unwrap().rc, Rc::BAD_PARAMETER.0);
    let b =
        ActivationBlob::EkBlobActivate { session_key: session_key(), id_digest: other, pcr_info: no_pcrs(loc::ALL) };
    let blob = encrypt(&mut c, &b);
    assert_eq!(c.activate_identity(h, AIK_AUTH, OWNER, &blob).unwrap().rc, Rc::BAD_PARAMETER.0);
    // Release conditions of the 1.2 form: locality 1 only, and PCR 0 with a wrong digest.
    let b = ActivationBlob::EkBlobActivate { session_key: session_key(), id_digest, pcr_info: no_pcrs(0x02) };
    let blob_loc1 = encrypt(&mut c, &b);
    assert_eq!(c.activate_identity(h, AIK_AUTH, OWNER, &blob_loc1).unwrap().rc, Rc::BAD_LOCALITY.0);
    let pcr_info = PcrInfoShort {
        selection: PcrSelection { select: alloc::vec![1, 0, 0] },
        locality_at_release: loc::ALL,
        digest_at_release: [0x66; 20],
    };
    let blob = encrypt(&mut c, &ActivationBlob::EkBlobActivate { session_key: session_key(), id_digest, pcr_info });
    assert_eq!(c.activate_identity(h, AIK_AUTH, OWNER, &blob).unwrap().rc, Rc::WRONGPCRVAL.0);
    // Garbage that is not OAEP for the EK, and a wrong size.
    assert_eq!(c.activate_identity(h, AIK_AUTH, OWNER, &[0x42; 256]).unwrap().rc, Rc::DECRYPT_ERROR.0);
    assert_eq!(c.activate_identity(h, AIK_AUTH, OWNER, &[0x42; 100]).unwrap().rc, Rc::DECRYPT_ERROR.0);
    // An ekType other than ACTIVATE.
    let mut bad_type = Writer::new();
    bad_type.u16(crate::constants::tag::EK_BLOB).u16(2).sized32(&[0; 4]);
    let blob = c.encrypt_to_ek(&test_ek().modulus(), bad_type.as_slice()).unwrap();
    assert_eq!(c.activate_identity(h, AIK_AUTH, OWNER, &blob).unwrap().rc, Rc::BAD_TYPE.0);
    // Wrong owner secret (AUTHFAIL, libtpms' code for the owner here), wrong AIK secret (AUTH2FAIL).
    let blob = encrypt(&mut c, &ActivationBlob::AsymCaContents { session_key: session_key(), id_digest });
    assert_eq!(c.activate_identity(h, AIK_AUTH, [0x99; 20], &blob).unwrap().rc, Rc::AUTHFAIL.0);
    assert_eq!(c.activate_identity(h, [0x99; 20], OWNER, &blob).unwrap().rc, Rc::AUTH2FAIL.0);
    // AUTH1 (owner only) needs an AIK without authorization.
    let mut s = c.oiap(OWNER).unwrap();
    let mut p = Writer::new();
    p.sized32(&blob);
    let r = c.auth(ord::ActivateIdentity, &[h], p.as_slice(), &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, Rc::AUTHFAIL.0);
    // The blob activates at locality 1 only from locality 1.
    drop(c);
    let mut c1 = client_at(&mut t, 1);
    assert_eq!(c1.activate_identity(h, AIK_AUTH, OWNER, &blob_loc1).unwrap().rc, 0);
}

#[test]
fn activate_identity_wants_an_identity_key() {
    let mut t = owned();
    let mut c = client(&mut t);
    let sign = template(key_usage::SIGNING, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_SHA1, 1024, 0, true, &[]);
    let (h, blob) = load_new_key(&mut c, &sign);
    let id_digest = sha1(&[&pubkey_bytes(&TpmKey::from_bytes(&blob).unwrap())]);
    let blob = encrypt(&mut c, &ActivationBlob::AsymCaContents { session_key: session_key(), id_digest });
    let r = c.activate_identity(h, super::owned::KEY_AUTH, OWNER, &blob).unwrap();
    assert_eq!(r.rc, Rc::BAD_PARAMETER.0);
    assert_eq!(c.activate_identity(0x0100_7777, AIK_AUTH, OWNER, &blob).unwrap().rc, Rc::INVALID_KEYHANDLE.0);
}

#[test]
fn make_identity_refusals() {
    let mut t = owned();
    let mut c = client(&mut t);
    let ld = label_digest();
    // Wrong owner secret: TPM_AUTH2FAIL (libtpms checks the owner's trailer with it).
    let r = c.make_identity([0x99; 20], SRK, AIK_AUTH, &ld, &aik_template()).unwrap();
    assert_eq!(r.rc, Rc::AUTH2FAIL.0);
    // Wrong SRK secret: TPM_AUTHFAIL.
    let r = c.make_identity(OWNER, [0x99; 20], AIK_AUTH, &ld, &aik_template()).unwrap();
    assert_eq!(r.rc, Rc::AUTHFAIL.0);
    // The owner session must be OSAP (ADIP): OIAP is TPM_BAD_MODE, and the session ends.
    let mut s_srk = c.oiap(SRK).unwrap();
    let mut s_owner = c.oiap(OWNER).unwrap();
    s_owner.keep = true;
    let mut p = Writer::new();
    p.bytes(&[0; 20]).bytes(&ld).bytes(&aik_template());
    let r = c.auth(ord::MakeIdentity, &[], p.as_slice(), &mut [&mut s_srk, &mut s_owner], 0).unwrap();
    assert_eq!(r.rc, Rc::BAD_MODE.0);
    assert_eq!(c.rqu(ord::Terminate_Handle, &s_owner.handle.to_be_bytes()).unwrap().rc, Rc::INVALID_AUTHHANDLE.0);
    // AUTH1 (owner only) needs an SRK without authorization (ours has one).
    let mut s_owner = c.osap(et::OWNER, kh::OWNER, OWNER).unwrap();
    let mut p = Writer::new();
    p.bytes(&Client::adip(&s_owner, &AIK_AUTH)).bytes(&ld).bytes(&aik_template());
    let r = c.auth(ord::MakeIdentity, &[], p.as_slice(), &mut [&mut s_owner], 0).unwrap();
    assert_eq!(r.rc, Rc::AUTHFAIL.0);
    // Key parameters, checked before any authorization (so a wrong owner secret does not matter).
    let small = template(key_usage::IDENTITY, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_SHA1, 1024, 0, true, &[]);
    assert_eq!(c.make_identity([0x99; 20], SRK, AIK_AUTH, &ld, &small).unwrap().rc, Rc::BAD_KEY_PROPERTY.0);
    let der = template(key_usage::IDENTITY, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_DER, 2048, 0, true, &[]);
    assert_eq!(c.make_identity(OWNER, SRK, AIK_AUTH, &ld, &der).unwrap().rc, Rc::BAD_KEY_PROPERTY.0);
    // Not an identity key, or migratable: TPM_INVALID_KEYUSAGE (after authorization).
    let sign = template(key_usage::SIGNING, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_SHA1, 2048, 0, true, &[]);
    assert_eq!(c.make_identity(OWNER, SRK, AIK_AUTH, &ld, &sign).unwrap().rc, Rc::INVALID_KEYUSAGE.0);
    let migratable = template(
        key_usage::IDENTITY,
        scheme::ES_NONE,
        scheme::SS_RSASSAPKCS1V15_SHA1,
        2048,
        key_flags::MIGRATABLE,
        true,
        &[],
    );
    assert_eq!(c.make_identity(OWNER, SRK, AIK_AUTH, &ld, &migratable).unwrap().rc, Rc::INVALID_KEYUSAGE.0);
    // An RQU request is refused by tag.
    assert_eq!(c.rqu(ord::MakeIdentity, p.as_slice()).unwrap().rc, Rc::BADTAG.0);
}

#[test]
fn make_identity_ends_both_sessions() {
    let mut t = owned();
    let mut c = client(&mut t);
    let mut s_srk = c.oiap(SRK).unwrap();
    s_srk.keep = true;
    let mut s_owner = c.osap(et::OWNER, kh::OWNER, OWNER).unwrap();
    s_owner.keep = true;
    let mut p = Writer::new();
    p.bytes(&Client::adip(&s_owner, &AIK_AUTH)).bytes(&label_digest()).bytes(&aik_template());
    let r = c.auth(ord::MakeIdentity, &[], p.as_slice(), &mut [&mut s_srk, &mut s_owner], 0).unwrap();
    assert_eq!(r.rc, 0);
    // continueAuthSession is FALSE in both trailers, and the sessions are gone.
    let n = r.raw.len();
    assert_eq!(r.raw[n - 41 - 21], 0);
    assert_eq!(r.raw[n - 21], 0);
    for h in [s_srk.handle, s_owner.handle] {
        assert_eq!(c.rqu(ord::Terminate_Handle, &h.to_be_bytes()).unwrap().rc, Rc::INVALID_AUTHHANDLE.0);
    }
}

/// Wrong owner secrets count as DA failures; in lockout both commands answer
/// TPM_DEFEND_LOCK_RUNNING, as every authorized owner command does.
#[test]
fn identity_commands_and_the_dictionary_attack_lockout() {
    let mut t = owned();
    for _ in 0..crate::auth::DA_THRESHOLD {
        let mut c = client(&mut t);
        let r = c.make_identity([0x99; 20], SRK, AIK_AUTH, &label_digest(), &aik_template()).unwrap();
        assert_eq!(r.rc, Rc::AUTH2FAIL.0);
    }
    assert_eq!(crate::auth::da_info(&mut t).current_count, crate::auth::DA_THRESHOLD);
    let mut c = client(&mut t);
    let r = c.make_identity(OWNER, SRK, AIK_AUTH, &label_digest(), &aik_template()).unwrap();
    assert_eq!(r.rc, Rc::DEFEND_LOCK_RUNNING.0);
    let r = c.activate_identity(kh::SRK, SRK, OWNER, &[0; 256]).unwrap();
    assert_eq!(r.rc, Rc::DEFEND_LOCK_RUNNING.0);
}

/// An AIK made without authorization (TPM_AUTH_NEVER) activates with the owner's trailer
/// alone (AUTH1); with AUTH2 its trailer is still checked.
#[test]
fn auth_never_aik_activates_with_auth1() {
    let mut t = owned();
    let mut c = client(&mut t);
    let mut never = aik_template();
    never[10] = crate::constants::auth_usage::NEVER;
    let r = c.make_identity(OWNER, SRK, AIK_AUTH, &label_digest(), &never).unwrap();
    assert_eq!(r.rc, 0);
    let aik = TpmKey::decode(&mut Reader::new(&r.body)).unwrap();
    assert_eq!(aik.auth_data_usage, crate::constants::auth_usage::NEVER);
    let (h, l) = c.load_key2(kh::SRK, SRK, &aik.to_bytes()).unwrap();
    assert_eq!(l.rc, 0);
    let id_digest = sha1(&[&pubkey_bytes(&aik)]);
    let blob = encrypt(&mut c, &ActivationBlob::AsymCaContents { session_key: session_key(), id_digest });
    let mut s = c.oiap(OWNER).unwrap();
    let mut p = Writer::new();
    p.sized32(&blob);
    let r = c.auth(ord::ActivateIdentity, &[h], p.as_slice(), &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, 0);
    assert_eq!(r.body, expected_key_bytes());
    // The owner's trailer is still required and checked.
    let mut bad = c.oiap([0x99; 20]).unwrap();
    let r = c.auth(ord::ActivateIdentity, &[h], p.as_slice(), &mut [&mut bad], 0).unwrap();
    assert_eq!(r.rc, Rc::AUTHFAIL.0);
    assert_eq!(c.activate_identity(h, [0x99; 20], OWNER, &blob).unwrap().rc, Rc::AUTH2FAIL.0);
}
