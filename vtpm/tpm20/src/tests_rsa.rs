//! Tests of RSA objects: primaries from the standard templates (deterministic per seed and
//! template), ordinary RSA keys and sealed data under an RSA parent, RSA-salted sessions,
//! RSA_Encrypt / RSA_Decrypt, Sign / VerifySignature.

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::Reader;
use crate::constants::{alg, cc, rh};
use crate::testing::objects::{create_params, rsa_ek, rsa_storage};
use crate::testing::{rc, with_password};
use crate::tests_objects::{params, started};

/// CreatePrimary of `template` under `hierarchy`: (handle, outPublic).
pub(crate) fn rsa_primary(tpm: &mut Tpm, hierarchy: u32, template: &[u8]) -> (u32, Vec<u8>) {
    let r = tpm.execute(0, &with_password(cc::CREATE_PRIMARY, &[hierarchy], b"", &create_params(b"", b"", template)));
    assert_eq!(rc(&r), 0, "CreatePrimary {r:02x?}");
    let handle = u32::from_be_bytes([r[10], r[11], r[12], r[13]]);
    let p = params(&r, 1);
    let public = Reader::new(&p).tpm2b(1024).expect("outPublic").to_vec();
    (handle, public)
}

/// Create (RNG keys) under `parent`: (private, public).
fn create(tpm: &mut Tpm, parent: u32, template: &[u8], data: &[u8]) -> Result<(Vec<u8>, Vec<u8>), u32> {
    let r = tpm.execute(0, &with_password(cc::CREATE, &[parent], b"", &create_params(b"", data, template)));
    if rc(&r) != 0 {
        return Err(rc(&r));
    }
    let p = params(&r, 0);
    let mut rd = Reader::new(&p);
    let private = rd.tpm2b(1024).expect("outPrivate").to_vec();
    let public = rd.tpm2b(1024).expect("outPublic").to_vec();
    Ok((private, public))
}

#[test]
fn rsa_primaries_from_the_standard_templates() {
    let mut tpm = started(1);
    let t = std::time::Instant::now();
    let (h1, srk) = rsa_primary(&mut tpm, rh::OWNER, &rsa_storage());
    std::eprintln!("CreatePrimary RSA 2048: {:?}", t.elapsed());
    let (h2, srk2) = rsa_primary(&mut tpm, rh::OWNER, &rsa_storage());
    assert_ne!(h1, h2);
    assert_eq!(srk, srk2, "the same template under the same seed gives the same key");
    // the modulus is the unique field: 2048 bits, odd, top bit set
    let n = &srk[srk.len() - 256..];
    assert_eq!(u16::from_be_bytes([srk[srk.len() - 258], srk[srk.len() - 257]]), 256);
    assert!(n[0] & 0x80 != 0 && n[255] & 1 == 1);
    // the EK template (another hierarchy, adminWithPolicy, zero unique) gives another key
    let (_, ek) = rsa_primary(&mut tpm, rh::ENDORSEMENT, &rsa_ek());
    assert_ne!(ek[ek.len() - 256..], *n);
    assert_eq!(ek[..4], [0x00, 0x01, 0x00, 0x0B], "type RSA, nameAlg SHA-256");
    // another seed, another key
    let mut other = started(2);
    let (_, srk3) = rsa_primary(&mut other, rh::OWNER, &rsa_storage());
    assert_ne!(srk3, srk);
}

