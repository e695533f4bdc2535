//! Command dispatch: header checks, the ordinal table, state gating, auth-trailer
//! split, and response assembly. It stands above `cmd/` (it lists their tables); the
//! vocabulary both use is in [`crate::frame`]. The one way back is
//! `cmd::capability` asking [`is_supported`] for TPM_CAP_ORD.
//!
//! Every command module exports `pub const ORDINALS: &[OrdinalEntry]`; [`TABLES`]
//! lists the modules. A row says which tags an ordinal accepts, how many input
//! handles precede its parameters (they are excluded from the inParamDigest), and
//! which TPM states it needs (`CHECK_*`, the same state checks libtpms makes).

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::{HEADER_SIZE, Reader, RequestHeader, build_response};
use crate::constants::rc::Rc;
use crate::constants::{INPUT_BUFFER_SIZE, tag};
use crate::frame::{AUTH_IN_SIZE, AuthIn, Command, OrdinalEntry, Response, check, error_response, flags, response_tag};

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
    crate::cmd::aik::ORDINALS,
    crate::cmd::audit::ORDINALS,
    crate::cmd::transport::ORDINALS,
];

/// Finds the row for `ordinal`, honouring `maintcmds`; stubs are returned too.
pub fn lookup(ordinal: u32, maintcmds: bool) -> Option<&'static OrdinalEntry> {
    TABLES
        .iter()
        .flat_map(|t| t.iter())
        .find(|e| e.ordinal == ordinal && (maintcmds || !e.flags.contains(flags::MAINT)))
}

/// True if the ordinal is implemented and enabled (TPM_CAP_ORD).
pub fn is_supported(ordinal: u32, maintcmds: bool) -> bool {
    lookup(ordinal, maintcmds).is_some_and(|e| !e.flags.contains(flags::STUB))
}

/// Runs one command: see [`Tpm::execute`].
pub fn execute(tpm: &mut Tpm, locality: u8, command: &[u8]) -> Vec<u8> {
    run(tpm, locality, command, None)
}

/// How a command wrapped by TPM_ExecuteTransport runs (see [`execute_wrapped`]).
#[derive(Clone, Copy, Debug)]
pub struct Wrapped {
    /// The transport session encrypts: an audited wrapped command is audited by its
    /// ordinal and return code only (Part 1 §11 / §31).
    pub encrypted: bool,
}

/// Runs a command unwrapped by TPM_ExecuteTransport: as [`execute`], but without the
/// outer-command steps (ending an exclusive transport session, the SHA-1 thread rule for
/// TPM_ExecuteTransport).
pub fn execute_wrapped(tpm: &mut Tpm, locality: u8, command: &[u8], how: Wrapped) -> Vec<u8> {
    run(tpm, locality, command, Some(how))
}

