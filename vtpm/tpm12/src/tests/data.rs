//! Seal / Unseal (plain, PCR-bound, locality-bound, 1.1 and 1.2 blobs),
//! UnBind (OAEP and PKCS#1 v1.5), ChangeAuth of sealed data and keys.

use alloc::vec::Vec;

use super::owned::{KEY_AUTH, SRK, client, client_at, load_new_key, modulus_of_key, owned, public, template};
use super::{be32s, rqu};
use crate::Rc;
use crate::cmd::keys::rsa_ops;
use crate::codec::Writer;
use crate::constants::{et, key_usage, kh, loc, ord, pid, scheme, tag};
use crate::testing::DetRng;
use crate::testing::client::Client;

const DATA_AUTH: [u8; 20] = [0x66; 20];

fn seal_with(c: &mut Client<'_>, pcr_info: &[u8], data: &[u8]) -> (u32, Vec<u8>) {
    let mut s = c.osap(et::SRK, kh::SRK, SRK).unwrap();
    let enc = Client::adip(&s, &DATA_AUTH);
    let mut p = Writer::new();
    p.bytes(&enc).sized32(pcr_info).sized32(data);
    let r = c.auth(ord::Seal, &[kh::SRK], p.as_slice(), &mut [&mut s], 0).unwrap();
    (r.rc, r.body)
}

fn unseal(c: &mut Client<'_>, blob: &[u8], data_auth: [u8; 20]) -> (u32, Vec<u8>) {
    let r = c.unseal(kh::SRK, SRK, data_auth, blob).unwrap();
    (r.rc, if r.rc == 0 { r.body[4..].to_vec() } else { Vec::new() })
}

/// `TPM_PCR_INFO_LONG` for PCR 16 at its current value, released at `locality`.
fn long_info(t: &crate::Tpm, locality: u8) -> Vec<u8> {
    let sel = crate::cmd::pcr::PcrSelection { select: alloc::vec![0, 0, 1] };
    let mut w = Writer::new();
    w.u16(tag::PCR_INFO_LONG).u8(0).u8(locality);
    sel.encode(&mut w);
    sel.encode(&mut w);
    w.bytes(&[0; 20]).bytes(&sel.composite_hash(&t.vol.stclear_data.pcrs));
    w.into_vec()
}

#[test]
fn seal_unseal_round_trip_and_errors() {
    let mut t = owned();
    let mut c = client(&mut t);
    let r = c.seal(kh::SRK, SRK, DATA_AUTH, b"top secret").unwrap();
    assert_eq!(r.rc, 0);
    let blob = r.body;
    // TPM_STORED_DATA 1.1 (no PCR info given).
    assert_eq!(blob[..4], [1, 1, 0, 0]);
    assert_eq!(unseal(&mut c, &blob, DATA_AUTH), (0, b"top secret".to_vec()));
    assert_eq!(unseal(&mut c, &blob, [0; 20]).0, Rc::AUTH2FAIL.0);
    let r = c.unseal(kh::SRK, [0; 20], DATA_AUTH, &blob).unwrap();
    assert_eq!(r.rc, Rc::AUTHFAIL.0);
    // Tampered encData, tampered header, bad version, truncated.
    let mut bad = blob.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    assert_eq!(unseal(&mut c, &bad, DATA_AUTH).0, Rc::NOTSEALED_BLOB.0);
    let mut bad = blob.clone();
    bad[2] = 9;
    assert_eq!(unseal(&mut c, &bad, DATA_AUTH).0, Rc::NOTSEALED_BLOB.0);
    let mut bad = blob.clone();
    bad[0] = 2;
    assert_eq!(unseal(&mut c, &bad, DATA_AUTH).0, Rc::BAD_VERSION.0);
    assert_eq!(unseal(&mut c, &blob[..20], DATA_AUTH).0, Rc::BAD_PARAM_SIZE.0);
    // Empty and too-large data; OIAP cannot seal (ADIP).
    assert_eq!(seal_with(&mut c, &[], &[]).0, Rc::BAD_PARAMETER.0);
    assert_eq!(seal_with(&mut c, &[], &[0; 200]).0, Rc::BAD_DATASIZE.0);
    let mut s = c.oiap(SRK).unwrap();
    let mut p = Writer::new();
    p.bytes(&[0; 20]).u32(0).sized32(b"x");
    assert_eq!(c.auth(ord::Seal, &[kh::SRK], p.as_slice(), &mut [&mut s], 0).unwrap().rc, Rc::INVALID_AUTHHANDLE.0);
    // The data session must be OIAP.
    let mut s1 = c.oiap(SRK).unwrap();
    let mut s2 = c.osap(et::SRK, kh::SRK, SRK).unwrap();
    let r = c.auth(ord::Unseal, &[kh::SRK], &blob, &mut [&mut s1, &mut s2], 0).unwrap();
    assert_eq!(r.rc, Rc::AUTH2FAIL.0);
    // An unsealed blob from another TPM (different tpmProof) is refused.
    drop(c);
    t.perm.data.tpm_proof = crate::crypto::Secret([0x42; 20]);
    let mut c = client(&mut t);
    assert_eq!(unseal(&mut c, &blob, DATA_AUTH).0, Rc::NOTSEALED_BLOB.0);
}

