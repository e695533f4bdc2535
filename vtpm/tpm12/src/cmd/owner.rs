//! Ownership and the endorsement key: TPM_TakeOwnership, OwnerClear, ForceClear,
//! DisableOwnerClear, DisableForceClear, SetOwnerInstall, OwnerSetDisable,
//! CreateEndorsementKeyPair, ReadPubek, OwnerReadPubek, OwnerReadInternalPub,
//! DisablePubekRead, ChangeAuthOwner, ResetLockValue.
//!
//! SKELETON: handlers answer `TPM_BAD_ORDINAL` (rows flagged STUB).

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::TakeOwnership, take_ownership, tags::AUTH1, 0, check::ALLOW_NO_OWNER).with(flags::STUB),
    OrdinalEntry::new(ord::OwnerClear, owner_clear, tags::AUTH1, 0, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::ForceClear, force_clear, tags::RQU, 0, check::ALLOW_NO_OWNER).with(flags::STUB),
    OrdinalEntry::new(ord::DisableOwnerClear, disable_owner_clear, tags::AUTH1, 0, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::DisableForceClear, disable_force_clear, tags::RQU, 0, check::ALLOW_NO_OWNER).with(flags::STUB),
    OrdinalEntry::new(ord::SetOwnerInstall, set_owner_install, tags::RQU, 0, check::ALLOW_NO_OWNER).with(flags::STUB),
    OrdinalEntry::new(ord::OwnerSetDisable, owner_set_disable, tags::AUTH1, 0, check::NOT_SHUTDOWN | check::OWNER | check::NO_LOCKOUT).with(flags::STUB),
    OrdinalEntry::new(ord::CreateEndorsementKeyPair, create_endorsement_key_pair, tags::RQU, 0, check::ALLOW_NO_OWNER).with(flags::STUB),
    OrdinalEntry::new(ord::ReadPubek, read_pubek, tags::RQU, 0, check::ALLOW_NO_OWNER).with(flags::STUB),
    OrdinalEntry::new(ord::OwnerReadPubek, owner_read_pubek, tags::AUTH1, 0, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::OwnerReadInternalPub, owner_read_internal_pub, tags::AUTH1, 0, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::DisablePubekRead, disable_pubek_read, tags::AUTH1, 0, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::ChangeAuthOwner, change_auth_owner, tags::AUTH1, 0, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::ResetLockValue, reset_lock_value, tags::AUTH1, 0, check::ALL).with(flags::STUB),
];

/// TPM_TakeOwnership (Part 3 §6.1).
pub fn take_ownership(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_OwnerClear (Part 3 §6.2).
pub fn owner_clear(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_ForceClear (Part 3 §6.3).
pub fn force_clear(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_DisableOwnerClear (Part 3 §6.4).
pub fn disable_owner_clear(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_DisableForceClear (Part 3 §6.5).
pub fn disable_force_clear(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_SetOwnerInstall (Part 3 §7.5).
pub fn set_owner_install(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_OwnerSetDisable (Part 3 §7.1).
pub fn owner_set_disable(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_CreateEndorsementKeyPair (Part 3 §14.1).
pub fn create_endorsement_key_pair(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_ReadPubek (Part 3 §14.4).
pub fn read_pubek(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_OwnerReadPubek (Part 3 §27.6.1).
pub fn owner_read_pubek(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_OwnerReadInternalPub (Part 3 §14.6).
pub fn owner_read_internal_pub(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_DisablePubekRead (Part 3 §27.6.2).
pub fn disable_pubek_read(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_ChangeAuthOwner (Part 3 §17.2).
pub fn change_auth_owner(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_ResetLockValue (Part 3 §5.6).
pub fn reset_lock_value(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
