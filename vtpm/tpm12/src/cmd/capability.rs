//! Capabilities: TPM_GetCapability, TPM_GetCapabilityOwner and TPM_SetCapability
//! (Part 3 §7.1, §7.3, §7.4; areas in Part 2 §21).
//!
//! Unknown areas and sub-capabilities answer `TPM_BAD_MODE`, as libtpms does.

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{INPUT_BUFFER_SIZE, NUM_PCRS, alg, cap, ord, pid, rt, set, tag};
use crate::dispatch::is_supported;
use crate::frame::{Command, OrdinalEntry, Response, check, tags};

use super::identity;

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::GetCapability, get_capability, tags::RQU, 0, check::NO_LOCKOUT),
    OrdinalEntry::new(ord::GetCapabilityOwner, get_capability_owner, tags::AUTH1, 0, check::ALL),
    OrdinalEntry::new(ord::SetCapability, set_capability, tags::RQU_AUTH1, 0, check::BASIC),
];

/// TPM_GetCapability (Part 3 §7.1).
pub fn get_capability(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let area = cmd.params.u32()?;
    let sub_cap = cmd.params.sized32()?;
    cmd.params.finish()?;
    let mut w = Writer::new();
    capability(tpm, area, sub_cap, &mut w)?;
    resp.params.sized32(w.as_slice());
    Ok(())
}

fn sub32(sub_cap: &[u8]) -> Result<u32, Rc> {
    <[u8; 4]>::try_from(sub_cap).map(u32::from_be_bytes).map_err(|_| Rc::BAD_MODE)
}

fn sub16(sub_cap: &[u8]) -> Result<u16, Rc> {
    <[u8; 2]>::try_from(sub_cap).map(u16::from_be_bytes).map_err(|_| Rc::BAD_MODE)
}

fn handle_list(w: &mut Writer, handles: &[u32]) {
    w.u16(handles.len() as u16);
    for h in handles {
        w.u32(*h);
    }
}

