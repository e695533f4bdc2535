//! Capabilities: TPM_GetCapability and TPM_SetCapability (Part 3 §7).

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::GetCapability, get_capability, tags::RQU, 0, check::NO_LOCKOUT).with(flags::STUB),
    OrdinalEntry::new(ord::SetCapability, set_capability, tags::RQU_AUTH1, 0, check::BASIC).with(flags::STUB),
];

/// TPM_GetCapability.
pub fn get_capability(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_SetCapability.
pub fn set_capability(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
