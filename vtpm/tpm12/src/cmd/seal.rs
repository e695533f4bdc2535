//! Data protection: TPM_Seal, TPM_Unseal (PCR- and locality-bound), TPM_UnBind.
//!
//! SKELETON: handlers answer `TPM_BAD_ORDINAL` (rows flagged STUB).

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::Seal, seal, tags::AUTH1, 1, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::Unseal, unseal, tags::AUTH1_AUTH2, 1, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::UnBind, unbind, tags::RQU_AUTH1, 1, check::ALL).with(flags::STUB),
];

/// TPM_Seal (Part 3 §10.1).
pub fn seal(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_Unseal (Part 3 §10.2).
pub fn unseal(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_UnBind (Part 3 §10.3).
pub fn unbind(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
