//! What can go wrong when the manager talks to the machine's TPM: every bad answer from the
//! hardware (wrong family, short or malformed response, unexpected return code, a response HMAC
//! that does not verify) and every refusal that matters to the operator (wrong SRK or owner
//! auth, a TPM whose ownership changed, a root blob that no longer unseals) is a value here.
//! Nothing in the client panics on a response.

use alloc::string::String;
use core::fmt;

use tpm_frame::Family;

/// An error of the hardware-TPM client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HwError {
    /// The transport (TIS, tpmfront, a test socket) failed; its error, formatted.
    Transport(String),
    /// The TPM answered with a tag of the other family (or of none): we speak `expected`.
    WrongFamily {
        /// The family the client speaks.
        expected: Family,
        /// The response tag the TPM sent.
        tag: u16,
    },
    /// A response that cannot be parsed: shorter than its header or its fields, a `paramSize`
    /// that is not its length, a size field that runs past the end.
    Malformed {
        /// The command it answered.
        command: &'static str,
        /// What is wrong with it.
        what: &'static str,
    },
    /// A return code the client does not expect at this point.
    Tpm {
        /// The command.
        command: &'static str,
        /// Its return code.
        rc: u32,
    },
    /// A response HMAC (TPM 1.2 OIAP/OSAP) does not verify: the answer was not made by a TPM
    /// that knows the secret, or it was altered on the way.
    ResponseAuth {
        /// The command.
        command: &'static str,
    },
    /// The TPM refused `srk_auth` (TPM 1.2 `TPM_AUTHFAIL` on the SRK; TPM 2.0 `TPM_RC_AUTH_FAIL`
    /// / `TPM_RC_BAD_AUTH` on the storage key).
    WrongSrkAuth,
    /// The TPM 1.2 is disabled or deactivated (`TPM_DISABLED`, `TPM_DEACTIVATED`; e.g. after
    /// `TPM_OwnerClear`): it must be enabled and activated (firmware, physical presence) first.
    Disabled {
        /// The TPM's return code.
        rc: u32,
    },
    /// The TPM refused `owner_auth`.
    WrongOwnerAuth,
    /// A root blob is stored but the TPM has no owner (it was cleared since the blob was
    /// sealed): the manager's secrets are gone with the old SRK. Never silently re-provisioned.
    NotOwned,
    /// The stored root blob does not unseal on this TPM: its SRK (TPM 1.2) or storage key
    /// (TPM 2.0) is not the one that sealed it — the TPM's ownership changed, or it is another
    /// TPM — or the blob is corrupt. The return code is the TPM's.
    DoesNotUnseal {
        /// The TPM's return code.
        rc: u32,
    },
    /// TPM 2.0: the storage key the root was sealed under is not the one the TPM has now (its
    /// name differs): the owner seed changed (TPM2_Clear), it is another TPM, `srk_handle`
    /// points elsewhere, or the answer was forged. Checked before a session is salted to it.
    ParentChanged,
    /// The root secret is sealed to PCR values the TPM's PCRs no longer have.
    PcrMismatch {
        /// The TPM's return code.
        rc: u32,
    },
    /// The root blob on the manager's disk cannot be read (bad magic, wrong family, truncated).
    BadBlob(&'static str),
    /// The TPM's endorsement key is not usable for TakeOwnership (checksum, size, encryption).
    BadEndorsementKey(&'static str),
    /// The SHA-1 PCR bank is not allocated on this TPM 2.0.
    NoSha1Bank,
    /// A manager option that cannot be used.
    Config(String),
}

impl fmt::Display for HwError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HwError::Transport(e) => write!(f, "hardware TPM transport: {e}"),
            HwError::WrongFamily { expected, tag } => {
                write!(
                    f,
                    "hardware TPM answered with tag {tag:#06x}, which is not {expected:?} (wrong TPM family? tpm2=1)"
                )
            }
            HwError::Malformed { command, what } => write!(f, "hardware TPM: malformed {command} response: {what}"),
            HwError::Tpm { command, rc } => write!(f, "hardware TPM: {command} failed, rc {rc:#x}"),
            HwError::ResponseAuth { command } => write!(f, "hardware TPM: {command} response HMAC does not verify"),
            HwError::WrongSrkAuth => f.write_str("hardware TPM refused srk_auth"),
            HwError::Disabled { rc } => {
                write!(f, "hardware TPM is disabled or deactivated (rc {rc:#x}): enable and activate it in firmware")
            }
            HwError::WrongOwnerAuth => f.write_str("hardware TPM refused owner_auth"),
            HwError::NotOwned => {
                f.write_str("hardware TPM has no owner but a sealed root exists: the TPM was cleared, the root is lost")
            }
            HwError::DoesNotUnseal { rc } => write!(
                f,
                "the stored root does not unseal on this TPM (rc {rc:#x}): its ownership changed, it is another TPM, \
                 or the blob is corrupt"
            ),
            HwError::ParentChanged => f.write_str(
                "the hardware TPM's storage key is not the one the root was sealed under (owner seed changed, \
                 another TPM, or srk_handle points elsewhere)",
            ),
            HwError::PcrMismatch { rc } => {
                write!(f, "the stored root is sealed to PCR values the hardware TPM no longer has (rc {rc:#x})")
            }
            HwError::BadBlob(w) => write!(f, "stored root blob: {w}"),
            HwError::BadEndorsementKey(w) => write!(f, "hardware TPM endorsement key: {w}"),
            HwError::NoSha1Bank => f.write_str("hardware TPM 2.0 has no SHA-1 PCR bank allocated"),
            HwError::Config(w) => write!(f, "hardware TPM option: {w}"),
        }
    }
}
