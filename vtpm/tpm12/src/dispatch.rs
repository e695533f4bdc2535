//! Command dispatch: header checks, the ordinal table, state gating, auth-trailer
//! split, and response assembly.
//!
//! Every command module exports `pub const ORDINALS: &[OrdinalEntry]`; [`TABLES`]
//! lists the modules. A row says which tags an ordinal accepts, how many input
//! handles precede its parameters (they are excluded from the inParamDigest), and
//! which TPM states it needs (`CHECK_*`, the same state checks libtpms makes).

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::{HEADER_SIZE, Reader, RequestHeader, Writer, build_response};
use crate::constants::rc::Rc;
use crate::constants::{INPUT_BUFFER_SIZE, tag};
use crate::crypto::{Digest, sha1};

/// A command handler. It reads handles then parameters from `cmd.params`, checks
/// its authorizations through [`crate::auth`], and writes output handles and
/// parameters into `resp`. Returning `Err(rc)` produces a 10-byte error response.
pub type Handler = fn(&mut Tpm, &mut Command<'_>, &mut Response) -> Result<(), Rc>;

/// Accepted request tags (bit set).
pub mod tags {
    /// `TPM_TAG_RQU_COMMAND`.
    pub const RQU: u8 = 1;
    /// `TPM_TAG_RQU_AUTH1_COMMAND`.
    pub const AUTH1: u8 = 2;
    /// `TPM_TAG_RQU_AUTH2_COMMAND`.
    pub const AUTH2: u8 = 4;
    /// RQU or AUTH1 (auth optional, e.g. NV_DefineSpace without owner).
    pub const RQU_AUTH1: u8 = RQU | AUTH1;
    /// AUTH1 or AUTH2.
    pub const AUTH1_AUTH2: u8 = AUTH1 | AUTH2;
    /// Any of the three.
    pub const ANY: u8 = RQU | AUTH1 | AUTH2;
}

/// TPM state checks made before the handler runs.
pub mod check {
    /// Not in self-test failure mode (`TPM_FAILEDSELFTEST`).
    pub const NOT_SHUTDOWN: u8 = 0x01;
    /// Enabled (`TPM_DISABLED`).
    pub const ENABLED: u8 = 0x04;
    /// Activated (`TPM_DEACTIVATED`).
    pub const ACTIVATED: u8 = 0x08;
    /// Owner installed (`TPM_NOSRK`).
    pub const OWNER: u8 = 0x10;
    /// Not in dictionary-attack lockout, for authorized tags (`TPM_DEFEND_LOCK_RUNNING`).
    pub const NO_LOCKOUT: u8 = 0x20;
    /// ENABLED/ACTIVATED are skipped while `nvLocked` is FALSE (NV commands).
    pub const NV_NOAUTH: u8 = 0x40;
    /// Everything.
    pub const ALL: u8 = NOT_SHUTDOWN | ENABLED | ACTIVATED | OWNER | NO_LOCKOUT;
    /// Everything but an owner.
    pub const ALLOW_NO_OWNER: u8 = NOT_SHUTDOWN | ENABLED | ACTIVATED | NO_LOCKOUT;
    /// Only self-test and lockout.
    pub const BASIC: u8 = NOT_SHUTDOWN | NO_LOCKOUT;
}

/// Row flags.
pub mod flags {
    /// Not implemented yet: answers `TPM_BAD_ORDINAL` and is not reported by TPM_CAP_ORD.
    pub const STUB: u8 = 0x01;
    /// A maintenance ordinal: present only with the `maintcmds` option.
    pub const MAINT: u8 = 0x02;
    /// Runs before TPM_Startup (only TPM_Startup itself).
    pub const PRE_STARTUP: u8 = 0x04;
}

/// One row of the ordinal table.
#[derive(Clone, Copy)]
pub struct OrdinalEntry {
    /// `TPM_ORD_*`.
    pub ordinal: u32,
    /// The handler.
    pub handler: Handler,
    /// Accepted tags ([`tags`]).
    pub tags: u8,
    /// Number of input handles before the parameters.
    pub handles: u8,
    /// State checks ([`check`]).
    pub check: u8,
    /// [`flags`].
    pub flags: u8,
}

impl OrdinalEntry {
    /// A row.
    pub const fn new(ordinal: u32, handler: Handler, tags: u8, handles: u8, check: u8) -> Self {
        Self { ordinal, handler, tags, handles, check, flags: 0 }
    }

    /// The same row with extra [`flags`].
    pub const fn with(mut self, f: u8) -> Self {
        self.flags |= f;
        self
    }
}

/// Every module's ordinal rows.
pub const TABLES: &[&[OrdinalEntry]] = &[
    crate::cmd::lifecycle::ORDINALS,
    crate::cmd::capability::ORDINALS,
    crate::cmd::pcr::ORDINALS,
    crate::cmd::hash::ORDINALS,
    crate::cmd::random::ORDINALS,
    crate::cmd::physical::ORDINALS,
    crate::cmd::nv::ORDINALS,
    crate::cmd::counter::ORDINALS,
    crate::cmd::ticks::ORDINALS,
    crate::cmd::maint::ORDINALS,
    crate::cmd::session::ORDINALS,
    crate::cmd::owner::ORDINALS,
    crate::cmd::keys::ORDINALS,
    crate::cmd::seal::ORDINALS,
    crate::cmd::sign::ORDINALS,
    crate::cmd::quote::ORDINALS,
    crate::cmd::context::ORDINALS,
];

/// Finds the row for `ordinal`, honouring `maintcmds`; stubs are returned too.
pub fn lookup(ordinal: u32, maintcmds: bool) -> Option<&'static OrdinalEntry> {
    TABLES.iter().flat_map(|t| t.iter()).find(|e| e.ordinal == ordinal && (maintcmds || e.flags & flags::MAINT == 0))
}

