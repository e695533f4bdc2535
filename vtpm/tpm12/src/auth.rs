//! Authorization: OIAP/OSAP HMAC checks, ADIP decryption of new secrets,
//! response authorization, and dictionary-attack (DA) lockout (Part 1 §13, §14, §19.3).
//!
//! Handlers call [`check`] (or [`check_owner`]) once per trailer after parsing
//! their parameters; the dispatcher then calls [`finish_response`] on success or
//! [`on_error`] on failure. Secrets are compared in constant time.
//!
//! HMACs (Part 1 §13.2): `inAuth = HMAC(key, inParamDigest ‖ nonceEven ‖ nonceOdd
//! ‖ continueAuthSession)` and `resAuth = HMAC(key, outParamDigest ‖ nonceEven' ‖
//! nonceOdd ‖ continueAuthSession)`, where `key` is the entity's usage secret
//! (OIAP) or the session's shared secret (OSAP) and `nonceEven'` is the fresh
//! nonce sent back. A session looked up by a command that then fails is
//! terminated (except on `TPM_DEFEND_LOCK_RUNNING`), as libtpms does.
//!
//! DA lockout: every HMAC mismatch counts; the policy (threshold, doubling lockout,
//! decay) is in [`crate::state::da`]. The state is permanent (in the image, so a
//! restart does not reset it); TPM_ResetLockValue and owner clear reset it.

use alloc::vec::Vec;

use crate::Tpm;
use crate::constants::rc::Rc;
use crate::crypto::{Digest, Secret, ct_eq, hmac_sha1, sha1};
use crate::frame::{Command, Response};

use crate::state::sessions::{AuthEntity, Session, SessionKind};

pub use crate::state::da::{DA_BASE_LOCKOUT_S, DA_DECAY_S, DA_MAX_LOCKOUT_S, DA_THRESHOLD, DaState};

/// What TPM_GetCapability(TPM_CAP_DA_LOGIC) reports (`TPM_DA_INFO`, Part 2 §21.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DaInfo {
    /// `state`: TPM_DA_STATE_INACTIVE (0) or TPM_DA_STATE_ACTIVE (1).
    pub active: bool,
    /// `currentCount`: failures counted now.
    pub current_count: u16,
    /// `thresholdCount`: failures that trigger the action.
    pub threshold_count: u16,
    /// `actionAtThreshold.actions` (`TPM_DA_ACTION_*` bits).
    pub actions: u32,
    /// `actionDependValue`: remaining lockout time (seconds) while active.
    pub action_depend_value: u32,
}

/// `TPM_DA_ACTION_TIMEOUT` (Part 2 §21.10).
const DA_ACTION_TIMEOUT: u32 = 0x0000_0001;

/// The DA state for `TPM_CAP_DA_LOGIC` (the engine does not distinguish entity types).
pub fn da_info(tpm: &mut Tpm) -> DaInfo {
    let now = decay(tpm);
    let remaining = tpm.da.remaining_us(now);
    DaInfo {
        active: remaining > 0,
        current_count: tpm.da.failures,
        threshold_count: DA_THRESHOLD,
        actions: DA_ACTION_TIMEOUT,
        action_depend_value: u32::try_from(remaining.div_ceil(1_000_000)).unwrap_or(u32::MAX),
    }
}

/// Applies DA decay (see [`crate::state::da`]) and returns the clock reading used.
/// A forgiven failure changes permanent state.
fn decay(tpm: &mut Tpm) -> u64 {
    let now = tpm.clock.now_us();
    if tpm.da.decay(now) {
        tpm.mark_state_changed();
    }
    now
}

/// Counts one authorization failure and starts or extends the lockout (permanent state
/// changes: the count is in the image).
pub fn record_failure(tpm: &mut Tpm) {
    let now = tpm.clock.now_us();
    tpm.da.fail(now);
    tpm.mark_state_changed();
}

/// Clears the DA state (TPM_ResetLockValue, owner clear).
pub fn reset_lockout(tpm: &mut Tpm) {
    if !tpm.da.is_clear(tpm.clock.now_us()) {
        tpm.mark_state_changed();
    }
    tpm.da = DaState::default();
}

