//! Monotonic counters: TPM_CreateCounter, IncrementCounter, ReadCounter,
//! ReleaseCounter, ReleaseCounterOwner (Part 3 §25).

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::CreateCounter, create_counter, tags::AUTH1, 0, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::IncrementCounter, increment_counter, tags::AUTH1, 0, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::ReadCounter, read_counter, tags::RQU, 0, check::ALLOW_NO_OWNER).with(flags::STUB),
    OrdinalEntry::new(ord::ReleaseCounter, release_counter, tags::AUTH1, 0, check::ALLOW_NO_OWNER).with(flags::STUB),
    OrdinalEntry::new(ord::ReleaseCounterOwner, release_counter_owner, tags::AUTH1, 0, check::ALL).with(flags::STUB),
];

/// TPM_CreateCounter.
pub fn create_counter(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_IncrementCounter.
pub fn increment_counter(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_ReadCounter.
pub fn read_counter(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_ReleaseCounter.
pub fn release_counter(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_ReleaseCounterOwner.
pub fn release_counter_owner(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
