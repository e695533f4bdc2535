//! Maintenance ordinals (Part 3 §12): present only with `maintcmds`.

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::CreateMaintenanceArchive, create_maintenance_archive, tags::AUTH1, 0, check::ALL).with(flags::STUB | flags::MAINT),
    OrdinalEntry::new(ord::LoadMaintenanceArchive, load_maintenance_archive, tags::AUTH1, 0, check::ALL).with(flags::STUB | flags::MAINT),
    OrdinalEntry::new(ord::KillMaintenanceFeature, kill_maintenance_feature, tags::AUTH1, 0, check::ALL).with(flags::STUB | flags::MAINT),
    OrdinalEntry::new(ord::LoadManuMaintPub, load_manu_maint_pub, tags::RQU, 0, check::ALLOW_NO_OWNER).with(flags::STUB | flags::MAINT),
    OrdinalEntry::new(ord::ReadManuMaintPub, read_manu_maint_pub, tags::RQU, 0, check::ALLOW_NO_OWNER).with(flags::STUB | flags::MAINT),
];

/// TPM_CreateMaintenanceArchive.
pub fn create_maintenance_archive(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_LoadMaintenanceArchive.
pub fn load_maintenance_archive(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_KillMaintenanceFeature.
pub fn kill_maintenance_feature(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_LoadManuMaintPub.
pub fn load_manu_maint_pub(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_ReadManuMaintPub.
pub fn read_manu_maint_pub(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
