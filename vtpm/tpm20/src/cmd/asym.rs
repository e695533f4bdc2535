//! The RSA commands (Part 3 §14.2, §14.3): TPM2_RSA_Encrypt (the public key, no
//! authorization) and TPM2_RSA_Decrypt (the private key, USER role) with RSAES-OAEP,
//! RSAES-PKCS1-v1_5 or raw RSA (TPM_ALG_NULL). The scheme is the key's when the command's
//! is NULL, the command's when the key's is NULL, and must match when both are given.

use alloc::vec::Vec;

use crate::cmd::{Command, Response};
use crate::codec::Reader;
use crate::constants::alg;
use crate::crypto::HashAlg;
use crate::crypto::rsa::{self, Padding};
use crate::object::Object;
use crate::object::public::{MAX_RSA_KEY_BYTES, Params, Unique, attr};
use crate::rc::{At, Rc};
use crate::tpm::Tpm;

/// Largest `TPM2B_DATA` (the OAEP label).
const MAX_LABEL: usize = 64;

/// A `TPMT_RSA_DECRYPT`: (scheme, hash) with hash NULL unless OAEP (`TPM_RC_VALUE` for a
/// scheme that is not a decryption scheme).
pub fn read_decrypt_scheme(r: &mut Reader<'_>) -> Result<(u16, u16), Rc> {
    match r.u16()? {
        alg::NULL => Ok((alg::NULL, alg::NULL)),
        alg::RSAES => Ok((alg::RSAES, alg::NULL)),
        alg::OAEP => {
            let h = r.u16()?;
            HashAlg::from_alg(h).ok_or(Rc::HASH)?;
            Ok((alg::OAEP, h))
        }
        _ => Err(Rc::VALUE),
    }
}

/// The RSA key at `handle` (`TPM_RC_KEY` + handle 1 for another type), with its decrypt
/// attribute SET (`TPM_RC_ATTRIBUTES` + handle 1).
fn rsa_key(tpm: &Tpm, handle: u32) -> Result<Object, Rc> {
    let key = tpm.object(handle).ok_or(Rc::HANDLE.handle(1))?;
    if key.public.ty != alg::RSA {
        return Err(Rc::KEY.handle(1));
    }
    if !key.public.has(attr::DECRYPT) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    Ok(key.clone())
}

/// The padding for `key` and the command's scheme (`TPM_RC_SCHEME` + parameter 2).
fn padding(key: &Object, scheme: (u16, u16)) -> Result<Padding, Rc> {
    let Params::Rsa { scheme: ks, .. } = &key.public.params else { return Err(Rc::KEY.handle(1)) };
    let s = if ks.0 == alg::NULL {
        scheme
    } else if scheme.0 == alg::NULL || scheme == *ks {
        *ks
    } else {
        return Err(Rc::SCHEME.param(2));
    };
    match s.0 {
        alg::NULL => Ok(Padding::Raw),
        alg::RSAES => Ok(Padding::Pkcs1),
        alg::OAEP => HashAlg::from_alg(s.1).map(Padding::Oaep).ok_or(Rc::SCHEME.param(2)),
        _ => Err(Rc::SCHEME.param(2)),
    }
}

/// The parameters of both commands: the data, the scheme, the label (which must end in a
/// zero octet when present: `TPM_RC_VALUE` + parameter 3).
fn read(c: &mut Command<'_>) -> Result<(Vec<u8>, (u16, u16), Vec<u8>), Rc> {
    let data = c.params.tpm2b(MAX_RSA_KEY_BYTES).p(1)?.to_vec();
    let scheme = read_decrypt_scheme(&mut c.params).p(2)?;
    let label = c.params.tpm2b(MAX_LABEL).p(3)?.to_vec();
    c.finish()?;
    if label.last().is_some_and(|b| *b != 0) {
        return Err(Rc::VALUE.param(3));
    }
    Ok((data, scheme, label))
}

/// TPM2_RSA_Encrypt(keyHandle, message, inScheme, label) → outData.
pub fn rsa_encrypt(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let (msg, scheme, label) = read(c)?;
    let key = rsa_key(tpm, c.handles[0])?;
    let padding = padding(&key, scheme)?;
    let (Params::Rsa { exponent, .. }, Unique::Rsa(n)) = (&key.public.params, &key.public.unique) else {
        return Err(Rc::KEY.handle(1));
    };
    let public = rsa::public_key(n, *exponent).map_err(|rc| rc.handle(1))?;
    let mut rng = |b: &mut [u8]| tpm.random(b);
    let out = rsa::encrypt(&public, padding, &label, &msg, &mut rng).p(1)?;
    resp.params.tpm2b(&out);
    Ok(())
}

/// TPM2_RSA_Decrypt(keyHandle, cipherText, inScheme, label) → message. The key must not be
/// restricted (`TPM_RC_ATTRIBUTES` + handle 1).
pub fn rsa_decrypt(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let (ct, scheme, label) = read(c)?;
    let key = rsa_key(tpm, c.handles[0])?;
    if key.public.has(attr::RESTRICTED) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let padding = padding(&key, scheme)?;
    let private = private(&key)?;
    let mut rng = |b: &mut [u8]| tpm.random(b);
    // a ciphertext of the wrong size is an unnumbered TPM_RC_SIZE (as libtpms)
    let out = rsa::decrypt(&private, padding, &label, &ct, &mut rng)
        .map_err(|rc| if rc == Rc::SIZE { rc } else { rc.param(1) })?;
    resp.params.tpm2b(&out);
    Ok(())
}

/// The private key of a loaded RSA object (checked when it was loaded).
pub fn private(key: &Object) -> Result<::rsa::RsaPrivateKey, Rc> {
    let (Params::Rsa { exponent, .. }, Unique::Rsa(n)) = (&key.public.params, &key.public.unique) else {
        return Err(Rc::KEY.handle(1));
    };
    rsa::private_key(n, *exponent, &key.sensitive.value).map_err(|_| Rc::KEY.handle(1))
}
