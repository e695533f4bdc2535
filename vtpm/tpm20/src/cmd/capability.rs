//! TPM2_GetCapability (Part 3 §30.2): algorithms, handles, commands (from the command table),
//! PCR allocation, TPM properties (fixed and variable) and PCR properties. Each list starts
//! at the requested property, holds at most `propertyCount` entries and what fits
//! `MAX_CAP_DATA`, and `moreData` says whether entries were left out. Capabilities this
//! engine has nothing for (PP and audit commands, auth policies) answer an empty list.

use alloc::vec::Vec;

use crate::cmd::context::MAX_CONTEXT_SIZE;
use crate::cmd::{COMMANDS, Command, Response};
use crate::constants::{
    INPUT_BUFFER, MAX_ACTIVE_SESSIONS, MAX_CAP_BUFFER, MAX_CAP_DATA, MAX_COMMAND_SIZE, MAX_DIGEST, MAX_LOADED_OBJECTS,
    MAX_LOADED_SESSIONS, MAX_PERSISTENT, MAX_RESPONSE_SIZE, PCR_COUNT, PCR_SELECT_SIZE, PERMANENT_HANDLES, alg, cap,
    ht, pt, pt_pcr, tpma_alg,
};
use crate::crypto::HASHES;
use crate::pcr::{ATTRIBUTES, NO_INCREMENT, bitmap, locality_in};
use crate::rc::{At, Rc};
use crate::tpm::Tpm;

/// "2.0\0".
pub const FAMILY_INDICATOR: u32 = 0x322E_3000;
/// The specification revision implemented (Library 1.59, × 100).
pub const SPEC_REVISION: u32 = 159;
/// Its date: 2019, day 312 (8 November).
pub const SPEC_YEAR: u32 = 2019;
/// Day of year of the specification.
pub const SPEC_DAY_OF_YEAR: u32 = 312;
/// TPM_PT_MANUFACTURER: "RUST", as the TPM 1.2 engine's vendor ID.
pub const MANUFACTURER: u32 = u32::from_be_bytes(*b"RUST");
/// TPM_PT_VENDOR_STRING_1..4: "xen-vtpm-rs".
pub const VENDOR_STRINGS: [u32; 4] =
    [u32::from_be_bytes(*b"xen-"), u32::from_be_bytes(*b"vtpm"), u32::from_be_bytes(*b"-rs\0"), 0];
/// TPMA_PERMANENT.tpmGeneratedEPS: the EPS came from the TPM's own RNG.
const TPM_GENERATED_EPS: u32 = 1 << 10;
/// TPMA_STARTUP_CLEAR: phEnable, shEnable, ehEnable, phEnableNV; orderly is bit 31.
const HIERARCHIES_ENABLED: u32 = 0xF;
const ORDERLY: u32 = 1 << 31;
/// TPM_PS_PC_CLIENT.
const PS_PC_CLIENT: u32 = 1;

/// The algorithms implemented, ascending, with their TPMA_ALGORITHM: the hashes, HMAC,
/// AES (in CFB), keyedHash and symcipher objects, RSA (1024, 2048) objects and schemes,
/// ECC (NIST P-256) objects, the KDFs.
fn algorithms() -> Vec<(u16, u32)> {
    use tpma_alg::{ASYMMETRIC, ENCRYPTING, HASH, METHOD, OBJECT, SIGNING, SYMMETRIC};
    let mut v: Vec<(u16, u32)> = HASHES.iter().map(|h| (h.alg(), HASH)).collect();
    v.extend([
        (alg::RSA, ASYMMETRIC | OBJECT),
        (alg::HMAC, HASH | SIGNING),
        (alg::AES, SYMMETRIC),
        (alg::MGF1, HASH | METHOD),
        (alg::RSASSA, ASYMMETRIC | SIGNING),
        (alg::RSAES, ASYMMETRIC | ENCRYPTING),
        (alg::RSAPSS, ASYMMETRIC | SIGNING),
        (alg::OAEP, ASYMMETRIC | ENCRYPTING | METHOD),
        (alg::KEYEDHASH, HASH | OBJECT),
        (alg::NULL, 0),
        (alg::KDF1_SP800_56A, HASH | METHOD),
        (alg::KDF1_SP800_108, HASH | METHOD),
        (alg::ECC, ASYMMETRIC | OBJECT),
        (alg::SYMCIPHER, OBJECT),
        (alg::CFB, SYMMETRIC | ENCRYPTING),
    ]);
    v.sort_unstable();
    v
}