fn run(tpm: &mut Tpm, locality: u8, command: &[u8], wrapped: Option<Wrapped>) -> Vec<u8> {
    let raw_tag = tpm_frame::tag(command).unwrap_or(0);
    let e = error_response;
    if command.len() > INPUT_BUFFER_SIZE as usize {
        return e(raw_tag, Rc::SIZE);
    }
    let hdr = match RequestHeader::parse(command) {
        Ok(h) => h,
        Err(rc) => return e(raw_tag, rc),
    };
    let n_auth = match hdr.tag {
        tag::RQU_COMMAND => 0,
        tag::RQU_AUTH1_COMMAND => 1,
        tag::RQU_AUTH2_COMMAND => 2,
        _ => return e(tag::RSP_COMMAND, Rc::BADTAG),
    };
    if wrapped.is_none() {
        crate::cmd::transport::end_exclusive_unless(tpm, hdr.ordinal);
    }
    let Some(entry) = lookup(hdr.ordinal, tpm.options.maintcmds) else {
        return e(hdr.tag, Rc::BAD_ORDINAL);
    };
    if entry.flags.contains(flags::STUB) {
        return e(hdr.tag, Rc::BAD_ORDINAL);
    }
    // Any command but TPM_Startup invalidates state saved by TPM_SaveState
    // (SaveState itself saves afresh).
    if hdr.ordinal != crate::constants::ord::Startup {
        crate::cmd::lifecycle::invalidate_saved_state(tpm);
    }
    // The SHA-1 thread rule applies to the wrapped command, not TPM_ExecuteTransport.
    if wrapped.is_some() || hdr.ordinal != crate::constants::ord::ExecuteTransport {
        crate::cmd::hash::end_thread_unless(tpm, hdr.ordinal);
    }
    let body = &command[HEADER_SIZE..];
    let handle_len = usize::from(entry.handles) * 4;
    let auth_len = n_auth * AUTH_IN_SIZE;
    if body.len() < handle_len + auth_len {
        return e(hdr.tag, Rc::BAD_PARAM_SIZE);
    }
    let (params, trailers) = body.split_at(body.len() - auth_len);
    let mut auth = [None, None];
    for (i, slot) in auth.iter_mut().enumerate().take(n_auth) {
        match AuthIn::parse(&trailers[i * AUTH_IN_SIZE..(i + 1) * AUTH_IN_SIZE]) {
            Ok(a) => *slot = Some(a),
            Err(rc) => return e(hdr.tag, rc),
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
        transport_index: None,
        transport_trailer: None,
        audit_digests: None,
        body: params,
        handle_len,
    };
    if let Err(rc) = check_state(tpm, entry, &cmd) {
        crate::auth::on_error(tpm, &mut cmd, rc);
        return e(hdr.tag, rc);
    }
    // The tag is checked after the state, as libtpms does.
    if !entry.tags.accepts_auth_count(n_auth) {
        return e(hdr.tag, Rc::BADTAG);
    }
    // Audited or not is decided as the command starts (TPM_SetOrdinalAuditStatus is
    // audited by the status before it). TPM_SaveState is audited before it saves, input
    // only, so that the saved audit digest includes it (Part 1 §11 corner cases).
    let audited = crate::cmd::audit::is_audited(tpm, hdr.ordinal);
    let save_state = hdr.ordinal == crate::constants::ord::SaveState;
    if audited && save_state {
        crate::cmd::audit::extend_in(tpm, &cmd.in_param_digest());
    }
    let mut resp = Response::default();
    let result =
        (entry.handler)(tpm, &mut cmd, &mut resp).and_then(|()| crate::auth::finish_response(tpm, &mut cmd, &resp));
    match result {
        Ok(trailers) => {
            if audited && !save_state {
                let encrypted = wrapped.is_some_and(|w| w.encrypted);
                crate::cmd::audit::record(tpm, &cmd, &resp, encrypted);
            }
            let mut out = resp.handles.into_vec();
            out.extend_from_slice(resp.params.as_slice());
            out.extend_from_slice(&trailers);
            build_response(response_tag(hdr.tag), Rc::SUCCESS, &out)
        }
        Err(rc) => {
            crate::auth::on_error(tpm, &mut cmd, rc);
            e(hdr.tag, rc)
        }
    }
}

/// The state checks of a row (see [`check`]).
fn check_state(tpm: &mut Tpm, entry: &OrdinalEntry, cmd: &Command<'_>) -> Result<(), Rc> {
    let c = entry.check;
    if c.contains(check::NO_LOCKOUT) && cmd.tag != tag::RQU_COMMAND {
        crate::auth::check_lockout(tpm)?;
    }
    if c.contains(check::NOT_SHUTDOWN) && tpm.vol.test_state == crate::state::volatile::TestState::Failed {
        return Err(Rc::FAILEDSELFTEST);
    }
    if !entry.flags.contains(flags::PRE_STARTUP) && tpm.vol.stany_flags.postInitialise {
        return Err(Rc::INVALID_POSTINIT);
    }
    let nv_free = c.contains(check::NV_NOAUTH) && !tpm.perm.flags.nvLocked;
    if c.contains(check::ENABLED) && !nv_free && tpm.perm.flags.disable {
        return Err(Rc::DISABLED);
    }
    if c.contains(check::ACTIVATED) && !nv_free && tpm.vol.stclear_flags.deactivated {
        return Err(Rc::DEACTIVATED);
    }
    if c.contains(check::OWNER) && !tpm.perm.data.owner_installed {
        return Err(Rc::NOSRK);
    }
    Ok(())
}