/// Writes the answer for one capability area (without the respSize prefix).
pub fn capability(tpm: &mut Tpm, area: u32, sub_cap: &[u8], w: &mut Writer) -> Result<(), Rc> {
    let maint = tpm.options.maintcmds;
    match area {
        cap::ORD => {
            w.bool(is_supported(sub32(sub_cap)?, maint));
        }
        cap::ALG => {
            // Part 2 §21.1: TRUE for the asymmetric algorithms of Sign/Seal/UnBind.
            w.bool(sub32(sub_cap)? == alg::RSA);
        }
        cap::PID => {
            let supported = match sub16(sub_cap)? {
                pid::OIAP => is_supported(ord::OIAP, maint),
                pid::OSAP => is_supported(ord::OSAP, maint),
                pid::ADIP => is_supported(ord::OSAP, maint),
                pid::OWNER => is_supported(ord::TakeOwnership, maint),
                pid::TRANSPORT => is_supported(ord::EstablishTransport, maint),
                _ => false,
            };
            w.bool(supported);
        }
        cap::FLAG => match sub32(sub_cap)? {
            cap::FLAG_PERMANENT => tpm.perm.flags.encode_wire(w),
            cap::FLAG_VOLATILE => tpm.vol.stclear_flags.encode_wire(w),
            _ => return Err(Rc::BAD_MODE),
        },
        cap::PROPERTY => property(tpm, sub32(sub_cap)?, w)?,
        cap::VERSION => {
            // TPM_STRUCT_VER: always 1.1.0.0.
            w.bytes(&[1, 1, 0, 0]);
        }
        cap::KEY_HANDLE => handle_list(w, &tpm.keys.handles()),
        cap::CHECK_LOADED => {
            // subCap is a TPM_KEY_PARMS; RSA parms must be a TPM_RSA_KEY_PARMS.
            let mut r = Reader::new(sub_cap);
            let algorithm = r.u32()?;
            let _enc_scheme = r.u16()?;
            let _sig_scheme = r.u16()?;
            let parms = r.sized32()?;
            if algorithm == alg::RSA && parms.len() < 12 {
                return Err(Rc::BAD_PARAM_SIZE);
            }
            let space = tpm.keys.handles().len() < crate::state::keys::MAX_KEYS;
            w.bool(algorithm == alg::RSA && space);
        }
        cap::SYM_MODE => {
            sub32(sub_cap)?;
            w.bool(false);
        }
        cap::KEY_STATUS => {
            let h = sub32(sub_cap)?;
            let owner_evict = tpm.perm.data.owner_evict_keys.iter().any(|(k, _)| *k == h);
            if !owner_evict && !tpm.keys.handles().contains(&h) {
                return Err(Rc::INVALID_KEYHANDLE);
            }
            w.bool(owner_evict);
        }
        cap::NV_LIST => {
            for s in &tpm.perm.data.nv {
                w.u32(s.index);
            }
        }
        cap::NV_INDEX => {
            let index = sub32(sub_cap)?;
            let space = tpm.perm.data.nv.iter().find(|s| s.index == index).ok_or(Rc::BADINDEX)?;
            space.encode_public(w);
        }
        cap::TRANS_ALG => {
            // MGF1 is the one transport encryption here (no AES128 CTR/OFB).
            w.bool(sub32(sub_cap)? == alg::MGF1);
        }
        cap::HANDLE => match sub32(sub_cap)? {
            rt::KEY => handle_list(w, &tpm.keys.handles()),
            rt::AUTH => handle_list(w, &tpm.sessions.handles()),
            rt::COUNTER => {
                let hs: Vec<u32> = tpm.perm.data.counters.iter().map(|c| c.handle).collect();
                handle_list(w, &hs);
            }
            rt::TRANS => handle_list(w, &tpm.transports.handles()),
            rt::CONTEXT | rt::DAA_TPM => handle_list(w, &[]),
            _ => return Err(Rc::BAD_PARAMETER),
        },
        cap::TRANS_ES => {
            sub16(sub_cap)?;
            w.bool(false);
        }
        cap::AUTH_ENCRYPT => {
            w.bool(sub32(sub_cap)? == alg::XOR);
        }
        cap::SELECT_SIZE => {
            // TPM_SELECT_SIZE: major, minor, reqSize.
            let mut r = Reader::new(sub_cap);
            let _major = r.u8().map_err(|_| Rc::BAD_MODE)?;
            let _minor = r.u8().map_err(|_| Rc::BAD_MODE)?;
            let req = r.u16().map_err(|_| Rc::BAD_MODE)?;
            w.bool(req != 0 && usize::from(req) <= NUM_PCRS / 8);
        }
        cap::DA_LOGIC => {
            // subCap names a TPM_ENTITY_TYPE; our DA logic is one counter for every entity
            // type, so (as Part 2 §21.1 allows, and as libtpms does) it is ignored whatever
            // its size.
            let info = crate::auth::da_info(tpm);
            w.u16(if tpm.perm.flags.disableFullDALogicInfo { tag::DA_INFO_LIMITED } else { tag::DA_INFO });
            w.u8(u8::from(info.active));
            if !tpm.perm.flags.disableFullDALogicInfo {
                w.u16(info.current_count).u16(info.threshold_count);
            }
            w.u16(tag::DA_ACTION_TYPE).u32(info.actions);
            if !tpm.perm.flags.disableFullDALogicInfo {
                w.u32(info.action_depend_value);
            }
            w.u32(0); // vendorDataSize
        }
        cap::VERSION_VAL => identity::encode_version_info(w),
        _ => return Err(Rc::BAD_MODE),
    }
    Ok(())
}