#[test]
fn rsa_template_refusals() {
    use crate::testing::objects::rsa_template;
    let mut tpm = started(3);
    let cp = |tpm: &mut Tpm, t: &[u8], data: &[u8]| {
        rc(&tpm.execute(0, &with_password(cc::CREATE_PRIMARY, &[rh::OWNER], b"", &create_params(b"", data, t))))
    };
    // 3072 bits: TPM_RC_VALUE + P2
    assert_eq!(cp(&mut tpm, &rsa_template(0x0003_0072, &[], Some(128), (alg::NULL, 0), 3072, &[]), b""), 0x2C4);
    // a storage key with a scheme: TPM_RC_SCHEME; without a symmetric: TPM_RC_SYMMETRIC
    assert_eq!(
        cp(&mut tpm, &rsa_template(0x0003_0072, &[], Some(128), (alg::OAEP, alg::SHA256), 2048, &[]), b""),
        0x2D2
    );
    assert_eq!(cp(&mut tpm, &rsa_template(0x0003_0072, &[], None, (alg::NULL, 0), 2048, &[]), b""), 0x2D6);
    // a restricted signing key needs a signing scheme
    assert_eq!(cp(&mut tpm, &rsa_template(0x0005_0072, &[], None, (alg::NULL, 0), 2048, &[]), b""), 0x2D2);
    // sensitive data takes part in a primary's derivation (libtpms accepts it too)
    assert_eq!(cp(&mut tpm, &rsa_storage(), b"x"), 0);
}

const RSA_SIGN_DECRYPT: u32 = 0x0006_0072;

