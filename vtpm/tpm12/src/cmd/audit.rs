//! Audit (Part 1 §11, Part 3 §8): TPM_SetOrdinalAuditStatus, TPM_GetAuditDigest,
//! TPM_GetAuditDigestSigned, and the audit of every successful command whose ordinal is
//! audited ([`record`], called by the dispatcher).
//!
//! Audit generation (Part 3 §8.1): when an audited command returns TPM_SUCCESS, and the
//! audit digest is all zeros (no audit session open), the audit monotonic counter is
//! incremented; then `auditDigest = SHA-1(auditDigest ‖ TPM_AUDIT_EVENT_IN)` with the
//! command's inParamDigest, and `auditDigest = SHA-1(auditDigest ‖ TPM_AUDIT_EVENT_OUT)`
//! with its outParamDigest, each carrying the counter value. Failed commands are not
//! audited (as libtpms). Corner cases as the spec: TPM_SaveState is audited (input only)
//! before it saves, so the saved digest includes it; TPM_SetOrdinalAuditStatus is audited
//! according to the status before it ran. Inside an encrypted transport session the
//! digests cover only the ordinal (in) and return code and ordinal (out).

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::Writer;
use crate::constants::rc::Rc;
use crate::constants::{key_usage, ord, tag};
use crate::crypto::{Digest, sha1};
use crate::dispatch::is_supported;
use crate::frame::{Command, OrdinalEntry, Response, check, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::SetOrdinalAuditStatus, set_ordinal_audit_status, tags::AUTH1, 0, check::ALL),
    OrdinalEntry::new(ord::GetAuditDigest, get_audit_digest, tags::RQU, 0, check::ALLOW_NO_OWNER),
    OrdinalEntry::new(ord::GetAuditDigestSigned, get_audit_digest_signed, tags::RQU_AUTH1, 1, check::ALL),
];

/// `TPM_TAG_AUDIT_EVENT_IN` (Part 2 §8.1).
const TAG_AUDIT_EVENT_IN: u16 = 0x0012;
/// `TPM_TAG_AUDIT_EVENT_OUT` (Part 2 §8.2).
const TAG_AUDIT_EVENT_OUT: u16 = 0x0013;

/// True if `ordinal` may be audited: implemented here (and enabled), and not one of the
/// commands that read the audit digest (Part 1 §11: they are never audited).
pub fn auditable(tpm: &Tpm, ordinal: u32) -> bool {
    !matches!(ordinal, ord::GetAuditDigest | ord::GetAuditDigestSigned) && is_supported(ordinal, tpm.options.maintcmds)
}

/// True if `ordinal` is audited now.
pub fn is_audited(tpm: &Tpm, ordinal: u32) -> bool {
    tpm.perm.data.audit.is_audited(ordinal)
}

/// `auditMonotonicCounter` as a public `TPM_COUNTER_VALUE` (label all zeros).
fn encode_counter(tpm: &Tpm, w: &mut Writer) {
    w.u16(tag::COUNTER_VALUE).bytes(&[0; 4]).u32(tpm.perm.data.audit.counter);
}

/// Opens an audit session if none is (counter + 1: permanent state changes) and extends
/// the digest with `TPM_AUDIT_EVENT_IN { inputParms }`.
pub fn extend_in(tpm: &mut Tpm, input_parms: &Digest) {
    if tpm.vol.stclear_data.audit_digest == [0; 20] {
        let a = &mut tpm.perm.data.audit;
        a.counter = a.counter.wrapping_add(1);
        tpm.mark_state_changed();
    }
    let mut e = Writer::new();
    e.u16(TAG_AUDIT_EVENT_IN).bytes(input_parms);
    encode_counter(tpm, &mut e);
    let d = &mut tpm.vol.stclear_data.audit_digest;
    *d = sha1(&[&d[..], e.as_slice()]);
}

/// Extends the digest with `TPM_AUDIT_EVENT_OUT { outputParms }`.
pub fn extend_out(tpm: &mut Tpm, output_parms: &Digest) {
    let mut e = Writer::new();
    e.u16(TAG_AUDIT_EVENT_OUT).bytes(output_parms);
    encode_counter(tpm, &mut e);
    let d = &mut tpm.vol.stclear_data.audit_digest;
    *d = sha1(&[&d[..], e.as_slice()]);
}

