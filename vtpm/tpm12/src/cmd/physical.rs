//! Physical presence and opt-in: TSC_PhysicalPresence, TPM_PhysicalEnable,
//! PhysicalDisable, PhysicalSetDeactivated, SetTempDeactivated (Part 3 §6, §7).

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::TSC_PhysicalPresence, tsc_physical_presence, tags::RQU, 0, check::BASIC).with(flags::STUB),
    OrdinalEntry::new(ord::PhysicalEnable, physical_enable, tags::RQU, 0, check::BASIC).with(flags::STUB),
    OrdinalEntry::new(ord::PhysicalDisable, physical_disable, tags::RQU, 0, check::NOT_SHUTDOWN | check::ENABLED | check::NO_LOCKOUT).with(flags::STUB),
    OrdinalEntry::new(ord::PhysicalSetDeactivated, physical_set_deactivated, tags::RQU, 0, check::NOT_SHUTDOWN | check::ENABLED | check::NO_LOCKOUT).with(flags::STUB),
    OrdinalEntry::new(ord::SetTempDeactivated, set_temp_deactivated, tags::RQU_AUTH1, 0, check::NOT_SHUTDOWN | check::ACTIVATED | check::NO_LOCKOUT).with(flags::STUB),
];

/// TPM_TSC_PhysicalPresence.
pub fn tsc_physical_presence(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_PhysicalEnable.
pub fn physical_enable(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_PhysicalDisable.
pub fn physical_disable(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_PhysicalSetDeactivated.
pub fn physical_set_deactivated(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_SetTempDeactivated.
pub fn set_temp_deactivated(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}
