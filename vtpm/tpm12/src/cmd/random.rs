//! Randomness: TPM_GetRandom and TPM_StirRandom (Part 3 §13.6, §13.7).

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::GetRandom, get_random, tags::RQU, 0, check::ALLOW_NO_OWNER).with(flags::STUB),
    OrdinalEntry::new(ord::StirRandom, stir_random, tags::RQU, 0, check::ALLOW_NO_OWNER).with(flags::STUB),
];

/// TPM_GetRandom.
pub fn get_random(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_StirRandom.
pub fn stir_random(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
