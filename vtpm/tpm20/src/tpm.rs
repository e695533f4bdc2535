//! The [`Tpm`] object: state, the injected platform services, and the API embedders use
//! (manufacture / restore, _TPM_Init, execute, the state image and its change flag).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::constants::{PRIMARY_SEED_SIZE, ht, rh};
use crate::crypto::{HASHES, HashAlg};
use crate::object::Object;
use crate::platform::{Clock, TpmRng};
use crate::rc::Rc;
use crate::state::image::{self, ImageError};
use crate::state::{Orderly, PermanentState, SavedState, VolatileState};

/// A TPM 2.0.
pub struct Tpm {
    pub(crate) perm: PermanentState,
    pub(crate) saved: Option<SavedState>,
    /// `None` until TPM2_Startup succeeds (after _TPM_Init).
    pub(crate) vol: Option<VolatileState>,
    /// The loaded transient objects by handle (lost on _TPM_Init).
    pub(crate) objects: BTreeMap<u32, Object>,
    /// The loaded HMAC and policy sessions by handle (lost on _TPM_Init).
    pub(crate) sessions: BTreeMap<u32, crate::session::Session>,
    /// The saved (context-saved, not loaded) sessions: handle → context sequence.
    pub(crate) saved_sessions: BTreeMap<u32, u64>,
    /// The sequence number of the last saved object context.
    pub(crate) object_context_id: u64,
    /// Algorithms whose self-test passed since _TPM_Init (index [`HashAlg::index`]).
    pub(crate) tested: [bool; 2],
    /// Failure mode (a self-test failed): only GetTestResult and GetCapability answer.
    pub(crate) failed: bool,
    pub(crate) rng: Box<dyn TpmRng>,
    pub(crate) clock: Box<dyn Clock>,
    /// What TPM2_StirRandom mixed in: `(key, counter)` of the SHA-256 stream XORed onto the
    /// RNG's output.
    pub(crate) stir: Option<(Zeroizing<[u8; 32]>, u64)>,
    /// `perm.clock_ms` minus the injected clock's ms when the state was loaded.
    clock_offset_ms: i128,
    /// The injected clock's µs at the last _TPM_Init.
    init_us: u64,
    state_changed: bool,
}

impl core::fmt::Debug for Tpm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tpm").field("started", &self.vol.is_some()).finish_non_exhaustive()
    }
}

/// Both banks allocated (SHA-1 and SHA-256).
pub const DEFAULT_PCR_ALLOCATION: u8 = 0b11;

impl Tpm {
    /// A TPM from decoded state, powered on (_TPM_Init done, waiting for TPM2_Startup).
    pub fn from_state(
        perm: PermanentState,
        saved: Option<SavedState>,
        rng: Box<dyn TpmRng>,
        mut clock: Box<dyn Clock>,
    ) -> Self {
        let now = clock.now_us();
        let clock_offset_ms = i128::from(perm.clock_ms) - i128::from(now / 1000);
        Self {
            perm,
            saved,
            vol: None,
            objects: BTreeMap::new(),
            object_context_id: 0,
            sessions: BTreeMap::new(),
            saved_sessions: BTreeMap::new(),
            tested: [false; 2],
            failed: false,
            rng,
            clock,
            stir: None,
            clock_offset_ms,
            init_us: now,
            state_changed: false,
        }
    }

    /// Manufactures a TPM: primary seeds from `rng`, empty hierarchy authorizations, SHA-1
    /// and SHA-256 banks allocated. The state is marked changed (it must be stored).
    pub fn manufacture(mut rng: Box<dyn TpmRng>, clock: Box<dyn Clock>) -> Self {
        let mut seed = || {
            let mut s = Zeroizing::new([0u8; PRIMARY_SEED_SIZE]);
            rng.fill_bytes(&mut s[..]);
            s
        };
        let (eps, sps, pps) = (seed(), seed(), seed());
        let perm = PermanentState {
            eps,
            sps,
            pps,
            owner_auth: Zeroizing::new(Vec::new()),
            endorsement_auth: Zeroizing::new(Vec::new()),
            lockout_auth: Zeroizing::new(Vec::new()),
            pcr_allocation: DEFAULT_PCR_ALLOCATION,
            clock_ms: 0,
            reset_count: 0,
            restart_count: 0,
            clock_safe: true,
            orderly: Orderly::Clear,
            lockout_until_ms: 0,
            null_seed: None,
            persistent: BTreeMap::new(),
            nv: BTreeMap::new(),
            nv_max_counter: 0,
            nv_global_lock: false,
        };
        let mut tpm = Self::from_state(perm, None, rng, clock);
        tpm.state_changed = true;
        tpm
    }

