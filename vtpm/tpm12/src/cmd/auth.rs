//! Authorization: OIAP/OSAP HMAC checks, ADIP decryption of new secrets,
//! response authorization, and dictionary-attack (DA) lockout.
//!
//! Handlers call [`check`] (or [`check_owner`]) once per trailer after parsing
//! their parameters; the dispatcher then calls [`finish_response`] on success or
//! [`on_error`] on failure. Secrets are compared in constant time.
//!
//! SKELETON: the bodies are filled by the session/auth work; until then every
//! check fails with `TPM_AUTHFAIL`, so no authorized command can succeed.

use alloc::vec::Vec;

use crate::Tpm;
use crate::constants::rc::Rc;
use crate::crypto::{Digest, Secret};
use crate::dispatch::{Command, Response};

/// What an authorization is for (OSAP sessions are bound to one entity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthEntity {
    /// The TPM owner (`TPM_ET_OWNER`, `TPM_KH_OWNER`).
    Owner,
    /// The operator (`TPM_ET_OPERATOR`).
    Operator,
    /// The SRK (`TPM_ET_SRK`).
    Srk,
    /// A loaded key (`TPM_ET_KEYHANDLE`).
    Key(u32),
    /// An NV space (`TPM_ET_NV`) by index.
    Nv(u32),
    /// A monotonic counter (`TPM_ET_COUNTER`) by handle.
    Counter(u32),
    /// Sealed or bound data (`TPM_ET_DATA`, usage auth of a blob).
    Data,
}

/// Per-command bookkeeping between [`check`] and [`finish_response`].
#[derive(Debug, Default)]
pub struct CommandAuth {}

/// Dictionary-attack mitigation state.
#[derive(Debug, Default)]
pub struct DaState {}

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

/// The DA state for `TPM_CAP_DA_LOGIC` (the engine does not distinguish entity types).
pub fn da_info(_tpm: &Tpm) -> DaInfo {
    DaInfo::default()
}

/// Verifies trailer `index` (0 or 1) of `cmd` against `secret`, the usage
/// secret of `entity`. Errors: `TPM_AUTHFAIL` / `TPM_AUTH2FAIL`,
/// `TPM_INVALID_AUTHHANDLE`, `TPM_DEFEND_LOCK_RUNNING`, `TPM_BAD_MODE`…
pub fn check(
    _tpm: &mut Tpm,
    _cmd: &mut Command<'_>,
    _index: usize,
    _entity: AuthEntity,
    _secret: &Secret,
) -> Result<(), Rc> {
    Err(Rc::AUTHFAIL)
}

/// [`check`] against the owner secret.
pub fn check_owner(tpm: &mut Tpm, cmd: &mut Command<'_>, index: usize) -> Result<(), Rc> {
    let secret = tpm.perm.data.owner_auth.clone();
    check(tpm, cmd, index, AuthEntity::Owner, &secret)
}

/// ADIP: decrypts an `encAuth` parameter with the OSAP shared secret of trailer
/// `index` (XOR with SHA-1(sharedSecret ‖ nonceEven)). Fails with
/// `TPM_INVALID_AUTHHANDLE`/`TPM_BAD_MODE` if the trailer is not an OSAP session.
pub fn decrypt_adip(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _index: usize, _enc_auth: &Digest) -> Result<Secret, Rc> {
    Err(Rc::AUTHFAIL)
}

/// Called after a successful handler: returns the response auth trailers
/// (`nonceEven, continueAuthSession, resAuth` per session) and updates or
/// terminates sessions. Empty for RQU commands.
pub fn finish_response(_tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &Response) -> Result<Vec<u8>, Rc> {
    if cmd.auth_count() == 0 { Ok(Vec::new()) } else { Err(Rc::AUTHFAIL) }
}

/// Called when a command fails: terminates the command's sessions as the spec requires.
pub fn on_error(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _rc: Rc) {}

/// `TPM_DEFEND_LOCK_RUNNING` while the DA lockout is active.
pub fn check_lockout(_tpm: &mut Tpm) -> Result<(), Rc> {
    Ok(())
}
