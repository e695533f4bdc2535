//! CreateWrapKey, LoadKey2, LoadKey, GetPubKey, Sign, EvictKey, FlushSpecific,
//! PCR- and locality-bound keys, CertifyKey, Quote, Quote2, Save/LoadContext.

use alloc::vec::Vec;

use super::owned::{
    KEY_AUTH, SRK, client, client_at, create_key, load_new_key, modulus_of_key, oiap_keep, owned, public, template,
};
use super::{be32s, rqu};
use crate::Rc;
use crate::cmd::keys::blob::key_flags;
use crate::cmd::keys::rsa_ops::verify_sha1;
use crate::codec::Writer;
use crate::constants::{et, key_usage, kh, loc, ord, rt, scheme, tag};
use crate::crypto::sha1;

fn signing_template(bits: u32) -> Vec<u8> {
    template(key_usage::SIGNING, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_SHA1, bits, 0, true, &[])
}

fn sign(c: &mut crate::testing::client::Client<'_>, h: u32, data: &[u8]) -> (u32, Vec<u8>) {
    let mut s = c.oiap(KEY_AUTH).unwrap();
    let mut p = Writer::new();
    p.sized32(data);
    let r = c.auth(ord::Sign, &[h], p.as_slice(), &mut [&mut s], 0).unwrap();
    let sig = if r.rc == 0 { r.body[4..].to_vec() } else { Vec::new() };
    (r.rc, sig)
}

#[test]
fn create_load_sign_flush() {
    let mut t = owned();
    let mut c = client(&mut t);
    let (h, blob) = load_new_key(&mut c, &signing_template(1024));
    let n = modulus_of_key(&blob);
    assert_eq!(n.len(), 128);
    // GetPubKey without auth is refused for an auth-ALWAYS key, fine with it.
    let r = c.rqu(ord::GetPubKey, &be32s(&[h])).unwrap();
    assert_eq!(r.rc, Rc::AUTHFAIL.0);
    let mut s = c.oiap(KEY_AUTH).unwrap();
    let r = c.auth(ord::GetPubKey, &[h], &[], &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, 0);
    assert!(r.body.ends_with(&n));
    // Sign a SHA-1 digest and verify it.
    let d = sha1(&[b"message"]);
    let (rc, sig) = sign(&mut c, h, &d);
    assert_eq!(rc, 0);
    assert!(verify_sha1(&public(&n), &d, &sig));
    // Wrong sizes and a wrong secret.
    assert_eq!(sign(&mut c, h, &[1; 19]).0, Rc::BAD_PARAMETER.0);
    assert_eq!(sign(&mut c, h, &[]).0, Rc::BAD_PARAMETER.0);
    let mut bad = c.oiap([0x77; 20]).unwrap();
    let r = c.auth(ord::Sign, &[h], &be32s(&[20]).into_iter().chain([0; 20]).collect::<Vec<_>>(), &mut [&mut bad], 0);
    assert_eq!(r.unwrap().rc, Rc::AUTHFAIL.0);
    // A storage key cannot sign.
    let mut p = Writer::new();
    p.sized32(&[0; 20]);
    let mut s = c.oiap(SRK).unwrap();
    assert_eq!(c.auth(ord::Sign, &[kh::SRK], p.as_slice(), &mut [&mut s], 0).unwrap().rc, Rc::INVALID_KEYUSAGE.0);
    // Flush, then the handle is gone.
    assert_eq!(c.rqu(ord::FlushSpecific, &be32s(&[h, rt::KEY])).unwrap().rc, 0);
    assert_eq!(sign(&mut c, h, &d).0, Rc::INVALID_KEYHANDLE.0);
    assert_eq!(c.rqu(ord::FlushSpecific, &be32s(&[h, rt::KEY])).unwrap().rc, Rc::BAD_PARAMETER.0);
    // Load again with the 1.1 LoadKey: the handle is an output parameter.
    let mut s = c.oiap(SRK).unwrap();
    let r = c.auth(ord::LoadKey, &[kh::SRK], &blob, &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, 0);
    let h2 = u32::from_be_bytes([r.body[0], r.body[1], r.body[2], r.body[3]]);
    assert_eq!(c.rqu(ord::EvictKey, &be32s(&[h2])).unwrap().rc, 0);
    assert_eq!(c.rqu(ord::EvictKey, &be32s(&[kh::SRK])).unwrap().rc, Rc::INVALID_KEYHANDLE.0);
}

