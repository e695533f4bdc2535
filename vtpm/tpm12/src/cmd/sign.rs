//! TPM_Sign (Part 3 §13.1) with the SHA1, DER and INFO schemes, and
//! [`sign_digest`], the signing step TPM_Quote, Quote2, CertifyKey and
//! TickStampBlob share.

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::Writer;
use crate::constants::rc::Rc;
use crate::constants::{key_usage, ord, scheme, tag};
use crate::crypto::{Digest, sha1};
use crate::frame::{Command, OrdinalEntry, Response, check, tags};

use super::keys::{KeyView, authorize, check_pcrs, resolve, rsa_ops};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[OrdinalEntry::new(ord::Sign, sign, tags::RQU_AUTH1, 1, check::ALL)];

/// Loads and authorizes a key for signing a TPM-built structure: usage
/// SIGNING, LEGACY or IDENTITY (`TPM_INVALID_KEYUSAGE`), scheme SHA1 or INFO
/// (`TPM_INAPPROPRIATE_SIG` for DER), PCR binding satisfied.
pub fn signing_key(tpm: &mut Tpm, cmd: &mut Command<'_>, auth_index: usize, key_handle: u32) -> Result<KeyView, Rc> {
    let key = resolve(tpm, key_handle)?;
    authorize(tpm, cmd, auth_index, &key, false)?;
    if !matches!(key.public.key_usage, key_usage::SIGNING | key_usage::LEGACY | key_usage::IDENTITY) {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    match key.public.parms.sig_scheme {
        scheme::SS_RSASSAPKCS1V15_SHA1 | scheme::SS_RSASSAPKCS1V15_INFO => {}
        scheme::SS_RSASSAPKCS1V15_DER => return Err(Rc::INAPPROPRIATE_SIG),
        _ => return Err(Rc::INVALID_KEYUSAGE),
    }
    check_pcrs(tpm, &key, cmd.locality)?;
    Ok(key)
}

/// Signs `digest` (20 bytes) with the loaded signing key `key_handle`, after
/// checking trailer `auth_index` against the key's usage auth when the key
/// requires it (or when the command carries a trailer). Used by
/// TPM_TickStampBlob and the quote commands. Returns the PKCS#1 v1.5 signature.
pub fn sign_digest(
    tpm: &mut Tpm,
    cmd: &mut Command<'_>,
    auth_index: usize,
    key_handle: u32,
    digest: &Digest,
) -> Result<Vec<u8>, Rc> {
    let key = signing_key(tpm, cmd, auth_index, key_handle)?;
    rsa_ops::sign_sha1(&key.rsa, tpm.rng.as_mut(), digest)
}

/// TPM_Sign: `keyHandle, areaToSignSize, areaToSign` in; `sigSize, sig` out.
pub fn sign(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let key_handle = cmd.params.u32()?;
    let area = cmd.params.sized32()?;
    cmd.params.finish()?;
    let key = resolve(tpm, key_handle)?;
    authorize(tpm, cmd, 0, &key, false)?;
    if area.is_empty() {
        return Err(Rc::BAD_PARAMETER);
    }
    if !matches!(key.public.key_usage, key_usage::SIGNING | key_usage::LEGACY) {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    check_pcrs(tpm, &key, cmd.locality)?;
    let rng = tpm.rng.as_mut();
    let sig = match key.public.parms.sig_scheme {
        scheme::SS_RSASSAPKCS1V15_SHA1 => {
            if area.len() != 20 {
                return Err(Rc::BAD_PARAMETER);
            }
            rsa_ops::sign_sha1(&key.rsa, rng, area)?
        }
        scheme::SS_RSASSAPKCS1V15_DER => {
            if area.len() + 11 > key.rsa.bits() / 8 {
                return Err(Rc::BAD_PARAMETER);
            }
            rsa_ops::sign_raw(&key.rsa, rng, area)?
        }
        scheme::SS_RSASSAPKCS1V15_INFO => {
            let Some(a) = &cmd.auth[0] else {
                return Err(Rc::BAD_PARAMETER);
            };
            let mut info = Writer::new();
            info.u16(tag::SIGNINFO).bytes(b"SIGN").bytes(&a.nonce_odd).sized32(area);
            rsa_ops::sign_sha1(&key.rsa, rng, &sha1(&[info.as_slice()]))?
        }
        _ => return Err(Rc::INVALID_KEYUSAGE),
    };
    resp.params.sized32(&sig);
    Ok(())
}
