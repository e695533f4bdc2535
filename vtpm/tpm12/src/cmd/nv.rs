//! NV storage: TPM_NV_DefineSpace, NV_WriteValue, NV_WriteValueAuth,
//! NV_ReadValue, NV_ReadValueAuth (Part 3 §20).

use crate::Tpm;
use crate::constants::ord;
use crate::constants::rc::Rc;
use crate::dispatch::{Command, OrdinalEntry, Response, check, flags, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::NV_DefineSpace, nv_define_space, tags::RQU_AUTH1, 0, check::ALLOW_NO_OWNER | check::NV_NOAUTH).with(flags::STUB),
    OrdinalEntry::new(ord::NV_WriteValue, nv_write_value, tags::RQU_AUTH1, 0, check::NOT_SHUTDOWN | check::ENABLED | check::ACTIVATED | check::NO_LOCKOUT | check::NV_NOAUTH).with(flags::STUB),
    OrdinalEntry::new(ord::NV_WriteValueAuth, nv_write_value_auth, tags::AUTH1, 0, check::ALL & !check::OWNER).with(flags::STUB),
    OrdinalEntry::new(ord::NV_ReadValue, nv_read_value, tags::RQU_AUTH1, 0, check::NOT_SHUTDOWN | check::ENABLED | check::ACTIVATED | check::NO_LOCKOUT | check::NV_NOAUTH).with(flags::STUB),
    OrdinalEntry::new(ord::NV_ReadValueAuth, nv_read_value_auth, tags::AUTH1, 0, check::ALL & !check::OWNER).with(flags::STUB),
];

/// TPM_NV_DefineSpace.
pub fn nv_define_space(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_NV_WriteValue.
pub fn nv_write_value(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_NV_WriteValueAuth.
pub fn nv_write_value_auth(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_NV_ReadValue.
pub fn nv_read_value(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// TPM_NV_ReadValueAuth.
pub fn nv_read_value_auth(_tpm: &mut Tpm, _cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::BAD_ORDINAL)
}

/// Startup(ST_CLEAR): clears bReadSTClear/bWriteSTClear of every space.
pub fn startup_clear(tpm: &mut Tpm) {
    for s in &mut tpm.perm.data.nv {
        s.read_st_clear = false;
        s.write_st_clear = false;
    }
}
