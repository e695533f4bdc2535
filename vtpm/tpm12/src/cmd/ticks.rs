//! Ticks: TPM_GetTicks and TPM_TickStampBlob (Part 3 §23).

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::GetTicks, get_ticks, tags::RQU, 0, check::ALLOW_NO_OWNER).with(flags::STUB),
    OrdinalEntry::new(ord::TickStampBlob, tick_stamp_blob, tags::RQU_AUTH1, 1, check::ALL).with(flags::STUB),
];

/// TPM_GetTicks.
pub fn get_ticks(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_TickStampBlob.
pub fn tick_stamp_blob(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