fn fail_code(index: usize) -> Rc {
    if index == 0 { Rc::AUTHFAIL } else { Rc::AUTH2FAIL }
}

/// Verifies trailer `index` (0 or 1) of `cmd` against `secret`, the usage
/// secret of `entity`. Errors: `TPM_AUTHFAIL` / `TPM_AUTH2FAIL`,
/// `TPM_INVALID_AUTHHANDLE`.
pub fn check(
    tpm: &mut Tpm,
    cmd: &mut Command<'_>,
    index: usize,
    entity: AuthEntity,
    secret: &Secret,
) -> Result<(), Rc> {
    check_failing_with(tpm, cmd, index, entity, secret, fail_code(index))
}

/// [`check`], but a failed or missing authorization is `fail` whatever the trailer's
/// position: for commands whose owner trailer comes last and whose codes libtpms fixes
/// per entity (TPM_MakeIdentity: owner `TPM_AUTH2FAIL`; TPM_ActivateIdentity: owner
/// `TPM_AUTHFAIL`, identity key `TPM_AUTH2FAIL`).
pub fn check_failing_with(
    tpm: &mut Tpm,
    cmd: &mut Command<'_>,
    index: usize,
    entity: AuthEntity,
    secret: &Secret,
    fail: Rc,
) -> Result<(), Rc> {
    let Some(a) = cmd.auth.get(index).and_then(|a| a.clone()) else {
        return Err(fail);
    };
    let Some(session) = tpm.sessions.get(a.handle) else {
        return Err(Rc::INVALID_AUTHHANDLE);
    };
    cmd.auth_state.looked_up[index] = true;
    let key = match &session.kind {
        SessionKind::Oiap => secret.clone(),
        SessionKind::Osap { entity: bound, shared_secret, .. } => {
            if *bound != entity {
                return Err(fail);
            }
            // libtpms answers TPM_AUTHFAIL here for either trailer (its digest compare).
            if !bound_to_current(tpm, session) {
                return Err(Rc::AUTHFAIL);
            }
            shared_secret.clone()
        }
    };
    let digest = cmd.in_param_digest();
    let expected = hmac_sha1(&key.0, &[&digest, &session.nonce_even, &a.nonce_odd, &[u8::from(a.continue_session)]]);
    if !Secret(expected).ct_eq(&a.auth) {
        record_failure(tpm);
        return Err(fail);
    }
    cmd.auth_state.keys[index] = Some(key);
    Ok(())
}

/// [`check`] against the owner secret (`TPM_AUTHFAIL` when there is no owner).
pub fn check_owner(tpm: &mut Tpm, cmd: &mut Command<'_>, index: usize) -> Result<(), Rc> {
    if !tpm.perm.data.owner_installed {
        return Err(fail_code(index));
    }
    let secret = tpm.perm.data.owner_auth.clone();
    check(tpm, cmd, index, AuthEntity::Owner, &secret)
}

/// Requires trailer `index` to name an OSAP session (a command that decrypts a new secret
/// with ADIP): no session is `TPM_INVALID_AUTHHANDLE`, an OIAP one `TPM_BAD_MODE` (as
/// libtpms); either way the session counts as looked up, so the failure ends it.
pub fn require_osap(tpm: &Tpm, cmd: &mut Command<'_>, index: usize) -> Result<(), Rc> {
    let handle = cmd.auth.get(index).and_then(|a| a.as_ref()).map(|a| a.handle).ok_or(Rc::INVALID_AUTHHANDLE)?;
    let session = tpm.sessions.get(handle).ok_or(Rc::INVALID_AUTHHANDLE)?;
    if let Some(l) = cmd.auth_state.looked_up.get_mut(index) {
        *l = true;
    }
    match session.kind {
        SessionKind::Osap { .. } => Ok(()),
        SessionKind::Oiap => Err(Rc::BAD_MODE),
    }
}

/// True if trailer `index` names an OIAP session (some commands insist on it).
pub fn is_oiap(tpm: &Tpm, cmd: &Command<'_>, index: usize) -> bool {
    cmd.auth
        .get(index)
        .and_then(|a| a.as_ref())
        .and_then(|a| tpm.sessions.get(a.handle))
        .is_some_and(|s| s.kind == SessionKind::Oiap)
}