#[test]
fn der_and_info_schemes() {
    let mut t = owned();
    let mut c = client(&mut t);
    let der = template(key_usage::SIGNING, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_DER, 1024, 0, true, &[]);
    let (h, blob) = load_new_key(&mut c, &der);
    let (rc, sig) = sign(&mut c, h, b"any DER data at all");
    assert_eq!(rc, 0);
    let k = public(&modulus_of_key(&blob));
    assert!(k.verify(rsa::Pkcs1v15Sign::new_unprefixed(), b"any DER data at all", &sig).is_ok());
    assert_eq!(sign(&mut c, h, &[0; 120]).0, Rc::BAD_PARAMETER.0);
    // A DER key may not sign TPM structures (Quote).
    let mut p = Writer::new();
    p.bytes(&[0; 20]).u16(3).bytes(&[1, 0, 0]);
    let mut s = c.oiap(KEY_AUTH).unwrap();
    assert_eq!(c.auth(ord::Quote, &[h], p.as_slice(), &mut [&mut s], 0).unwrap().rc, Rc::INAPPROPRIATE_SIG.0);
    // INFO: signs SHA-1(TPM_SIGN_INFO "SIGN" ‖ nonceOdd ‖ data); unauthorized is refused.
    let info = template(key_usage::SIGNING, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_INFO, 1024, 0, true, &[]);
    let (h, _) = load_new_key(&mut c, &info);
    assert_eq!(sign(&mut c, h, b"data").0, 0);
}

#[test]
fn create_wrap_key_errors() {
    let mut t = owned();
    let mut c = client(&mut t);
    // OIAP cannot carry ADIP.
    let mut s = c.oiap(SRK).unwrap();
    let mut p = Writer::new();
    p.bytes(&[0; 40]).bytes(&signing_template(1024));
    assert_eq!(
        c.auth(ord::CreateWrapKey, &[kh::SRK], p.as_slice(), &mut [&mut s], 0).unwrap().rc,
        Rc::INVALID_AUTHHANDLE.0
    );
    // Bad properties: storage key of 1024 bits, signing key with an encryption scheme, odd sizes.
    let bad = [
        template(key_usage::STORAGE, scheme::ES_RSAESOAEP_SHA1_MGF1, scheme::SS_NONE, 1024, 0, true, &[]),
        template(
            key_usage::SIGNING,
            scheme::ES_RSAESOAEP_SHA1_MGF1,
            scheme::SS_RSASSAPKCS1V15_SHA1,
            1024,
            0,
            true,
            &[],
        ),
        template(key_usage::SIGNING, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_SHA1, 768, 0, true, &[]),
        template(key_usage::BIND, scheme::ES_RSAESOAEP_SHA1_MGF1, scheme::SS_RSASSAPKCS1V15_SHA1, 1024, 0, true, &[]),
    ];
    for b in &bad {
        assert_eq!(create_key(&mut c, kh::SRK, SRK, b).rc, Rc::BAD_KEY_PROPERTY.0);
    }
    let identity = template(key_usage::IDENTITY, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_SHA1, 1024, 0, true, &[]);
    assert_eq!(create_key(&mut c, kh::SRK, SRK, &identity).rc, Rc::INVALID_KEYUSAGE.0);
    // Wrong parent secret; a parent that is not a storage key; an unknown parent.
    assert_eq!(create_key(&mut c, kh::SRK, [9; 20], &signing_template(1024)).rc, Rc::AUTHFAIL.0);
    let (h, _) = load_new_key(&mut c, &signing_template(1024));
    assert_eq!(create_key(&mut c, h, KEY_AUTH, &signing_template(1024)).rc, Rc::INVALID_KEYUSAGE.0);
    assert!(c.osap(et::KEYHANDLE, 0x0100_7777, KEY_AUTH).is_err());
    // A truncated keyInfo.
    let mut s = c.osap(et::SRK, kh::SRK, SRK).unwrap();
    let t512 = signing_template(1024);
    let mut p = Writer::new();
    p.bytes(&[0; 40]).bytes(&t512[..t512.len() - 3]);
    assert_eq!(
        c.auth(ord::CreateWrapKey, &[kh::SRK], p.as_slice(), &mut [&mut s], 0).unwrap().rc,
        Rc::BAD_PARAM_SIZE.0
    );
}

