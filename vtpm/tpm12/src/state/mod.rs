//! TPM state, split the way the spec splits it (Part 2 §7):
//!
//! - [`permanent`]: `TPM_PERMANENT_FLAGS` + `TPM_PERMANENT_DATA` + NV spaces +
//!   monotonic counters + owner-evict keys. Survives power cycles; written to the
//!   image when it changes ([`crate::Tpm::permanent_changed`]).
//! - [`volatile`]: `TPM_STCLEAR_FLAGS/DATA`, `TPM_STANY_FLAGS/DATA`, PCRs, the
//!   SHA-1 thread. Lost on TPM_Init.
//! - [`saved`]: what TPM_SaveState keeps for a later TPM_Startup(ST_STATE).
//! - [`audit`]: which ordinals are audited and the audit counter (permanent).
//! - [`da`]: dictionary-attack state (live form and the form kept in permanent data).
//! - [`keys`]: the loaded-key table (live).
//! - [`sessions`]: the loaded authorization sessions (live table).
//! - [`transport`]: the loaded transport sessions (live table).
//! - [`image`]: our own versioned on-disk format for permanent + saved state.

pub mod audit;
pub mod da;
pub mod image;
pub mod key_record;
pub mod keys;
pub mod nv;
pub mod permanent;
pub mod saved;
pub mod sessions;
pub mod transport;
pub mod volatile;

pub use key_record::KeyRecord;
pub use nv::NvSpace;
pub use permanent::{Counter, PermanentData, PermanentFlags, PermanentState};
pub use saved::SavedState;
pub use volatile::{StAnyData, StAnyFlags, StClearData, StClearFlags, VolatileState};
