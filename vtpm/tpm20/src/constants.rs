//! TPM 2.0 numbers with their Part 2 names: structure tags (`TPM_ST`), command codes (`TPM_CC`),
//! algorithms (`TPM_ALG`), capabilities (`TPM_CAP`), properties (`TPM_PT`, `TPM_PT_PCR`),
//! handles (`TPM_HT`, `TPM_RH`, `TPM_RS`) and the startup / shutdown types (`TPM_SU`).
//! Response codes are in [`crate::rc`].
#![allow(missing_docs)]

/// `TPM_ST`: structure tags.
pub mod st {
    pub const RSP_COMMAND: u16 = 0x00C4;
    pub const NULL: u16 = 0x8000;
    pub const NO_SESSIONS: u16 = 0x8001;
    pub const SESSIONS: u16 = 0x8002;
}

/// `TPM_SU`: startup / shutdown types.
pub mod su {
    pub const CLEAR: u16 = 0x0000;
    pub const STATE: u16 = 0x0001;
}

/// `TPM_CC`: command codes (only those named by this crate).
pub mod cc {
    pub const FIRST: u32 = 0x0000_011F;
    pub const NV_UNDEFINE_SPACE_SPECIAL: u32 = 0x0000_011F;
    pub const NV_UNDEFINE_SPACE: u32 = 0x0000_0122;
    pub const NV_DEFINE_SPACE: u32 = 0x0000_012A;
    pub const NV_GLOBAL_WRITE_LOCK: u32 = 0x0000_0132;
    pub const NV_INCREMENT: u32 = 0x0000_0134;
    pub const NV_SET_BITS: u32 = 0x0000_0135;
    pub const NV_EXTEND: u32 = 0x0000_0136;
    pub const NV_WRITE: u32 = 0x0000_0137;
    pub const NV_WRITE_LOCK: u32 = 0x0000_0138;
    pub const NV_CHANGE_AUTH: u32 = 0x0000_013B;
    pub const NV_READ: u32 = 0x0000_014E;
    pub const NV_READ_LOCK: u32 = 0x0000_014F;
    pub const NV_READ_PUBLIC: u32 = 0x0000_0169;
    pub const EVICT_CONTROL: u32 = 0x0000_0120;
    pub const HIERARCHY_CHANGE_AUTH: u32 = 0x0000_0129;
    pub const CLEAR: u32 = 0x0000_0126;
    pub const CREATE_PRIMARY: u32 = 0x0000_0131;
    pub const PCR_EVENT: u32 = 0x0000_013C;
    pub const OBJECT_CHANGE_AUTH: u32 = 0x0000_0150;
    pub const CREATE: u32 = 0x0000_0153;
    pub const LOAD: u32 = 0x0000_0157;
    pub const UNSEAL: u32 = 0x0000_015E;
    pub const RSA_DECRYPT: u32 = 0x0000_0159;
    pub const SIGN: u32 = 0x0000_015D;
    pub const RSA_ENCRYPT: u32 = 0x0000_0174;
    pub const VERIFY_SIGNATURE: u32 = 0x0000_0177;
    pub const PCR_RESET: u32 = 0x0000_013D;
    pub const INCREMENTAL_SELF_TEST: u32 = 0x0000_0142;
    pub const SELF_TEST: u32 = 0x0000_0143;
    pub const STARTUP: u32 = 0x0000_0144;
    pub const SHUTDOWN: u32 = 0x0000_0145;
    pub const STIR_RANDOM: u32 = 0x0000_0146;
    pub const CONTEXT_LOAD: u32 = 0x0000_0161;
    pub const CONTEXT_SAVE: u32 = 0x0000_0162;
    pub const FLUSH_CONTEXT: u32 = 0x0000_0165;
    pub const POLICY_AUTH_VALUE: u32 = 0x0000_016B;
    pub const POLICY_COMMAND_CODE: u32 = 0x0000_016C;
    pub const READ_PUBLIC: u32 = 0x0000_0173;
    pub const START_AUTH_SESSION: u32 = 0x0000_0176;
    pub const GET_CAPABILITY: u32 = 0x0000_017A;
    pub const GET_RANDOM: u32 = 0x0000_017B;
    pub const GET_TEST_RESULT: u32 = 0x0000_017C;
    pub const HASH: u32 = 0x0000_017D;
    pub const PCR_READ: u32 = 0x0000_017E;
    pub const POLICY_PCR: u32 = 0x0000_017F;
    pub const POLICY_RESTART: u32 = 0x0000_0180;
    pub const READ_CLOCK: u32 = 0x0000_0181;
    pub const PCR_EXTEND: u32 = 0x0000_0182;
    pub const POLICY_GET_DIGEST: u32 = 0x0000_0189;
    pub const POLICY_PASSWORD: u32 = 0x0000_018C;
}