/// Every TPM property this engine reports, ascending.
fn properties(tpm: &mut Tpm) -> Vec<(u32, u32)> {
    let total = COMMANDS.len() as u32;
    let counters = tpm.perm.nv.values().filter(|n| n.public.nt() == crate::nv::Nt::Counter).count() as u32;
    let loaded_sessions = tpm.sessions.len() as u32;
    let active_sessions = loaded_sessions + tpm.saved_sessions.len() as u32;
    // ownerAuthSet, endorsementAuthSet, lockoutAuthSet (inLockout stays CLEAR: no DA counter)
    let permanent = TPM_GENERATED_EPS
        | u32::from(!tpm.perm.owner_auth.is_empty())
        | u32::from(!tpm.perm.endorsement_auth.is_empty()) << 1
        | u32::from(!tpm.perm.lockout_auth.is_empty()) << 2;
    let startup_clear = if tpm.vol.as_ref().is_some_and(|v| v.orderly_start) {
        HIERARCHIES_ENABLED | ORDERLY
    } else {
        HIERARCHIES_ENABLED
    };
    let version = env!("CARGO_PKG_VERSION_MAJOR").parse::<u32>().unwrap_or(0) << 16
        | env!("CARGO_PKG_VERSION_MINOR").parse::<u32>().unwrap_or(0);
    alloc::vec![
        (pt::FAMILY_INDICATOR, FAMILY_INDICATOR),
        (pt::LEVEL, 0),
        (pt::REVISION, SPEC_REVISION),
        (pt::DAY_OF_YEAR, SPEC_DAY_OF_YEAR),
        (pt::YEAR, SPEC_YEAR),
        (pt::MANUFACTURER, MANUFACTURER),
        (pt::VENDOR_STRING_1, VENDOR_STRINGS[0]),
        (pt::VENDOR_STRING_2, VENDOR_STRINGS[1]),
        (pt::VENDOR_STRING_3, VENDOR_STRINGS[2]),
        (pt::VENDOR_STRING_4, VENDOR_STRINGS[3]),
        (pt::VENDOR_TPM_TYPE, 0),
        (pt::FIRMWARE_VERSION_1, version),
        (pt::FIRMWARE_VERSION_2, 0),
        (pt::INPUT_BUFFER, INPUT_BUFFER as u32),
        (pt::HR_TRANSIENT_MIN, MAX_LOADED_OBJECTS as u32),
        (pt::HR_PERSISTENT_MIN, MAX_PERSISTENT as u32),
        (pt::HR_LOADED_MIN, MAX_LOADED_SESSIONS as u32),
        (pt::ACTIVE_SESSIONS_MAX, MAX_ACTIVE_SESSIONS as u32),
        (pt::PCR_COUNT, PCR_COUNT as u32),
        (pt::PCR_SELECT_MIN, PCR_SELECT_SIZE as u32),
        (pt::CONTEXT_GAP_MAX, u32::from(u16::MAX)),
        (pt::NV_COUNTERS_MAX, 0),
        (pt::NV_INDEX_MAX, u32::from(crate::nv::MAX_NV_INDEX_SIZE)),
        (pt::MEMORY, 0),
        (pt::CLOCK_UPDATE, 0),
        (pt::CONTEXT_HASH, u32::from(alg::SHA256)),
        (pt::CONTEXT_SYM, u32::from(alg::AES)),
        (pt::CONTEXT_SYM_SIZE, 128),
        (pt::ORDERLY_COUNT, 0),
        (pt::MAX_COMMAND_SIZE, MAX_COMMAND_SIZE as u32),
        (pt::MAX_RESPONSE_SIZE, MAX_RESPONSE_SIZE as u32),
        (pt::MAX_DIGEST, MAX_DIGEST as u32),
        (pt::MAX_OBJECT_CONTEXT, MAX_CONTEXT_SIZE as u32),
        (pt::MAX_SESSION_CONTEXT, MAX_CONTEXT_SIZE as u32),
        (pt::PS_FAMILY_INDICATOR, PS_PC_CLIENT),
        (pt::PS_LEVEL, 0),
        (pt::PS_REVISION, 0),
        (pt::PS_DAY_OF_YEAR, 0),
        (pt::PS_YEAR, 0),
        (pt::SPLIT_MAX, 0),
        (pt::TOTAL_COMMANDS, total),
        (pt::LIBRARY_COMMANDS, total),
        (pt::VENDOR_COMMANDS, 0),
        (pt::NV_BUFFER_MAX, crate::nv::MAX_NV_BUFFER as u32),
        (pt::MODES, 0),
        (pt::MAX_CAP_BUFFER, MAX_CAP_BUFFER as u32),
        (pt::PERMANENT, permanent),
        (pt::STARTUP_CLEAR, startup_clear),
        (pt::HR_NV_INDEX, tpm.perm.nv.len() as u32),
        (pt::HR_LOADED, loaded_sessions),
        (pt::HR_LOADED_AVAIL, MAX_LOADED_SESSIONS as u32 - loaded_sessions),
        (pt::HR_ACTIVE, active_sessions),
        (pt::HR_ACTIVE_AVAIL, MAX_ACTIVE_SESSIONS as u32 - active_sessions),
        (pt::HR_TRANSIENT_AVAIL, (MAX_LOADED_OBJECTS - tpm.objects.len()) as u32),
        (pt::HR_PERSISTENT, tpm.perm.persistent.len() as u32),
        (pt::HR_PERSISTENT_AVAIL, (MAX_PERSISTENT - tpm.perm.persistent.len()) as u32),
        (pt::NV_COUNTERS, counters),
        (pt::NV_COUNTERS_AVAIL, (crate::nv::MAX_NV_INDICES - tpm.perm.nv.len()) as u32),
        (pt::ALGORITHM_SET, 0),
        (pt::LOADED_CURVES, 0),
    ]
}

