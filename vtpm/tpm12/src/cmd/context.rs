//! Context management: TPM_SaveContext and TPM_LoadContext.
//!
//! SKELETON: handlers answer `TPM_BAD_ORDINAL` (rows flagged STUB).

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Saved-context slots (TPM_CAP_PROP_MAX_CONTEXT).
pub const MAX_SAVED_CONTEXTS: usize = 16;

/// Free saved-context slots (TPM_CAP_PROP_CONTEXT).
pub fn free_context_slots(_tpm: &Tpm) -> u32 {
    MAX_SAVED_CONTEXTS as u32
}

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::SaveContext, save_context, tags::RQU, 0, check::ALL).with(flags::STUB),
    OrdinalEntry::new(ord::LoadContext, load_context, tags::RQU, 0, check::ALL).with(flags::STUB),
];

/// TPM_SaveContext (Part 3 §21.2).
pub fn save_context(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_LoadContext (Part 3 §21.3).
pub fn load_context(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
