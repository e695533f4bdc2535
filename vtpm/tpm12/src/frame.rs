//! The handler vocabulary, below both the dispatcher and the command modules: the handler
//! type, ordinal-table rows and their tag / state-check / flag bits, the parsed command
//! (with its auth trailers) and the response being built, and error responses.
//!
//! `dispatch` (which owns the table and the execution order) and every `cmd` module use
//! these; nothing here knows about particular commands.

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::tag;
use crate::crypto::{Digest, Secret, sha1};

/// A command handler. It reads handles then parameters from `cmd.params`, checks
/// its authorizations through [`crate::auth`], and writes output handles and
/// parameters into `resp`. Returning `Err(rc)` produces a 10-byte error response.
pub type Handler = fn(&mut Tpm, &mut Command<'_>, &mut Response) -> Result<(), Rc>;

/// Defines a small bit-set newtype with const set operations (rows are `const`).
macro_rules! bit_set {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
        pub struct $name(u8);

        impl $name {
            /// The empty set.
            pub const NONE: Self = Self(0);
            /// Both sets.
            pub const fn union(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }
            /// True if every bit of `other` is in `self`.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
        }
    };
}

bit_set!(
    /// Request tags a row accepts (see [`tags`]).
    Tags
);
bit_set!(
    /// TPM state checks made before a row's handler runs (see [`check`]).
    Checks
);
bit_set!(
    /// Row flags (see [`flags`]).
    Flags
);

impl Tags {
    /// True if a request with `n` auth trailers (0, 1, 2) is accepted.
    pub const fn accepts_auth_count(self, n: usize) -> bool {
        n < 3 && self.0 & (1 << n) != 0
    }
}

/// Accepted request tags.
pub mod tags {
    use super::Tags;
    /// `TPM_TAG_RQU_COMMAND`.
    pub const RQU: Tags = Tags(1);
    /// `TPM_TAG_RQU_AUTH1_COMMAND`.
    pub const AUTH1: Tags = Tags(2);
    /// `TPM_TAG_RQU_AUTH2_COMMAND`.
    pub const AUTH2: Tags = Tags(4);
    /// RQU or AUTH1 (auth optional, e.g. NV_DefineSpace without owner).
    pub const RQU_AUTH1: Tags = RQU.union(AUTH1);
    /// AUTH1 or AUTH2.
    pub const AUTH1_AUTH2: Tags = AUTH1.union(AUTH2);
    /// Any of the three.
    pub const ANY: Tags = RQU_AUTH1.union(AUTH2);
}

/// TPM state checks made before the handler runs.
pub mod check {
    use super::Checks;
    /// No check at all (TPM_Startup).
    pub const NONE: Checks = Checks::NONE;
    /// Not in self-test failure mode (`TPM_FAILEDSELFTEST`).
    pub const NOT_SHUTDOWN: Checks = Checks(0x01);
    /// Enabled (`TPM_DISABLED`).
    pub const ENABLED: Checks = Checks(0x04);
    /// Activated (`TPM_DEACTIVATED`).
    pub const ACTIVATED: Checks = Checks(0x08);
    /// Owner installed (`TPM_NOSRK`).
    pub const OWNER: Checks = Checks(0x10);
    /// Not in dictionary-attack lockout, for authorized tags (`TPM_DEFEND_LOCK_RUNNING`).
    pub const NO_LOCKOUT: Checks = Checks(0x20);
    /// ENABLED/ACTIVATED are skipped while `nvLocked` is FALSE (NV commands).
    pub const NV_NOAUTH: Checks = Checks(0x40);
    /// Everything but an owner.
    pub const ALLOW_NO_OWNER: Checks = NOT_SHUTDOWN.union(ENABLED).union(ACTIVATED).union(NO_LOCKOUT);
    /// Everything.
    pub const ALL: Checks = ALLOW_NO_OWNER.union(OWNER);
    /// Only self-test and lockout.
    pub const BASIC: Checks = NOT_SHUTDOWN.union(NO_LOCKOUT);
}

/// Row flags.
pub mod flags {
    use super::Flags;
    /// Not implemented yet: answers `TPM_BAD_ORDINAL` and is not reported by TPM_CAP_ORD.
    pub const STUB: Flags = Flags(0x01);
    /// A maintenance ordinal: present only with the `maintcmds` option.
    pub const MAINT: Flags = Flags(0x02);
    /// Runs before TPM_Startup (only TPM_Startup itself).
    pub const PRE_STARTUP: Flags = Flags(0x04);
}

/// One row of the ordinal table.
#[derive(Clone, Copy)]
pub struct OrdinalEntry {
    /// `TPM_ORD_*`.
    pub ordinal: u32,
    /// The handler.
    pub handler: Handler,
    /// Accepted tags ([`tags`]).
    pub tags: Tags,
    /// Number of input handles before the parameters.
    pub handles: u8,
    /// State checks ([`check`]).
    pub check: Checks,
    /// [`flags`].
    pub flags: Flags,
}

impl OrdinalEntry {
    /// A row.
    pub const fn new(ordinal: u32, handler: Handler, tags: Tags, handles: u8, check: Checks) -> Self {
        Self { ordinal, handler, tags, handles, check, flags: Flags::NONE }
    }

