//! The versioned state image: what an embedder stores so the TPM survives a restart.
//!
//! ```text
//! magic "TPM2" | version u16 (= 3; 1 and 2 are still read)
//! eps[32] | sps[32] | pps[32]
//! ownerAuth TPM2B | endorsementAuth TPM2B | lockoutAuth TPM2B
//! pcrAllocation u8 (bit 0 SHA-1, bit 1 SHA-256)
//! clock u64 (ms) | resetCount u32 | restartCount u32 | clockSafe u8 (0 or 1)
//! lockoutUntil u64 (TPM clock ms; 0 = no lockout)
//! orderly u8 (0 none, 1 Shutdown(CLEAR), 2 Shutdown(STATE))
//! if orderly = 2: pcrUpdateCounter u32, platformAuth TPM2B, then for each allocated bank
//!                 (SHA-1, SHA-256) the values of PCR 0..15 (the state-saved PCRs)
//! version 2 and 3:
//! nullSeed present u8 (0/1) [nullSeed[32]]
//! persistent count u8, then per persistent object (ascending handles):
//!   handle u32 | hierarchy u32 | TPM2B(TPMT_PUBLIC) | TPM2B(TPMT_SENSITIVE) | TPM2B(qualifiedName)
//! version 3 only:
//! NV count u8, then per index (ascending handles):
//!   TPM2B(TPMS_NV_PUBLIC) | TPM2B(authValue) | TPM2B(data: exactly dataSize bytes)
//! nvMaxCounter u64 | nvGlobalLock u8 (0/1)
//! ```
//! A version-1 image (no null seed, no persistent objects) and a version-2 image (no NV
//! indices) load as such and are written back as version 3.
//! All integers big-endian; nothing may follow. Decoding is bounds-checked and refuses any
//! inconsistency with an [`ImageError`]; it never panics.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::constants::{PCR_COUNT, PRIMARY_SEED_SIZE};
use crate::crypto::HASHES;
use crate::pcr::{ATTRIBUTES, PcrBanks};
use crate::state::{Orderly, PermanentState, SavedState};

/// The image magic.
pub const MAGIC: [u8; 4] = *b"TPM2";
/// The image format version this engine writes and reads.
pub const VERSION: u16 = 3;
/// The format before NV indices, still read.
pub const VERSION_2: u16 = 2;
/// The first format, still read.
pub const VERSION_1: u16 = 1;
/// Largest marshaled public or sensitive area kept.
const MAX_AREA: usize = 1024;
/// Largest authorization value kept (a SHA-256 digest).
const MAX_AUTH: usize = 32;
/// PCRs 0..SAVED_PCRS are kept by Shutdown(STATE).
const SAVED_PCRS: usize = 16;

/// Why an image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// It does not start with [`MAGIC`].
    BadMagic,
    /// A version this engine does not read.
    UnsupportedVersion(u16),
    /// It ends inside a field.
    Truncated,
    /// A field has a value the engine never writes.
    Invalid(&'static str),
    /// Bytes follow the last field.
    TrailingBytes,
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadMagic => write!(f, "not a TPM 2.0 state image (bad magic)"),
            Self::UnsupportedVersion(v) => {
                write!(f, "state image version {v} (this engine reads {VERSION_1} to {VERSION})")
            }
            Self::Truncated => write!(f, "state image truncated"),
            Self::Invalid(what) => write!(f, "state image: invalid {what}"),
            Self::TrailingBytes => write!(f, "state image: trailing bytes"),
        }
    }
}

const _: () = assert!(SAVED_PCRS <= PCR_COUNT);
const _: () = {
    let mut i = 0;
    while i < PCR_COUNT {
        assert!(ATTRIBUTES[i].state_save == (i < SAVED_PCRS));
        i += 1;
    }
};