#[test]
fn load_key_rejects_tampered_blobs_and_full_table() {
    let mut t = owned();
    let mut c = client(&mut t);
    let r = create_key(&mut c, kh::SRK, SRK, &signing_template(1024));
    assert_eq!(r.rc, 0);
    let blob = r.body;
    // Flip a byte of encData (the last byte) and of the public part (the modulus).
    let mut enc = blob.clone();
    let last = enc.len() - 1;
    enc[last] ^= 1;
    assert_eq!(c.load_key2(kh::SRK, SRK, &enc).unwrap().1.rc, Rc::DECRYPT_ERROR.0);
    let mut pubpart = blob.clone();
    let n = modulus_of_key(&blob);
    let pos = blob.windows(n.len()).position(|w| w == &n[..]).unwrap();
    pubpart[pos + 5] ^= 1;
    assert_eq!(c.load_key2(kh::SRK, SRK, &pubpart).unwrap().1.rc, Rc::DECRYPT_ERROR.0);
    assert_eq!(c.load_key2(kh::SRK, SRK, &blob[..40]).unwrap().1.rc, Rc::BAD_PARAM_SIZE.0);
    assert_eq!(c.load_key2(kh::SRK, [1; 20], &blob).unwrap().1.rc, Rc::AUTHFAIL.0);
    assert_eq!(c.load_key2(0x0100_4444, SRK, &blob).unwrap().1.rc, Rc::INVALID_KEYHANDLE.0);
    for _ in 0..crate::state::keys::MAX_KEYS {
        assert_eq!(c.load_key2(kh::SRK, SRK, &blob).unwrap().1.rc, 0);
    }
    assert_eq!(c.load_key2(kh::SRK, SRK, &blob).unwrap().1.rc, Rc::NOSPACE.0);
}

/// A `TPM_PCR_INFO_LONG` selecting PCR 16 with release digest for `pcr16` and `locality`.
fn pcr16_long(pcr16: &[u8; 20], locality: u8) -> Vec<u8> {
    let sel = crate::cmd::pcr::PcrSelection { select: alloc::vec![0, 0, 1] };
    let mut pcrs = [[0u8; 20]; crate::constants::NUM_PCRS];
    pcrs[16] = *pcr16;
    let mut w = Writer::new();
    w.u16(tag::PCR_INFO_LONG).u8(0).u8(locality);
    sel.encode(&mut w);
    sel.encode(&mut w);
    w.bytes(&[0; 20]).bytes(&sel.composite_hash(&pcrs));
    w.into_vec()
}

#[test]
fn pcr_and_locality_bound_key() {
    let mut t = owned();
    let pcr16 = t.vol.stclear_data.pcrs[16];
    let mut c = client(&mut t);
    let bound = template(
        key_usage::SIGNING,
        scheme::ES_NONE,
        scheme::SS_RSASSAPKCS1V15_SHA1,
        1024,
        0,
        true,
        &pcr16_long(&pcr16, loc::ZERO),
    );
    let (h, blob) = load_new_key(&mut c, &bound);
    // digestAtCreation was filled in by the TPM.
    let k = crate::cmd::keys::blob::TpmKey::from_bytes(&blob).unwrap();
    assert_ne!(k.pcr_info[10..30], [0; 20]);
    assert_eq!(sign(&mut c, h, &[1; 20]).0, 0);
    let (rc, _) =
        c.rqu(ord::Extend, &be32s(&[16]).into_iter().chain([5; 20]).collect::<Vec<_>>()).map(|r| (r.rc, ())).unwrap();
    assert_eq!(rc, 0);
    assert_eq!(sign(&mut c, h, &[1; 20]).0, Rc::WRONGPCRVAL.0);
    drop(c);
    // Locality: a key released only at locality 1.
    let mut t = owned();
    let pcr16 = t.vol.stclear_data.pcrs[16];
    let mut c = client(&mut t);
    let loc1 = template(
        key_usage::SIGNING,
        scheme::ES_NONE,
        scheme::SS_RSASSAPKCS1V15_SHA1,
        1024,
        0,
        true,
        &pcr16_long(&pcr16, loc::ONE),
    );
    let (h, _) = load_new_key(&mut c, &loc1);
    assert_eq!(sign(&mut c, h, &[1; 20]).0, Rc::BAD_LOCALITY.0);
    drop(c);
    let mut c1 = client_at(&mut t, 1);
    assert_eq!(sign(&mut c1, h, &[1; 20]).0, 0);
    // A malformed PCR info is refused at creation.
    let junk = template(key_usage::SIGNING, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_SHA1, 1024, 0, true, &[0, 6, 0]);
    assert_eq!(create_key(&mut c1, kh::SRK, SRK, &junk).rc, Rc::INVALID_PCR_INFO.0);
}