/// What an audit event covers: the HMAC digests of the command, or, for a command wrapped
/// in an encrypted transport session, only SHA-1(ordinal) and SHA-1(TPM_SUCCESS ‖ ordinal).
pub fn event_digests(cmd: &Command<'_>, resp: &Response, transport_encrypted: bool) -> (Digest, Digest) {
    if transport_encrypted {
        let o = cmd.ordinal.to_be_bytes();
        (sha1(&[&o]), sha1(&[&Rc::SUCCESS.0.to_be_bytes(), &o]))
    } else {
        (cmd.in_param_digest(), resp.out_param_digest(Rc::SUCCESS, cmd.ordinal))
    }
}

/// Audits a command that succeeded (the dispatcher calls this when the ordinal was audited
/// as the command started; TPM_SaveState is audited before it runs, input only).
pub fn record(tpm: &mut Tpm, cmd: &Command<'_>, resp: &Response, transport_encrypted: bool) {
    let (input, output) = cmd.audit_digests.unwrap_or_else(|| event_digests(cmd, resp, transport_encrypted));
    extend_in(tpm, &input);
    extend_out(tpm, &output);
}

/// The audited ordinals from `start` on as the `UINT32[]` of `ordList`.
fn ord_list(tpm: &Tpm, start: u32) -> Vec<u8> {
    tpm.perm.data.audit.list(start).flat_map(u32::to_be_bytes).collect()
}

/// TPM_SetOrdinalAuditStatus (Part 3 §8.5): owner-authorized; an ordinal that cannot be
/// audited is `TPM_BAD_PARAMETER` when switched on, one without an audit flag (above 255
/// and not a TSC ordinal) `TPM_BADINDEX`.
pub fn set_ordinal_audit_status(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let ordinal = cmd.params.u32()?;
    let state = cmd.params.bool()?;
    cmd.params.finish()?;
    crate::auth::check_owner(tpm, cmd, 0)?;
    if state && !auditable(tpm, ordinal) {
        return Err(Rc::BAD_PARAMETER);
    }
    if tpm.perm.data.audit.set(ordinal, state)? {
        tpm.mark_state_changed();
    }
    Ok(())
}

/// TPM_GetAuditDigest (Part 3 §8.3): `counterValue, auditDigest, more, ordSize, ordList`.
/// The whole list always fits (at most 258 ordinals), so `more` is FALSE.
pub fn get_audit_digest(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let start = cmd.params.u32()?;
    cmd.params.finish()?;
    encode_counter(tpm, &mut resp.params);
    resp.params.bytes(&tpm.vol.stclear_data.audit_digest).bool(false);
    resp.params.sized32(&ord_list(tpm, start));
    Ok(())
}

/// TPM_GetAuditDigestSigned (Part 3 §8.4): signs SHA-1 of `TPM_SIGN_INFO { "ADIG",
/// antiReplay, auditDigest ‖ counterValue ‖ ordinalDigest }` (ordinalDigest = SHA-1 of the
/// full audited-ordinal list) with a signing, legacy or identity key; with closeAudit (an
/// identity key only, else `TPM_INVALID_KEYUSAGE`) the audit digest is then zeroed.
/// Returns `counterValue, auditDigest, ordinalDigest, sig` — the digest that was signed
/// (libtpms returns the zeroed one after a close, which the signature does not cover).
pub fn get_audit_digest_signed(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let key_handle = cmd.params.u32()?;
    let close_audit = cmd.params.bool()?;
    let anti_replay: Digest = cmd.params.array()?;
    cmd.params.finish()?;
    let key = super::sign::signing_key(tpm, cmd, 0, key_handle)
        .map_err(|rc| if rc == Rc::INAPPROPRIATE_SIG { Rc::INVALID_KEYUSAGE } else { rc })?;
    let ordinal_digest = sha1(&[&ord_list(tpm, 0)]);
    let audit_digest = tpm.vol.stclear_data.audit_digest;
    let mut counter = Writer::new();
    encode_counter(tpm, &mut counter);
    let mut info = Writer::new();
    info.u16(tag::SIGNINFO).bytes(b"ADIG").bytes(&anti_replay);
    info.u32((20 + counter.len() + 20) as u32).bytes(&audit_digest).bytes(counter.as_slice()).bytes(&ordinal_digest);
    let sig = super::keys::rsa_ops::sign_sha1(&key.rsa, tpm.rng.as_mut(), &sha1(&[info.as_slice()]))?;
    if close_audit {
        if key.public.key_usage != key_usage::IDENTITY {
            return Err(Rc::INVALID_KEYUSAGE);
        }
        tpm.vol.stclear_data.audit_digest = [0; 20];
    }
    resp.params.bytes(counter.as_slice()).bytes(&audit_digest).bytes(&ordinal_digest).sized32(&sig);
    Ok(())
}
