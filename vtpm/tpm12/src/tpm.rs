//! The [`Tpm`] object: state, injected platform services, and the public API
//! embedders use (construct / restore, execute, save).

use alloc::boxed::Box;
use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::constants::rc::Rc;
use crate::platform::{Clock, TpmRng};
use crate::state::image::{self, ImageError};
use crate::state::{PermanentState, SavedState, VolatileState};

/// Engine options (the vtpm command line maps onto these).
#[derive(Clone, Debug)]
pub struct TpmOptions {
    /// Answer the maintenance ordinals (CreateMaintenanceArchive, LoadMaintenanceArchive,
    /// KillMaintenanceFeature, LoadManuMaintPub, ReadManuMaintPub) instead of
    /// `TPM_BAD_ORDINAL` (vtpm `maintcmds=1`). Default off, as the C vtpm.
    pub maintcmds: bool,
    /// Physical presence is asserted by "hardware" at all times, as in the C vtpm
    /// (a virtual TPM has no button). When false, only TSC_PhysicalPresence
    /// asserts it, as swtpm/libtpms do.
    pub hardware_physical_presence: bool,
    /// EK size in bits when the TPM manufactures itself.
    pub ek_bits: usize,
}

impl Default for TpmOptions {
    fn default() -> Self {
        Self { maintcmds: false, hardware_physical_presence: true, ek_bits: 2048 }
    }
}

/// A TPM 1.2.
pub struct Tpm {
    /// Permanent flags and data.
    pub(crate) perm: PermanentState,
    /// Volatile state (lost on TPM_Init).
    pub(crate) vol: VolatileState,
    /// State saved by TPM_SaveState, consumed by the next TPM_Startup.
    pub(crate) saved: Option<SavedState>,
    /// Auth sessions.
    pub(crate) sessions: crate::state::sessions::SessionTable,
    /// Loaded keys.
    pub(crate) keys: crate::state::keys::KeySlots,
    /// Transport sessions.
    pub(crate) transports: crate::state::transport::TransportSessions,
    /// Dictionary-attack state (policy in [`crate::state::da`], counted by [`crate::auth`]).
    pub(crate) da: crate::state::da::DaState,
    /// Options.
    pub(crate) options: TpmOptions,
    /// The injected CSPRNG.
    pub(crate) rng: Box<dyn TpmRng>,
    /// The injected monotonic clock.
    pub(crate) clock: Box<dyn Clock>,
    state_changed: bool,
}

impl core::fmt::Debug for Tpm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tpm").field("flags", &self.perm.flags).finish_non_exhaustive()
    }
}

impl Tpm {
    /// A powered-on TPM (TPM_Init done) from already decoded state: for
    /// embedders that keep state elsewhere, and for fuzzing from a snapshot
    /// without re-deriving RSA keys.
    pub fn from_state(
        perm: PermanentState,
        saved: Option<SavedState>,
        rng: Box<dyn TpmRng>,
        mut clock: Box<dyn Clock>,
        options: TpmOptions,
    ) -> Self {
        let da = crate::state::da::DaState::from_record(&perm.data.da, clock.now_us());
        let mut tpm = Self {
            perm,
            vol: VolatileState::default(),
            saved,
            sessions: Default::default(),
            keys: Default::default(),
            transports: Default::default(),
            da,
            options,
            rng,
            clock,
            state_changed: false,
        };
        tpm.init();
        tpm
    }

    /// Manufactures a TPM with no prior state: fresh permanent flags, a random
    /// tpmProof and contextKey, and an endorsement key generated on the spot
    /// (as the C vtpm's GENERATE_EK). The result is powered on (TPM_Init done)
    /// and waits for TPM_Startup. The image must be saved ([`Tpm::state_changed`] is true).
    pub fn manufacture(rng: Box<dyn TpmRng>, clock: Box<dyn Clock>, options: TpmOptions) -> Result<Self, Rc> {
        let mut tpm = Self::from_state(PermanentState::default(), None, rng, clock, options);
        crate::manufacture::manufacture(&mut tpm, None)?;
        Ok(tpm)
    }

    /// Like [`Tpm::manufacture`] but with a given EK (tests, fuzzing, and
    /// embedders that generate keys elsewhere).
    pub fn manufacture_with_ek(
        ek: crate::crypto::RsaKey,
        rng: Box<dyn TpmRng>,
        clock: Box<dyn Clock>,
        options: TpmOptions,
    ) -> Result<Self, Rc> {
        let mut tpm = Self::from_state(PermanentState::default(), None, rng, clock, options);
        crate::manufacture::manufacture(&mut tpm, Some(ek))?;
        Ok(tpm)
    }

