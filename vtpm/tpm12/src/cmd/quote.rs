//! Attestation: TPM_Quote and TPM_Quote2.
//!
//! SKELETON: handlers answer `TPM_BAD_ORDINAL` (rows flagged STUB).

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::Quote, quote, tags::RQU_AUTH1, 1, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::Quote2, quote2, tags::RQU_AUTH1, 1, check::ALL).with(flags::STUB),
];

/// TPM_Quote (Part 3 §16.5).
pub fn quote(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_Quote2 (Part 3 §16.6).
pub fn quote2(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
