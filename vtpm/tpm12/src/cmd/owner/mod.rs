//! Ownership: TPM_TakeOwnership, OwnerClear, ForceClear, DisableOwnerClear,
//! DisableForceClear, SetOwnerInstall, OwnerSetDisable, ChangeAuthOwner and
//! ResetLockValue (Part 3 §5.6, §6, §7.5, §7.1, §17.2). The endorsement-key
//! commands are in [`ek`].

pub mod ek;

use crate::Tpm;
use crate::codec::Writer;
use crate::constants::rc::Rc;
use crate::constants::{et, key_usage, kh, ord, pid, scheme};
use crate::crypto::{Digest, RsaKey, Secret};
use crate::frame::{Command, OrdinalEntry, Response, check, tags};
use crate::state::{KeyRecord, PermanentFlags};

use super::keys::blob::TpmKey;
use super::keys::rsa_ops;
use crate::auth;
use crate::state::sessions::AuthEntity;

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::TakeOwnership, take_ownership, tags::AUTH1, 0, check::ALLOW_NO_OWNER),
    OrdinalEntry::new(ord::OwnerClear, owner_clear, tags::AUTH1, 0, check::ALL),
    OrdinalEntry::new(ord::ForceClear, force_clear, tags::RQU, 0, check::NOT_SHUTDOWN.union(check::NO_LOCKOUT)),
    OrdinalEntry::new(ord::DisableOwnerClear, disable_owner_clear, tags::AUTH1, 0, check::ALL),
    OrdinalEntry::new(
        ord::DisableForceClear,
        disable_force_clear,
        tags::RQU,
        0,
        check::NOT_SHUTDOWN.union(check::NO_LOCKOUT),
    ),
    OrdinalEntry::new(ord::SetOwnerInstall, set_owner_install, tags::RQU, 0, check::ALLOW_NO_OWNER),
    OrdinalEntry::new(
        ord::OwnerSetDisable,
        owner_set_disable,
        tags::AUTH1,
        0,
        check::NOT_SHUTDOWN.union(check::OWNER).union(check::NO_LOCKOUT),
    ),
    OrdinalEntry::new(
        ord::CreateEndorsementKeyPair,
        ek::create_endorsement_key_pair,
        tags::RQU,
        0,
        check::ALLOW_NO_OWNER,
    ),
    OrdinalEntry::new(ord::ReadPubek, ek::read_pubek, tags::RQU, 0, check::ALLOW_NO_OWNER),
    OrdinalEntry::new(ord::OwnerReadPubek, ek::owner_read_pubek, tags::AUTH1, 0, check::ALL),
    OrdinalEntry::new(ord::OwnerReadInternalPub, ek::owner_read_internal_pub, tags::AUTH1, 0, check::ALL),
    OrdinalEntry::new(ord::DisablePubekRead, ek::disable_pubek_read, tags::AUTH1, 0, check::ALL),
    OrdinalEntry::new(ord::ChangeAuthOwner, change_auth_owner, tags::AUTH1, 0, check::ALL),
    // ResetLockValue must work during the lockout it ends (Part 3 §5.6).
    OrdinalEntry::new(
        ord::ResetLockValue,
        reset_lock_value,
        tags::AUTH1,
        0,
        check::NOT_SHUTDOWN.union(check::ENABLED).union(check::ACTIVATED).union(check::OWNER),
    ),
];

/// SRK size (the interoperable TPM supports 2048 only).
pub const SRK_BITS: u32 = 2048;