    /// Restores a TPM from an image written by [`Tpm::save_image`]; the result is
    /// powered on (TPM_Init done) and waits for TPM_Startup.
    pub fn from_image(
        image_bytes: &[u8],
        rng: Box<dyn TpmRng>,
        clock: Box<dyn Clock>,
        options: TpmOptions,
    ) -> Result<Self, ImageError> {
        let (perm, saved) = image::decode(image_bytes)?;
        Ok(Self::from_state(perm, saved, rng, clock, options))
    }

    /// TPM_Init (Part 1 "TPM_Init"): the power-on signal. Volatile state is
    /// reset; only TPM_Startup is accepted next.
    pub fn init(&mut self) {
        crate::cmd::lifecycle::tpm_init(self);
    }

    /// Executes one command received at `locality` and returns the response.
    /// Never panics; malformed input gives a 10-byte error response.
    pub fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        crate::dispatch::execute(self, locality, command)
    }

    /// True when permanent or saved state changed since the last
    /// [`Tpm::save_image`]: the embedder should persist the image.
    pub fn state_changed(&self) -> bool {
        self.state_changed
    }

    /// Records that permanent (or saved) state changed. Handlers call this.
    pub fn mark_state_changed(&mut self) {
        self.state_changed = true;
    }

    /// The state image (wiped when dropped: it holds every secret); clears
    /// [`Tpm::state_changed`].
    pub fn save_image(&mut self) -> Zeroizing<Vec<u8>> {
        self.state_changed = false;
        self.perm.data.da = self.da.record(self.clock.now_us());
        image::encode(&self.perm, self.saved.as_ref())
    }

    /// The state image if permanent (or saved) state changed since the last image, clearing
    /// [`Tpm::state_changed`]; `None` (and nothing encoded) otherwise.
    pub fn image_if_changed(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        if self.state_changed { Some(self.save_image()) } else { None }
    }

    /// Clears [`Tpm::state_changed`] without encoding an image: for embedders without
    /// persistence, so no copy of the secrets is built for nothing.
    pub fn clear_changed(&mut self) {
        self.state_changed = false;
    }

    /// Permanent flags and data (read-only view for embedders and tests).
    pub fn perm(&self) -> &PermanentState {
        &self.perm
    }

    /// The state TPM_SaveState left for the next Startup(ST_STATE), if any.
    pub fn saved(&self) -> Option<&SavedState> {
        self.saved.as_ref()
    }

    /// True once TPM_TakeOwnership succeeded (and no owner clear since).
    pub fn owner_installed(&self) -> bool {
        self.perm.data.owner_installed
    }

    /// The options the TPM runs with.
    pub fn options(&self) -> &TpmOptions {
        &self.options
    }

    /// Physical presence as the spec's commands see it: hardware presence (an
    /// option) or the TSC_PhysicalPresence software flag.
    pub fn physical_presence(&self) -> bool {
        self.options.hardware_physical_presence || self.vol.stclear_flags.physicalPresence
    }

    /// Sets PCR `index` to `value` as platform initialisation does: for the vtpm's
    /// `hwinitpcr=` (values the manager read from the hardware TPM), once after TPM_Startup and
    /// before any guest command. Not a TPM command: no locality or PCR attribute checks; the
    /// PCR is volatile state (nothing to persist). `Rc::BADINDEX` if there is no such PCR.
    pub fn set_pcr(&mut self, index: usize, value: crate::crypto::Digest) -> Result<(), Rc> {
        let pcr = self.vol.stclear_data.pcrs.get_mut(index).ok_or(Rc::BADINDEX)?;
        *pcr = value;
        Ok(())
    }

    /// Fills `buf` from the injected RNG.
    pub fn random(&mut self, buf: &mut [u8]) {
        self.rng.fill_bytes(buf);
    }

    /// A fresh nonce from the injected RNG.
    pub fn nonce(&mut self) -> crate::crypto::Digest {
        let mut n = [0u8; 20];
        self.rng.fill_bytes(&mut n);
        n
    }

    /// Current tick count in µs since the tick session started (TPM_Init).
    pub fn current_ticks(&mut self) -> u64 {
        self.clock.now_us().saturating_sub(self.vol.stany_data.tick_origin_us)
    }
}