/// Encodes the state.
pub fn encode(perm: &PermanentState, saved: Option<&SavedState>) -> Zeroizing<Vec<u8>> {
    let mut w = Writer::new();
    w.bytes(&MAGIC).u16(VERSION);
    w.bytes(&perm.eps[..]).bytes(&perm.sps[..]).bytes(&perm.pps[..]);
    w.tpm2b(&perm.owner_auth).tpm2b(&perm.endorsement_auth).tpm2b(&perm.lockout_auth);
    w.u8(perm.pcr_allocation).u64(perm.clock_ms).u32(perm.reset_count).u32(perm.restart_count);
    w.u8(u8::from(perm.clock_safe)).u64(perm.lockout_until_ms);
    match (perm.orderly, saved) {
        (Orderly::State, Some(s)) => {
            w.u8(Orderly::State as u8).u32(s.pcr_update_counter).tpm2b(&s.platform_auth);
            for h in HASHES.into_iter().filter(|h| perm.pcr_allocation & (1 << h.index()) != 0) {
                for i in 0..SAVED_PCRS {
                    match s.pcrs.get(h, i) {
                        Some(v) => w.bytes(v),
                        None => w.bytes(&crate::pcr::initial_value(h, i, 0)),
                    };
                }
            }
        }
        // Shutdown(STATE) without a saved state cannot happen; written as non-orderly.
        (Orderly::State, None) | (Orderly::None, _) => {
            w.u8(Orderly::None as u8);
        }
        (Orderly::Clear, _) => {
            w.u8(Orderly::Clear as u8);
        }
    }
    match &perm.null_seed {
        Some(s) => w.u8(1).bytes(&s[..]),
        None => w.u8(0),
    };
    w.u8(perm.persistent.len().min(usize::from(u8::MAX)) as u8);
    for (&h, o) in perm.persistent.iter().take(usize::from(u8::MAX)) {
        w.u32(h).u32(o.hierarchy).tpm2b(&o.public.marshal()).tpm2b(&o.sensitive.marshal()).tpm2b(&o.qualified_name);
    }
    w.u8(perm.nv.len().min(usize::from(u8::MAX)) as u8);
    for nv in perm.nv.values().take(usize::from(u8::MAX)) {
        w.tpm2b(&nv.public.marshal()).tpm2b(&nv.auth).tpm2b(&nv.data);
    }
    w.u64(perm.nv_max_counter).u8(u8::from(perm.nv_global_lock));
    Zeroizing::new(w.0)
}

fn seed(r: &mut Reader<'_>) -> Result<Zeroizing<[u8; PRIMARY_SEED_SIZE]>, ImageError> {
    let mut s = Zeroizing::new([0u8; PRIMARY_SEED_SIZE]);
    s.copy_from_slice(r.bytes(PRIMARY_SEED_SIZE).map_err(|_| ImageError::Truncated)?);
    Ok(s)
}

fn auth(r: &mut Reader<'_>) -> Result<Zeroizing<Vec<u8>>, ImageError> {
    let b = r.tpm2b(MAX_AUTH).map_err(|rc| {
        if rc == crate::rc::Rc::SIZE { ImageError::Invalid("authorization value size") } else { ImageError::Truncated }
    })?;
    Ok(Zeroizing::new(b.to_vec()))
}

/// One persistent object of a version-2 image.
fn persistent_object(r: &mut Reader<'_>) -> Result<(u32, crate::object::Object), ImageError> {
    use crate::object::public::Public;
    use crate::object::sensitive::Sensitive;
    let t = |_| ImageError::Truncated;
    let handle = r.u32().map_err(t)?;
    if (handle >> 24) as u8 != crate::constants::ht::PERSISTENT {
        return Err(ImageError::Invalid("persistent handle"));
    }
    let hierarchy = r.u32().map_err(t)?;
    if !matches!(
        hierarchy,
        crate::constants::rh::OWNER | crate::constants::rh::ENDORSEMENT | crate::constants::rh::PLATFORM
    ) {
        return Err(ImageError::Invalid("persistent object hierarchy"));
    }
    let public = r.tpm2b(MAX_AREA).map_err(t)?;
    let mut pr = Reader::new(public);
    let public = Public::read(&mut pr).map_err(|_| ImageError::Invalid("persistent public area"))?;
    if pr.remaining() != 0 {
        return Err(ImageError::Invalid("persistent public area"));
    }
    let sensitive =
        Sensitive::read(r.tpm2b(MAX_AREA).map_err(t)?).map_err(|_| ImageError::Invalid("persistent sensitive area"))?;
    crate::object::check_binding(&public, &sensitive).map_err(|_| ImageError::Invalid("persistent object binding"))?;
    let qualified_name = r.tpm2b(2 + crate::constants::MAX_DIGEST).map_err(t)?.to_vec();
    let name = public.name();
    Ok((handle, crate::object::Object { public, sensitive, name, qualified_name, hierarchy }))
}

/// One NV index of a version-3 image: its public area must pass the definition checks
/// (WRITTEN and the locks aside), its data be exactly dataSize bytes.
fn nv_index(r: &mut Reader<'_>) -> Result<crate::nv::NvIndex, ImageError> {
    use crate::nv::{NvIndex, NvPublic, attr};
    let t = |_| ImageError::Truncated;
    let public = r.tpm2b(MAX_AREA).map_err(t)?;
    let mut pr = Reader::new(public);
    let public = NvPublic::read(&mut pr).map_err(|_| ImageError::Invalid("NV public area"))?;
    if pr.remaining() != 0 {
        return Err(ImageError::Invalid("NV public area"));
    }
    let mut fresh = public.clone();
    fresh.attributes &= !(attr::WRITTEN | attr::WRITELOCKED | attr::READLOCKED);
    fresh.check_new(public.has(attr::PLATFORMCREATE)).map_err(|_| ImageError::Invalid("NV attributes"))?;
    let auth = auth(r)?;
    if auth.len() > public.name_alg.size() {
        return Err(ImageError::Invalid("NV authorization value size"));
    }
    let data = r.tpm2b(usize::from(crate::nv::MAX_NV_INDEX_SIZE)).map_err(t)?;
    if data.len() != usize::from(public.data_size) {
        return Err(ImageError::Invalid("NV data size"));
    }
    Ok(NvIndex { public, auth, data: Zeroizing::new(data.to_vec()) })
}

