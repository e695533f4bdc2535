//! Lifecycle: TPM_Init (power-on), TPM_Startup (ST_CLEAR / ST_STATE /
//! ST_DEACTIVATED), TPM_SaveState, TPM_SelfTestFull, TPM_ContinueSelfTest,
//! TPM_GetTestResult (Part 3 §3 and §4).

use crate::Tpm;
use crate::constants::rc::Rc;
use crate::constants::{ord, st};
use crate::frame::{Command, OrdinalEntry, Response, check, flags, tags};
use crate::state::volatile::{StAnyData, TestState};
use crate::state::{SavedState, StClearData, StClearFlags, VolatileState};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::Startup, startup, tags::RQU, 0, check::NONE).with(flags::PRE_STARTUP),
    OrdinalEntry::new(ord::SaveState, save_state, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::SelfTestFull, self_test_full, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::ContinueSelfTest, continue_self_test, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::GetTestResult, get_test_result, tags::RQU, 0, check::NO_LOCKOUT),
];

/// TPM_Init: resets all volatile state; only TPM_Startup is accepted next.
/// Saved state (from TPM_SaveState) is kept for TPM_Startup(ST_STATE).
pub fn tpm_init(tpm: &mut Tpm) {
    let mut vol = VolatileState::default();
    vol.stany_flags.postInitialise = true;
    let mut tick_nonce = [0u8; 20];
    tpm.rng.fill_bytes(&mut tick_nonce);
    vol.stany_data = StAnyData { tick_nonce, tick_origin_us: tpm.clock.now_us(), ..StAnyData::default() };
    vol.stclear_data = StClearData::default();
    crate::cmd::pcr::init_pcrs(&mut vol.stclear_data.pcrs);
    tpm.vol = vol;
    tpm.sessions.clear();
    tpm.keys.clear();
    tpm.transports.clear();
}

/// Drops saved state (any command other than Startup after SaveState, and every Startup).
pub fn invalidate_saved_state(tpm: &mut Tpm) {
    if tpm.saved.take().is_some() {
        tpm.mark_state_changed();
    }
}

/// What Startup(ST_CLEAR) and Startup(ST_DEACTIVATED) share (Part 3 §3.2 action 3/5).
fn startup_clear(tpm: &mut Tpm, deactivated: bool) {
    tpm.vol.stclear_flags =
        StClearFlags { deactivated: deactivated || tpm.perm.flags.deactivated, ..StClearFlags::default() };
    let mut data = StClearData::default();
    crate::cmd::pcr::init_pcrs(&mut data.pcrs);
    tpm.rng.fill_bytes(&mut data.context_nonce_key);
    tpm.vol.stclear_data = data;
    crate::cmd::nv::startup_clear(tpm);
    tpm.sessions.clear();
    tpm.keys.clear();
    tpm.transports.clear();
}

/// TPM_Startup (Part 3 §3.2).
pub fn startup(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let startup_type = cmd.params.u16()?;
    cmd.params.finish()?;
    if !tpm.vol.stany_flags.postInitialise {
        return Err(Rc::INVALID_POSTINIT);
    }
    if tpm.vol.test_state == TestState::Failed {
        tpm.vol.stany_flags.postInitialise = false;
        return Err(Rc::FAILEDSELFTEST);
    }
    match startup_type {
        st::CLEAR => startup_clear(tpm, false),
        st::DEACTIVATED => startup_clear(tpm, true),
        st::STATE => {
            // No saved state: stay in post-init so that Startup(ST_CLEAR) can follow
            // (Part 3 §3.2 action 4.a). libtpms instead enters failure mode.
            let Some(saved) = tpm.saved.clone() else {
                return Err(Rc::FAIL);
            };
            restore_saved(tpm, &saved)?;
        }
        _ => return Err(Rc::BAD_PARAMETER),
    }
    invalidate_saved_state(tpm);
    tpm.vol.stany_flags.postInitialise = false;
    // Our self-test is instantaneous: the TPM is fully tested after startup.
    tpm.vol.test_state = TestState::Passed;
    Ok(())
}

/// Startup(ST_STATE): restores TPM_STCLEAR_FLAGS/DATA, keys and sessions.
/// Resettable PCRs get their startup values instead of the saved ones.
fn restore_saved(tpm: &mut Tpm, saved: &SavedState) -> Result<(), Rc> {
    tpm.vol.stclear_flags = saved.stclear_flags.clone();
    let mut data = saved.stclear_data.clone();
    let mut fresh = [[0u8; 20]; crate::constants::NUM_PCRS];
    crate::cmd::pcr::init_pcrs(&mut fresh);
    for (i, pcr) in data.pcrs.iter_mut().enumerate() {
        if crate::cmd::pcr::attributes(i).reset {
            *pcr = fresh[i];
        }
    }
    tpm.vol.stclear_data = data;
    crate::cmd::keys::restore_state(tpm, &saved.keys)?;
    crate::cmd::session::restore_state(tpm, &saved.sessions)?;
    Ok(())
}

/// TPM_SaveState (Part 3 §3.3).
pub fn save_state(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    let saved = SavedState {
        stclear_flags: tpm.vol.stclear_flags.clone(),
        stclear_data: tpm.vol.stclear_data.clone(),
        keys: crate::cmd::keys::save_state(tpm),
        sessions: crate::cmd::session::save_state(tpm),
    };
    tpm.saved = Some(saved);
    tpm.mark_state_changed();
    Ok(())
}

/// TPM_SelfTestFull (Part 3 §4.1): our self-test checks the SHA-1 and HMAC
/// known answers.
pub fn self_test_full(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    run_self_test(tpm)
}

/// TPM_ContinueSelfTest (Part 3 §4.2).
pub fn continue_self_test(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    run_self_test(tpm)
}

fn run_self_test(tpm: &mut Tpm) -> Result<(), Rc> {
    let ok = crate::crypto::sha1(&[b"abc"])[..4] == [0xa9, 0x99, 0x3e, 0x36]
        && crate::crypto::hmac_sha1(b"Jefe", &[b"what do ya want for nothing?"])[..4] == [0xef, 0xfc, 0xdf, 0x6a];
    if ok {
        tpm.vol.test_state = TestState::Passed;
        Ok(())
    } else {
        tpm.vol.test_state = TestState::Failed;
        Err(Rc::FAILEDSELFTEST)
    }
}

/// TPM_GetTestResult (Part 3 §4.4): a vendor-specific `outData` (UINT32-sized):
/// here one byte, 0 = passed, 1 = limited (only startup tests), 2 = failed.
pub fn get_test_result(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    let code = match tpm.vol.test_state {
        TestState::Passed => 0u8,
        TestState::Limited => 1,
        TestState::Failed => 2,
    };
    resp.params.sized32(&[code]);
    Ok(())
}