    /// A TPM restored from a state image, powered on.
    pub fn from_image(bytes: &[u8], rng: Box<dyn TpmRng>, clock: Box<dyn Clock>) -> Result<Self, ImageError> {
        let (perm, saved) = image::decode(bytes)?;
        Ok(Self::from_state(perm, saved, rng, clock))
    }

    /// _TPM_Init: a power cycle. Volatile state is lost; the TPM waits for TPM2_Startup.
    pub fn init(&mut self) {
        self.vol = None;
        self.objects.clear();
        self.sessions.clear();
        self.saved_sessions.clear();
        self.tested = [false; 2];
        self.failed = false;
        self.stir = None;
        self.init_us = self.clock.now_us();
    }

    /// Executes one command frame at `locality`; returns the response frame. Never panics:
    /// malformed input gives an error response.
    pub fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        crate::dispatch::execute(self, locality, command)
    }

    /// Whether the permanent or saved state changed since the change was last cleared.
    pub fn state_changed(&self) -> bool {
        self.state_changed
    }

    /// Marks the permanent or saved state changed.
    pub fn mark_state_changed(&mut self) {
        self.state_changed = true;
    }

    /// Clears the change flag.
    pub fn clear_changed(&mut self) {
        self.state_changed = false;
    }

    /// The state image (the clock as it is now, which makes the clock safe again: it can no
    /// longer go back behind this value); does not touch the change flag.
    pub fn save_image(&mut self) -> Zeroizing<Vec<u8>> {
        self.perm.clock_safe = true;
        let mut perm = self.perm.clone();
        perm.clock_ms = self.clock_ms();
        image::encode(&perm, self.saved.as_ref())
    }

    /// The state image if the state changed (the change is then taken).
    pub fn image_if_changed(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        if !self.state_changed {
            return None;
        }
        self.state_changed = false;
        Some(self.save_image())
    }

    /// The permanent state.
    pub fn perm(&self) -> &PermanentState {
        &self.perm
    }

    /// The state TPM2_Shutdown(STATE) saved, if any.
    pub fn saved(&self) -> Option<&SavedState> {
        self.saved.as_ref()
    }

    /// Whether TPM2_Startup has run since _TPM_Init.
    pub fn started(&self) -> bool {
        self.vol.is_some()
    }

    /// The TPM clock in ms (persistent across restarts, advancing with the injected clock).
    pub(crate) fn clock_ms(&mut self) -> u64 {
        let now = i128::from(self.clock.now_us() / 1000);
        u64::try_from((now + self.clock_offset_ms).max(0)).unwrap_or(u64::MAX)
    }

    /// Milliseconds since the last _TPM_Init.
    pub(crate) fn time_ms(&mut self) -> u64 {
        self.clock.now_us().saturating_sub(self.init_us) / 1000
    }

    /// Runs the known-answer test of `h` if it has not passed yet; failure enters failure mode.
    pub(crate) fn test_alg(&mut self, h: HashAlg) -> Result<(), crate::rc::Rc> {
        if !self.tested[h.index()] {
            if !h.self_test() {
                self.failed = true;
                return Err(crate::rc::Rc::FAILURE);
            }
            self.tested[h.index()] = true;
        }
        Ok(())
    }

    /// Runs every self-test not yet passed.
    pub(crate) fn test_all(&mut self) -> Result<(), crate::rc::Rc> {
        HASHES.into_iter().try_for_each(|h| self.test_alg(h))
    }

    /// The primary seed of `hierarchy` (TPM_RH_OWNER: SPS, ENDORSEMENT: EPS, PLATFORM: PPS,
    /// NULL: the null seed, new at every TPM Reset).
    pub(crate) fn hierarchy_seed(&mut self, hierarchy: u32) -> Zeroizing<[u8; PRIMARY_SEED_SIZE]> {
        match hierarchy {
            rh::OWNER => self.perm.sps.clone(),
            rh::ENDORSEMENT => self.perm.eps.clone(),
            rh::PLATFORM => self.perm.pps.clone(),
            _ => self.null_seed(),
        }
    }

    /// The null seed (made when missing).
    pub(crate) fn null_seed(&mut self) -> Zeroizing<[u8; PRIMARY_SEED_SIZE]> {
        if let Some(s) = &self.perm.null_seed {
            return s.clone();
        }
        let mut s = Zeroizing::new([0u8; PRIMARY_SEED_SIZE]);
        self.random(&mut s[..]);
        self.perm.null_seed = Some(s.clone());
        self.state_changed = true;
        s
    }

    /// The proof value of `hierarchy` (ticket and context HMAC keys): derived from its seed,
    /// so it changes with the seed (the SPS on TPM2_Clear, the null seed on TPM Reset); the
    /// endorsement proof also from the SPS, as ehProof changes on TPM2_Clear.
    pub(crate) fn proof(&mut self, hierarchy: u32) -> Zeroizing<Vec<u8>> {
        let seed = self.hierarchy_seed(hierarchy);
        let sps = self.perm.sps.clone();
        let context: &[u8] = if hierarchy == rh::ENDORSEMENT { &sps[..] } else { &[] };
        crate::crypto::kdf::kdfa(HashAlg::Sha256, &seed[..], b"PROOF", context, &[], 256)
    }

    /// The loaded object at `handle` (transient or persistent).
    pub(crate) fn object(&self, handle: u32) -> Option<&Object> {
        match (handle >> 24) as u8 {
            ht::TRANSIENT => self.objects.get(&handle),
            ht::PERSISTENT => self.perm.persistent.get(&handle),
            _ => None,
        }
    }

    /// Loads a transient object in the first free slot; `TPM_RC_OBJECT_MEMORY` when all
    /// [`crate::constants::MAX_LOADED_OBJECTS`] are taken.
    pub(crate) fn load_transient(&mut self, obj: Object) -> Result<u32, Rc> {
        let handle = self.free_transient_slot()?;
        self.objects.insert(handle, obj);
        Ok(handle)
    }

    /// The first free transient handle; `TPM_RC_OBJECT_MEMORY` when every slot is taken
    /// (checked before the work, as the reference implementation).
    pub(crate) fn free_transient_slot(&self) -> Result<u32, Rc> {
        (0..crate::constants::MAX_LOADED_OBJECTS as u32)
            .map(|i| crate::constants::TRANSIENT_FIRST + i)
            .find(|h| !self.objects.contains_key(h))
            .ok_or(Rc::OBJECT_MEMORY)
    }

    /// The next object context sequence number.
    pub(crate) fn next_object_context(&mut self) -> u64 {
        self.object_context_id = self.object_context_id.wrapping_add(1);
        self.object_context_id
    }

    /// Ends the session at `handle`; whether one was loaded.
    pub(crate) fn flush_session(&mut self, handle: u32) -> bool {
        self.sessions.remove(&handle).is_some() || self.saved_sessions.remove(&handle).is_some()
    }

    /// Random bytes: the injected RNG, XORed with the StirRandom stream if any.
    pub(crate) fn random(&mut self, buf: &mut [u8]) {
        self.rng.fill_bytes(buf);
        if let Some((key, counter)) = self.stir.as_mut() {
            for chunk in buf.chunks_mut(32) {
                let block = HashAlg::Sha256.digest(&[&key[..], &counter.to_be_bytes()]);
                *counter = counter.wrapping_add(1);
                chunk.iter_mut().zip(block).for_each(|(b, k)| *b ^= k);
            }
        }
    }
}