/// Decodes an image.
pub fn decode(bytes: &[u8]) -> Result<(PermanentState, Option<SavedState>), ImageError> {
    let mut r = Reader::new(bytes);
    let t = |_| ImageError::Truncated;
    if r.bytes(4).map_err(t)? != MAGIC {
        return Err(ImageError::BadMagic);
    }
    let version = r.u16().map_err(t)?;
    if !(VERSION_1..=VERSION).contains(&version) {
        return Err(ImageError::UnsupportedVersion(version));
    }
    let (eps, sps, pps) = (seed(&mut r)?, seed(&mut r)?, seed(&mut r)?);
    let (owner_auth, endorsement_auth, lockout_auth) = (auth(&mut r)?, auth(&mut r)?, auth(&mut r)?);
    let pcr_allocation = r.u8().map_err(t)?;
    if pcr_allocation == 0 || pcr_allocation & !0b11 != 0 {
        return Err(ImageError::Invalid("PCR allocation"));
    }
    let clock_ms = r.u64().map_err(t)?;
    let reset_count = r.u32().map_err(t)?;
    let restart_count = r.u32().map_err(t)?;
    let clock_safe = match r.u8().map_err(t)? {
        0 => false,
        1 => true,
        _ => return Err(ImageError::Invalid("clockSafe")),
    };
    let lockout_until_ms = r.u64().map_err(t)?;
    let orderly = match r.u8().map_err(t)? {
        0 => Orderly::None,
        1 => Orderly::Clear,
        2 => Orderly::State,
        _ => return Err(ImageError::Invalid("orderly state")),
    };
    let saved = if orderly == Orderly::State {
        let pcr_update_counter = r.u32().map_err(t)?;
        let platform_auth = auth(&mut r)?;
        let mut pcrs = PcrBanks::startup(pcr_allocation, 0);
        for h in HASHES.into_iter().filter(|h| pcr_allocation & (1 << h.index()) != 0) {
            for i in 0..SAVED_PCRS {
                let v = r.bytes(h.size()).map_err(t)?;
                if let Some(bank) = pcrs.banks[h.index()].as_mut() {
                    bank[i] = v.to_vec();
                }
            }
        }
        Some(SavedState { pcr_update_counter, pcrs, platform_auth })
    } else {
        None
    };
    let mut null_seed = None;
    let mut persistent = alloc::collections::BTreeMap::new();
    let mut nv = alloc::collections::BTreeMap::new();
    let (mut nv_max_counter, mut nv_global_lock) = (0, false);
    if version >= VERSION_2 {
        null_seed = match r.u8().map_err(t)? {
            0 => None,
            1 => Some(seed(&mut r)?),
            _ => return Err(ImageError::Invalid("null seed flag")),
        };
        let count = r.u8().map_err(t)?;
        if usize::from(count) > crate::constants::MAX_PERSISTENT {
            return Err(ImageError::Invalid("persistent object count"));
        }
        for _ in 0..count {
            let (h, o) = persistent_object(&mut r)?;
            if persistent.insert(h, o).is_some() {
                return Err(ImageError::Invalid("duplicate persistent handle"));
            }
        }
    }
    if version >= VERSION {
        let count = r.u8().map_err(t)?;
        if usize::from(count) > crate::nv::MAX_NV_INDICES {
            return Err(ImageError::Invalid("NV index count"));
        }
        for _ in 0..count {
            let index = nv_index(&mut r)?;
            if nv.insert(index.public.index, index).is_some() {
                return Err(ImageError::Invalid("duplicate NV index"));
            }
        }
        nv_max_counter = r.u64().map_err(t)?;
        nv_global_lock = match r.u8().map_err(t)? {
            0 => false,
            1 => true,
            _ => return Err(ImageError::Invalid("NV global lock flag")),
        };
    }
    if r.remaining() != 0 {
        return Err(ImageError::TrailingBytes);
    }
    let perm = PermanentState {
        eps,
        sps,
        pps,
        owner_auth,
        endorsement_auth,
        lockout_auth,
        pcr_allocation,
        clock_ms,
        reset_count,
        restart_count,
        clock_safe,
        orderly,
        lockout_until_ms,
        null_seed,
        persistent,
        nv,
        nv_max_counter,
        nv_global_lock,
    };
    Ok((perm, saved))
}
