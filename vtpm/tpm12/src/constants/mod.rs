//! TPM 1.2 constants with their spec names (TPM Main Part 2).
//!
//! Names keep the spec spelling minus the family prefix, grouped in modules named
//! after the prefix: `TPM_TAG_RQU_COMMAND` → [`tag::RQU_COMMAND`],
//! `TPM_CAP_PROP_PCR` → [`cap::PROP_PCR`], `TPM_KH_SRK` → [`kh::SRK`], and so on.
//! Return codes live in [`rc`], ordinals in [`ordinal`].
#![allow(missing_docs)]

pub mod ordinal;
pub mod rc;

pub use ordinal::ord;

/// Largest request (and response) we accept: what the Xen shared page carries
/// (4096 − 8-byte header). Reported as `TPM_CAP_PROP_INPUT_BUFFER`.
pub const INPUT_BUFFER_SIZE: u32 = 4088;

/// Number of PCRs (PC Client: 24).
pub const NUM_PCRS: usize = 24;
/// Size of a SHA-1 digest / `TPM_DIGEST` / `TPM_NONCE` / `TPM_AUTHDATA`.
pub const DIGEST_SIZE: usize = 20;

/// Command and response tags (Part 2 §3.1) and structure tags (`TPM_STRUCTURE_TAG`, §3.1).
pub mod tag {
    // The frame tags are the shared frame codec's (`tpm-frame`).
    pub const RQU_COMMAND: u16 = tpm_frame::TPM_TAG_RQU_COMMAND;
    pub const RQU_AUTH1_COMMAND: u16 = tpm_frame::TPM_TAG_RQU_AUTH1_COMMAND;
    pub const RQU_AUTH2_COMMAND: u16 = tpm_frame::TPM_TAG_RQU_AUTH2_COMMAND;
    pub const RSP_COMMAND: u16 = tpm_frame::TPM_TAG_RSP_COMMAND;
    pub const RSP_AUTH1_COMMAND: u16 = tpm_frame::TPM_TAG_RSP_AUTH1_COMMAND;
    pub const RSP_AUTH2_COMMAND: u16 = tpm_frame::TPM_TAG_RSP_AUTH2_COMMAND;

    pub const CONTEXTBLOB: u16 = 0x0001;
    pub const CONTEXT_SENSITIVE: u16 = 0x0002;
    pub const SIGNINFO: u16 = 0x0005;
    pub const PCR_INFO_LONG: u16 = 0x0006;
    pub const EK_BLOB: u16 = 0x000C;
    pub const EK_BLOB_AUTH: u16 = 0x000D;
    pub const COUNTER_VALUE: u16 = 0x000E;
    pub const CURRENT_TICKS: u16 = 0x0014;
    pub const KEY: u16 = 0x0015;
    pub const STORED_DATA12: u16 = 0x0016;
    pub const NV_ATTRIBUTES: u16 = 0x0017;
    pub const NV_DATA_PUBLIC: u16 = 0x0018;
    pub const NV_DATA_SENSITIVE: u16 = 0x0019;
    pub const PERMANENT_FLAGS: u16 = 0x001F;
    pub const STCLEAR_FLAGS: u16 = 0x0020;
    pub const STANY_FLAGS: u16 = 0x0021;
    pub const PERMANENT_DATA: u16 = 0x0022;
    pub const STCLEAR_DATA: u16 = 0x0023;
    pub const STANY_DATA: u16 = 0x0024;
    pub const KEY12: u16 = 0x0028;
    pub const CERTIFY_INFO2: u16 = 0x0029;
    pub const CAP_VERSION_INFO: u16 = 0x0030;
    pub const QUOTE_INFO2: u16 = 0x0036;
    pub const DA_INFO: u16 = 0x0037;
    pub const DA_INFO_LIMITED: u16 = 0x0038;
    pub const DA_ACTION_TYPE: u16 = 0x0039;
}

/// `TPM_STARTUP_TYPE` (Part 2 §4.5).
pub mod st {
    pub const CLEAR: u16 = 0x0001;
    pub const STATE: u16 = 0x0002;
    pub const DEACTIVATED: u16 = 0x0003;
}

/// `TPM_PHYSICAL_PRESENCE` bits (Part 2 §4.9).
pub mod physical_presence {
    pub const HW_DISABLE: u16 = 0x0200;
    pub const CMD_DISABLE: u16 = 0x0100;
    pub const LIFETIME_LOCK: u16 = 0x0080;
    pub const HW_ENABLE: u16 = 0x0040;
    pub const CMD_ENABLE: u16 = 0x0020;
    pub const NOTPRESENT: u16 = 0x0010;
    pub const PRESENT: u16 = 0x0008;
    pub const LOCK: u16 = 0x0004;
}