#[test]
fn rsa_keys_and_sealed_data_under_an_rsa_parent() {
    use crate::testing::objects::{rsa_template, sealed};
    let mut tpm = started(4);
    let (srk, _) = rsa_primary(&mut tpm, rh::OWNER, &rsa_storage());
    // tpm2_create -G rsa: sign + decrypt, scheme NULL, no symmetric
    let t = std::time::Instant::now();
    let (private, public) =
        create(&mut tpm, srk, &rsa_template(RSA_SIGN_DECRYPT, &[], None, (alg::NULL, 0), 2048, &[]), b"")
            .expect("Create RSA");
    std::eprintln!("Create RSA 2048: {:?}", t.elapsed());
    let key = crate::tests_objects::load(&mut tpm, srk, &private, &public).expect("Load RSA");
    // an ordinary RSA key (sensitiveDataOrigin) takes no sensitive data: TPM_RC_ATTRIBUTES + P2
    let t = rsa_template(RSA_SIGN_DECRYPT, &[], None, (alg::NULL, 0), 2048, &[]);
    assert_eq!(create(&mut tpm, srk, &t, b"x").err(), Some(0x2C2));
    // a tampered modulus in the public area: the outer HMAC (name) no longer matches
    let mut bad = public.clone();
    let last = bad.len() - 1;
    bad[last] ^= 2;
    assert_eq!(crate::tests_objects::load(&mut tpm, srk, &private, &bad), Err(0x1DF), "TPM_RC_INTEGRITY + P1");
    // sealed data under the RSA SRK
    let (sp, spub) = create(&mut tpm, srk, &sealed(&[]), b"under rsa").expect("seal");
    let h = crate::tests_objects::load(&mut tpm, srk, &sp, &spub).expect("load sealed");
    assert_eq!(crate::tests_objects::unseal(&mut tpm, h, b"").expect("unseal"), b"under rsa");
    // RSA_Encrypt (public) / RSA_Decrypt (USER) with each scheme
    for (scheme, label) in [
        (vec![0x00, 0x17, 0x00, 0x0B], &b"label\0"[..]), // OAEP SHA-256
        (vec![0x00, 0x15], &b""[..]),                    // RSAES
        (vec![0x00, 0x10], &b""[..]),                    // NULL: raw
    ] {
        let mut w = crate::codec::Writer::new();
        w.tpm2b(b"a secret message").bytes(&scheme).tpm2b(label);
        let mut body = key.to_be_bytes().to_vec();
        body.extend_from_slice(&w.0);
        let r = tpm.execute(0, &crate::testing::plain(cc::RSA_ENCRYPT, &body));
        assert_eq!(rc(&r), 0, "RSA_Encrypt {scheme:02x?}");
        let ct = Reader::new(&r[10..]).tpm2b(256).expect("outData").to_vec();
        assert_eq!(ct.len(), 256);
        let mut w = crate::codec::Writer::new();
        w.tpm2b(&ct).bytes(&scheme).tpm2b(label);
        let r = tpm.execute(0, &with_password(cc::RSA_DECRYPT, &[key], b"", &w.0));
        let out = Reader::new(&params(&r, 0)).tpm2b(256).expect("message").to_vec();
        assert!(out.ends_with(b"a secret message"), "{scheme:02x?}");
    }
    // a label without its zero: TPM_RC_VALUE + P3; RSA_Decrypt with the restricted SRK: ATTRIBUTES + H1
    let mut w = crate::codec::Writer::new();
    w.tpm2b(&[1; 256]).u16(alg::NULL).tpm2b(b"x");
    assert_eq!(rc(&tpm.execute(0, &with_password(cc::RSA_DECRYPT, &[key], b"", &w.0))), 0x3C4);
    let mut w = crate::codec::Writer::new();
    w.tpm2b(&[1; 256]).u16(alg::NULL).tpm2b(b"");
    assert_eq!(rc(&tpm.execute(0, &with_password(cc::RSA_DECRYPT, &[srk], b"", &w.0))), 0x182);
    // Sign / VerifySignature: RSASSA and RSAPSS with SHA-256
    let digest = crate::crypto::HashAlg::Sha256.digest(&[b"to be signed"]);
    for scheme in [alg::RSASSA, alg::RSAPSS] {
        let mut w = crate::codec::Writer::new();
        w.tpm2b(&digest).u16(scheme).u16(alg::SHA256).u16(0x8024).u32(rh::NULL).u16(0);
        let r = tpm.execute(0, &with_password(cc::SIGN, &[key], b"", &w.0));
        let sig = params(&r, 0);
        assert_eq!(sig[..4], [(scheme >> 8) as u8, scheme as u8, 0x00, 0x0B]);
        let mut body = key.to_be_bytes().to_vec();
        let mut w = crate::codec::Writer::new();
        w.tpm2b(&digest).bytes(&sig);
        body.extend_from_slice(&w.0);
        let r = tpm.execute(0, &crate::testing::plain(cc::VERIFY_SIGNATURE, &body));
        assert_eq!(rc(&r), 0, "VerifySignature {scheme:04x}");
        assert_eq!(r[10..16], [0x80, 0x22, 0x40, 0x00, 0x00, 0x01], "a verified ticket of the owner hierarchy");
        // another digest: TPM_RC_SIGNATURE + P2
        let mut other = digest.clone();
        other[0] ^= 1;
        let mut body = key.to_be_bytes().to_vec();
        let mut w = crate::codec::Writer::new();
        w.tpm2b(&other).bytes(&sig);
        body.extend_from_slice(&w.0);
        assert_eq!(rc(&tpm.execute(0, &crate::testing::plain(cc::VERIFY_SIGNATURE, &body))), 0x2DB);
    }
    // a digest of the wrong size: TPM_RC_SIZE + P1; the SRK is no signing key: TPM_RC_KEY + H1
    let mut w = crate::codec::Writer::new();
    w.tpm2b(&digest[..20]).u16(alg::RSASSA).u16(alg::SHA256).u16(0x8024).u32(rh::NULL).u16(0);
    assert_eq!(rc(&tpm.execute(0, &with_password(cc::SIGN, &[key], b"", &w.0))), 0x1D5);
    let mut w = crate::codec::Writer::new();
    w.tpm2b(&digest).u16(alg::RSASSA).u16(alg::SHA256).u16(0x8024).u32(rh::NULL).u16(0);
    assert_eq!(rc(&tpm.execute(0, &with_password(cc::SIGN, &[srk], b"", &w.0))), 0x19C);
}

/// Timing (run with `--release --ignored --nocapture`): CreatePrimary of the RSA SRK
/// template under 10 seeds.
#[test]
#[ignore]
fn time_rsa_create_primary() {
    let mut times = Vec::new();
    for seed in 100..110 {
        let mut tpm = started(seed);
        let t = std::time::Instant::now();
        rsa_primary(&mut tpm, rh::OWNER, &rsa_storage());
        times.push(t.elapsed());
    }
    times.sort();
    let total: std::time::Duration = times.iter().sum();
    std::eprintln!(
        "CreatePrimary RSA 2048 x10: min {:?} median {:?} max {:?} mean {:?}",
        times[0],
        times[5],
        times[9],
        total / 10
    );
}
