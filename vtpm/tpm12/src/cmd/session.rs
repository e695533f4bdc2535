//! Authorization sessions: TPM_OIAP, TPM_OSAP, TPM_Terminate_Handle,
//! TPM_FlushSpecific, and the session table.
//!
//! SKELETON: handlers answer `TPM_BAD_ORDINAL` (rows flagged STUB).

use alloc::vec::Vec;

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// The loaded auth sessions.
#[derive(Debug, Default)]
pub struct SessionTable {}

impl SessionTable {
    /// Number of loaded sessions (TPM_CAP_PROP_AUTHSESS...).
    pub fn loaded(&self) -> usize {
        0
    }
    /// Session handles for TPM_CAP_HANDLE(TPM_RT_AUTH).
    pub fn handles(&self) -> Vec<u32> {
        Vec::new()
    }
    /// Drops every session (TPM_Init, Startup).
    pub fn clear(&mut self) {}
}

/// Bytes for [`crate::state::SavedState::sessions`] (TPM_SaveState).
pub fn save_state(_tpm: &Tpm) -> Vec<u8> {
    Vec::new()
}

/// Restores [`save_state`] output on Startup(ST_STATE).
pub fn restore_state(_tpm: &mut Tpm, _bytes: &[u8]) -> Result<(), Rc> {
    Ok(())
}

/// Maximum loaded sessions (TPM_CAP_PROP_MAX_AUTHSESS).
pub const MAX_SESSIONS: usize = 16;

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::OIAP, oiap, tags::RQU, 0, check::BASIC).with(flags::STUB),
    OrdinalEntry::new(ord::OSAP, osap, tags::RQU, 0, check::BASIC).with(flags::STUB),
    OrdinalEntry::new(ord::Terminate_Handle, terminate_handle, tags::RQU, 0, check::BASIC).with(flags::STUB),
    OrdinalEntry::new(ord::FlushSpecific, flush_specific, tags::RQU, 0, check::BASIC).with(flags::STUB),
];

/// TPM_OIAP (Part 3 §18.1).
pub fn oiap(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_OSAP (Part 3 §18.2).
pub fn osap(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_Terminate_Handle (Part 3 §18.4).
pub fn terminate_handle(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_FlushSpecific (Part 3 §22.3).
pub fn flush_specific(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