    /// The same row with extra [`flags`].
    pub const fn with(mut self, f: Flags) -> Self {
        self.flags = self.flags.union(f);
        self
    }
}

/// One incoming authorization trailer (`authHandle, nonceOdd,
/// continueAuthSession, auth`; 45 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthIn {
    /// `authHandle`.
    pub handle: u32,
    /// `nonceOdd`.
    pub nonce_odd: Digest,
    /// `continueAuthSession`.
    pub continue_session: bool,
    /// `inAuth` / `ownerAuth` / …: the caller's HMAC.
    pub auth: Digest,
}

/// Size of one authorization trailer.
pub const AUTH_IN_SIZE: usize = 4 + 20 + 1 + 20;

impl AuthIn {
    pub(crate) fn parse(b: &[u8]) -> Result<Self, Rc> {
        let mut r = Reader::new(b);
        Ok(Self { handle: r.u32()?, nonce_odd: r.array()?, continue_session: r.bool()?, auth: r.array()? })
    }
}

/// A command being executed.
pub struct Command<'a> {
    /// Request tag.
    pub tag: u16,
    /// Ordinal.
    pub ordinal: u32,
    /// Locality the transport reported.
    pub locality: u8,
    /// Input handles then parameters (auth trailers already removed).
    pub params: Reader<'a>,
    /// Authorization trailers: `[0]` for AUTH1/AUTH2, `[1]` for AUTH2.
    pub auth: [Option<AuthIn>; 2],
    /// Bookkeeping of [`crate::auth`] between checking and answering.
    pub auth_state: CommandAuth,
    /// Set by handlers whose spec says "ignore continueAuthSession and set it to
    /// FALSE on output" (e.g. NV_DefineSpace): `finish_response` ends the sessions.
    pub force_end_sessions: bool,
    /// The trailer that names a transport session, not an auth session (TPM_ExecuteTransport,
    /// TPM_ReleaseTransportSigned): [`crate::auth`] leaves it to the handler, which puts its
    /// response trailer in `transport_trailer`.
    pub(crate) transport_index: Option<usize>,
    /// The response trailer of the transport session (appended after the auth trailers).
    pub(crate) transport_trailer: Option<Vec<u8>>,
    /// What this command's audit event covers, when not its own in/out parameter digests
    /// (TPM_ExecuteTransport audits the wrapped command's H1 and H2).
    pub(crate) audit_digests: Option<(Digest, Digest)>,
    pub(crate) body: &'a [u8],
    pub(crate) handle_len: usize,
}

impl<'a> Command<'a> {
    /// Number of authorization trailers (0, 1, 2).
    pub fn auth_count(&self) -> usize {
        self.auth.iter().filter(|a| a.is_some()).count()
    }

    /// The raw parameters after the input handles (what the inParamDigest covers).
    pub fn param_bytes(&self) -> &'a [u8] {
        &self.body[self.handle_len.min(self.body.len())..]
    }

    /// inParamDigest = SHA-1(ordinal ‖ parameters), handles excluded (Part 1 §13).
    pub fn in_param_digest(&self) -> Digest {
        sha1(&[&self.ordinal.to_be_bytes(), self.param_bytes()])
    }

    /// A command over `body` (handles + params) for unit tests of handlers.
    pub fn for_test(ordinal: u32, locality: u8, body: &'a [u8]) -> Self {
        Self {
            tag: tag::RQU_COMMAND,
            ordinal,
            locality,
            params: Reader::new(body),
            auth: [None, None],
            auth_state: Default::default(),
            force_end_sessions: false,
            transport_index: None,
            transport_trailer: None,
            audit_digests: None,
            body,
            handle_len: 0,
        }
    }
}

/// The response being built.
#[derive(Default, Debug)]
pub struct Response {
    /// Output handles (excluded from the outParamDigest).
    pub handles: Writer,
    /// Output parameters.
    pub params: Writer,
}

impl Response {
    /// outParamDigest = SHA-1(returnCode ‖ ordinal ‖ output parameters).
    pub fn out_param_digest(&self, rc: Rc, ordinal: u32) -> Digest {
        sha1(&[&rc.0.to_be_bytes(), &ordinal.to_be_bytes(), self.params.as_slice()])
    }
}

/// The response tag for a request tag (unknown tags answer as RQU).
pub fn response_tag(request_tag: u16) -> u16 {
    match request_tag {
        tag::RQU_AUTH1_COMMAND => tag::RSP_AUTH1_COMMAND,
        tag::RQU_AUTH2_COMMAND => tag::RSP_AUTH2_COMMAND,
        _ => tag::RSP_COMMAND,
    }
}

/// A 10-byte error response (built by the shared frame codec, `tpm-frame`).
pub fn error_response(request_tag: u16, rc: Rc) -> Vec<u8> {
    tpm_frame::error_response_tagged(response_tag(request_tag), rc.0).to_vec()
}

/// Per-command bookkeeping of [`crate::auth`] between `check` and `finish_response`.
#[derive(Debug, Default)]
pub struct CommandAuth {
    /// Per trailer: the HMAC key that verified it (None = not checked).
    pub(crate) keys: [Option<Secret>; 2],
    /// Per trailer: the session was looked up (terminated if the command fails).
    pub(crate) looked_up: [bool; 2],
}
