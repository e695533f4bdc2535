//! Data protection: TPM_Seal, TPM_Unseal (PCR- and locality-bound) and
//! TPM_UnBind (Part 3 §10.1–§10.3).
//!
//! A sealed blob is a `TPM_STORED_DATA` (with a `TPM_PCR_INFO`) or a
//! `TPM_STORED_DATA12` (with a `TPM_PCR_INFO_LONG`) whose `encData` is the
//! OAEP-encrypted `TPM_SEALED_DATA` (Part 2 §9.1–§9.3). Only blobs carrying
//! this TPM's `tpmProof` unseal. Sealing with encryption (`et` ≠ 0, TPM_Sealx)
//! is not implemented.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{key_usage, ord, scheme, tag};
use crate::crypto::{Digest, Secret, sha1};
use crate::frame::{Command, OrdinalEntry, Response, check, tags};

use super::keys::blob::{VER_11, pt};
use super::keys::pcr_info::PcrInfo;
use super::keys::{KeyView, authorize, check_pcrs, resolve, rsa_ops};
use crate::auth;
use crate::state::sessions::AuthEntity;

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::Seal, seal, tags::AUTH1, 1, check::ALL),
    OrdinalEntry::new(ord::Unseal, unseal, tags::AUTH1_AUTH2, 1, check::ALL),
    OrdinalEntry::new(ord::UnBind, unbind, tags::RQU_AUTH1, 1, check::ALL),
];

/// `TPM_STORED_DATA` / `TPM_STORED_DATA12`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredData {
    /// True for `TPM_STORED_DATA12`.
    pub v12: bool,
    /// `ver` as received (TPM_STORED_DATA only).
    pub ver: [u8; 4],
    /// `et` (STORED_DATA12 only).
    pub et: u16,
    /// `sealInfo` bytes.
    pub seal_info: Vec<u8>,
    /// `encData`.
    pub enc_data: Vec<u8>,
}

impl StoredData {
    /// Parses either version (`TPM_BAD_VERSION` for anything else).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        let head: [u8; 4] = r.array()?;
        let (v12, et) = if u16::from_be_bytes([head[0], head[1]]) == tag::STORED_DATA12 {
            (true, u16::from_be_bytes([head[2], head[3]]))
        } else if head[..2] == VER_11[..2] {
            (false, 0)
        } else {
            return Err(Rc::BAD_VERSION);
        };
        Ok(Self { v12, ver: head, et, seal_info: r.sized32()?.to_vec(), enc_data: r.sized32()?.to_vec() })
    }

    fn encode_head(&self, w: &mut Writer) {
        if self.v12 {
            w.u16(tag::STORED_DATA12).u16(self.et);
        } else {
            w.bytes(&self.ver);
        }
        w.sized32(&self.seal_info);
    }

    /// The full structure.
    pub fn encode(&self, w: &mut Writer) {
        self.encode_head(w);
        w.sized32(&self.enc_data);
    }

    /// `storedDigest`: SHA-1 of the structure with `encDataSize` = 0 and no `encData`.
    pub fn stored_digest(&self) -> Digest {
        let mut w = Writer::new();
        self.encode_head(&mut w);
        w.u32(0);
        sha1(&[w.as_slice()])
    }
}

/// `TPM_SEALED_DATA`: what `encData` of a sealed blob decrypts to.
pub struct SealedData {
    /// `authData`: the blob's usage secret.
    pub auth_data: Secret,
    /// `tpmProof` of the sealing TPM.
    pub tpm_proof: Secret,
    /// `storedDigest`.
    pub stored_digest: Digest,
    /// `data`.
    pub data: Zeroizing<Vec<u8>>,
}

impl SealedData {
    /// Encodes it (`payload` = `TPM_PT_SEAL`).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.u8(pt::SEAL).bytes(&self.auth_data.0).bytes(&self.tpm_proof.0).bytes(&self.stored_digest);
        w.sized32(&self.data);
        Zeroizing::new(w.into_vec())
    }

    /// Parses decrypted bytes; malformed is `TPM_NOTSEALED_BLOB`.
    pub fn decode(b: &[u8]) -> Result<Self, Rc> {
        let e = |_| Rc::NOTSEALED_BLOB;
        let mut r = Reader::new(b);
        if r.u8().map_err(e)? != pt::SEAL {
            return Err(Rc::NOTSEALED_BLOB);
        }
        let s = Self {
            auth_data: Secret(r.array().map_err(e)?),
            tpm_proof: Secret(r.array().map_err(e)?),
            stored_digest: r.array().map_err(e)?,
            data: Zeroizing::new(r.sized32().map_err(e)?.to_vec()),
        };
        r.finish().map_err(e)?;
        Ok(s)
    }
}