/// `TPM_ALG`: algorithm identifiers.
pub mod alg {
    pub const ERROR: u16 = 0x0000;
    pub const RSA: u16 = 0x0001;
    pub const SHA1: u16 = 0x0004;
    pub const HMAC: u16 = 0x0005;
    pub const AES: u16 = 0x0006;
    pub const MGF1: u16 = 0x0007;
    pub const KEYEDHASH: u16 = 0x0008;
    pub const XOR: u16 = 0x000A;
    pub const SHA256: u16 = 0x000B;
    pub const SHA384: u16 = 0x000C;
    pub const SHA512: u16 = 0x000D;
    pub const NULL: u16 = 0x0010;
    pub const RSASSA: u16 = 0x0014;
    pub const RSAES: u16 = 0x0015;
    pub const RSAPSS: u16 = 0x0016;
    pub const OAEP: u16 = 0x0017;
    pub const ECDSA: u16 = 0x0018;
    pub const ECDH: u16 = 0x0019;
    pub const ECSCHNORR: u16 = 0x001C;
    pub const KDF1_SP800_56A: u16 = 0x0020;
    pub const KDF1_SP800_108: u16 = 0x0022;
    pub const ECC: u16 = 0x0023;
    pub const SYMCIPHER: u16 = 0x0025;
    pub const CFB: u16 = 0x0043;
}

/// `TPM_ECC_CURVE`.
pub mod ecc_curve {
    pub const NIST_P256: u16 = 0x0003;
}

/// `TPMA_ALGORITHM` bits.
pub mod tpma_alg {
    pub const ASYMMETRIC: u32 = 1 << 0;
    pub const SYMMETRIC: u32 = 1 << 1;
    pub const HASH: u32 = 1 << 2;
    pub const OBJECT: u32 = 1 << 3;
    pub const SIGNING: u32 = 1 << 8;
    pub const ENCRYPTING: u32 = 1 << 9;
    pub const METHOD: u32 = 1 << 10;
}

/// `TPM_CAP`: capability selectors.
pub mod cap {
    pub const ALGS: u32 = 0x0000_0000;
    pub const HANDLES: u32 = 0x0000_0001;
    pub const COMMANDS: u32 = 0x0000_0002;
    pub const PP_COMMANDS: u32 = 0x0000_0003;
    pub const AUDIT_COMMANDS: u32 = 0x0000_0004;
    pub const PCRS: u32 = 0x0000_0005;
    pub const TPM_PROPERTIES: u32 = 0x0000_0006;
    pub const PCR_PROPERTIES: u32 = 0x0000_0007;
    pub const ECC_CURVES: u32 = 0x0000_0008;
    pub const AUTH_POLICIES: u32 = 0x0000_0009;
    /// The last capability this engine knows (TPM_CAP_AUTH_POLICIES; no ACT).
    pub const LAST: u32 = AUTH_POLICIES;
    pub const VENDOR_PROPERTY: u32 = 0x0000_0100;
}

