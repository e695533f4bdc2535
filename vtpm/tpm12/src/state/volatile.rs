//! Volatile state: lost on TPM_Init (Part 2 §7.2, §7.3, §7.5, §7.6).
//!
//! Sessions and loaded keys live in their own modules' types
//! ([`crate::state::sessions::SessionTable`], [`crate::state::keys::KeySlots`]) and are
//! held by [`crate::Tpm`] directly.

use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{NUM_PCRS, tag};
use crate::crypto::{Digest, Sha1Context};

/// `TPM_STCLEAR_FLAGS` (Part 2 §7.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(non_snake_case, missing_docs)]
pub struct StClearFlags {
    pub deactivated: bool,
    pub disableForceClear: bool,
    pub physicalPresence: bool,
    pub physicalPresenceLock: bool,
    pub bGlobalLock: bool,
}

impl StClearFlags {
    /// The wire structure (GetCapability(TPM_CAP_FLAG_VOLATILE)); also our storage encoding.
    pub fn encode_wire(&self, w: &mut Writer) {
        w.u16(tag::STCLEAR_FLAGS).bool(self.deactivated).bool(self.disableForceClear);
        w.bool(self.physicalPresence).bool(self.physicalPresenceLock).bool(self.bGlobalLock);
    }

    /// Inverse of [`StClearFlags::encode_wire`].
    pub fn decode_wire(r: &mut Reader<'_>) -> Result<Self, Rc> {
        if r.u16()? != tag::STCLEAR_FLAGS {
            return Err(Rc::INVALID_STRUCTURE);
        }
        Ok(Self {
            deactivated: r.bool()?,
            disableForceClear: r.bool()?,
            physicalPresence: r.bool()?,
            physicalPresenceLock: r.bool()?,
            bGlobalLock: r.bool()?,
        })
    }
}

/// `TPM_STANY_FLAGS` (Part 2 §7.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(non_snake_case, missing_docs)]
pub struct StAnyFlags {
    pub postInitialise: bool,
    pub localityModifier: u32,
    pub transportExclusive: u32,
    pub TOSPresent: bool,
}

/// `TPM_STCLEAR_DATA` (Part 2 §7.5), the parts we implement, plus the PCRs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StClearData {
    /// `PCRs`: the 24 platform configuration registers.
    pub pcrs: [Digest; NUM_PCRS],
    /// `countID`: the counter activated since Startup (0xFFFFFFFF / none = `None`).
    pub count_id: Option<u32>,
    /// `disableResetLock`: TPM_ResetLockValue locked after a failure.
    pub disable_reset_lock: bool,
    /// `deferredPhysicalPresence.unownedFieldUpgrade` and friends (bit map).
    pub deferred_physical_presence: u32,
    /// `contextNonceKey`.
    pub context_nonce_key: Digest,
    /// `auditDigest` (Part 2 keeps it in TPM_STANY_DATA; here, as in libtpms, it is nulled
    /// by Startup(ST_CLEAR) and kept by SaveState: TPM_STARTUP_EFFECTS bit 6). Stored in
    /// the saved state from image format 3 on, after the other saved fields.
    pub audit_digest: Digest,
}

impl Default for StClearData {
    fn default() -> Self {
        Self {
            pcrs: [[0; 20]; NUM_PCRS],
            count_id: None,
            disable_reset_lock: false,
            deferred_physical_presence: 0,
            context_nonce_key: [0; 20],
            audit_digest: [0; 20],
        }
    }
}

impl StClearData {
    /// Storage encoding (for TPM_SaveState).
    pub fn encode(&self, w: &mut Writer) {
        for p in &self.pcrs {
            w.bytes(p);
        }
        w.u32(self.count_id.unwrap_or(u32::MAX)).bool(self.disable_reset_lock);
        w.u32(self.deferred_physical_presence).bytes(&self.context_nonce_key);
    }

    /// Inverse of [`StClearData::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        let mut pcrs = [[0u8; 20]; NUM_PCRS];
        for p in &mut pcrs {
            *p = r.array()?;
        }
        let id = r.u32()?;
        Ok(Self {
            pcrs,
            count_id: if id == u32::MAX { None } else { Some(id) },
            disable_reset_lock: r.bool()?,
            deferred_physical_presence: r.u32()?,
            context_nonce_key: r.array()?,
            audit_digest: [0; 20],
        })
    }
}

/// `TPM_STANY_DATA` (Part 2 §7.6), the parts we implement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StAnyData {
    /// `contextNonceSession`.
    pub context_nonce_session: Digest,
    /// `currentTicks.tickNonce`: changes at every TPM_Init.
    pub tick_nonce: Digest,
    /// Clock reading (µs) that corresponds to tick 0 of this tick session.
    pub tick_origin_us: u64,
    /// `contextCount`.
    pub context_count: u32,
}

/// Self-test progress (Part 1 §? "Self-Test"): we test at startup, so this only
/// records the outcome GetTestResult reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TestState {
    /// Only the startup subset has been tested.
    #[default]
    Limited,
    /// The full self-test passed.
    Passed,
    /// A self-test failed: the TPM is in failure mode.
    Failed,
}

/// All volatile state the core keeps.
#[derive(Clone, Debug, Default)]
pub struct VolatileState {
    /// `TPM_STCLEAR_FLAGS`.
    pub stclear_flags: StClearFlags,
    /// `TPM_STANY_FLAGS`.
    pub stany_flags: StAnyFlags,
    /// `TPM_STCLEAR_DATA` (with PCRs).
    pub stclear_data: StClearData,
    /// `TPM_STANY_DATA`.
    pub stany_data: StAnyData,
    /// The SHA-1 thread of TPM_SHA1Start..Complete (None when no thread).
    pub sha1_thread: Option<Sha1Context>,
    /// Self-test state.
    pub test_state: TestState,
    /// TPM_StirRandom pool (None until stirred).
    pub stir_pool: Option<Digest>,
    /// Blocks drawn from the stir pool.
    pub stir_counter: u32,
}
