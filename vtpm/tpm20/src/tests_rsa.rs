//! Tests of RSA objects: primaries from the standard templates (deterministic per seed and
//! template), ordinary RSA keys and sealed data under an RSA parent, RSA-salted sessions,
//! RSA_Encrypt / RSA_Decrypt, Sign / VerifySignature.

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::Reader;
use crate::constants::{cc, rh};
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

#[test]
fn rsa_primary_is_deterministic() {
    let mut tpm = started(1);
    let t = std::time::Instant::now();
    let (_, srk) = rsa_primary(&mut tpm, rh::OWNER, &rsa_storage());
    std::eprintln!("CreatePrimary RSA: {:?}", t.elapsed());
    let (_, ek) = rsa_primary(&mut tpm, rh::ENDORSEMENT, &rsa_ek());
    std::eprintln!("2x CreatePrimary RSA: {:?}", t.elapsed());
    assert_ne!(srk, ek);
}
