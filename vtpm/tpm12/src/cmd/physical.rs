//! Physical presence and opt-in: TSC_PhysicalPresence, TPM_PhysicalEnable,
//! PhysicalDisable, PhysicalSetDeactivated, SetTempDeactivated
//! (Part 3 §6.? and §7.? "Opt-in"; TSC ordinals in Part 3 §31).
//!
//! Presence itself is [`Tpm::physical_presence`]: the software flag set here, or
//! "hardware" presence when the `hardware_physical_presence` option says so.

use crate::Tpm;
use crate::constants::ord;
use crate::constants::physical_presence as ppb;
use crate::constants::rc::Rc;
use crate::frame::{Command, OrdinalEntry, Response, check, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::TSC_PhysicalPresence, tsc_physical_presence, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::PhysicalEnable, physical_enable, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::PhysicalDisable, physical_disable, tags::RQU, 0, check::BASIC.union(check::ENABLED)),
    OrdinalEntry::new(
        ord::PhysicalSetDeactivated,
        physical_set_deactivated,
        tags::RQU,
        0,
        check::BASIC.union(check::ENABLED),
    ),
    OrdinalEntry::new(
        ord::SetTempDeactivated,
        set_temp_deactivated,
        tags::RQU_AUTH1,
        0,
        check::BASIC.union(check::ACTIVATED),
    ),
];

const CONFIG_BITS: u16 = ppb::LIFETIME_LOCK | ppb::HW_ENABLE | ppb::CMD_ENABLE | ppb::HW_DISABLE | ppb::CMD_DISABLE;
const PRESENCE_BITS: u16 = ppb::PRESENT | ppb::NOTPRESENT | ppb::LOCK;

/// TSC_PhysicalPresence: configuration bits change the permanent PP flags
/// (until the lifetime lock), presence bits the volatile ones (if command
/// presence is enabled and not locked). Mixing both, or contradictory bits,
/// is `TPM_BAD_PARAMETER`.
pub fn tsc_physical_presence(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let bits = cmd.params.u16()?;
    cmd.params.finish()?;
    if bits & !(CONFIG_BITS | PRESENCE_BITS) != 0 || bits == 0 {
        return Err(Rc::BAD_PARAMETER);
    }
    if bits & CONFIG_BITS != 0 {
        let f = &mut tpm.perm.flags;
        if bits & PRESENCE_BITS != 0 || f.physicalPresenceLifetimeLock {
            return Err(Rc::BAD_PARAMETER);
        }
        let both = |a: u16, b: u16| bits & a != 0 && bits & b != 0;
        if both(ppb::HW_ENABLE, ppb::HW_DISABLE) || both(ppb::CMD_ENABLE, ppb::CMD_DISABLE) {
            return Err(Rc::BAD_PARAMETER);
        }
        if bits & ppb::HW_ENABLE != 0 {
            f.physicalPresenceHWEnable = true;
        }
        if bits & ppb::HW_DISABLE != 0 {
            f.physicalPresenceHWEnable = false;
        }
        if bits & ppb::CMD_ENABLE != 0 {
            f.physicalPresenceCMDEnable = true;
        }
        if bits & ppb::CMD_DISABLE != 0 {
            f.physicalPresenceCMDEnable = false;
        }
        if bits & ppb::LIFETIME_LOCK != 0 {
            f.physicalPresenceLifetimeLock = true;
        }
        tpm.mark_state_changed();
        return Ok(());
    }
    if !tpm.perm.flags.physicalPresenceCMDEnable {
        return Err(Rc::BAD_PARAMETER);
    }
    let sf = &mut tpm.vol.stclear_flags;
    let present = bits & ppb::PRESENT != 0;
    let not_present = bits & ppb::NOTPRESENT != 0;
    let lock = bits & ppb::LOCK != 0;
    if (present && (not_present || lock)) || sf.physicalPresenceLock {
        return Err(Rc::BAD_PARAMETER);
    }
    if lock {
        sf.physicalPresence = false;
        sf.physicalPresenceLock = true;
    } else {
        sf.physicalPresence = present;
    }
    Ok(())
}

fn require_presence(tpm: &Tpm) -> Result<(), Rc> {
    if tpm.physical_presence() { Ok(()) } else { Err(Rc::BAD_PRESENCE) }
}

/// TPM_PhysicalEnable: `disable` = FALSE.
pub fn physical_enable(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    require_presence(tpm)?;
    tpm.perm.flags.disable = false;
    tpm.mark_state_changed();
    Ok(())
}

/// TPM_PhysicalDisable: `disable` = TRUE.
pub fn physical_disable(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    require_presence(tpm)?;
    tpm.perm.flags.disable = true;
    tpm.mark_state_changed();
    Ok(())
}

/// TPM_PhysicalSetDeactivated: sets the permanent `deactivated` flag, which
/// takes effect at the next TPM_Startup.
pub fn physical_set_deactivated(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let state = cmd.params.bool()?;
    cmd.params.finish()?;
    require_presence(tpm)?;
    tpm.perm.flags.deactivated = state;
    tpm.mark_state_changed();
    Ok(())
}

/// TPM_SetTempDeactivated: deactivates until the next Startup. Authorized by
/// the operator (AUTH1, `TPM_NOOPERATOR` if none is set) or physical presence.
pub fn set_temp_deactivated(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    if cmd.auth_count() == 1 {
        if !tpm.perm.flags.operator {
            return Err(Rc::NOOPERATOR);
        }
        let secret = tpm.perm.data.operator_auth.clone();
        crate::auth::check(tpm, cmd, 0, crate::state::sessions::AuthEntity::Operator, &secret)?;
    } else {
        require_presence(tpm)?;
    }
    tpm.vol.stclear_flags.deactivated = true;
    Ok(())
}
