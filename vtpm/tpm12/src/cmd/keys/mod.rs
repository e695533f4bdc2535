//! Keys: key lookup and authorization, and
//! TPM_LoadKey, LoadKey2, GetPubKey, EvictKey (Part 3 §10.5, §10.6, §27.5.1,
//! §27.8.1). Key creation is in [`create`], certification in [`certify`],
//! TPM_ChangeAuth in [`change_auth`]; signing helpers for other commands are in
//! `cmd::sign`.
//!
//! A key is named by its handle: `TPM_KH_SRK` is the SRK (held in permanent
//! data), owner-evict keys live in permanent data too, and loaded keys get
//! handles `0x01xxxxxx` from `state::keys`.

pub mod blob;
pub mod certify;
pub mod change_auth;
pub mod create;
pub mod pcr_info;
pub mod rsa_ops;

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{auth_usage, key_usage, kh, ord};
use crate::crypto::{RsaKey, Secret};
use crate::frame::{Command, OrdinalEntry, Response, check, tags};
use crate::state::KeyRecord;
use crate::state::keys::{LoadedKey, MAX_KEYS};

use crate::auth;
use crate::state::sessions::AuthEntity;
use blob::{StoreAsymkey, TpmKey};

/// Bytes for [`crate::state::SavedState::keys`] (TPM_SaveState): every loaded
/// key whose `isVolatile` flag is clear.
pub fn save_state(tpm: &Tpm) -> Vec<u8> {
    let mut w = Writer::secret();
    let keep: Vec<&LoadedKey> =
        tpm.keys.iter().filter(|k| TpmKey::from_bytes(&k.record.public_blob).is_ok_and(|p| !p.is_volatile())).collect();
    w.u32(tpm.keys.next_handle()).u32(keep.len() as u32);
    for k in keep {
        w.u32(k.handle).bool(k.parent_pcr_status);
        k.record.encode(&mut w);
    }
    w.into_vec()
}

/// Restores [`save_state`] output on Startup(ST_STATE).
pub fn restore_state(tpm: &mut Tpm, bytes: &[u8]) -> Result<(), Rc> {
    tpm.keys.clear();
    if bytes.is_empty() {
        return Ok(());
    }
    let mut r = Reader::new(bytes);
    tpm.keys.set_next_handle(r.u32()?);
    let n = r.u32()? as usize;
    if n > MAX_KEYS {
        return Err(Rc::FAIL);
    }
    for _ in 0..n {
        let h = r.u32()?;
        let pps = r.bool()?;
        let rec = KeyRecord::decode(&mut r)?;
        let reserved = owner_evict_handles(tpm);
        tpm.keys.restore(h, rec, pps, &reserved)?;
    }
    r.finish()
}

/// A key as commands see it, whatever table holds it.
#[derive(Clone, Debug)]
pub struct KeyView {
    /// The handle it was named by.
    pub handle: u32,
    /// The public structure (no encData).
    pub public: TpmKey,
    /// The RSA pair.
    pub rsa: RsaKey,
    /// `usageAuth`.
    pub usage_auth: Secret,
    /// `migrationAuth`.
    pub migration_auth: Secret,
}

impl KeyView {
    fn from_record(handle: u32, rec: &KeyRecord) -> Result<Self, Rc> {
        Ok(Self {
            handle,
            public: TpmKey::from_bytes(&rec.public_blob).map_err(|_| Rc::FAIL)?,
            rsa: rec.rsa.clone(),
            usage_auth: rec.usage_auth.clone(),
            migration_auth: rec.migration_auth.clone(),
        })
    }

    /// The auth entity for this key.
    pub fn entity(&self) -> AuthEntity {
        if self.handle == kh::SRK { AuthEntity::Srk } else { AuthEntity::Key(self.handle) }
    }
}

/// The record behind `handle` (SRK, owner-evict or loaded).
pub(crate) fn record(tpm: &Tpm, handle: u32) -> Option<&KeyRecord> {
    if handle == kh::SRK {
        return tpm.perm.data.srk.as_ref();
    }
    if let Some((_, r)) = tpm.perm.data.owner_evict_keys.iter().find(|(h, _)| *h == handle) {
        return Some(r);
    }
    tpm.keys.get(handle).map(|k| &k.record)
}

/// Looks a key up by handle (`TPM_INVALID_KEYHANDLE` if none).
pub fn resolve(tpm: &Tpm, handle: u32) -> Result<KeyView, Rc> {
    let rec = record(tpm, handle).ok_or(Rc::INVALID_KEYHANDLE)?;
    KeyView::from_record(handle, rec)
}