/// The PCR properties, ascending by tag, each a PCR bitmap.
fn pcr_properties() -> Vec<(u32, [u8; PCR_SELECT_SIZE])> {
    let mut v = alloc::vec![(pt_pcr::SAVE, bitmap(|i| ATTRIBUTES[i].state_save))];
    for loc in 0..5u8 {
        v.push((pt_pcr::EXTEND_L0 + 2 * u32::from(loc), bitmap(|i| locality_in(ATTRIBUTES[i].extend_locality, loc))));
        v.push((pt_pcr::RESET_L0 + 2 * u32::from(loc), bitmap(|i| locality_in(ATTRIBUTES[i].reset_locality, loc))));
    }
    v.push((pt_pcr::NO_INCREMENT, bitmap(|i| NO_INCREMENT.contains(&i))));
    v.push((pt_pcr::DRTM_RESET, bitmap(|i| ATTRIBUTES[i].reset_locality & 0x10 != 0)));
    // No PCR policy or authValue groups.
    v.push((pt_pcr::POLICY, [0; PCR_SELECT_SIZE]));
    v.push((pt_pcr::AUTH, [0; PCR_SELECT_SIZE]));
    v
}

/// The entries `>= first` (by key), at most `count` and `max`; and whether more remain.
fn window<T: Copy>(items: &[T], key: impl Fn(&T) -> u32, first: u32, count: u32, max: usize) -> (Vec<T>, bool) {
    let from: Vec<T> = items.iter().copied().filter(|i| key(i) >= first).collect();
    let n = from.len().min(count as usize).min(max);
    (from[..n].to_vec(), from.len() > n)
}

