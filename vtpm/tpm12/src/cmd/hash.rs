//! The SHA-1 thread: TPM_SHA1Start, SHA1Update, SHA1Complete, SHA1CompleteExtend (Part 3 §13).

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::SHA1Start, sha1_start, tags::RQU, 0, check::BASIC).with(flags::STUB),
    OrdinalEntry::new(ord::SHA1Update, sha1_update, tags::RQU, 0, check::BASIC).with(flags::STUB),
    OrdinalEntry::new(ord::SHA1Complete, sha1_complete, tags::RQU, 0, check::BASIC).with(flags::STUB),
    OrdinalEntry::new(ord::SHA1CompleteExtend, sha1_complete_extend, tags::RQU, 0, check::BASIC).with(flags::STUB),
];

/// TPM_SHA1Start.
pub fn sha1_start(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_SHA1Update.
pub fn sha1_update(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_SHA1Complete.
pub fn sha1_complete(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_SHA1CompleteExtend.
pub fn sha1_complete_extend(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