/// A storage key that may seal: usage STORAGE (`TPM_INVALID_KEYUSAGE`), not migratable.
fn sealing_key(key: &KeyView) -> Result<(), Rc> {
    if key.public.key_usage != key_usage::STORAGE || key.public.migratable() {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    Ok(())
}

/// TPM_Seal: `keyHandle, encAuth, pcrInfoSize, pcrInfo, inDataSize, inData`
/// in (AUTH1, OSAP on the key); `sealedData` out.
pub fn seal(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let key_handle = cmd.params.u32()?;
    let enc_auth: Digest = cmd.params.array()?;
    let pcr_info = cmd.params.sized32()?;
    let in_data = cmd.params.sized32()?;
    cmd.params.finish()?;
    let key = resolve(tpm, key_handle)?;
    authorize(tpm, cmd, 0, &key, false)?;
    if in_data.is_empty() {
        return Err(Rc::BAD_PARAMETER);
    }
    sealing_key(&key)?;
    check_pcrs(tpm, &key, cmd.locality)?;
    let v12 = PcrInfo::is_long(pcr_info);
    let seal_info = if pcr_info.is_empty() {
        Vec::new()
    } else {
        let mut pi = PcrInfo::decode(pcr_info, v12).map_err(|_| Rc::BADINDEX)?;
        pi.set_creation(tpm, cmd.locality);
        pi.to_bytes()
    };
    let stored = StoredData { v12, ver: VER_11, et: 0, seal_info, enc_data: Vec::new() };
    let auth_data = auth::decrypt_adip(tpm, cmd, 0, &enc_auth)?;
    let sealed = SealedData {
        auth_data,
        tpm_proof: tpm.perm.data.tpm_proof.clone(),
        stored_digest: stored.stored_digest(),
        data: Zeroizing::new(in_data.to_vec()),
    };
    let enc_data = rsa_ops::oaep_encrypt(&key.rsa.public, tpm.rng.as_mut(), &sealed.encode())?;
    StoredData { enc_data, ..stored }.encode(&mut resp.params);
    Ok(())
}

/// Decrypts and validates a sealed blob under a loaded storage key (shared by
/// Unseal and ChangeAuth): `TPM_NOTSEALED_BLOB` unless it is ours and intact.
pub fn open_sealed(tpm: &mut Tpm, key: &KeyView, stored: &StoredData) -> Result<SealedData, Rc> {
    let plain = rsa_ops::oaep_decrypt(&key.rsa, tpm.rng.as_mut(), &stored.enc_data)
        .map_err(|rc| if rc == Rc::BAD_DATASIZE { rc } else { Rc::NOTSEALED_BLOB })?;
    let sealed = SealedData::decode(&plain)?;
    if sealed.tpm_proof != tpm.perm.data.tpm_proof || sealed.stored_digest != stored.stored_digest() {
        return Err(Rc::NOTSEALED_BLOB);
    }
    Ok(sealed)
}

/// TPM_Unseal: `parentHandle, inData` in (AUTH2: key then data, or AUTH1:
/// data only, for a `TPM_AUTH_NEVER` key); `secretSize, secret` out.
pub fn unseal(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let parent_handle = cmd.params.u32()?;
    let stored = StoredData::decode(&mut cmd.params)?;
    cmd.params.finish()?;
    let key = resolve(tpm, parent_handle)?;
    let data_index = if cmd.auth_count() == 2 {
        authorize(tpm, cmd, 0, &key, false)?;
        1
    } else {
        if key.public.auth_data_usage != crate::constants::auth_usage::NEVER {
            return Err(Rc::AUTHFAIL);
        }
        0
    };
    sealing_key(&key)?;
    check_pcrs(tpm, &key, cmd.locality)?;
    if stored.et != 0 {
        return Err(Rc::BAD_MODE);
    }
    let sealed = open_sealed(tpm, &key, &stored)?;
    if !stored.seal_info.is_empty() {
        PcrInfo::decode(&stored.seal_info, stored.v12)?.check_release(tpm, cmd.locality)?;
    }
    if !auth::is_oiap(tpm, cmd, data_index) {
        return Err(if data_index == 0 { Rc::AUTHFAIL } else { Rc::AUTH2FAIL });
    }
    auth::check(tpm, cmd, data_index, AuthEntity::Data, &sealed.auth_data)?;
    resp.params.sized32(&sealed.data);
    Ok(())
}

/// TPM_UnBind: `keyHandle, inDataSize, inData` in; `outDataSize, outData` out.
/// The plaintext must be a `TPM_BOUND_DATA` (1.1.0.0, `TPM_PT_BIND`) for both
/// OAEP and PKCS#1 v1.5 keys, except a LEGACY PKCS#1 v1.5 key, whose
/// plaintext is returned as is.
pub fn unbind(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let key_handle = cmd.params.u32()?;
    let in_data = cmd.params.sized32()?;
    cmd.params.finish()?;
    if in_data.is_empty() {
        return Err(Rc::BAD_PARAMETER);
    }
    let key = resolve(tpm, key_handle)?;
    authorize(tpm, cmd, 0, &key, false)?;
    if !matches!(key.public.key_usage, key_usage::BIND | key_usage::LEGACY) {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    check_pcrs(tpm, &key, cmd.locality)?;
    let rng = tpm.rng.as_mut();
    let plain = match key.public.parms.enc_scheme {
        scheme::ES_RSAESOAEP_SHA1_MGF1 => rsa_ops::oaep_decrypt(&key.rsa, rng, in_data)?,
        scheme::ES_RSAESPKCSV15 => rsa_ops::pkcs1v15_decrypt(&key.rsa, rng, in_data)?,
        _ => return Err(Rc::INAPPROPRIATE_ENC),
    };
    let raw_legacy =
        key.public.key_usage == key_usage::LEGACY && key.public.parms.enc_scheme == scheme::ES_RSAESPKCSV15;
    if raw_legacy {
        resp.params.sized32(&plain);
        return Ok(());
    }
    if plain.len() < 5 || plain[..2] != VER_11[..2] || plain[4] != pt::BIND {
        return Err(Rc::INVALID_STRUCTURE);
    }
    resp.params.sized32(&plain[5..]);
    Ok(())
}
