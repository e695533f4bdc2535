//! Who this TPM says it is, and the timing values it reports.
//!
//! Manufacturer ID "RUST" (0x52555354) and firmware version 1.2.0.1: our own
//! identity, not the Berlios emulator's "ETHZ" 1.2.0.7 (see docs). TIS timeouts
//! and command durations are the C vtpm's (after the 2021 microsecond fixes), so
//! the Linux TPM driver behaves as it does with the C vtpm.

use crate::codec::Writer;
use crate::constants::tag;

/// `TPM_CAP_PROP_MANUFACTURER` / `tpmVendorID`.
pub const MANUFACTURER: [u8; 4] = *b"RUST";
/// `TPM_VERSION`: major 1, minor 2, revMajor 0, revMinor 1 (our firmware 0.1).
pub const VERSION: [u8; 4] = [1, 2, 0, 1];
/// `specLevel` (Part 2 §21.6): 2 for TPM Main 1.2 level 2.
pub const SPEC_LEVEL: u16 = 2;
/// `errataRev`: 3 = revision 116.
pub const ERRATA_REV: u8 = 3;
/// TIS timeouts A, B, C, D in µs (TPM_CAP_PROP_TIS_TIMEOUT).
pub const TIS_TIMEOUTS_US: [u32; 4] = [750_000, 2_000_000, 750_000, 750_000];
/// Short, medium, long command durations in µs (TPM_CAP_PROP_DURATION).
pub const DURATIONS_US: [u32; 3] = [3_000_000, 3_000_000, 600_000_000];
/// `TPM_STARTUP_EFFECTS` (Part 2 §4.6): bit 6, auditDigest is nulled by
/// Startup(ST_CLEAR) only (kept by SaveState / Startup(ST_STATE)); bits 3, 2, 1, 0: auth sessions, the SHA-1 thread,
/// transport and saved-context sessions are initialised by Startup(ST_STATE);
/// bit 4 clear: loaded keys survive Startup(ST_STATE).
pub const STARTUP_EFFECTS: u32 = 0x4F;

/// `TPM_CAP_VERSION_INFO` (Part 2 §21.6).
pub fn encode_version_info(w: &mut Writer) {
    w.u16(tag::CAP_VERSION_INFO).bytes(&VERSION).u16(SPEC_LEVEL).u8(ERRATA_REV);
    w.bytes(&MANUFACTURER).u16(0);
}