#[test]
fn pcr_and_locality_bound_seal() {
    let mut t = owned();
    let info = long_info(&t, loc::ZERO | loc::TWO);
    let mut c = client(&mut t);
    let (rc, blob) = seal_with(&mut c, &info, b"bound");
    assert_eq!(rc, 0);
    assert_eq!(u16::from_be_bytes([blob[0], blob[1]]), tag::STORED_DATA12);
    assert_eq!(unseal(&mut c, &blob, DATA_AUTH), (0, b"bound".to_vec()));
    drop(c);
    let mut c3 = client_at(&mut t, 3);
    assert_eq!(unseal(&mut c3, &blob, DATA_AUTH).0, Rc::BAD_LOCALITY.0);
    drop(c3);
    let mut c2 = client_at(&mut t, 2);
    assert_eq!(unseal(&mut c2, &blob, DATA_AUTH).0, 0);
    drop(c2);
    assert_eq!(rqu(&mut t, ord::Extend, &be32s(&[16]).into_iter().chain([1; 20]).collect::<Vec<_>>()).0, 0);
    let mut c = client(&mut t);
    assert_eq!(unseal(&mut c, &blob, DATA_AUTH).0, Rc::WRONGPCRVAL.0);
    // 1.1 TPM_PCR_INFO: select PCR 0 at its current value (zero).
    let sel = crate::cmd::pcr::PcrSelection { select: alloc::vec![1, 0, 0] };
    let mut w = Writer::new();
    sel.encode(&mut w);
    w.bytes(&sel.composite_hash(&[[0; 20]; crate::constants::NUM_PCRS])).bytes(&[0; 20]);
    let (rc, blob) = seal_with(&mut c, w.as_slice(), b"v11");
    assert_eq!(rc, 0);
    assert_eq!(blob[..4], [1, 1, 0, 0]);
    assert_eq!(unseal(&mut c, &blob, DATA_AUTH), (0, b"v11".to_vec()));
    // Malformed PCR info.
    assert_eq!(seal_with(&mut c, &[0, 3, 1], b"x").0, Rc::BADINDEX.0);
}

#[test]
fn unbind_oaep_and_pkcs() {
    let mut t = owned();
    let mut c = client(&mut t);
    let mut rng = DetRng::new(77);
    for es in [scheme::ES_RSAESOAEP_SHA1_MGF1, scheme::ES_RSAESPKCSV15] {
        let tmpl = template(key_usage::BIND, es, scheme::SS_NONE, 1024, 0, true, &[]);
        let (h, blob) = load_new_key(&mut c, &tmpl);
        let k = public(&modulus_of_key(&blob));
        let encrypt = |rng: &mut DetRng, m: &[u8]| {
            if es == scheme::ES_RSAESOAEP_SHA1_MGF1 {
                rsa_ops::oaep_encrypt(&k, rng, m).unwrap()
            } else {
                rsa_ops::pkcs1v15_encrypt(&k, rng, m).unwrap()
            }
        };
        let unbind = |c: &mut Client<'_>, ct: &[u8]| {
            let mut s = c.oiap(KEY_AUTH).unwrap();
            let mut p = Writer::new();
            p.sized32(ct);
            let r = c.auth(ord::UnBind, &[h], p.as_slice(), &mut [&mut s], 0).unwrap();
            (r.rc, if r.rc == 0 { r.body[4..].to_vec() } else { Vec::new() })
        };
        let mut bound = alloc::vec![1, 1, 0, 0, 2];
        bound.extend_from_slice(b"bound payload");
        assert_eq!(unbind(&mut c, &encrypt(&mut rng, &bound)), (0, b"bound payload".to_vec()));
        // Wrong payload type.
        bound[4] = 5;
        assert_eq!(unbind(&mut c, &encrypt(&mut rng, &bound)).0, Rc::INVALID_STRUCTURE.0);
        // Wrong size.
        assert_eq!(unbind(&mut c, &[0; 10]).0, Rc::BAD_DATASIZE.0);
    }
    // The SRK cannot unbind.
    let mut s = c.oiap(SRK).unwrap();
    let mut p = Writer::new();
    p.sized32(&[0; 256]);
    assert_eq!(c.auth(ord::UnBind, &[kh::SRK], p.as_slice(), &mut [&mut s], 0).unwrap().rc, Rc::INVALID_KEYUSAGE.0);
}

