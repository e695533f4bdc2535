//! The engine's state, kept apart by lifetime: [`PermanentState`] (manufacture-time seeds,
//! hierarchy authorization values, the PCR allocation, the clock and the reset/restart
//! counts, the orderly-shutdown record), [`SavedState`] (what TPM2_Shutdown(STATE) keeps for
//! TPM2_Startup(STATE)) and [`VolatileState`] (lost on _TPM_Init). [`image`] is their
//! versioned encoding.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::constants::PRIMARY_SEED_SIZE;
use crate::object::Object;
use crate::pcr::PcrBanks;

pub mod image;

/// How the TPM was last shut down (`gp.orderlyState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orderly {
    /// No TPM2_Shutdown since the last TPM2_Startup (a crash or power loss).
    None = 0,
    /// TPM2_Shutdown(TPM_SU_CLEAR), or freshly manufactured.
    Clear = 1,
    /// TPM2_Shutdown(TPM_SU_STATE): [`SavedState`] is kept.
    State = 2,
}

/// State that survives power cycles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermanentState {
    /// Endorsement primary seed.
    pub eps: Zeroizing<[u8; PRIMARY_SEED_SIZE]>,
    /// Storage primary seed.
    pub sps: Zeroizing<[u8; PRIMARY_SEED_SIZE]>,
    /// Platform primary seed.
    pub pps: Zeroizing<[u8; PRIMARY_SEED_SIZE]>,
    /// ownerAuth.
    pub owner_auth: Zeroizing<Vec<u8>>,
    /// endorsementAuth.
    pub endorsement_auth: Zeroizing<Vec<u8>>,
    /// lockoutAuth.
    pub lockout_auth: Zeroizing<Vec<u8>>,
    /// Allocated PCR banks: bit [`crate::crypto::HashAlg::index`].
    pub pcr_allocation: u8,
    /// TPM clock (ms) at the last save.
    pub clock_ms: u64,
    /// resetCount: TPM Resets since manufacture.
    pub reset_count: u32,
    /// restartCount: TPM Restarts and Resumes since the last TPM Reset.
    pub restart_count: u32,
    /// `safe` of TPMS_CLOCK_INFO: CLEAR from a Startup after a non-orderly shutdown (the
    /// clock may have gone back) until the clock is next made durable (an image is taken).
    pub clock_safe: bool,
    /// The last shutdown.
    pub orderly: Orderly,
    /// lockoutAuth is locked out (a wrong lockoutAuth) until the TPM clock reaches this (ms);
    /// 0: not locked out.
    pub lockout_until_ms: u64,
    /// The null hierarchy's seed: new at every TPM Reset (`None` until first needed).
    pub null_seed: Option<Zeroizing<[u8; PRIMARY_SEED_SIZE]>>,
    /// The persistent objects (TPM2_EvictControl) by handle.
    pub persistent: BTreeMap<u32, Object>,
    /// The NV indices (TPM2_NV_DefineSpace) by handle.
    pub nv: BTreeMap<u32, crate::nv::NvIndex>,
    /// The largest value any NV counter has had (a new counter starts from it).
    pub nv_max_counter: u64,
    /// TPM2_NV_GlobalWriteLock ran since the last TPM2_Startup(CLEAR).
    pub nv_global_lock: bool,
}

/// What TPM2_Shutdown(STATE) saves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedState {
    /// pcrUpdateCounter.
    pub pcr_update_counter: u32,
    /// The PCRs (only those with the `state_save` attribute are restored).
    pub pcrs: PcrBanks,
    /// platformAuth.
    pub platform_auth: Zeroizing<Vec<u8>>,
}

/// State that lives from TPM2_Startup to the next _TPM_Init.
#[derive(Clone, Debug)]
pub struct VolatileState {
    /// The PCR values.
    pub pcrs: PcrBanks,
    /// pcrUpdateCounter.
    pub pcr_update_counter: u32,
    /// Whether this Startup followed an orderly TPM2_Shutdown (TPMA_STARTUP_CLEAR.orderly).
    pub orderly_start: bool,
    /// platformAuth: empty after every TPM Reset and Restart, kept across a Resume.
    pub platform_auth: Zeroizing<Vec<u8>>,
}
