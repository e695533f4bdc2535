//! TPM2_ContextSave, TPM2_ContextLoad and TPM2_FlushContext (Part 3 §28). At this stage the
//! engine has no transient objects and no HMAC or policy sessions, so no handle refers to a
//! loaded entity, and the engine has never produced a context blob: every blob fails its
//! integrity check. The error codes are those of a TPM with empty tables.

use crate::cmd::{Command, Response};
use crate::constants::{MAX_DIGEST, ht, rh};
use crate::rc::{At, Rc};
use crate::tpm::Tpm;

/// Largest contextBlob accepted (`TPM2B_CONTEXT_DATA`).
const MAX_CONTEXT_SIZE: usize = 2048;

/// TPM2_ContextSave(saveHandle): the dispatcher has checked the handle's type; no session
/// or transient object is loaded, so it references nothing (`TPM_RC_REFERENCE_H0`).
pub fn context_save(_tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    Err(Rc::REFERENCE_H0)
}

/// TPM2_ContextLoad(context): the TPMS_CONTEXT is parsed and checked, then its integrity.
pub fn context_load(_tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let _sequence = c.params.u64().p(1)?;
    let saved_handle = c.params.u32().p(1)?;
    let saved_ok = matches!((saved_handle >> 24) as u8, ht::HMAC_SESSION | ht::POLICY_SESSION)
        || matches!(saved_handle, 0x8000_0000..=0x8000_0002);
    if !saved_ok {
        return Err(Rc::VALUE.param(1));
    }
    let hierarchy = c.params.u32().p(1)?;
    if !matches!(hierarchy, rh::OWNER | rh::ENDORSEMENT | rh::PLATFORM | rh::NULL) {
        return Err(Rc::VALUE.param(1));
    }
    let blob = c.params.tpm2b(MAX_CONTEXT_SIZE).p(1)?;
    c.finish()?;
    // The blob starts with its integrity digest (a TPM2B_DIGEST of the context hash).
    crate::codec::Reader::new(blob).tpm2b(MAX_DIGEST).map_err(|_| Rc::SIZE)?;
    // No context was ever saved by this engine, so none can carry a valid integrity HMAC.
    Err(Rc::INTEGRITY.param(1))
}

/// TPM2_FlushContext(flushHandle).
/// Nothing is loaded, so a well-typed handle is `TPM_RC_HANDLE` (parameter 1).
pub fn flush_context(_tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let h = c.params.u32().p(1)?;
    if !matches!((h >> 24) as u8, ht::HMAC_SESSION | ht::POLICY_SESSION | ht::TRANSIENT) {
        return Err(Rc::VALUE.param(1));
    }
    c.finish()?;
    Err(Rc::HANDLE.param(1))
}