/// True if the OSAP session `s` is still bound to its entity as it is now: the entity
/// exists and its [`entity_digest`] equals the one taken at TPM_OSAP (libtpms compares
/// `entityDigest` the same way and answers `TPM_AUTHFAIL`). OIAP sessions: false.
fn bound_to_current(tpm: &Tpm, s: &Session) -> bool {
    let SessionKind::Osap { entity, entity_digest: Some(bound), .. } = &s.kind else {
        return false;
    };
    entity_digest(tpm, *entity).is_ok_and(|now| ct_eq(&now, bound))
}

fn adip(tpm: &Tpm, cmd: &Command<'_>, index: usize, enc_auth: &Digest, odd: bool) -> Result<Secret, Rc> {
    let a = cmd.auth.get(index).and_then(|a| a.as_ref()).ok_or(Rc::INVALID_AUTHHANDLE)?;
    let s = tpm.sessions.get(a.handle).ok_or(Rc::INVALID_AUTHHANDLE)?;
    let SessionKind::Osap { shared_secret, .. } = &s.kind else {
        return Err(Rc::INVALID_AUTHHANDLE);
    };
    if !bound_to_current(tpm, s) {
        return Err(Rc::AUTHFAIL);
    }
    let nonce = if odd { &a.nonce_odd } else { &s.nonce_even };
    let pad = sha1(&[&shared_secret.0, nonce]);
    let mut out = Secret::default();
    for (o, (e, p)) in out.0.iter_mut().zip(enc_auth.iter().zip(pad.iter())) {
        *o = e ^ p;
    }
    Ok(out)
}

/// ADIP: decrypts an `encAuth` parameter with the OSAP shared secret of trailer
/// `index` (XOR with SHA-1(sharedSecret ‖ authLastNonceEven)). Fails with
/// `TPM_INVALID_AUTHHANDLE` if the trailer is not an OSAP session.
pub fn decrypt_adip(tpm: &mut Tpm, cmd: &mut Command<'_>, index: usize, enc_auth: &Digest) -> Result<Secret, Rc> {
    adip(tpm, cmd, index, enc_auth, false)
}

/// ADIP for a second new secret in the same command (CreateWrapKey's
/// migrationAuth): XOR with SHA-1(sharedSecret ‖ nonceOdd).
pub fn decrypt_adip_odd(tpm: &mut Tpm, cmd: &mut Command<'_>, index: usize, enc_auth: &Digest) -> Result<Secret, Rc> {
    adip(tpm, cmd, index, enc_auth, true)
}

/// Called after a successful handler: returns the response auth trailers
/// (`nonceEven, continueAuthSession, resAuth` per session) and updates or
/// terminates sessions. Empty for RQU commands. A trailer the handler did not
/// verify is `TPM_AUTHFAIL`: no authorized command succeeds unchecked.
pub fn finish_response(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &Response) -> Result<Vec<u8>, Rc> {
    let mut out = Vec::new();
    if cmd.auth_count() == 0 {
        return Ok(out);
    }
    let skip = cmd.transport_index;
    let sessions = (0..cmd.auth_count()).filter(|i| Some(*i) != skip);
    if sessions.clone().any(|i| cmd.auth_state.keys[i].is_none()) || (skip.is_some() && cmd.transport_trailer.is_none())
    {
        return Err(Rc::AUTHFAIL);
    }
    let out_digest = resp.out_param_digest(Rc::SUCCESS, cmd.ordinal);
    for i in sessions {
        let (Some(a), Some(key)) = (cmd.auth[i].clone(), cmd.auth_state.keys[i].take()) else {
            continue;
        };
        let nonce_even = tpm.nonce();
        let alive = tpm.sessions.get(a.handle).is_some();
        let cont = a.continue_session && alive && !cmd.force_end_sessions;
        let res_auth = hmac_sha1(&key.0, &[&out_digest, &nonce_even, &a.nonce_odd, &[u8::from(cont)]]);
        if cont {
            if let Some(s) = tpm.sessions.get_mut(a.handle) {
                s.nonce_even = nonce_even;
            }
        } else {
            tpm.sessions.terminate(a.handle);
        }
        out.extend_from_slice(&nonce_even);
        out.push(u8::from(cont));
        out.extend_from_slice(&res_auth);
    }
    // The transport session's trailer comes last (it is the last trailer of the request).
    if let Some(t) = cmd.transport_trailer.take() {
        out.extend_from_slice(&t);
    }
    Ok(out)
}

