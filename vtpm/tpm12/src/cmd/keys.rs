//! Keys: TPM_CreateWrapKey, LoadKey, LoadKey2, GetPubKey, EvictKey, CertifyKey,
//! ChangeAuth; the loaded-key table and the signing helper other commands use.
//!
//! SKELETON: handlers answer `TPM_BAD_ORDINAL` (rows flagged STUB).

use alloc::vec::Vec;

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Loaded keys (TPM_CAP_KEY_HANDLE, TPM_CAP_PROP_KEYS...).
#[derive(Debug, Default)]
pub struct KeySlots {}

impl KeySlots {
    /// Handles of loaded keys (TPM_CAP_KEY_HANDLE / TPM_CAP_HANDLE(TPM_RT_KEY)).
    pub fn handles(&self) -> Vec<u32> {
        Vec::new()
    }
    /// Drops keys that do not survive TPM_Startup(ST_CLEAR) / TPM_Init.
    pub fn clear(&mut self) {}
}

/// Maximum loaded keys (TPM_CAP_PROP_MAX_KEYS).
pub const MAX_KEYS: usize = 10;

/// Bytes for [`crate::state::SavedState::keys`] (TPM_SaveState).
pub fn save_state(_tpm: &Tpm) -> Vec<u8> {
    Vec::new()
}

/// Restores [`save_state`] output on Startup(ST_STATE).
pub fn restore_state(_tpm: &mut Tpm, _bytes: &[u8]) -> Result<(), Rc> {
    Ok(())
}

/// Signs `digest` (20 bytes) with the loaded signing key `key_handle`, after
/// checking trailer `auth_index` against the key's usage auth when the key
/// requires it (or when the command carries a trailer). Used by
/// TPM_TickStampBlob and the quote commands. Checks key usage (SIGNING or
/// LEGACY) and the key's signature scheme (SHA1 or INFO, not DER).
/// Returns the PKCS#1 v1.5 signature.
pub fn sign_digest(
    _tpm: &mut Tpm,
    _cmd: &mut Command<'_>,
    _auth_index: usize,
    _key_handle: u32,
    _digest: &crate::crypto::Digest,
) -> Result<Vec<u8>, Rc> {
    Err(Rc::INVALID_KEYHANDLE)
}

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::CreateWrapKey, create_wrap_key, tags::AUTH1, 1, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::LoadKey, load_key, tags::RQU_AUTH1, 1, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::LoadKey2, load_key2, tags::RQU_AUTH1, 1, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::GetPubKey, get_pub_key, tags::RQU_AUTH1, 1, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::EvictKey, evict_key, tags::RQU, 1, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::CertifyKey, certify_key, tags::ANY, 2, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::ChangeAuth, change_auth, tags::AUTH2, 1, check::ALL).with(flags::STUB),
];

/// TPM_CreateWrapKey (Part 3 §10.4).
pub fn create_wrap_key(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_LoadKey (Part 3 §27.8.1).
pub fn load_key(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_LoadKey2 (Part 3 §10.5).
pub fn load_key2(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_GetPubKey (Part 3 §10.6).
pub fn get_pub_key(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_EvictKey (Part 3 §27.5.1).
pub fn evict_key(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_CertifyKey (Part 3 §12.1).
pub fn certify_key(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_ChangeAuth (Part 3 §17.1).
pub fn change_auth(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