/// `TPM_KEY_HANDLE` reserved values (Part 2 §4.3.1).
pub mod kh {
    pub const SRK: u32 = 0x4000_0000;
    pub const OWNER: u32 = 0x4000_0001;
    pub const REVOKE: u32 = 0x4000_0002;
    pub const TRANSPORT: u32 = 0x4000_0003;
    pub const OPERATOR: u32 = 0x4000_0004;
    pub const ADMIN: u32 = 0x4000_0005;
    pub const EK: u32 = 0x4000_0006;
}

/// `TPM_RESOURCE_TYPE` (Part 2 §4.1).
pub mod rt {
    pub const KEY: u32 = 1;
    pub const AUTH: u32 = 2;
    pub const HASH: u32 = 3;
    pub const TRANS: u32 = 4;
    pub const CONTEXT: u32 = 5;
    pub const COUNTER: u32 = 6;
    pub const DELEGATE: u32 = 7;
    pub const DAA_TPM: u32 = 8;
    pub const DAA_V0: u32 = 9;
    pub const DAA_V1: u32 = 10;
}

/// `TPM_ENTITY_TYPE` low byte (Part 2 §4.3).
pub mod et {
    pub const KEYHANDLE: u16 = 0x01;
    pub const OWNER: u16 = 0x02;
    pub const DATA: u16 = 0x03;
    pub const SRK: u16 = 0x04;
    pub const KEY: u16 = 0x05;
    pub const REVOKE: u16 = 0x06;
    pub const COUNTER: u16 = 0x0A;
    pub const NV: u16 = 0x0B;
    pub const OPERATOR: u16 = 0x0C;
    pub const RESERVED_HANDLE: u16 = 0x40;
    /// High byte (ADIP encryption scheme): XOR.
    pub const XOR: u16 = 0x00;
    /// High byte (ADIP encryption scheme): AES128-CTR.
    pub const AES128_CTR: u16 = 0x06;
}

/// `TPM_PROTOCOL_ID` (Part 2 §4.4).
pub mod pid {
    pub const OIAP: u16 = 1;
    pub const OSAP: u16 = 2;
    pub const ADIP: u16 = 3;
    pub const ADCP: u16 = 4;
    pub const OWNER: u16 = 5;
    pub const DSAP: u16 = 6;
    pub const TRANSPORT: u16 = 7;
}

/// `TPM_ALGORITHM_ID` (Part 2 §4.8).
pub mod alg {
    pub const RSA: u32 = 1;
    pub const SHA: u32 = 4;
    pub const HMAC: u32 = 5;
    pub const AES128: u32 = 6;
    pub const MGF1: u32 = 7;
    pub const AES192: u32 = 8;
    pub const AES256: u32 = 9;
    pub const XOR: u32 = 10;
}

/// `TPM_KEY_USAGE` (Part 2 §5.8).
pub mod key_usage {
    pub const SIGNING: u16 = 0x0010;
    pub const STORAGE: u16 = 0x0011;
    pub const IDENTITY: u16 = 0x0012;
    pub const AUTHCHANGE: u16 = 0x0013;
    pub const BIND: u16 = 0x0014;
    pub const LEGACY: u16 = 0x0015;
    pub const MIGRATE: u16 = 0x0016;
}

/// `TPM_ENC_SCHEME` (`TPM_ES_*`) and `TPM_SIG_SCHEME` (`TPM_SS_*`), Part 2 §4.
pub mod scheme {
    pub const ES_NONE: u16 = 1;
    pub const ES_RSAESPKCSV15: u16 = 2;
    pub const ES_RSAESOAEP_SHA1_MGF1: u16 = 3;
    pub const ES_SYM_CTR: u16 = 4;
    pub const ES_SYM_OFB: u16 = 5;
    pub const SS_NONE: u16 = 1;
    pub const SS_RSASSAPKCS1V15_SHA1: u16 = 2;
    pub const SS_RSASSAPKCS1V15_DER: u16 = 3;
    pub const SS_RSASSAPKCS1V15_INFO: u16 = 4;
}

/// `TPM_AUTH_DATA_USAGE` (Part 2 §5.9).
pub mod auth_usage {
    pub const NEVER: u8 = 0;
    pub const ALWAYS: u8 = 1;
    pub const PRIV_USE_ONLY: u8 = 0x11;
}

/// `TPM_CAPABILITY_AREA` and sub-capabilities (Part 2 §21).
pub mod cap {
    pub const ORD: u32 = 0x01;
    pub const ALG: u32 = 0x02;
    pub const PID: u32 = 0x03;
    pub const FLAG: u32 = 0x04;
    pub const PROPERTY: u32 = 0x05;
    pub const VERSION: u32 = 0x06;
    pub const KEY_HANDLE: u32 = 0x07;
    pub const CHECK_LOADED: u32 = 0x08;
    pub const SYM_MODE: u32 = 0x09;
    pub const KEY_STATUS: u32 = 0x0C;
    pub const NV_LIST: u32 = 0x0D;
    pub const MFR: u32 = 0x10;
    pub const NV_INDEX: u32 = 0x11;
    pub const TRANS_ALG: u32 = 0x12;
    pub const HANDLE: u32 = 0x14;
    pub const TRANS_ES: u32 = 0x15;
    pub const AUTH_ENCRYPT: u32 = 0x17;
    pub const SELECT_SIZE: u32 = 0x18;
    pub const DA_LOGIC: u32 = 0x19;
    pub const VERSION_VAL: u32 = 0x1A;