#[test]
fn quote_quote2_and_certify() {
    let mut t = owned();
    let mut c = client(&mut t);
    let (h, blob) = load_new_key(&mut c, &signing_template(1024));
    let k = public(&modulus_of_key(&blob));
    let nonce = [0xab; 20];
    // Quote over PCRs 0 and 16.
    let mut p = Writer::new();
    p.bytes(&nonce).u16(3).bytes(&[1, 0, 1]);
    let mut s = c.oiap(KEY_AUTH).unwrap();
    let r = c.auth(ord::Quote, &[h], p.as_slice(), &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, 0);
    let composite_len = 2 + 3 + 4 + 40;
    let composite = &r.body[..composite_len];
    let sig = &r.body[composite_len + 4..];
    let mut qi = Writer::new();
    qi.bytes(&[1, 1, 0, 0]).bytes(b"QUOT").bytes(&sha1(&[composite])).bytes(&nonce);
    assert!(verify_sha1(&k, &sha1(&[qi.as_slice()]), sig));
    // Quote2 with version info.
    let mut p = Writer::new();
    p.bytes(&nonce).u16(3).bytes(&[1, 0, 0]).u8(1);
    let mut s = c.oiap(KEY_AUTH).unwrap();
    let r = c.auth(ord::Quote2, &[h], p.as_slice(), &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, 0);
    let short = &r.body[..2 + 3 + 1 + 20];
    assert_eq!(short[5], loc::ZERO);
    let vlen = u32::from_be_bytes(r.body[26..30].try_into().unwrap()) as usize;
    let version = &r.body[30..30 + vlen];
    assert!(vlen > 0);
    let sig = &r.body[30 + vlen + 4..];
    let mut q2 = Writer::new();
    q2.u16(tag::QUOTE_INFO2).bytes(b"QUT2").bytes(&nonce).bytes(short).bytes(version);
    assert!(verify_sha1(&k, &sha1(&[q2.as_slice()]), sig));
    // Bad selection size.
    let mut p = Writer::new();
    p.bytes(&nonce).u16(9).bytes(&[0; 9]).u8(0);
    let mut s = c.oiap(KEY_AUTH).unwrap();
    assert_eq!(c.auth(ord::Quote2, &[h], p.as_slice(), &mut [&mut s], 0).unwrap().rc, Rc::INVALID_PCR_INFO.0);
    // CertifyKey: the key certifies a second key (AUTH2).
    let (h2, blob2) = load_new_key(&mut c, &signing_template(1024));
    let mut s1 = c.oiap(KEY_AUTH).unwrap();
    let mut s2 = c.oiap(KEY_AUTH).unwrap();
    let r = c.auth(ord::CertifyKey, &[h, h2], &nonce, &mut [&mut s1, &mut s2], 0).unwrap();
    assert_eq!(r.rc, 0);
    let sig_len_pos = r.body.len() - 128 - 4;
    let info = &r.body[..sig_len_pos];
    assert!(verify_sha1(&k, &sha1(&[info]), &r.body[sig_len_pos + 4..]));
    assert!(info.windows(20).any(|w| w == sha1(&[&modulus_of_key(&blob2)])));
    // AUTH1 needs an auth-NEVER certifying key.
    let mut s = c.oiap(KEY_AUTH).unwrap();
    let r = c.auth(ord::CertifyKey, &[h, h2], &nonce, &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, Rc::AUTHFAIL.0);
}