/// Called when a command fails: terminates the sessions the command looked up,
/// except when the failure is the DA lockout itself.
pub fn on_error(tpm: &mut Tpm, cmd: &mut Command<'_>, rc: Rc) {
    if rc == Rc::DEFEND_LOCK_RUNNING {
        return;
    }
    for i in 0..2 {
        if cmd.auth_state.looked_up[i]
            && let Some(a) = &cmd.auth[i]
        {
            tpm.sessions.terminate(a.handle);
        }
    }
}

/// `TPM_DEFEND_LOCK_RUNNING` while the DA lockout is active.
pub fn check_lockout(tpm: &mut Tpm) -> Result<(), Rc> {
    let now = decay(tpm);
    if tpm.da.locked(now) { Err(Rc::DEFEND_LOCK_RUNNING) } else { Ok(()) }
}

/// The current usage secret of an entity (for OSAP's shared secret).
pub fn entity_secret(tpm: &Tpm, entity: AuthEntity) -> Result<Secret, Rc> {
    let d = &tpm.perm.data;
    match entity {
        AuthEntity::Owner => {
            if d.owner_installed {
                Ok(d.owner_auth.clone())
            } else {
                Err(Rc::NOSRK)
            }
        }
        AuthEntity::Operator => {
            if tpm.perm.flags.operator {
                Ok(d.operator_auth.clone())
            } else {
                Err(Rc::NOOPERATOR)
            }
        }
        AuthEntity::Srk => d.srk.as_ref().map(|k| k.usage_auth.clone()).ok_or(Rc::NOSRK),
        AuthEntity::Key(h) => crate::cmd::keys::usage_auth(tpm, h),
        AuthEntity::Nv(i) => d.nv.iter().find(|s| s.index == i).map(|s| s.auth.clone()).ok_or(Rc::BADINDEX),
        AuthEntity::Counter(c) => {
            d.counters.iter().find(|x| x.handle == c).map(|x| x.auth.clone()).ok_or(Rc::BAD_COUNTER)
        }
        AuthEntity::Data => Err(Rc::WRONG_ENTITYTYPE),
    }
}

/// The digest an OSAP session is bound to (see `SessionKind::Osap::entity_digest`): owner,
/// operator and SRK: SHA-1 of the current usage secret; a key: SHA-1 of its public
/// structure and handle; an NV space: SHA-1 of its public area (index, PCR infos,
/// attributes, size) and authValue; a counter: SHA-1 of handle, label and auth. Errors as
/// for the entity's lookup when it no longer exists.
pub fn entity_digest(tpm: &Tpm, entity: AuthEntity) -> Result<Digest, Rc> {
    let d = &tpm.perm.data;
    Ok(match entity {
        AuthEntity::Owner | AuthEntity::Operator | AuthEntity::Srk => sha1(&[&entity_secret(tpm, entity)?.0]),
        AuthEntity::Key(h) => {
            let rec = crate::cmd::keys::record(tpm, h).ok_or(Rc::INVALID_KEYHANDLE)?;
            sha1(&[&rec.public_blob, &h.to_be_bytes()])
        }
        AuthEntity::Nv(i) => {
            let s = d.nv.iter().find(|s| s.index == i).ok_or(Rc::BADINDEX)?;
            let size = u32::try_from(s.data.len()).unwrap_or(u32::MAX);
            sha1(&[
                &i.to_be_bytes(),
                &(s.pcr_info_read.len() as u32).to_be_bytes(),
                &s.pcr_info_read,
                &s.pcr_info_write,
                &s.attributes.to_be_bytes(),
                &size.to_be_bytes(),
                &s.auth.0,
            ])
        }
        AuthEntity::Counter(c) => {
            let x = d.counters.iter().find(|x| x.handle == c).ok_or(Rc::BAD_COUNTER)?;
            sha1(&[&c.to_be_bytes(), &x.label, &x.auth.0])
        }
        AuthEntity::Data => return Err(Rc::WRONG_ENTITYTYPE),
    })
}