/// `TPM_PT`: TPM properties (groups `PT_FIXED` = 0x100, `PT_VAR` = 0x200).
pub mod pt {
    pub const PT_FIXED: u32 = 0x100;
    pub const FAMILY_INDICATOR: u32 = PT_FIXED;
    pub const LEVEL: u32 = PT_FIXED + 1;
    pub const REVISION: u32 = PT_FIXED + 2;
    pub const DAY_OF_YEAR: u32 = PT_FIXED + 3;
    pub const YEAR: u32 = PT_FIXED + 4;
    pub const MANUFACTURER: u32 = PT_FIXED + 5;
    pub const VENDOR_STRING_1: u32 = PT_FIXED + 6;
    pub const VENDOR_STRING_2: u32 = PT_FIXED + 7;
    pub const VENDOR_STRING_3: u32 = PT_FIXED + 8;
    pub const VENDOR_STRING_4: u32 = PT_FIXED + 9;
    pub const VENDOR_TPM_TYPE: u32 = PT_FIXED + 10;
    pub const FIRMWARE_VERSION_1: u32 = PT_FIXED + 11;
    pub const FIRMWARE_VERSION_2: u32 = PT_FIXED + 12;
    pub const INPUT_BUFFER: u32 = PT_FIXED + 13;
    pub const HR_TRANSIENT_MIN: u32 = PT_FIXED + 14;
    pub const HR_PERSISTENT_MIN: u32 = PT_FIXED + 15;
    pub const HR_LOADED_MIN: u32 = PT_FIXED + 16;
    pub const ACTIVE_SESSIONS_MAX: u32 = PT_FIXED + 17;
    pub const PCR_COUNT: u32 = PT_FIXED + 18;
    pub const PCR_SELECT_MIN: u32 = PT_FIXED + 19;
    pub const CONTEXT_GAP_MAX: u32 = PT_FIXED + 20;
    pub const NV_COUNTERS_MAX: u32 = PT_FIXED + 22;
    pub const NV_INDEX_MAX: u32 = PT_FIXED + 23;
    pub const MEMORY: u32 = PT_FIXED + 24;
    pub const CLOCK_UPDATE: u32 = PT_FIXED + 25;
    pub const CONTEXT_HASH: u32 = PT_FIXED + 26;
    pub const CONTEXT_SYM: u32 = PT_FIXED + 27;
    pub const CONTEXT_SYM_SIZE: u32 = PT_FIXED + 28;
    pub const ORDERLY_COUNT: u32 = PT_FIXED + 29;
    pub const MAX_COMMAND_SIZE: u32 = PT_FIXED + 30;
    pub const MAX_RESPONSE_SIZE: u32 = PT_FIXED + 31;
    pub const MAX_DIGEST: u32 = PT_FIXED + 32;
    pub const MAX_OBJECT_CONTEXT: u32 = PT_FIXED + 33;
    pub const MAX_SESSION_CONTEXT: u32 = PT_FIXED + 34;
    pub const PS_FAMILY_INDICATOR: u32 = PT_FIXED + 35;
    pub const PS_LEVEL: u32 = PT_FIXED + 36;
    pub const PS_REVISION: u32 = PT_FIXED + 37;
    pub const PS_DAY_OF_YEAR: u32 = PT_FIXED + 38;
    pub const PS_YEAR: u32 = PT_FIXED + 39;
    pub const SPLIT_MAX: u32 = PT_FIXED + 40;
    pub const TOTAL_COMMANDS: u32 = PT_FIXED + 41;
    pub const LIBRARY_COMMANDS: u32 = PT_FIXED + 42;
    pub const VENDOR_COMMANDS: u32 = PT_FIXED + 43;
    pub const NV_BUFFER_MAX: u32 = PT_FIXED + 44;
    pub const MODES: u32 = PT_FIXED + 45;
    pub const MAX_CAP_BUFFER: u32 = PT_FIXED + 46;

    pub const PT_VAR: u32 = 0x200;
    pub const PERMANENT: u32 = PT_VAR;
    pub const STARTUP_CLEAR: u32 = PT_VAR + 1;
    pub const HR_NV_INDEX: u32 = PT_VAR + 2;
    pub const HR_LOADED: u32 = PT_VAR + 3;
    pub const HR_LOADED_AVAIL: u32 = PT_VAR + 4;
    pub const HR_ACTIVE: u32 = PT_VAR + 5;
    pub const HR_ACTIVE_AVAIL: u32 = PT_VAR + 6;
    pub const HR_TRANSIENT_AVAIL: u32 = PT_VAR + 7;
    pub const HR_PERSISTENT: u32 = PT_VAR + 8;
    pub const HR_PERSISTENT_AVAIL: u32 = PT_VAR + 9;
    pub const NV_COUNTERS: u32 = PT_VAR + 10;
    pub const NV_COUNTERS_AVAIL: u32 = PT_VAR + 11;
    pub const ALGORITHM_SET: u32 = PT_VAR + 12;
    pub const LOADED_CURVES: u32 = PT_VAR + 13;
}

