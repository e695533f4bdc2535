//! `TPM_RESULT` return codes (TPM Main Part 2 §16, "Return codes").
//!
//! [`Rc`] is a newtype so handlers return `Result<_, Rc>`; the dispatcher turns an
//! `Err(rc)` into a 10-byte error response.

/// A `TPM_RESULT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rc(pub u32);

macro_rules! return_codes {
    ($($(#[$m:meta])* $name:ident = $val:expr;)*) => {
        impl Rc {
            $($(#[$m])* pub const $name: Rc = Rc($val);)*

            /// The spec name (`TPM_` prefix omitted), if this is a known code.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

/// `TPM_NON_FATAL`: codes with this bit are retryable.
pub const TPM_NON_FATAL: u32 = 0x0000_0800;

return_codes! {
    /// Successful completion.
    SUCCESS = 0;
    /// Authentication failed.
    AUTHFAIL = 1;
    /// The index to a PCR, DIR or other register is incorrect.
    BADINDEX = 2;
    /// One or more parameter is bad.
    BAD_PARAMETER = 3;
    /// An operation completed successfully but the auditing of that operation failed.
    AUDITFAILURE = 4;
    /// The clear disable flag is set and all clear operations now require physical access.
    CLEAR_DISABLED = 5;
    /// The TPM is deactivated.
    DEACTIVATED = 6;
    /// The TPM is disabled.
    DISABLED = 7;
    /// The target command has been disabled.
    DISABLED_CMD = 8;
    /// The operation failed.
    FAIL = 9;
    /// The ordinal was unknown or inconsistent.
    BAD_ORDINAL = 10;
    /// The ability to install an owner is disabled.
    INSTALL_DISABLED = 11;
    /// The key handle can not be interpreted.
    INVALID_KEYHANDLE = 12;
    /// The key handle points to an invalid key.
    KEYNOTFOUND = 13;
    /// Unacceptable encryption scheme.
    INAPPROPRIATE_ENC = 14;
    /// Migration authorization failed.
    MIGRATEFAIL = 15;
    /// PCR information could not be interpreted.
    INVALID_PCR_INFO = 16;
    /// No room to load key.
    NOSPACE = 17;
    /// There is no SRK set.
    NOSRK = 18;
    /// An encrypted blob is invalid or was not created by this TPM.
    NOTSEALED_BLOB = 19;
    /// There is already an Owner.
    OWNER_SET = 20;
    /// The TPM has insufficient internal resources to perform the requested action.
    RESOURCES = 21;
    /// A random string was too short.
    SHORTRANDOM = 22;
    /// The TPM does not have the space to perform the operation.
    SIZE = 23;
    /// The named PCR value does not match the current PCR value.
    WRONGPCRVAL = 24;
    /// The paramSize argument to the command has the incorrect value.
    BAD_PARAM_SIZE = 25;
    /// There is no existing SHA-1 thread.
    SHA_THREAD = 26;
    /// The calculation is unable to proceed because the existing SHA-1 thread has encountered an error.
    SHA_ERROR = 27;
    /// Self-test has failed and the TPM has shut down.
    FAILEDSELFTEST = 28;
    /// The authorization for the second key in a 2 key function failed authorization.
    AUTH2FAIL = 29;
    /// The tag value sent to for a command is invalid.
    BADTAG = 30;
    /// An IO error occurred transmitting information to the TPM.
    IOERROR = 31;
    /// The encryption process had a problem.
    ENCRYPT_ERROR = 32;
    /// The decryption process did not complete.
    DECRYPT_ERROR = 33;
    /// An invalid handle was used.
    INVALID_AUTHHANDLE = 34;
    /// The TPM does not have an EK installed.
    NO_ENDORSEMENT = 35;
    /// The usage of a key is not allowed.
    INVALID_KEYUSAGE = 36;
    /// The submitted entity type is not allowed.
    WRONG_ENTITYTYPE = 37;
    /// The command was received in the wrong sequence relative to TPM_Init and a subsequent TPM_Startup.
    INVALID_POSTINIT = 38;
    /// Signed data cannot include additional DER information.
    INAPPROPRIATE_SIG = 39;
    /// The key properties in TPM_KEY_PARMs are not supported by this TPM.
    BAD_KEY_PROPERTY = 40;
    /// The migration properties of this key are incorrect.
    BAD_MIGRATION = 41;
    /// The signature or encryption scheme for this key is incorrect or not permitted.
    BAD_SCHEME = 42;
    /// The size of the data (or blob) parameter is bad or inconsistent with the referenced key.
    BAD_DATASIZE = 43;
    /// A mode parameter is bad.
    BAD_MODE = 44;
    /// Either the physicalPresence or physicalPresenceLock bits have the wrong value.
    BAD_PRESENCE = 45;
    /// The TPM cannot perform this version of the capability.
    BAD_VERSION = 46;
    /// The TPM does not allow for wrapped transport sessions.
    NO_WRAP_TRANSPORT = 47;
    /// TPM audit construction failed and the underlying command was returning a failure code also.
    AUDITFAIL_UNSUCCESSFUL = 48;
    /// TPM audit construction failed and the underlying command was returning success.
    AUDITFAIL_SUCCESSFUL = 49;
    /// Attempt to reset a PCR register that does not have the resettable attribute.
    NOTRESETABLE = 50;
    /// Attempt to reset a PCR register that requires locality and locality modifier not part of command transport.
    NOTLOCAL = 51;
    /// Make identity blob not properly typed.
    BAD_TYPE = 52;
    /// When saving context identified resource type does not match actual resource.
    INVALID_RESOURCE = 53;
    /// The TPM is attempting to execute a command only available when in FIPS mode.
    NOTFIPS = 54;
    /// The command is attempting to use an invalid family ID.
    INVALID_FAMILY = 55;
    /// The permission to manipulate the NV storage is not available.
    NO_NV_PERMISSION = 56;
    /// The operation requires a signed command.
    REQUIRES_SIGN = 57;
    /// Wrong operation to load an NV key.
    KEY_NOTSUPPORTED = 58;
    /// NV_LoadKey blob requires both owner and blob authorization.
    AUTH_CONFLICT = 59;
    /// The NV area is locked and not writable.
    AREA_LOCKED = 60;
    /// The locality is incorrect for the attempted operation.
    BAD_LOCALITY = 61;
    /// The NV area is read only and can't be written to.
    READ_ONLY = 62;
    /// There is no protection on the write to the NV area.
    PER_NOWRITE = 63;
    /// The family count value does not match.
    FAMILYCOUNT = 64;
    /// The NV area has already been written to.
    WRITE_LOCKED = 65;
    /// The NV area attributes conflict.
    BAD_ATTRIBUTES = 66;
    /// The structure tag and version are invalid or inconsistent.
    INVALID_STRUCTURE = 67;
    /// The key is under control of the TPM Owner and can only be evicted by the TPM Owner.
    KEY_OWNER_CONTROL = 68;
    /// The counter handle is incorrect.
    BAD_COUNTER = 69;
    /// The write is not a complete write of the area.
    NOT_FULLWRITE = 70;
    /// The gap between saved context counts is too large.
    CONTEXT_GAP = 71;
    /// The maximum number of NV writes without an owner has been exceeded.
    MAXNVWRITES = 72;
    /// No operator AuthData value is set.
    NOOPERATOR = 73;
    /// The resource pointed to by context is not loaded.
    RESOURCEMISSING = 74;
    /// The delegate administration is locked.
    DELEGATE_LOCK = 75;
    /// Attempt to manage a family other than the delegated family.
    DELEGATE_FAMILY = 76;
    /// Delegation table management not enabled.
    DELEGATE_ADMIN = 77;
    /// There was a command executed outside of an exclusive transport session.
    TRANSPORT_NOTEXCLUSIVE = 78;
    /// Attempt to context save an owner evict controlled key.
    OWNER_CONTROL = 79;
    /// The DAA command has no resources available to execute the command.
    DAA_RESOURCES = 80;
    /// The consistency check on DAA parameter inputData0 has failed.
    DAA_INPUT_DATA0 = 81;
    /// The consistency check on DAA parameter inputData1 has failed.
    DAA_INPUT_DATA1 = 82;
    /// The consistency check on DAA_issuerSettings has failed.
    DAA_ISSUER_SETTINGS = 83;
    /// The consistency check on DAA_tpmSpecific has failed.
    DAA_TPM_SETTINGS = 84;
    /// The atomic process indicated by the submitted DAA command is not the expected process.
    DAA_STAGE = 85;
    /// The issuer's validity check has detected an inconsistency.
    DAA_ISSUER_VALIDITY = 86;
    /// The consistency check on w has failed.
    DAA_WRONG_W = 87;
    /// The handle is incorrect.
    BAD_HANDLE = 88;
    /// Delegation is not correct.
    BAD_DELEGATE = 89;
    /// The context blob is invalid.
    BADCONTEXT = 90;
    /// Too many contexts held by the TPM.
    TOOMANYCONTEXTS = 91;
    /// Migration authority signature validation failure.
    MA_TICKET_SIGNATURE = 92;
    /// Migration destination not authenticated.
    MA_DESTINATION = 93;
    /// Migration source incorrect.
    MA_SOURCE = 94;
    /// Incorrect migration authority.
    MA_AUTHORITY = 95;
    /// Attempt to revoke the EK and the EK is not revocable.
    PERMANENTEK = 97;
    /// Bad signature of CMK ticket.
    BAD_SIGNATURE = 98;
    /// There is no room in the context list for additional contexts.
    NOCONTEXTSPACE = 99;
    /// The TPM is too busy to respond to the command immediately.
    RETRY = 0x800;
    /// SelfTestFull has not been run.
    NEEDS_SELFTEST = 0x801;
    /// The TPM is currently executing the actions of TPM_ContinueSelfTest.
    DOING_SELFTEST = 0x802;
    /// The TPM is defending against dictionary attacks and is in a time-out period.
    DEFEND_LOCK_RUNNING = 0x803;
}