/// TPM2_GetCapability(capability, property, propertyCount) → moreData, capabilityData.
pub fn get_capability(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let capability = c.params.u32().p(1)?;
    let property = c.params.u32().p(2)?;
    let count = c.params.u32().p(3)?;
    if capability > cap::LAST && capability != cap::VENDOR_PROPERTY {
        return Err(Rc::VALUE.param(1));
    }
    c.finish()?;
    let mut w = crate::codec::Writer::new();
    let more = match capability {
        cap::ALGS => {
            let (list, more) = window(&algorithms(), |a| u32::from(a.0), property, count, MAX_CAP_DATA / 6);
            w.u32(list.len() as u32);
            list.iter().for_each(|&(a, attr)| {
                w.u16(a).u32(attr);
            });
            more
        }
        cap::HANDLES => {
            let all: Vec<u32> = match (property >> 24) as u8 {
                ht::PCR => (0..PCR_COUNT as u32).collect(),
                ht::PERMANENT => PERMANENT_HANDLES.to_vec(),
                ht::TRANSIENT => tpm.objects.keys().copied().collect(),
                ht::PERSISTENT => tpm.perm.persistent.keys().copied().collect(),
                ht::HMAC_SESSION | ht::POLICY_SESSION => {
                    let ty = (property >> 24) as u8;
                    tpm.sessions
                        .keys()
                        .chain(tpm.saved_sessions.keys())
                        .copied()
                        .filter(|h| (h >> 24) as u8 == ty)
                        .collect::<alloc::collections::BTreeSet<u32>>()
                        .into_iter()
                        .collect()
                }
                ht::NV_INDEX => tpm.perm.nv.keys().copied().collect(),
                _ => return Err(Rc::HANDLE.param(2)),
            };
            let (list, more) = window(&all, |&h| h, property, count, MAX_CAP_DATA / 4);
            w.u32(list.len() as u32);
            list.iter().for_each(|&h| {
                w.u32(h);
            });
            more
        }
        cap::COMMANDS => {
            let all: Vec<(u32, u32)> = COMMANDS.iter().map(|r| (r.cc, r.attributes())).collect();
            let (list, more) = window(&all, |e| e.0, property, count, MAX_CAP_DATA / 4);
            w.u32(list.len() as u32);
            list.iter().for_each(|&(_, a)| {
                w.u32(a);
            });
            more
        }
        cap::PCRS => {
            w.u32(HASHES.len() as u32);
            for h in HASHES {
                let allocated = tpm.perm.pcr_allocation & (1 << h.index()) != 0;
                w.u16(h.alg()).u8(PCR_SELECT_SIZE as u8).bytes(&bitmap(|_| allocated));
            }
            false
        }
        cap::TPM_PROPERTIES => {
            let all = properties(tpm);
            let (list, more) = window(&all, |p| p.0, property, count, MAX_CAP_DATA / 8);
            w.u32(list.len() as u32);
            list.iter().for_each(|&(p, v)| {
                w.u32(p).u32(v);
            });
            more
        }
        cap::PCR_PROPERTIES => {
            let all = pcr_properties();
            let (list, more) = window(&all, |p| p.0, property, count, MAX_CAP_DATA / (5 + PCR_SELECT_SIZE));
            w.u32(list.len() as u32);
            list.iter().for_each(|(p, b)| {
                w.u32(*p).u8(PCR_SELECT_SIZE as u8).bytes(b);
            });
            more
        }
        cap::ECC_CURVES => {
            let curves = [u32::from(crate::constants::ecc_curve::NIST_P256)];
            let (list, more) = window(&curves, |&c| c, property, count, MAX_CAP_DATA / 2);
            w.u32(list.len() as u32);
            list.iter().for_each(|&c| {
                w.u16(c as u16);
            });
            more
        }
        // PP_COMMANDS, AUDIT_COMMANDS, AUTH_POLICIES, VENDOR_PROPERTY: nothing.
        _ => {
            w.u32(0);
            false
        }
    };
    resp.params.u8(u8::from(more)).u32(capability).bytes(&w.0);
    Ok(())
}