/// `TPM_PT_PCR`: PCR properties (TPM_CAP_PCR_PROPERTIES).
pub mod pt_pcr {
    pub const SAVE: u32 = 0x00;
    pub const EXTEND_L0: u32 = 0x01;
    pub const RESET_L0: u32 = 0x02;
    pub const NO_INCREMENT: u32 = 0x11;
    pub const DRTM_RESET: u32 = 0x12;
    pub const POLICY: u32 = 0x13;
    pub const AUTH: u32 = 0x14;
}

/// `TPM_HT`: handle types (the top byte of a handle).
pub mod ht {
    pub const PCR: u8 = 0x00;
    pub const NV_INDEX: u8 = 0x01;
    pub const HMAC_SESSION: u8 = 0x02;
    pub const POLICY_SESSION: u8 = 0x03;
    pub const PERMANENT: u8 = 0x40;
    pub const TRANSIENT: u8 = 0x80;
    pub const PERSISTENT: u8 = 0x81;
}

/// `TPM_RH` / `TPM_RS`: permanent handles.
pub mod rh {
    pub const OWNER: u32 = 0x4000_0001;
    pub const NULL: u32 = 0x4000_0007;
    pub const PW: u32 = 0x4000_0009;
    pub const LOCKOUT: u32 = 0x4000_000A;
    pub const ENDORSEMENT: u32 = 0x4000_000B;
    pub const PLATFORM: u32 = 0x4000_000C;
    pub const PLATFORM_NV: u32 = 0x4000_000D;
}

/// The permanent handles this engine knows, ascending (TPM_CAP_HANDLES, TPM_HT_PERMANENT).
pub const PERMANENT_HANDLES: [u32; 7] =
    [rh::OWNER, rh::NULL, rh::PW, rh::LOCKOUT, rh::ENDORSEMENT, rh::PLATFORM, rh::PLATFORM_NV];

/// `TPMA_SESSION` bits.
pub mod session_attr {
    pub const CONTINUE_SESSION: u8 = 0x01;
    pub const AUDIT_EXCLUSIVE: u8 = 0x02;
    pub const AUDIT_RESET: u8 = 0x04;
    pub const DECRYPT: u8 = 0x20;
    pub const ENCRYPT: u8 = 0x40;
    pub const AUDIT: u8 = 0x80;
}

/// Largest command and response this engine takes or makes: what one Xen vTPM shared page
/// carries (4096 minus the 8-byte page header), as the TPM 1.2 engine.
pub const MAX_COMMAND_SIZE: usize = 4088;
/// Largest response.
pub const MAX_RESPONSE_SIZE: usize = 4088;
/// `MAX_CAP_BUFFER`: the capability data one GetCapability answer may carry.
pub const MAX_CAP_BUFFER: usize = 1024;
/// `MAX_CAP_DATA`: `MAX_CAP_BUFFER` minus the capability selector and the list count.
pub const MAX_CAP_DATA: usize = MAX_CAP_BUFFER - 4 - 4;
/// `MAX_DIGEST_BUFFER` / `TPM_PT_INPUT_BUFFER`.
pub const INPUT_BUFFER: usize = 1024;
/// Number of PCRs (`IMPLEMENTATION_PCR`).
pub const PCR_COUNT: usize = 24;
/// `PCR_SELECT_MIN` = `PCR_SELECT_MAX`: bytes of a PCR bitmap.
pub const PCR_SELECT_SIZE: usize = PCR_COUNT.div_ceil(8);
/// Size of each primary seed (EPS, SPS, PPS).
pub const PRIMARY_SEED_SIZE: usize = 32;
/// Largest digest (SHA-256): the most GetRandom returns at once.
pub const MAX_DIGEST: usize = 32;
/// Largest TPM2B_SENSITIVE_DATA (StirRandom's inData).
pub const MAX_SENSITIVE_DATA: usize = 128;
/// Most sessions a command may carry.
pub const MAX_SESSIONS: usize = 3;

/// Transient object slots (`MAX_LOADED_OBJECTS`, as libtpms).
pub const MAX_LOADED_OBJECTS: usize = 3;
/// The first transient handle.
pub const TRANSIENT_FIRST: u32 = 0x8000_0000;
/// Persistent object slots (TPM2_EvictControl; libtpms' TPM_PT_HR_PERSISTENT_MIN).
pub const MAX_PERSISTENT: usize = 7;
/// Loaded session slots.
pub const MAX_LOADED_SESSIONS: usize = 3;
/// Active (loaded or saved) sessions.
pub const MAX_ACTIVE_SESSIONS: usize = 64;
