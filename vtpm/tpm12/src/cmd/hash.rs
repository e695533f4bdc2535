//! The SHA-1 thread: TPM_SHA1Start, SHA1Update, SHA1Complete,
//! SHA1CompleteExtend (Part 3 §13.1–§13.4).
//!
//! Any other command ends the thread (the dispatcher calls [`end_thread_unless`]).

use crate::Tpm;
use crate::constants::rc::Rc;
use crate::constants::{NUM_PCRS, ord};
use crate::crypto::Sha1Context;
use crate::frame::{Command, OrdinalEntry, Response, check, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::SHA1Start, sha1_start, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::SHA1Update, sha1_update, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::SHA1Complete, sha1_complete, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::SHA1CompleteExtend, sha1_complete_extend, tags::RQU, 0, check::BASIC),
];

/// `maxNumBytes` reported by SHA1Start: bytes per SHA1Update (a multiple of 64).
pub const MAX_NUM_BYTES: u32 = 2048;

/// Ends the SHA-1 thread unless `ordinal` continues it.
pub fn end_thread_unless(tpm: &mut Tpm, ordinal: u32) {
    if !matches!(ordinal, ord::SHA1Update | ord::SHA1Complete | ord::SHA1CompleteExtend) {
        tpm.vol.sha1_thread = None;
    }
}

/// TPM_SHA1Start.
pub fn sha1_start(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    tpm.vol.sha1_thread = Some(Sha1Context::default());
    resp.params.u32(MAX_NUM_BYTES);
    Ok(())
}

/// TPM_SHA1Update: `numBytes` must be a multiple of 64 (`TPM_SHA_ERROR`).
pub fn sha1_update(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let data = cmd.params.sized32()?;
    cmd.params.finish()?;
    let Some(ctx) = tpm.vol.sha1_thread.as_mut() else {
        return Err(Rc::SHA_THREAD);
    };
    if data.len() % 64 != 0 || data.len() > MAX_NUM_BYTES as usize {
        tpm.vol.sha1_thread = None;
        return Err(Rc::SHA_ERROR);
    }
    ctx.update(data);
    Ok(())
}

fn complete(tpm: &mut Tpm, data: &[u8]) -> Result<crate::crypto::Digest, Rc> {
    let Some(mut ctx) = tpm.vol.sha1_thread.take() else {
        return Err(Rc::SHA_THREAD);
    };
    if data.len() > 64 {
        return Err(Rc::SHA_ERROR);
    }
    ctx.update(data);
    Ok(ctx.finish())
}

/// TPM_SHA1Complete: up to 64 final bytes; returns the digest.
pub fn sha1_complete(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let data = cmd.params.sized32()?;
    cmd.params.finish()?;
    let d = complete(tpm, data)?;
    resp.params.bytes(&d);
    Ok(())
}

/// TPM_SHA1CompleteExtend: completes and extends the digest into a PCR.
pub fn sha1_complete_extend(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let index = cmd.params.u32()? as usize;
    let data = cmd.params.sized32()?;
    cmd.params.finish()?;
    if index >= NUM_PCRS {
        return Err(Rc::BADINDEX);
    }
    if super::pcr::attributes(index).extend_local & super::pcr::locality_bit(cmd.locality) == 0 {
        return Err(Rc::BAD_LOCALITY);
    }
    let d = complete(tpm, data)?;
    let pcr = super::pcr::extend_pcr(tpm, cmd.locality, index, &d)?;
    resp.params.bytes(&d).bytes(&pcr);
    Ok(())
}