/// True if the ordinal is implemented and enabled (TPM_CAP_ORD).
pub fn is_supported(ordinal: u32, maintcmds: bool) -> bool {
    lookup(ordinal, maintcmds).is_some_and(|e| e.flags & flags::STUB == 0)
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
    fn parse(b: &[u8]) -> Result<Self, Rc> {
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
    pub auth_state: crate::auth::CommandAuth,
    /// Set by handlers whose spec says "ignore continueAuthSession and set it to
    /// FALSE on output" (e.g. NV_DefineSpace): `finish_response` ends the sessions.
    pub force_end_sessions: bool,
    body: &'a [u8],
    handle_len: usize,
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

/// A 10-byte error response.
pub fn error_response(request_tag: u16, rc: Rc) -> Vec<u8> {
    build_response(response_tag(request_tag), rc, &[])
}

/// Runs one command: see [`Tpm::execute`].
pub fn execute(tpm: &mut Tpm, locality: u8, command: &[u8]) -> Vec<u8> {
    let raw_tag = if command.len() >= 2 { u16::from_be_bytes([command[0], command[1]]) } else { 0 };
    if command.len() > INPUT_BUFFER_SIZE as usize {
        return error_response(raw_tag, Rc::SIZE);
    }
    let hdr = match RequestHeader::parse(command) {
        Ok(h) => h,
        Err(rc) => return error_response(raw_tag, rc),
    };
    let n_auth = match hdr.tag {
        tag::RQU_COMMAND => 0,
        tag::RQU_AUTH1_COMMAND => 1,
        tag::RQU_AUTH2_COMMAND => 2,
        _ => return error_response(tag::RSP_COMMAND, Rc::BADTAG),
    };
    let Some(entry) = lookup(hdr.ordinal, tpm.options.maintcmds) else {
        return error_response(hdr.tag, Rc::BAD_ORDINAL);
    };
    if entry.flags & flags::STUB != 0 {
        return error_response(hdr.tag, Rc::BAD_ORDINAL);
    }
    // Any command but TPM_Startup invalidates state saved by TPM_SaveState
    // (SaveState itself saves afresh).
    if hdr.ordinal != crate::constants::ord::Startup {
        crate::cmd::lifecycle::invalidate_saved_state(tpm);
    }
    crate::cmd::hash::end_thread_unless(tpm, hdr.ordinal);
    let body = &command[HEADER_SIZE..];
    let handle_len = usize::from(entry.handles) * 4;
    let auth_len = n_auth * AUTH_IN_SIZE;
    if body.len() < handle_len + auth_len {
        return error_response(hdr.tag, Rc::BAD_PARAM_SIZE);
    }
    let (params, trailers) = body.split_at(body.len() - auth_len);
    let mut auth = [None, None];
    for (i, slot) in auth.iter_mut().enumerate().take(n_auth) {
        match AuthIn::parse(&trailers[i * AUTH_IN_SIZE..(i + 1) * AUTH_IN_SIZE]) {
            Ok(a) => *slot = Some(a),
            Err(rc) => return error_response(hdr.tag, rc),
        }
    }
    let mut cmd = Command {
        tag: hdr.tag,
        ordinal: hdr.ordinal,
        locality,
        params: Reader::new(params),
        auth,
        auth_state: Default::default(),
        force_end_sessions: false,
        body: params,
        handle_len,
    };
    if let Err(rc) = check_state(tpm, entry, &cmd) {
        crate::auth::on_error(tpm, &mut cmd, rc);
        return error_response(hdr.tag, rc);
    }
    // The tag is checked after the state, as libtpms does.
    if entry.tags & (1 << n_auth) == 0 {
        return error_response(hdr.tag, Rc::BADTAG);
    }
    let mut resp = Response::default();
    let result =
        (entry.handler)(tpm, &mut cmd, &mut resp).and_then(|()| crate::auth::finish_response(tpm, &mut cmd, &resp));
    match result {
        Ok(trailers) => {
            let mut out = resp.handles.into_vec();
            out.extend_from_slice(resp.params.as_slice());
            out.extend_from_slice(&trailers);
            build_response(response_tag(hdr.tag), Rc::SUCCESS, &out)
        }
        Err(rc) => {
            crate::auth::on_error(tpm, &mut cmd, rc);
            error_response(hdr.tag, rc)
        }
    }
}

/// The state checks of a row (see [`check`]).
fn check_state(tpm: &mut Tpm, entry: &OrdinalEntry, cmd: &Command<'_>) -> Result<(), Rc> {
    let c = entry.check;
    if c & check::NO_LOCKOUT != 0 && cmd.tag != tag::RQU_COMMAND {
        crate::auth::check_lockout(tpm)?;
    }
    if c & check::NOT_SHUTDOWN != 0 && tpm.vol.test_state == crate::state::volatile::TestState::Failed {
        return Err(Rc::FAILEDSELFTEST);
    }
    if entry.flags & flags::PRE_STARTUP == 0 && tpm.vol.stany_flags.postInitialise {
        return Err(Rc::INVALID_POSTINIT);
    }
    let nv_free = c & check::NV_NOAUTH != 0 && !tpm.perm.flags.nvLocked;
    if c & check::ENABLED != 0 && !nv_free && tpm.perm.flags.disable {
        return Err(Rc::DISABLED);
    }
    if c & check::ACTIVATED != 0 && !nv_free && tpm.vol.stclear_flags.deactivated {
        return Err(Rc::DEACTIVATED);
    }
    if c & check::OWNER != 0 && !tpm.perm.data.owner_installed {
        return Err(Rc::NOSRK);
    }
    Ok(())
}
