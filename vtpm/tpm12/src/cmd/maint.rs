//! Maintenance ordinals (Part 3 §12), present only with the `maintcmds` option
//! (otherwise `TPM_BAD_ORDINAL`, as the C vtpm).
//!
//! Implemented: TPM_LoadManuMaintPub, TPM_ReadManuMaintPub,
//! TPM_KillMaintenanceFeature. Not implemented (answer `TPM_BAD_ORDINAL` even
//! with `maintcmds`): TPM_CreateMaintenanceArchive, TPM_LoadMaintenanceArchive.

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::crypto::{Digest, sha1};
use crate::frame::{Command, OrdinalEntry, Response, check, flags, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::CreateMaintenanceArchive, unimplemented, tags::AUTH1, 0, check::ALL)
        .with(flags::STUB.union(flags::MAINT)),
    OrdinalEntry::new(ord::LoadMaintenanceArchive, unimplemented, tags::AUTH1, 0, check::ALL)
        .with(flags::STUB.union(flags::MAINT)),
    OrdinalEntry::new(ord::KillMaintenanceFeature, kill_maintenance_feature, tags::AUTH1, 0, check::ALL)
        .with(flags::MAINT),
    OrdinalEntry::new(ord::LoadManuMaintPub, load_manu_maint_pub, tags::RQU, 0, check::ALLOW_NO_OWNER)
        .with(flags::MAINT),
    OrdinalEntry::new(ord::ReadManuMaintPub, read_manu_maint_pub, tags::RQU, 0, check::ALLOW_NO_OWNER)
        .with(flags::MAINT),
];

fn unimplemented(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_KillMaintenanceFeature: owner-authorized; clears `allowMaintenance` for good.
pub fn kill_maintenance_feature(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    crate::auth::check_owner(tpm, cmd, 0)?;
    tpm.perm.flags.allowMaintenance = false;
    tpm.mark_state_changed();
    Ok(())
}

/// TPM_LoadManuMaintPub: installs the manufacturer's maintenance public key
/// (a `TPM_PUBKEY`, kept as bytes) once; returns SHA-1(pubKey ‖ antiReplay).
pub fn load_manu_maint_pub(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let anti_replay: Digest = cmd.params.array()?;
    let pubkey = cmd.params.rest();
    if pubkey.is_empty() {
        return Err(Rc::BAD_PARAM_SIZE);
    }
    if tpm.perm.data.manu_maint_pub.is_some() {
        return Err(Rc::DISABLED_CMD);
    }
    resp.params.bytes(&sha1(&[pubkey, &anti_replay]));
    tpm.perm.data.manu_maint_pub = Some(pubkey.to_vec());
    tpm.mark_state_changed();
    Ok(())
}

/// TPM_ReadManuMaintPub: SHA-1(pubKey ‖ antiReplay) of the installed key.
pub fn read_manu_maint_pub(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let anti_replay: Digest = cmd.params.array()?;
    cmd.params.finish()?;
    let key = tpm.perm.data.manu_maint_pub.as_ref().ok_or(Rc::KEYNOTFOUND)?;
    resp.params.bytes(&sha1(&[key, &anti_replay]));
    Ok(())
}