/// Checks `srkParams` (TakeOwnership action 8).
fn check_srk_params(k: &TpmKey) -> Result<(), Rc> {
    if k.key_usage != key_usage::STORAGE || k.migratable() {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    let p = k.parms.rsa()?;
    if k.parms.enc_scheme != scheme::ES_RSAESOAEP_SHA1_MGF1
        || k.parms.sig_scheme != scheme::SS_NONE
        || p.key_length != SRK_BITS
        || p.num_primes != 2
    {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    super::keys::create::check_key_parms(k).map(|_| ())
}

/// Decrypts an OAEP "TCPA" blob with the EK; it must hold exactly 20 bytes.
fn decrypt_with_ek(tpm: &mut Tpm, ek: &RsaKey, blob: &[u8]) -> Result<Secret, Rc> {
    let plain = rsa_ops::oaep_decrypt(ek, tpm.rng.as_mut(), blob)?;
    let arr: [u8; 20] = plain.as_slice().try_into().map_err(|_| Rc::BAD_KEY_PROPERTY)?;
    Ok(Secret(arr))
}

/// TPM_TakeOwnership: `protocolID, encOwnerAuthSize, encOwnerAuth,
/// encSrkAuthSize, encSrkAuth, srkParams` in (AUTH1, OIAP, HMAC keyed with the
/// new owner secret); `srkPub` out.
pub fn take_ownership(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let protocol_id = cmd.params.u16()?;
    let enc_owner = cmd.params.sized32()?;
    let enc_srk = cmd.params.sized32()?;
    let srk_params = TpmKey::decode(&mut cmd.params)?;
    cmd.params.finish()?;
    if tpm.perm.data.owner_installed {
        return Err(Rc::OWNER_SET);
    }
    if !tpm.perm.flags.ownership {
        return Err(Rc::INSTALL_DISABLED);
    }
    let ek = tpm.perm.data.endorsement_key.clone().ok_or(Rc::NO_ENDORSEMENT)?;
    if !auth::is_oiap(tpm, cmd, 0) {
        return Err(Rc::AUTHFAIL);
    }
    if protocol_id != pid::OWNER {
        return Err(Rc::BAD_PARAMETER);
    }
    let owner_auth = decrypt_with_ek(tpm, &ek, enc_owner)?;
    auth::check(tpm, cmd, 0, AuthEntity::Owner, &owner_auth)?;
    check_srk_params(&srk_params)?;
    let srk_auth = decrypt_with_ek(tpm, &ek, enc_srk)?;
    let rsa = RsaKey::generate(tpm.rng.as_mut(), SRK_BITS as usize)?;
    let mut public = srk_params.without_enc_data();
    public.pub_key = rsa.modulus();
    let tpm_proof = Secret::random(tpm.rng.as_mut());
    let d = &mut tpm.perm.data;
    d.srk = Some(KeyRecord {
        public_blob: public.to_bytes(),
        rsa,
        usage_auth: srk_auth,
        migration_auth: tpm_proof.clone(),
    });
    d.owner_auth = owner_auth;
    d.owner_installed = true;
    d.context_key = Secret::random(tpm.rng.as_mut());
    tpm.perm.data.tpm_proof = tpm_proof;
    tpm.perm.flags.readPubek = false;
    tpm.mark_state_changed();
    public.encode(&mut resp.params);
    Ok(())
}

/// The clear both TPM_OwnerClear and TPM_ForceClear perform (Part 3 §6.2 actions 3–14).
pub fn clear_owner(tpm: &mut Tpm) {
    tpm.keys.clear();
    tpm.sessions.clear();
    super::context::invalidate_all(tpm);
    let d = &mut tpm.perm.data;
    d.owner_evict_keys.clear();
    d.auth_dir = [0; 20];
    d.owner_auth = Secret::default();
    d.owner_installed = false;
    d.srk = None;
    d.operator_auth = Secret::default();
    // Part 3 §6.1: ordinalAuditStatus back to the manufacturing defaults; the audit
    // counter is kept.
    d.audit.reset_status();
    d.context_key = Secret::random(tpm.rng.as_mut());
    tpm.perm.data.tpm_proof = Secret::random(tpm.rng.as_mut());
    tpm.vol.stany_data.context_nonce_session = [0; 20];
    tpm.vol.stany_data.context_count = 0;
    let sc = &mut tpm.vol.stclear_data;
    sc.count_id = None;
    sc.disable_reset_lock = false;
    tpm.rng.fill_bytes(&mut tpm.vol.stclear_data.context_nonce_key);
    let defaults = PermanentFlags::manufactured();
    let f = &mut tpm.perm.flags;
    f.disable = defaults.disable;
    f.deactivated = defaults.deactivated;
    f.readPubek = defaults.readPubek;
    f.disableOwnerClear = defaults.disableOwnerClear;
    f.disableFullDALogicInfo = defaults.disableFullDALogicInfo;
    f.allowMaintenance = defaults.allowMaintenance;
    f.readSRKPub = defaults.readSRKPub;
    f.ownership = true;
    f.operator = false;
    f.maintenanceDone = false;
    super::counter::owner_clear(tpm);
    super::nv::owner_clear(tpm);
    auth::reset_lockout(tpm);
    tpm.mark_state_changed();
}

/// TPM_OwnerClear (owner authorized; `TPM_CLEAR_DISABLED` after DisableOwnerClear).
pub fn owner_clear(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    auth::check_owner(tpm, cmd, 0)?;
    if tpm.perm.flags.disableOwnerClear {
        return Err(Rc::CLEAR_DISABLED);
    }
    clear_owner(tpm);
    cmd.force_end_sessions = true;
    Ok(())
}

/// TPM_ForceClear (physical presence; `TPM_CLEAR_DISABLED` after DisableForceClear).
pub fn force_clear(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    if !tpm.physical_presence() {
        return Err(Rc::BAD_PRESENCE);
    }
    if tpm.vol.stclear_flags.disableForceClear {
        return Err(Rc::CLEAR_DISABLED);
    }
    clear_owner(tpm);
    Ok(())
}

/// TPM_DisableOwnerClear: sets `disableOwnerClear` until the owner is cleared.
pub fn disable_owner_clear(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    auth::check_owner(tpm, cmd, 0)?;
    tpm.perm.flags.disableOwnerClear = true;
    tpm.mark_state_changed();
    Ok(())
}

/// TPM_DisableForceClear: sets `disableForceClear` until the next Startup(ST_CLEAR).
pub fn disable_force_clear(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    tpm.vol.stclear_flags.disableForceClear = true;
    Ok(())
}

/// TPM_SetOwnerInstall: physical presence sets `ownership` (while unowned).
pub fn set_owner_install(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let state = cmd.params.bool()?;
    cmd.params.finish()?;
    if tpm.perm.data.owner_installed {
        return Err(Rc::OWNER_SET);
    }
    if !tpm.physical_presence() {
        return Err(Rc::BAD_PRESENCE);
    }
    tpm.perm.flags.ownership = state;
    tpm.mark_state_changed();
    Ok(())
}

/// TPM_OwnerSetDisable: the owner sets `disable` (works while disabled).
pub fn owner_set_disable(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let state = cmd.params.bool()?;
    cmd.params.finish()?;
    auth::check_owner(tpm, cmd, 0)?;
    tpm.perm.flags.disable = state;
    tpm.mark_state_changed();
    Ok(())
}

/// TPM_ChangeAuthOwner: `protocolID, newAuth, entityType` in (AUTH1, OSAP
/// with the owner); changes the owner or SRK secret. The session ends.
pub fn change_auth_owner(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let protocol_id = cmd.params.u16()?;
    let enc_new: Digest = cmd.params.array()?;
    let entity_type = cmd.params.u16()?;
    cmd.params.finish()?;
    auth::check_owner(tpm, cmd, 0)?;
    if protocol_id != pid::ADCP {
        return Err(Rc::BAD_PARAMETER);
    }
    let new_auth = auth::decrypt_adip(tpm, cmd, 0, &enc_new)?;
    match entity_type {
        et::OWNER => {
            tpm.perm.data.owner_auth = new_auth;
            tpm.sessions.terminate_entity(AuthEntity::Owner);
        }
        et::SRK => {
            let srk = tpm.perm.data.srk.as_mut().ok_or(Rc::NOSRK)?;
            srk.usage_auth = new_auth;
            tpm.sessions.terminate_entity(AuthEntity::Srk);
            tpm.sessions.terminate_entity(AuthEntity::Key(kh::SRK));
        }
        _ => return Err(Rc::WRONG_ENTITYTYPE),
    }
    // Saved owner/SRK sessions die too (Part 3 §17.1: "active or saved"): their entity digest
    // no longer matches (LoadContext: TPM_RESOURCEMISSING, as libtpms), and the saved-context
    // list is dropped as owner clear does.
    tpm.sessions.saved_contexts_mut().clear();
    cmd.force_end_sessions = true;
    tpm.mark_state_changed();
    Ok(())
}

/// TPM_ResetLockValue: the owner ends the DA lockout. A failed attempt
/// disables the command until the next Startup(ST_CLEAR).
pub fn reset_lock_value(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    if tpm.vol.stclear_data.disable_reset_lock {
        return Err(Rc::AUTHFAIL);
    }
    if let Err(rc) = auth::check_owner(tpm, cmd, 0) {
        if rc == Rc::AUTHFAIL {
            tpm.vol.stclear_data.disable_reset_lock = true;
        }
        return Err(rc);
    }
    auth::reset_lockout(tpm);
    Ok(())
}

/// `TPM_PUBKEY` of a stored key's public blob.
pub fn pubkey_of(public_blob: &[u8]) -> Result<Writer, Rc> {
    let k = TpmKey::from_bytes(public_blob).map_err(|_| Rc::FAIL)?;
    let mut w = Writer::new();
    k.encode_pubkey(&mut w);
    Ok(w)
}