/// The usage secret of a key (for OSAP).
pub fn usage_auth(tpm: &Tpm, handle: u32) -> Result<Secret, Rc> {
    record(tpm, handle).map(|r| r.usage_auth.clone()).ok_or(Rc::INVALID_KEYHANDLE)
}

/// Authorizes use of `key` by trailer `index`: a present trailer is always
/// checked; with none, only `TPM_AUTH_NEVER` keys (or, with `public_only`,
/// `TPM_AUTH_PRIV_USE_ONLY` keys) pass, else `TPM_AUTHFAIL`.
pub fn authorize(
    tpm: &mut Tpm,
    cmd: &mut Command<'_>,
    index: usize,
    key: &KeyView,
    public_only: bool,
) -> Result<(), Rc> {
    if cmd.auth.get(index).is_some_and(|a| a.is_some()) {
        return auth::check(tpm, cmd, index, key.entity(), &key.usage_auth);
    }
    match key.public.auth_data_usage {
        auth_usage::NEVER => Ok(()),
        auth_usage::PRIV_USE_ONLY if public_only => Ok(()),
        _ => Err(if index == 0 { Rc::AUTHFAIL } else { Rc::AUTH2FAIL }),
    }
}

/// The parent of a command that wraps data or keys under it (CreateWrapKey, ChangeAuth):
/// resolved, authorized by trailer 0, a storage key, and its PCR binding satisfied — in
/// that order, which decides the return code when several checks fail.
pub fn storage_parent(tpm: &mut Tpm, cmd: &mut Command<'_>, handle: u32) -> Result<KeyView, Rc> {
    let parent = resolve(tpm, handle)?;
    authorize(tpm, cmd, 0, &parent, false)?;
    if parent.public.key_usage != key_usage::STORAGE {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    check_pcrs(tpm, &parent, cmd.locality)?;
    Ok(parent)
}

/// Checks that a key's PCR binding allows use now (`TPM_WRONGPCRVAL`, `TPM_BAD_LOCALITY`).
pub fn check_pcrs(tpm: &Tpm, key: &KeyView, locality: u8) -> Result<(), Rc> {
    pcr_info::check_release_bytes(tpm, &key.public.pcr_info, key.public.key12, locality)
}

/// True if a key is bound to at least one PCR.
pub fn pcr_bound(key: &KeyView) -> bool {
    !key.public.pcr_info.is_empty()
        && pcr_info::PcrInfo::decode(&key.public.pcr_info, key.public.key12).is_ok_and(|p| match p {
            pcr_info::PcrInfo::Short { selection, .. } => !selection.is_empty(),
            pcr_info::PcrInfo::Long { release_selection, .. } => !release_selection.is_empty(),
        })
}

/// `parentPCRStatus` of a key (false for the SRK and owner-evict keys).
pub fn parent_pcr_status(tpm: &Tpm, handle: u32) -> bool {
    tpm.keys.get(handle).is_some_and(|k| k.parent_pcr_status)
}

/// Unloads a key (FlushSpecific / EvictKey): the SRK and EK are not flushable
/// (`TPM_INVALID_KEYHANDLE`), owner-evict keys need the owner (`TPM_KEY_OWNER_CONTROL`).
pub fn flush_key(tpm: &mut Tpm, handle: u32) -> Result<(), Rc> {
    if tpm.perm.data.owner_evict_keys.iter().any(|(h, _)| *h == handle) {
        return Err(Rc::KEY_OWNER_CONTROL);
    }
    if !tpm.keys.remove(handle) {
        return Err(Rc::INVALID_KEYHANDLE);
    }
    tpm.sessions.terminate_entity(AuthEntity::Key(handle));
    Ok(())
}

pub use super::sign::sign_digest;

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::CreateWrapKey, create::create_wrap_key, tags::AUTH1, 1, check::ALL),
    OrdinalEntry::new(ord::LoadKey, load_key, tags::RQU_AUTH1, 1, check::ALL),
    OrdinalEntry::new(ord::LoadKey2, load_key2, tags::RQU_AUTH1, 1, check::ALL),
    OrdinalEntry::new(ord::GetPubKey, get_pub_key, tags::RQU_AUTH1, 1, check::ALL),
    OrdinalEntry::new(ord::EvictKey, evict_key, tags::RQU, 1, check::ALL),
    OrdinalEntry::new(ord::CertifyKey, certify::certify_key, tags::ANY, 2, check::ALL),
    OrdinalEntry::new(ord::ChangeAuth, change_auth::change_auth, tags::AUTH2, 1, check::ALL),
];