#[test]
fn key_and_session_contexts() {
    let mut t = owned();
    let mut c = client(&mut t);
    let (h, _) = load_new_key(&mut c, &signing_template(1024));
    let save = |c: &mut crate::testing::client::Client<'_>, handle: u32, rtype: u32| {
        let mut p = Writer::new();
        p.u32(handle).u32(rtype).bytes(&[0x4c; 16]);
        let r = c.rqu(ord::SaveContext, p.as_slice()).unwrap();
        (r.rc, if r.rc == 0 { r.body[4..].to_vec() } else { Vec::new() })
    };
    let load = |c: &mut crate::testing::client::Client<'_>, blob: &[u8]| {
        let mut p = Writer::new();
        p.u32(0).u8(1).sized32(blob);
        let r = c.rqu(ord::LoadContext, p.as_slice()).unwrap();
        (r.rc, if r.rc == 0 { u32::from_be_bytes(r.body[..4].try_into().unwrap()) } else { 0 })
    };
    let (rc, key_blob) = save(&mut c, h, rt::KEY);
    assert_eq!(rc, 0);
    assert_eq!(c.rqu(ord::FlushSpecific, &be32s(&[h, rt::KEY])).unwrap().rc, 0);
    assert_eq!(load(&mut c, &key_blob), (0, h));
    assert_eq!(sign(&mut c, h, &[3; 20]).0, 0);
    let mut tampered = key_blob.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    assert_eq!(load(&mut c, &tampered).0, Rc::BADCONTEXT.0);
    assert_eq!(load(&mut c, &key_blob[..30]).0, Rc::BADCONTEXT.0);
    assert_eq!(save(&mut c, kh::SRK, rt::KEY).0, Rc::INVALID_RESOURCE.0);
    assert_eq!(save(&mut c, h, 0x55).0, Rc::INVALID_RESOURCE.0);
    // A session: saving unloads it; it loads once and then works.
    let mut s = oiap_keep(&mut c, KEY_AUTH);
    let (rc, sess_blob) = save(&mut c, s.handle, rt::AUTH);
    assert_eq!(rc, 0);
    let mut p = Writer::new();
    p.sized32(&[1; 20]);
    assert_eq!(c.auth(ord::Sign, &[h], p.as_slice(), &mut [&mut s], 0).unwrap().rc, Rc::INVALID_AUTHHANDLE.0);
    let mut s = oiap_keep(&mut c, KEY_AUTH);
    let (_, sess_blob2) = save(&mut c, s.handle, rt::AUTH);
    assert_eq!(load(&mut c, &sess_blob2).0, 0);
    assert_eq!(c.auth(ord::Sign, &[h], p.as_slice(), &mut [&mut s], 0).unwrap().rc, 0);
    // Replay of a loaded session context fails; the other one is flushed.
    assert_eq!(load(&mut c, &sess_blob2).0, Rc::BADCONTEXT.0);
    let count = u32::from_be_bytes(sess_blob[26..30].try_into().unwrap());
    assert_eq!(c.rqu(ord::FlushSpecific, &be32s(&[count, rt::CONTEXT])).unwrap().rc, 0);
    assert_eq!(load(&mut c, &sess_blob).0, Rc::BADCONTEXT.0);
    // Key contexts die with Startup(ST_CLEAR).
    drop(c);
    t.init();
    assert_eq!(rqu(&mut t, ord::Startup, &[0, 1]).0, 0);
    let mut c = client(&mut t);
    assert_eq!(load(&mut c, &key_blob).0, Rc::BADCONTEXT.0);
}

#[test]
fn keys_survive_save_state_unless_volatile() {
    let mut t = owned();
    let mut c = client(&mut t);
    let (h, _) = load_new_key(&mut c, &signing_template(1024));
    let vol = template(
        key_usage::SIGNING,
        scheme::ES_NONE,
        scheme::SS_RSASSAPKCS1V15_SHA1,
        1024,
        key_flags::IS_VOLATILE,
        true,
        &[],
    );
    let (hv, _) = load_new_key(&mut c, &vol);
    drop(c);
    assert_eq!(rqu(&mut t, ord::SaveState, &[]).0, 0);
    t.init();
    assert_eq!(rqu(&mut t, ord::Startup, &[0, 2]).0, 0);
    let mut c = client(&mut t);
    assert_eq!(sign(&mut c, h, &[1; 20]).0, 0);
    assert_eq!(sign(&mut c, hv, &[1; 20]).0, Rc::INVALID_KEYHANDLE.0);
}