    pub const FLAG_PERMANENT: u32 = 0x108;
    pub const FLAG_VOLATILE: u32 = 0x109;

    pub const PROP_PCR: u32 = 0x101;
    pub const PROP_DIR: u32 = 0x102;
    pub const PROP_MANUFACTURER: u32 = 0x103;
    pub const PROP_KEYS: u32 = 0x104;
    pub const PROP_MIN_COUNTER: u32 = 0x107;
    pub const PROP_AUTHSESS: u32 = 0x10A;
    pub const PROP_TRANSESS: u32 = 0x10B;
    pub const PROP_COUNTERS: u32 = 0x10C;
    pub const PROP_MAX_AUTHSESS: u32 = 0x10D;
    pub const PROP_MAX_TRANSESS: u32 = 0x10E;
    pub const PROP_MAX_COUNTERS: u32 = 0x10F;
    pub const PROP_MAX_KEYS: u32 = 0x110;
    pub const PROP_OWNER: u32 = 0x111;
    pub const PROP_CONTEXT: u32 = 0x112;
    pub const PROP_MAX_CONTEXT: u32 = 0x113;
    pub const PROP_FAMILYROWS: u32 = 0x114;
    pub const PROP_TIS_TIMEOUT: u32 = 0x115;
    pub const PROP_STARTUP_EFFECT: u32 = 0x116;
    pub const PROP_DELEGATE_ROW: u32 = 0x117;
    pub const PROP_MAX_DAASESS: u32 = 0x119;
    pub const PROP_DAASESS: u32 = 0x11A;
    pub const PROP_CONTEXT_DIST: u32 = 0x11B;
    pub const PROP_DAA_INTERRUPT: u32 = 0x11C;
    pub const PROP_SESSIONS: u32 = 0x11D;
    pub const PROP_MAX_SESSIONS: u32 = 0x11E;
    pub const PROP_CMK_RESTRICTION: u32 = 0x11F;
    pub const PROP_DURATION: u32 = 0x120;
    pub const PROP_ACTIVE_COUNTER: u32 = 0x122;
    pub const PROP_MAX_NV_AVAILABLE: u32 = 0x123;
    pub const PROP_INPUT_BUFFER: u32 = 0x124;
}

/// `TPM_CAPABILITY_AREA` values for TPM_SetCapability (Part 2 §21.5).
pub mod set {
    pub const PERM_FLAGS: u32 = 1;
    pub const PERM_DATA: u32 = 2;
    pub const STCLEAR_FLAGS: u32 = 3;
    pub const STCLEAR_DATA: u32 = 4;
    pub const STANY_FLAGS: u32 = 5;
    pub const STANY_DATA: u32 = 6;
    pub const VENDOR: u32 = 7;
}

/// `TPM_NV_INDEX` values and bits (Part 2 §19.1).
pub mod nv_index {
    pub const LOCK: u32 = 0xFFFF_FFFF;
    pub const INDEX0: u32 = 0x0000_0000;
    pub const DIR: u32 = 0x1000_0001;
    pub const EKCERT: u32 = 0x0000_F000;
    pub const T_BIT: u32 = 0x8000_0000;
    pub const P_BIT: u32 = 0x4000_0000;
    pub const U_BIT: u32 = 0x2000_0000;
    pub const D_BIT: u32 = 0x1000_0000;
    pub const RESVD: u32 = 0x0F00_0000;
}

/// `TPM_NV_PER_*` attribute bits (Part 2 §19.2).
pub mod nv_per {
    pub const READ_STCLEAR: u32 = 0x8000_0000;
    pub const AUTHREAD: u32 = 0x0004_0000;
    pub const OWNERREAD: u32 = 0x0002_0000;
    pub const PPREAD: u32 = 0x0001_0000;
    pub const GLOBALLOCK: u32 = 0x0000_8000;
    pub const WRITE_STCLEAR: u32 = 0x0000_4000;
    pub const WRITEDEFINE: u32 = 0x0000_2000;
    pub const WRITEALL: u32 = 0x0000_1000;
    pub const AUTHWRITE: u32 = 0x0000_0004;
    pub const OWNERWRITE: u32 = 0x0000_0002;
    pub const PPWRITE: u32 = 0x0000_0001;
}

/// `TPM_LOCALITY_SELECTION` bits (Part 2 §8.6).
pub mod loc {
    pub const ZERO: u8 = 0x01;
    pub const ONE: u8 = 0x02;
    pub const TWO: u8 = 0x04;
    pub const THREE: u8 = 0x08;
    pub const FOUR: u8 = 0x10;
    /// All valid locality bits.
    pub const ALL: u8 = 0x1F;
}
