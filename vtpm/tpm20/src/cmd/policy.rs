//! The enhanced-authorization commands (Part 3 §23) on a policy session: TPM2_PolicyPCR,
//! TPM2_PolicyAuthValue, TPM2_PolicyPassword, TPM2_PolicyCommandCode, TPM2_PolicyGetDigest,
//! TPM2_PolicyRestart. Each extends `policyDigest' = H_authHash(policyDigest ‖ TPM_CC_x ‖
//! arguments)` and records what the authorization must then check.

use alloc::vec::Vec;

use crate::cmd::pcr::read_selection;
use crate::cmd::{Command, Response};
use crate::constants::{MAX_DIGEST, PCR_COUNT, cc};
use crate::rc::{At, Rc};
use crate::session::Session;
use crate::tpm::Tpm;

fn session<'t>(tpm: &'t mut Tpm, c: &Command<'_>) -> Result<&'t mut Session, Rc> {
    tpm.sessions.get_mut(&c.handles[0]).filter(|s| s.policy).ok_or(Rc::REFERENCE_H0)
}

fn extend(s: &mut Session, parts: &[&[u8]]) {
    let old = core::mem::take(&mut s.policy_digest);
    let mut all: Vec<&[u8]> = alloc::vec![&old];
    all.extend_from_slice(parts);
    s.policy_digest = s.hash.digest(&all);
}

/// TPM2_PolicyPCR(policySession, pcrDigest, pcrs): binds the policy to PCR values. A
/// pcrDigest given must match the current values (TPM_RC_VALUE); outside a trial
/// session the authorization then fails if any PCR changed since (pcrUpdateCounter).
pub fn policy_pcr(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let digest = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let start = c.params.clone();
    let before = c.params.remaining();
    let selections = read_selection(&mut c.params).p(2)?;
    let pcrs = start.rest().get(..before - c.params.remaining()).unwrap_or(&[]).to_vec();
    c.finish()?;
    let vol = tpm.vol.as_ref().ok_or(Rc::INITIALIZE)?;
    let counter = vol.pcr_update_counter;
    let mut values: Vec<&[u8]> = Vec::new();
    for s in &selections {
        for i in 0..PCR_COUNT {
            if s.select[i / 8] & (1 << (i % 8)) != 0
                && let Some(v) = vol.pcrs.get(s.hash, i)
            {
                values.push(v);
            }
        }
    }
    let hash = tpm.sessions.get(&c.handles[0]).filter(|s| s.policy).ok_or(Rc::REFERENCE_H0)?.hash;
    let current = hash.digest(&values);
    let vol_digest = current.clone();
    let s = session(tpm, c)?;
    let digest = if s.trial && !digest.is_empty() {
        digest.to_vec()
    } else {
        if !digest.is_empty() && !crate::crypto::ct_eq(digest, &vol_digest) {
            return Err(Rc::VALUE.param(1));
        }
        vol_digest
    };
    if !s.trial {
        if s.pcr_counter.is_some_and(|n| n != counter) {
            return Err(Rc::PCR_CHANGED);
        }
        s.pcr_counter = Some(counter);
    }
    extend(s, &[&cc::POLICY_PCR.to_be_bytes(), &pcrs, &digest]);
    Ok(())
}

/// TPM2_PolicyAuthValue(policySession): the authorization HMAC includes the authValue.
pub fn policy_auth_value(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let s = session(tpm, c)?;
    extend(s, &[&cc::POLICY_AUTH_VALUE.to_be_bytes()]);
    s.auth_value_needed = true;
    s.password_needed = false;
    Ok(())
}

/// TPM2_PolicyPassword(policySession): the authorization carries the authValue in clear.
/// It extends the digest as TPM2_PolicyAuthValue does (Part 3 §23.18).
pub fn policy_password(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let s = session(tpm, c)?;
    extend(s, &[&cc::POLICY_AUTH_VALUE.to_be_bytes()]);
    s.password_needed = true;
    s.auth_value_needed = false;
    Ok(())
}

/// TPM2_PolicyCommandCode(policySession, code): the policy authorizes only `code`.
pub fn policy_command_code(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let code = c.params.u32().p(1)?;
    c.finish()?;
    if crate::cmd::find(code).is_none() {
        return Err(Rc::POLICY_CC.param(1));
    }
    let s = session(tpm, c)?;
    if s.command_code.is_some_and(|x| x != code) {
        return Err(Rc::VALUE.param(1));
    }
    s.command_code = Some(code);
    extend(s, &[&cc::POLICY_COMMAND_CODE.to_be_bytes(), &code.to_be_bytes()]);
    Ok(())
}

/// TPM2_PolicyGetDigest(policySession) → policyDigest.
pub fn policy_get_digest(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let s = session(tpm, c)?;
    resp.params.tpm2b(&s.policy_digest);
    Ok(())
}

/// TPM2_PolicyRestart(sessionHandle): the policy starts anew.
pub fn policy_restart(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    session(tpm, c)?.reset_policy();
    Ok(())
}
