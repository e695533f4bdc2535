//! What TPM_SaveState preserves for TPM_Startup(ST_STATE) (Part 3 §3.3).
//!
//! Kept apart from permanent data: it is written by SaveState and consumed
//! (and invalidated) by the next Startup, whatever its type.

use alloc::vec::Vec;

use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;

use super::volatile::{StClearData, StClearFlags};

/// The saved state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedState {
    /// `TPM_STCLEAR_FLAGS` at SaveState.
    pub stclear_flags: StClearFlags,
    /// `TPM_STCLEAR_DATA` (with PCRs) at SaveState.
    pub stclear_data: StClearData,
    /// Opaque bytes from the key module (loaded keys to restore), see
    /// `cmd::keys::save_state` / `restore_state`.
    pub keys: Vec<u8>,
    /// Opaque bytes from the session module, see `session::save_state` / `restore_state`.
    pub sessions: Vec<u8>,
}

impl SavedState {
    /// Storage encoding.
    pub fn encode(&self, w: &mut Writer) {
        self.stclear_flags.encode_wire(w);
        self.stclear_data.encode(w);
        w.sized32(&self.keys).sized32(&self.sessions);
        w.bytes(&self.stclear_data.audit_digest);
    }

    /// Inverse of [`SavedState::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        Self::decode_version(r, super::image::VERSION)
    }

    /// Decodes the saved section of an image of format `version` (before format 3 it has
    /// no audit digest: it restores as all zeros, i.e. no audit session open).
    pub fn decode_version(r: &mut Reader<'_>, version: u16) -> Result<Self, Rc> {
        let stclear_flags = StClearFlags::decode_wire(r)?;
        let mut stclear_data = StClearData::decode(r)?;
        let keys = r.sized32_max(1 << 20)?.to_vec();
        let sessions = r.sized32_max(1 << 20)?.to_vec();
        if version >= 3 {
            stclear_data.audit_digest = r.array()?;
        }
        Ok(Self { stclear_flags, stclear_data, keys, sessions })
    }
}