/// TPM_CAP_PROPERTY sub-capabilities.
fn property(tpm: &mut Tpm, prop: u32, w: &mut Writer) -> Result<(), Rc> {
    let sessions_free = crate::state::sessions::MAX_SESSIONS.saturating_sub(tpm.sessions.loaded()) as u32;
    match prop {
        cap::PROP_PCR => {
            w.u32(NUM_PCRS as u32);
        }
        cap::PROP_DIR => {
            w.u32(1);
        }
        cap::PROP_MANUFACTURER => {
            w.bytes(&identity::MANUFACTURER);
        }
        cap::PROP_KEYS => {
            w.u32(crate::state::keys::MAX_KEYS.saturating_sub(tpm.keys.handles().len()) as u32);
        }
        cap::PROP_MIN_COUNTER => {
            w.u32(0);
        }
        cap::PROP_AUTHSESS | cap::PROP_SESSIONS => {
            w.u32(sessions_free);
        }
        cap::PROP_MAX_AUTHSESS | cap::PROP_MAX_SESSIONS => {
            w.u32(crate::state::sessions::MAX_SESSIONS as u32);
        }
        cap::PROP_TRANSESS => {
            let max = crate::state::transport::MAX_TRANSPORT_SESSIONS;
            w.u32(max.saturating_sub(tpm.transports.loaded()) as u32);
        }
        cap::PROP_MAX_TRANSESS => {
            w.u32(crate::state::transport::MAX_TRANSPORT_SESSIONS as u32);
        }
        cap::PROP_DAASESS | cap::PROP_MAX_DAASESS => {
            w.u32(0);
        }
        cap::PROP_COUNTERS => {
            w.u32(super::counter::MAX_COUNTERS.saturating_sub(tpm.perm.data.counters.len()) as u32);
        }
        cap::PROP_MAX_COUNTERS => {
            w.u32(super::counter::MAX_COUNTERS as u32);
        }
        cap::PROP_MAX_KEYS => {
            w.u32(crate::state::keys::MAX_KEYS as u32);
        }
        cap::PROP_OWNER => {
            w.bool(tpm.perm.data.owner_installed);
        }
        cap::PROP_CONTEXT => {
            w.u32(super::context::free_context_slots(tpm));
        }
        cap::PROP_MAX_CONTEXT => {
            w.u32(super::context::MAX_SAVED_CONTEXTS as u32);
        }
        cap::PROP_FAMILYROWS | cap::PROP_DELEGATE_ROW => {
            w.u32(0);
        }
        cap::PROP_TIS_TIMEOUT => {
            for t in identity::TIS_TIMEOUTS_US {
                w.u32(t);
            }
        }
        cap::PROP_STARTUP_EFFECT => {
            w.u32(identity::STARTUP_EFFECTS);
        }
        cap::PROP_CONTEXT_DIST => {
            w.u32(u32::MAX);
        }
        cap::PROP_DAA_INTERRUPT => {
            w.bool(false);
        }
        cap::PROP_CMK_RESTRICTION => {
            w.u32(0);
        }
        cap::PROP_DURATION => {
            for d in identity::DURATIONS_US {
                w.u32(d);
            }
        }
        cap::PROP_ACTIVE_COUNTER => {
            // The "released while active" marker reads as no active counter.
            let id = tpm.vol.stclear_data.count_id.unwrap_or(u32::MAX);
            w.u32(if id == super::counter::COUNT_ID_ILLEGAL { u32::MAX } else { id });
        }
        cap::PROP_MAX_NV_AVAILABLE => {
            w.u32(super::nv::free_space(tpm) as u32);
        }
        cap::PROP_INPUT_BUFFER => {
            w.u32(INPUT_BUFFER_SIZE);
        }
        _ => return Err(Rc::BAD_MODE),
    }
    Ok(())
}

/// TPM_GetCapabilityOwner (Part 3 §7.3): our TPM_VERSION and the flags as bit maps
/// (bit n = the n-th flag of TPM_PERMANENT_FLAGS / TPM_STCLEAR_FLAGS).
pub fn get_capability_owner(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    crate::auth::check_owner(tpm, cmd, 0)?;
    let mut pf = Writer::new();
    tpm.perm.flags.encode_wire(&mut pf);
    let mut sf = Writer::new();
    tpm.vol.stclear_flags.encode_wire(&mut sf);
    let bits = |flags: &[u8]| flags.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << i));
    resp.params.bytes(&identity::VERSION);
    resp.params.u32(bits(&pf.as_slice()[2..])).u32(bits(&sf.as_slice()[2..]));
    Ok(())
}