#[test]
fn change_auth_of_sealed_data_and_key() {
    let mut t = owned();
    let mut c = client(&mut t);
    let r = c.seal(kh::SRK, SRK, DATA_AUTH, b"rekeyed").unwrap();
    let blob = r.body;
    let new_auth = [0x77; 20];
    // The blob's encData sits after ver(4) + sealInfoSize(4) + encDataSize(4).
    let enc = &blob[12..];
    let change = |c: &mut Client<'_>, etype: u16, old: [u8; 20], enc: &[u8]| {
        let mut s1 = c.osap(et::SRK, kh::SRK, SRK).unwrap();
        let mut s2 = c.oiap(old).unwrap();
        let mut p = Writer::new();
        p.u16(pid::ADCP).bytes(&Client::adip(&s1, &new_auth)).u16(etype).sized32(enc);
        let r = c.auth(ord::ChangeAuth, &[kh::SRK], p.as_slice(), &mut [&mut s1, &mut s2], 0).unwrap();
        (r.rc, if r.rc == 0 { r.body[4..].to_vec() } else { Vec::new() })
    };
    assert_eq!(change(&mut c, et::DATA, [0; 20], enc).0, Rc::AUTH2FAIL.0);
    assert_eq!(change(&mut c, 0x0042, DATA_AUTH, enc).0, Rc::WRONG_ENTITYTYPE.0);
    let (rc, new_enc) = change(&mut c, et::DATA, DATA_AUTH, enc);
    assert_eq!(rc, 0);
    let mut new_blob = blob[..8].to_vec();
    new_blob.extend_from_slice(&(new_enc.len() as u32).to_be_bytes());
    new_blob.extend_from_slice(&new_enc);
    assert_eq!(unseal(&mut c, &new_blob, DATA_AUTH).0, Rc::AUTH2FAIL.0);
    assert_eq!(unseal(&mut c, &new_blob, new_auth), (0, b"rekeyed".to_vec()));
    // A key's usage secret.
    let tmpl = template(key_usage::SIGNING, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_SHA1, 1024, 0, true, &[]);
    let (_, key_blob) = load_new_key(&mut c, &tmpl);
    let mut k = crate::cmd::keys::blob::TpmKey::from_bytes(&key_blob).unwrap();
    let (rc, enc) = change(&mut c, et::KEY, KEY_AUTH, &k.enc_data);
    assert_eq!(rc, 0);
    k.enc_data = enc;
    let (h, r) = c.load_key2(kh::SRK, SRK, &k.to_bytes()).unwrap();
    assert_eq!(r.rc, 0);
    let mut s = c.oiap(new_auth).unwrap();
    let mut p = Writer::new();
    p.sized32(&[1; 20]);
    assert_eq!(c.auth(ord::Sign, &[h], p.as_slice(), &mut [&mut s], 0).unwrap().rc, 0);
}

#[test]
fn deactivated_and_disabled_refuse_key_use() {
    let mut t = owned();
    t.vol.stclear_flags.deactivated = true;
    let mut c = client(&mut t);
    assert_eq!(c.seal(kh::SRK, SRK, DATA_AUTH, b"x").unwrap().rc, Rc::DEACTIVATED.0);
    drop(c);
    t.vol.stclear_flags.deactivated = false;
    assert_eq!(rqu(&mut t, ord::PhysicalDisable, &[]).0, 0);
    let mut c = client(&mut t);
    assert_eq!(c.seal(kh::SRK, SRK, DATA_AUTH, b"x").unwrap().rc, Rc::DISABLED.0);
}
