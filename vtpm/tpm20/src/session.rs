//! The authorization area of a command (Part 1 §18.6, Part 3 §5.4): parsing the sessions
//! behind `authorizationSize`, checking them against the command's authorization handles,
//! and the response's session area. At this stage only the password session (TPM_RS_PW)
//! exists: HMAC and policy session handles refer to sessions that are not loaded.

use alloc::vec::Vec;

use crate::cmd::Response;
use crate::tpm::Tpm;

use crate::codec::{Reader, Writer};
use crate::constants::{MAX_DIGEST, MAX_SESSIONS, ht, rh, session_attr};
use crate::crypto::ct_eq;
use crate::rc::{At, Rc};

/// An HMAC or policy session (Part 1 §19): filled in by TPM2_StartAuthSession.
#[derive(Clone, Debug)]
pub struct Session {}

/// One session of the command's authorization area (`TPMS_AUTH_COMMAND`).
#[derive(Clone, Debug)]
pub struct AuthCommand<'a> {
    /// sessionHandle.
    pub handle: u32,
    /// nonceCaller.
    pub nonce: &'a [u8],
    /// sessionAttributes.
    pub attributes: u8,
    /// hmac (for a password session: the password).
    pub hmac: &'a [u8],
}

/// The smallest session: handle, empty nonce, attributes, empty hmac.
const MIN_SESSION: u32 = 4 + 2 + 1 + 2;

/// Splits the authorization area off `params` (the command after its handles); returns
/// the sessions and leaves `params` on the parameters.
pub fn parse<'a>(params: &mut Reader<'a>) -> Result<Vec<AuthCommand<'a>>, Rc> {
    let size = params.u32().map_err(|_| Rc::AUTHSIZE)?;
    if size < MIN_SESSION {
        // smaller than one session: as the reference, TPM_RC_SIZE
        return Err(Rc::SIZE);
    }
    if size as usize > params.remaining() {
        return Err(Rc::AUTHSIZE);
    }
    let mut area = Reader::new(params.bytes(size as usize).map_err(|_| Rc::AUTHSIZE)?);
    let mut sessions = Vec::new();
    while area.remaining() > 0 {
        let n = sessions.len() as u32 + 1;
        if sessions.len() == MAX_SESSIONS {
            return Err(Rc::AUTHSIZE);
        }
        let handle = area.u32().map_err(|_| Rc::AUTHSIZE)?;
        let nonce = area.tpm2b(MAX_DIGEST).map_err(|e| if e == Rc::SIZE { e } else { Rc::AUTHSIZE }).s(n)?;
        let attributes = area.u8().map_err(|_| Rc::AUTHSIZE)?;
        let hmac = area.tpm2b(MAX_DIGEST).map_err(|e| if e == Rc::SIZE { e } else { Rc::AUTHSIZE }).s(n)?;
        sessions.push(AuthCommand { handle, nonce, attributes, hmac });
    }
    Ok(sessions)
}

/// Checks the sessions against the command's authorization handles, whose authorization
/// values are `auth_values` (in handle order): session i authorizes handle i.
pub fn check(sessions: &[AuthCommand<'_>], auth_values: &[&[u8]]) -> Result<(), Rc> {
    if sessions.len() < auth_values.len() {
        return Err(Rc::AUTH_MISSING);
    }
    for (i, s) in sessions.iter().enumerate() {
        let n = i as u32 + 1;
        match (s.handle >> 24) as u8 {
            _ if s.handle == rh::PW => {
                // A password session only authorizes a handle.
                if i >= auth_values.len() {
                    return Err(Rc::HANDLE.session(n));
                }
                if !s.nonce.is_empty() {
                    return Err(Rc::NONCE.session(n));
                }
                if s.attributes & 0x18 != 0 {
                    return Err(Rc::RESERVED_BITS.session(n));
                }
                if s.attributes & !session_attr::CONTINUE_SESSION != 0 {
                    return Err(Rc::ATTRIBUTES.session(n));
                }
                // Authorization values are compared without trailing zeros (Part 1 §19.6.4).
                if !ct_eq(crate::cmd::hierarchy::trim(s.hmac), auth_values[i]) {
                    // TPM_RC_BAD_AUTH; the dispatcher makes it TPM_RC_AUTH_FAIL for lockoutAuth.
                    return Err(Rc::BAD_AUTH.session(n));
                }
            }
            // No HMAC or policy session is ever loaded at this stage.
            ht::HMAC_SESSION | ht::POLICY_SESSION => return Err(Rc(Rc::REFERENCE_S0.0 + i as u32)),
            _ => return Err(Rc::HANDLE.session(n)),
        }
    }
    Ok(())
}

/// The response's session area for `sessions` (`TPMS_AUTH_RESPONSE` each): for a password
/// session an empty nonce, continueSession SET (a password session never ends), an empty hmac.
pub fn response(sessions: &[AuthCommand<'_>], w: &mut Writer) {
    for _ in sessions {
        w.u16(0).u8(session_attr::CONTINUE_SESSION).u16(0);
    }
}

/// TPM2_ContextSave of a session: no HMAC or policy session exists at this stage.
pub fn context_save(_tpm: &mut Tpm, _handle: u32, _resp: &mut Response) -> Result<(), Rc> {
    Err(Rc::REFERENCE_H0)
}

/// TPM2_ContextLoad of a session context: none was ever saved.
pub fn context_load(
    _tpm: &mut Tpm,
    _sequence: u64,
    _handle: u32,
    _hierarchy: u32,
    _blob: &[u8],
    _resp: &mut Response,
) -> Result<(), Rc> {
    Err(Rc::INTEGRITY.param(1))
}
