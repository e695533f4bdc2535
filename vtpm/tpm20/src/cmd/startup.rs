//! TPM2_Startup and TPM2_Shutdown (Part 3 §9.3, §9.4), and the three kinds of start
//! (Part 1 §12.2.3): TPM Reset (Startup(CLEAR) after anything but Shutdown(STATE):
//! resetCount + 1, restartCount = 0), TPM Restart (Startup(CLEAR) after Shutdown(STATE):
//! restartCount + 1, PCRs reset) and TPM Resume (Startup(STATE) after Shutdown(STATE):
//! restartCount + 1, the state-saved PCRs and pcrUpdateCounter restored). The saved state is
//! consumed by the Startup that follows it; a second Startup(STATE) needs a new Shutdown.

use crate::cmd::{Command, Response};
use crate::constants::{PCR_COUNT, su};
use crate::pcr::{ATTRIBUTES, PcrBanks};
use crate::rc::{At, Rc};
use crate::state::{Orderly, SavedState, VolatileState};
use crate::tpm::Tpm;

/// TPM2_Startup(startupType).
pub fn startup(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let ty = c.params.u16().p(1)?;
    c.finish()?;
    let prev = tpm.perm.orderly;
    let mut pcrs = PcrBanks::startup(tpm.perm.pcr_allocation, c.locality);
    // Every PCR set to its initial value is a change (see `counted`).
    let mut pcr_update_counter = crate::pcr::counted(|_| true);
    let mut platform_auth = zeroize::Zeroizing::new(alloc::vec::Vec::new());
    match ty {
        su::CLEAR if prev == Orderly::State => {
            tpm.perm.restart_count = tpm.perm.restart_count.wrapping_add(1);
        }
        su::CLEAR => {
            tpm.perm.reset_count = tpm.perm.reset_count.wrapping_add(1);
            tpm.perm.restart_count = 0;
            // TPM Reset: a new null seed (null-hierarchy objects and their contexts die).
            tpm.perm.null_seed = None;
        }
        su::STATE => {
            let Some(saved) = tpm.saved.as_ref().filter(|_| prev == Orderly::State) else {
                return Err(Rc::VALUE.param(1));
            };
            for (bank, saved_bank) in pcrs.banks.iter_mut().zip(&saved.pcrs.banks) {
                if let (Some(b), Some(s)) = (bank.as_mut(), saved_bank.as_ref()) {
                    for i in (0..PCR_COUNT).filter(|&i| ATTRIBUTES[i].state_save) {
                        b[i].clone_from(&s[i]);
                    }
                }
            }
            pcr_update_counter =
                saved.pcr_update_counter.wrapping_add(crate::pcr::counted(|i| !ATTRIBUTES[i].state_save));
            platform_auth = saved.platform_auth.clone();
            tpm.perm.restart_count = tpm.perm.restart_count.wrapping_add(1);
        }
        _ => return Err(Rc::VALUE.param(1)),
    }
    if ty == su::CLEAR {
        crate::nv::startup_clear(&mut tpm.perm.nv, prev != Orderly::State);
        tpm.perm.nv_global_lock = false;
    }
    tpm.vol = Some(VolatileState { pcrs, pcr_update_counter, orderly_start: prev != Orderly::None, platform_auth });
    if prev == Orderly::None {
        tpm.perm.clock_safe = false;
    }
    tpm.perm.orderly = Orderly::None;
    tpm.saved = None;
    tpm.mark_state_changed();
    Ok(())
}

/// TPM2_Shutdown(shutdownType): records an orderly shutdown; STATE also saves the PCRs.
pub fn shutdown(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let ty = c.params.u16().p(1)?;
    c.finish()?;
    let Some(vol) = tpm.vol.as_ref() else { return Err(Rc::INITIALIZE) };
    match ty {
        su::CLEAR => {
            tpm.saved = None;
            tpm.perm.orderly = Orderly::Clear;
        }
        su::STATE => {
            // Only the state-saved PCRs are kept (the others are initialized by the Startup
            // that follows), so the saved state is exactly what the image holds.
            let mut pcrs = PcrBanks::startup(tpm.perm.pcr_allocation, 0);
            for (saved, live) in pcrs.banks.iter_mut().zip(&vol.pcrs.banks) {
                if let (Some(s), Some(l)) = (saved.as_mut(), live.as_ref()) {
                    for i in (0..PCR_COUNT).filter(|&i| ATTRIBUTES[i].state_save) {
                        s[i].clone_from(&l[i]);
                    }
                }
            }
            tpm.saved = Some(SavedState {
                pcr_update_counter: vol.pcr_update_counter,
                pcrs,
                platform_auth: vol.platform_auth.clone(),
            });
            tpm.perm.orderly = Orderly::State;
        }
        _ => return Err(Rc::VALUE.param(1)),
    }
    tpm.mark_state_changed();
    Ok(())
}
