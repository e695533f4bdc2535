//! TPM_CertifyKey (Part 3 §12.1): one loaded key signs a description of
//! another (`TPM_CERTIFY_INFO`, or `TPM_CERTIFY_INFO2` when the certified key's
//! PCR binding needs PCRs ≥ 16 or a locality restriction; Part 2 §11.1, §11.2).

use crate::Tpm;
use crate::codec::Writer;
use crate::constants::rc::Rc;
use crate::constants::{auth_usage, key_usage, loc, scheme, tag};
use crate::crypto::{Digest, sha1};
use crate::frame::{Command, Response};

use super::super::pcr::PcrSelection;
use super::blob::{VER_11, key_flags, pt};
use super::pcr_info::PcrInfo;
use super::{KeyView, authorize, check_pcrs, resolve, rsa_ops};

/// What the certified key's PCR binding looks like in the certificate.
struct Binding {
    selection: PcrSelection,
    locality_at_release: u8,
    digest_at_release: Digest,
}

fn binding(key: &KeyView) -> Result<Option<Binding>, Rc> {
    if key.public.pcr_info.is_empty() {
        return Ok(None);
    }
    Ok(Some(match PcrInfo::decode(&key.public.pcr_info, key.public.key12)? {
        PcrInfo::Short { selection, digest_at_release, .. } => {
            Binding { selection, locality_at_release: loc::ALL, digest_at_release }
        }
        PcrInfo::Long { locality_at_release, release_selection, digest_at_release, .. } => {
            Binding { selection: release_selection, locality_at_release, digest_at_release }
        }
    }))
}

/// TPM_CertifyKey: `certHandle, keyHandle, antiReplay` in; `certifyInfo,
/// outDataSize, outData` out. AUTH2: cert key then key; AUTH1: the key (the
/// cert key must be `TPM_AUTH_NEVER`); RQU: neither may need auth.
pub fn certify_key(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let cert_handle = cmd.params.u32()?;
    let key_handle = cmd.params.u32()?;
    let anti_replay: Digest = cmd.params.array()?;
    cmd.params.finish()?;
    let cert = resolve(tpm, cert_handle)?;
    let key = resolve(tpm, key_handle)?;
    if !matches!(cert.public.parms.sig_scheme, scheme::SS_RSASSAPKCS1V15_SHA1 | scheme::SS_RSASSAPKCS1V15_INFO) {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    match cmd.auth_count() {
        2 => {
            authorize(tpm, cmd, 0, &cert, false)?;
            authorize(tpm, cmd, 1, &key, false)?;
        }
        1 => {
            if cert.public.auth_data_usage != auth_usage::NEVER {
                return Err(Rc::AUTHFAIL);
            }
            authorize(tpm, cmd, 0, &key, false)?;
        }
        _ => {
            if cert.public.auth_data_usage != auth_usage::NEVER {
                return Err(Rc::AUTHFAIL);
            }
            authorize(tpm, cmd, 0, &key, true)?;
        }
    }
    if cert.public.key_usage == key_usage::IDENTITY && key.public.migratable() {
        return Err(Rc::MIGRATEFAIL);
    }
    if !matches!(cert.public.key_usage, key_usage::SIGNING | key_usage::IDENTITY | key_usage::LEGACY) {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    if !matches!(
        key.public.key_usage,
        key_usage::SIGNING | key_usage::STORAGE | key_usage::IDENTITY | key_usage::BIND | key_usage::LEGACY
    ) {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    check_pcrs(tpm, &cert, cmd.locality)?;
    if key.public.key_flags & key_flags::PCR_IGNORED_ON_READ == 0 {
        check_pcrs(tpm, &key, cmd.locality)?;
    }
    let b = binding(&key)?;
    let v12 = b.as_ref().is_some_and(|b| b.selection.indices().any(|i| i >= 16) || b.locality_at_release != loc::ALL);
    let parent_pcr_status = super::parent_pcr_status(tpm, key_handle);
    let p = &key.public;
    let mut c = Writer::new();
    if v12 {
        c.u16(tag::CERTIFY_INFO2).u8(0).u8(pt::ASYM);
    } else {
        c.bytes(&VER_11);
    }
    c.u16(p.key_usage).u32(p.key_flags).u8(p.auth_data_usage);
    p.parms.encode(&mut c);
    c.bytes(&sha1(&[&p.pub_key])).bytes(&anti_replay).bool(parent_pcr_status);
    let mut pi = Writer::new();
    if let Some(b) = &b {
        b.selection.encode(&mut pi);
        if v12 {
            pi.u8(b.locality_at_release).bytes(&b.digest_at_release);
        } else {
            pi.bytes(&b.digest_at_release).bytes(&[0; 20]);
        }
    }
    c.sized32(pi.as_slice());
    if v12 {
        c.u32(0);
    }
    let sig = rsa_ops::sign_sha1(&cert.rsa, tpm.rng.as_mut(), &sha1(&[c.as_slice()]))?;
    resp.params.bytes(c.as_slice()).sized32(&sig);
    Ok(())
}