/// Decrypts and validates a wrapped key under `parent` and returns the
/// record to load (shared by LoadKey and LoadKey2).
pub fn unwrap_key(tpm: &mut Tpm, parent: &KeyView, in_key: &TpmKey) -> Result<KeyRecord, Rc> {
    if parent.public.key_usage != key_usage::STORAGE {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    let rsa_parms = create::check_key_parms(in_key)?;
    if !in_key.pcr_info.is_empty() {
        pcr_info::PcrInfo::decode(&in_key.pcr_info, in_key.key12)?;
    }
    let plain = rsa_ops::oaep_decrypt(&parent.rsa, tpm.rng.as_mut(), &in_key.enc_data)?;
    let store = StoreAsymkey::decode(&plain)?;
    if store.pub_data_digest != in_key.pub_data_digest() {
        return Err(Rc::DECRYPT_ERROR);
    }
    // 7.b: an identity key is never migratable (libtpms: TPM_INVALID_KEYUSAGE).
    if in_key.key_usage == key_usage::IDENTITY && in_key.migratable() {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    // Certified migration keys need CMK (migrationAuth = HMAC(tpmProof, msaDigest ‖
    // pubDataDigest)), which is not implemented: refuse them, with the code libtpms'
    // CreateWrapKey gives a migrateAuthority key (CreateWrapKey refuses to make them too).
    if in_key.key_flags & blob::key_flags::MIGRATE_AUTHORITY != 0 {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    if !in_key.migratable() {
        if parent.public.migratable() {
            return Err(Rc::INVALID_KEYUSAGE);
        }
        if store.migration_auth != tpm.perm.data.tpm_proof {
            return Err(Rc::INVALID_KEYUSAGE);
        }
    }
    let public = RsaKey::from_public(&in_key.pub_key, &rsa_parms.exponent)?;
    if public.bits() != rsa_parms.key_length as usize {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    let rsa = rsa_ops::private_from_prime(&public, &store.prime)?;
    Ok(KeyRecord {
        public_blob: in_key.without_enc_data().to_bytes(),
        rsa,
        usage_auth: store.usage_auth,
        migration_auth: store.migration_auth,
    })
}

fn load_common(tpm: &mut Tpm, cmd: &mut Command<'_>) -> Result<u32, Rc> {
    let parent_handle = cmd.params.u32()?;
    let in_key = TpmKey::decode(&mut cmd.params)?;
    cmd.params.finish()?;
    let parent = resolve(tpm, parent_handle)?;
    authorize(tpm, cmd, 0, &parent, false)?;
    check_pcrs(tpm, &parent, cmd.locality)?;
    let rec = unwrap_key(tpm, &parent, &in_key)?;
    // Steps 11-12: the parent's own parentPCRStatus, or TRUE if the parent uses PCRs.
    let pps = parent_pcr_status(tpm, parent_handle) || pcr_bound(&parent);
    let reserved = owner_evict_handles(tpm);
    tpm.keys.insert(rec, pps, &reserved)
}

/// Handles of the owner-evict keys: never given to a loaded key (I6).
pub fn owner_evict_handles(tpm: &Tpm) -> Vec<u32> {
    tpm.perm.data.owner_evict_keys.iter().map(|(h, _)| *h).collect()
}

/// TPM_LoadKey (Part 3 §27.8.1): like LoadKey2, but the new handle is an
/// output parameter (covered by the response HMAC).
pub fn load_key(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let h = load_common(tpm, cmd)?;
    resp.params.u32(h);
    Ok(())
}

/// TPM_LoadKey2 (Part 3 §10.5).
pub fn load_key2(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let h = load_common(tpm, cmd)?;
    resp.handles.u32(h);
    Ok(())
}

/// TPM_GetPubKey (Part 3 §10.6): the `TPM_PUBKEY` of a loaded key. The SRK's
/// needs `readSRKPub` (else `TPM_INVALID_KEYHANDLE`, use OwnerReadInternalPub).
pub fn get_pub_key(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let handle = cmd.params.u32()?;
    cmd.params.finish()?;
    let key = resolve(tpm, handle)?;
    authorize(tpm, cmd, 0, &key, true)?;
    if handle == kh::SRK && !tpm.perm.flags.readSRKPub {
        return Err(Rc::INVALID_KEYHANDLE);
    }
    if key.public.key_flags & blob::key_flags::PCR_IGNORED_ON_READ == 0 {
        check_pcrs(tpm, &key, cmd.locality)?;
    }
    key.public.encode_pubkey(&mut resp.params);
    Ok(())
}

/// TPM_EvictKey (Part 3 §27.5.1): deprecated FlushSpecific for keys.
pub fn evict_key(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let handle = cmd.params.u32()?;
    cmd.params.finish()?;
    if handle == kh::SRK || handle == kh::EK {
        return Err(Rc::INVALID_KEYHANDLE);
    }
    flush_key(tpm, handle)
}