/// `TPM_PF_*` indices (Part 2 §21.4): position in TPM_PERMANENT_FLAGS, from 1.
mod pf {
    pub const DISABLE: u32 = 1;
    pub const OWNERSHIP: u32 = 2;
    pub const DEACTIVATED: u32 = 3;
    pub const READPUBEK: u32 = 4;
    pub const DISABLEOWNERCLEAR: u32 = 5;
    pub const ALLOWMAINTENANCE: u32 = 6;
    pub const READSRKPUB: u32 = 17;
    pub const DISABLEFULLDALOGICINFO: u32 = 20;
}

/// `TPM_SF_*` indices (Part 2 §21.4).
mod sf {
    pub const DISABLEFORCECLEAR: u32 = 2;
}

/// TPM_SetCapability (Part 3 §7.4) for the flags TrouSerS sets.
pub fn set_capability(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let area = cmd.params.u32()?;
    let sub_cap = cmd.params.sized32()?;
    let value = cmd.params.sized32()?;
    cmd.params.finish()?;
    let owner = cmd.auth_count() == 1;
    if owner {
        crate::auth::check_owner(tpm, cmd, 0)?;
    }
    let sub = sub32(sub_cap).map_err(|_| Rc::BAD_PARAMETER)?;
    // The value is checked after the authorization of each flag (as libtpms).
    let value: Result<bool, Rc> = match value {
        [0] => Ok(false),
        [1] => Ok(true),
        _ => Err(Rc::BAD_PARAMETER),
    };
    let pp = tpm.physical_presence();
    let disabled = tpm.perm.flags.disable;
    let deactivated = tpm.vol.stclear_flags.deactivated;
    let enabled_active = || {
        if disabled {
            Err(Rc::DISABLED)
        } else if deactivated {
            Err(Rc::DEACTIVATED)
        } else {
            Ok(())
        }
    };
    let f = &mut tpm.perm.flags;
    match (area, sub) {
        (set::PERM_FLAGS, pf::DISABLE) => {
            if !owner && !pp {
                return Err(Rc::AUTHFAIL);
            }
            f.disable = value?;
        }
        (set::PERM_FLAGS, pf::OWNERSHIP) => {
            if tpm.perm.data.owner_installed {
                return Err(Rc::OWNER_SET);
            }
            if !pp {
                return Err(Rc::AUTHFAIL);
            }
            enabled_active()?;
            tpm.perm.flags.ownership = value?;
        }
        (set::PERM_FLAGS, pf::DEACTIVATED) => {
            if !pp {
                return Err(Rc::AUTHFAIL);
            }
            if disabled {
                return Err(Rc::DISABLED);
            }
            f.deactivated = value?;
        }
        (
            set::PERM_FLAGS,
            pf::READPUBEK | pf::DISABLEOWNERCLEAR | pf::ALLOWMAINTENANCE | pf::READSRKPUB | pf::DISABLEFULLDALOGICINFO,
        ) => {
            if !owner {
                return Err(Rc::AUTHFAIL);
            }
            let v = value?;
            if (sub == pf::DISABLEOWNERCLEAR && !v) || (sub == pf::ALLOWMAINTENANCE && v) {
                return Err(Rc::BAD_PARAMETER);
            }
            enabled_active()?;
            let f = &mut tpm.perm.flags;
            match sub {
                pf::READPUBEK => f.readPubek = v,
                pf::DISABLEOWNERCLEAR => f.disableOwnerClear = v,
                pf::ALLOWMAINTENANCE => f.allowMaintenance = v,
                pf::READSRKPUB => f.readSRKPub = v,
                _ => f.disableFullDALogicInfo = v,
            }
        }
        (set::STCLEAR_FLAGS, sf::DISABLEFORCECLEAR) => {
            if !value? {
                return Err(Rc::BAD_PARAMETER);
            }
            enabled_active()?;
            tpm.vol.stclear_flags.disableForceClear = true;
            return Ok(());
        }
        (set::PERM_FLAGS | set::STCLEAR_FLAGS | set::STANY_FLAGS, _) => return Err(Rc::BAD_PARAMETER),
        _ => return Err(Rc::BAD_MODE),
    }
    tpm.mark_state_changed();
    Ok(())
}
