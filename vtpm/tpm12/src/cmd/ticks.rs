//! Ticks: TPM_GetTicks and TPM_TickStampBlob (Part 3 §23).
//!
//! One tick is one microsecond of the injected clock since TPM_Init; the
//! tickNonce changes at every TPM_Init, so tick values from different power
//! cycles are never comparable (Part 1 "Tick Session").

use crate::Tpm;
use crate::codec::Writer;
use crate::constants::rc::Rc;
use crate::constants::{ord, tag};
use crate::crypto::{Digest, sha1};
use crate::frame::{Command, OrdinalEntry, Response, check, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::GetTicks, get_ticks, tags::RQU, 0, check::ALLOW_NO_OWNER),
    OrdinalEntry::new(ord::TickStampBlob, tick_stamp_blob, tags::RQU_AUTH1, 1, check::ALL),
];

/// `tickRate`: microseconds per tick.
pub const TICK_RATE_US: u16 = 1;

/// `TPM_CURRENT_TICKS` now.
pub fn encode_current_ticks(tpm: &mut Tpm, w: &mut Writer) {
    let ticks = tpm.current_ticks();
    w.u16(tag::CURRENT_TICKS).u64(ticks).u16(TICK_RATE_US).bytes(&tpm.vol.stany_data.tick_nonce);
}

/// TPM_GetTicks.
pub fn get_ticks(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    encode_current_ticks(tpm, &mut resp.params);
    Ok(())
}

/// TPM_TickStampBlob: signs SHA-1 of `TPM_SIGN_INFO { "TSTP", antiReplay,
/// digestToStamp ‖ TPM_CURRENT_TICKS }` with a loaded signing key.
pub fn tick_stamp_blob(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let key_handle = cmd.params.u32()?;
    let anti_replay: Digest = cmd.params.array()?;
    let digest_to_stamp: Digest = cmd.params.array()?;
    cmd.params.finish()?;
    let mut ticks = Writer::new();
    encode_current_ticks(tpm, &mut ticks);
    let mut info = Writer::new();
    info.u16(tag::SIGNINFO).bytes(b"TSTP").bytes(&anti_replay);
    info.u32((20 + ticks.len()) as u32).bytes(&digest_to_stamp).bytes(ticks.as_slice());
    let digest = sha1(&[info.as_slice()]);
    let sig = super::keys::sign_digest(tpm, cmd, 0, key_handle, &digest)?;
    resp.params.bytes(ticks.as_slice()).sized32(&sig);
    Ok(())
}