/// Re-wraps `blob` (a key under the SRK) after `edit` changes its public part: what anyone
/// holding the SRK public key can do for a migratable key.
fn rewrap_under_srk(t: &mut crate::Tpm, blob: &[u8], edit: impl Fn(&mut crate::cmd::keys::blob::TpmKey)) -> Vec<u8> {
    use crate::cmd::keys::blob::{StoreAsymkey, TpmKey};
    use crate::cmd::keys::rsa_ops::{oaep_decrypt, oaep_encrypt};
    let srk = t.perm.data.srk.clone().unwrap().rsa;
    let mut k = TpmKey::from_bytes(blob).unwrap();
    let plain = oaep_decrypt(&srk, t.rng.as_mut(), &k.enc_data).unwrap();
    let mut store = StoreAsymkey::decode(&plain).unwrap();
    edit(&mut k);
    store.pub_data_digest = k.pub_data_digest();
    k.enc_data = oaep_encrypt(&srk.public, t.rng.as_mut(), &store.encode()).unwrap();
    k.to_bytes()
}

/// L6: LoadKey refuses a migratable identity key (spec step 7.b) and certified-migration
/// (migrateAuthority) keys, which need CMK; both TPM_INVALID_KEYUSAGE as libtpms.
#[test]
fn load_key_refuses_migratable_identity_and_cmk_keys() {
    let mut t = owned();
    let flags = key_flags::MIGRATABLE;
    let tpl = template(key_usage::SIGNING, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_SHA1, 1024, flags, true, &[]);
    let blob = {
        let mut c = client(&mut t);
        let r = create_key(&mut c, kh::SRK, SRK, &tpl);
        assert_eq!(r.rc, 0);
        r.body
    };
    let same = rewrap_under_srk(&mut t, &blob, |_| {});
    let identity = rewrap_under_srk(&mut t, &blob, |k| k.key_usage = key_usage::IDENTITY);
    let cmk = rewrap_under_srk(&mut t, &blob, |k| k.key_flags |= key_flags::MIGRATE_AUTHORITY);
    let mut c = client(&mut t);
    assert_eq!(c.load_key2(kh::SRK, SRK, &same).unwrap().1.rc, 0);
    assert_eq!(c.load_key2(kh::SRK, SRK, &identity).unwrap().1.rc, Rc::INVALID_KEYUSAGE.0);
    assert_eq!(c.load_key2(kh::SRK, SRK, &cmk).unwrap().1.rc, Rc::INVALID_KEYUSAGE.0);
}

/// L6: parentPCRStatus propagates (LoadKey steps 11-12): a key loaded under a parent whose own
/// parentPCRStatus is TRUE gets TRUE although the parent itself uses no PCRs.
#[test]
fn parent_pcr_status_propagates() {
    use crate::cmd::keys::parent_pcr_status;
    let mut t = owned();
    let storage = template(key_usage::STORAGE, scheme::ES_RSAESOAEP_SHA1_MGF1, scheme::SS_NONE, 2048, 0, true, &[]);
    let (s, _) = load_new_key(&mut client(&mut t), &storage);
    assert!(!parent_pcr_status(&t, s));
    // Mark the storage key as loaded under a PCR-bound parent.
    let rec = t.keys.get(s).unwrap().record.clone();
    assert!(t.keys.remove(s));
    t.keys.restore(s, rec, true, &[]).unwrap();
    let mut c = client(&mut t);
    let r = create_key(&mut c, s, KEY_AUTH, &signing_template(1024));
    assert_eq!(r.rc, 0);
    let (k, l) = c.load_key2(s, KEY_AUTH, &r.body).unwrap();
    assert_eq!(l.rc, 0);
    drop(c);
    assert!(parent_pcr_status(&t, k));
}

/// I6: a loaded key never gets the handle of an owner-evict key (which `resolve` prefers, so
/// the loaded key would be unreachable and the owner-evict key used in its place).
#[test]
fn loaded_keys_avoid_owner_evict_handles() {
    let mut t = owned();
    let srk = t.perm.data.srk.clone().unwrap();
    // The next two handles the slot table would hand out.
    t.perm.data.owner_evict_keys.push((0x0100_0000, srk.clone()));
    t.perm.data.owner_evict_keys.push((0x0100_0001, srk));
    let mut c = client(&mut t);
    let (h, _) = load_new_key(&mut c, &signing_template(1024));
    assert!(h != 0x0100_0000 && h != 0x0100_0001, "handle {h:#x}");
    let (rc, _) = sign(&mut c, h, &[7; 20]);
    assert_eq!(rc, 0);
    drop(c);
    assert_eq!(
        t.keys.restore(0x0100_0000, t.keys.get(h).unwrap().record.clone(), false, &[0x0100_0000]),
        Err(Rc::BAD_HANDLE)
    );
}
