//! One command through the engine (Part 3 §5): header checks, the command table, the
//! startup / failure-mode gates, the handle area, the authorization area, the handler, and
//! the response (handles, `parameterSize` and the session area when the command had
//! sessions). Errors are 10-byte responses; a TPM 1.2 command (tag 0x00C1..0x00C3) gets
//! `TPM_RC_BAD_TAG` with the TPM 1.2 response tag `TPM_ST_RSP_COMMAND`, which is what lets a
//! TPM 1.2 driver see return code 0x1E.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::cmd::{self, Command, HandleKind, Response, hierarchy};
use crate::codec::{Reader, Writer};
use crate::constants::{MAX_COMMAND_SIZE, cc, ht, rh, st};
use crate::rc::Rc;
use crate::session;
use crate::tpm::Tpm;

/// The 10-byte error response.
pub fn error_response(tag: u16, rc: Rc) -> Vec<u8> {
    let mut w = Writer::new();
    w.u16(tag).u32(10).u32(rc.0);
    w.0
}

/// Executes `command` at `locality`.
pub fn execute(tpm: &mut Tpm, locality: u8, command: &[u8]) -> Vec<u8> {
    match run(tpm, locality, command) {
        Ok(resp) => resp,
        // A TPM 1.2 command gets its answer in a TPM 1.2 frame (Part 1, TPM 1.2 compatibility).
        Err(Rc::BAD_TAG) if command.get(..2).is_some_and(|t| t[0] == 0 && (0xC1..=0xC3).contains(&t[1])) => {
            error_response(st::RSP_COMMAND, Rc::BAD_TAG)
        }
        Err(rc) => error_response(st::NO_SESSIONS, rc),
    }
}

/// Checks a handle against what its slot accepts; `n` is its 1-based position.
fn check_handle(tpm: &Tpm, kind: HandleKind, handle: u32, n: u32) -> Result<(), Rc> {
    let ok = match kind {
        HandleKind::ObjectAdmin => return check_handle(tpm, HandleKind::Object, handle, n),
        HandleKind::Object => {
            if !matches!((handle >> 24) as u8, ht::TRANSIENT | ht::PERSISTENT) {
                return Err(Rc::VALUE.handle(n));
            }
            if tpm.object(handle).is_none() {
                // a transient handle not loaded is a reference error; a persistent one a handle error
                return Err(if (handle >> 24) as u8 == ht::TRANSIENT {
                    Rc(Rc::REFERENCE_H0.0 + n - 1)
                } else {
                    Rc::HANDLE.handle(n)
                });
            }
            true
        }
        HandleKind::Pcr { null } => (handle as usize) < crate::constants::PCR_COUNT || (null && handle == rh::NULL),
        HandleKind::ObjectOrNull => {
            return if handle == rh::NULL { Ok(()) } else { check_handle(tpm, HandleKind::Object, handle, n) };
        }
        HandleKind::Entity => {
            return match (handle >> 24) as u8 {
                ht::TRANSIENT | ht::PERSISTENT => check_handle(tpm, HandleKind::Object, handle, n),
                ht::PCR if (handle as usize) < crate::constants::PCR_COUNT => Ok(()),
                ht::PERMANENT
                    if matches!(handle, rh::OWNER | rh::ENDORSEMENT | rh::PLATFORM | rh::LOCKOUT | rh::NULL) =>
                {
                    Ok(())
                }
                _ => Err(Rc::VALUE.handle(n)),
            };
        }
        HandleKind::PolicySession => {
            if (handle >> 24) as u8 != ht::POLICY_SESSION {
                return Err(Rc::VALUE.handle(n));
            }
            if !tpm.sessions.contains_key(&handle) {
                return Err(Rc(Rc::REFERENCE_H0.0 + n - 1));
            }
            true
        }
        HandleKind::Context => {
            matches!((handle >> 24) as u8, ht::HMAC_SESSION | ht::POLICY_SESSION | ht::TRANSIENT)
        }
        HandleKind::Hierarchy(allowed) => allowed.contains(&handle),
        HandleKind::NvAuth { .. } if matches!(handle, rh::OWNER | rh::PLATFORM) => true,
        HandleKind::NvAuth { .. } | HandleKind::NvIndex | HandleKind::NvAdmin => {
            if (handle >> 24) as u8 != ht::NV_INDEX {
                return Err(Rc::VALUE.handle(n));
            }
            if !tpm.perm.nv.contains_key(&handle) {
                return Err(Rc::HANDLE.handle(n));
            }
            true
        }
    };
    if ok { Ok(()) } else { Err(Rc::VALUE.handle(n)) }
}

/// The authorization value of an authorization handle: PCRs have no authValue groups here,
/// so their authorization is the empty password; hierarchies have theirs.
fn auth_value(tpm: &Tpm, kind: HandleKind, handle: u32) -> Zeroizing<Vec<u8>> {
    match kind {
        HandleKind::Pcr { .. }
        | HandleKind::Context
        | HandleKind::ObjectOrNull
        | HandleKind::Entity
        | HandleKind::PolicySession => Zeroizing::new(Vec::new()),
        HandleKind::Hierarchy(_) => hierarchy::auth_value(tpm, handle),
        HandleKind::NvAuth { .. } | HandleKind::NvIndex | HandleKind::NvAdmin => match tpm.perm.nv.get(&handle) {
            Some(nv) => nv.auth.clone(),
            None => hierarchy::auth_value(tpm, handle),
        },
        HandleKind::Object | HandleKind::ObjectAdmin => {
            Zeroizing::new(tpm.object(handle).map(|o| o.sensitive.auth.to_vec()).unwrap_or_default())
        }
    }
}

/// The Name of an entity: an object's or NV index's Name, else its handle.
pub fn entity_name(tpm: &Tpm, handle: u32) -> Vec<u8> {
    if let Some(nv) = tpm.perm.nv.get(&handle) {
        return nv.public.name();
    }
    match tpm.object(handle) {
        Some(o) => o.name.clone(),
        None => handle.to_be_bytes().to_vec(),
    }
}

/// What an NV index allows its authorizer in `kind`'s role: (authValue usable, policy
/// usable, authPolicy). Reads need AUTHREAD / POLICYREAD, writes AUTHWRITE / POLICYWRITE;
/// the ADMIN role only a policy.
fn nv_role(tpm: &Tpm, kind: HandleKind, handle: u32) -> Option<(bool, bool, Vec<u8>)> {
    use crate::nv::attr;
    let nv = tpm.perm.nv.get(&handle)?;
    let (auth, policy) = match kind {
        HandleKind::NvAuth { write: false } => (attr::AUTHREAD, attr::POLICYREAD),
        HandleKind::NvAuth { write: true } => (attr::AUTHWRITE, attr::POLICYWRITE),
        HandleKind::NvAdmin => return Some((false, true, nv.public.auth_policy.clone())),
        _ => return None,
    };
    Some((nv.public.has(auth), nv.public.has(policy), nv.public.auth_policy.clone()))
}

fn run(tpm: &mut Tpm, locality: u8, command: &[u8]) -> Result<Vec<u8>, Rc> {
    let mut r = Reader::new(command);
    let tag = r.u16().map_err(|_| Rc::BAD_TAG)?;
    if tag != st::NO_SESSIONS && tag != st::SESSIONS {
        return Err(Rc::BAD_TAG);
    }
    let size = r.u32().map_err(|_| Rc::COMMAND_SIZE)?;
    let code = r.u32().map_err(|_| Rc::COMMAND_SIZE)?;
    if size as usize != command.len() || command.len() > MAX_COMMAND_SIZE {
        return Err(Rc::COMMAND_SIZE);
    }
    if tpm.failed && code != cc::GET_TEST_RESULT && code != cc::GET_CAPABILITY {
        return Err(Rc::FAILURE);
    }
    let row = cmd::find(code).ok_or(Rc::COMMAND_CODE)?;
    if tpm.started() == (code == cc::STARTUP) {
        return Err(Rc::INITIALIZE);
    }
    let mut handles = Vec::with_capacity(row.handles.len());
    for (i, &kind) in row.handles.iter().enumerate() {
        let n = i as u32 + 1;
        let h = r.u32().map_err(|e| e.handle(n))?;
        check_handle(tpm, kind, h, n)?;
        handles.push(h);
    }
    let sessions = if tag == st::SESSIONS {
        session::parse(&mut r)?
    } else if row.auth_handles > 0 {
        return Err(Rc::AUTH_MISSING);
    } else {
        Vec::new()
    };
    let entities: Vec<session::AuthEntity> = row
        .handles
        .iter()
        .zip(&handles)
        .take(row.auth_handles)
        .map(|(&k, &h)| {
            let admin = k == HandleKind::ObjectAdmin;
            let object = (k == HandleKind::Object || admin).then(|| tpm.object(h)).flatten();
            // the USER role needs userWithAuth for the authValue; the ADMIN role a policy
            // when adminWithPolicy is SET (Part 1 §19.7)
            let attr = if admin {
                crate::object::public::attr::ADMIN_WITH_POLICY
            } else {
                crate::object::public::attr::USER_WITH_AUTH
            };
            let with_auth = object.is_none_or(|o| o.public.has(attr) != admin);
            let nv = nv_role(tpm, k, h);
            session::AuthEntity {
                handle: h,
                auth: auth_value(tpm, k, h),
                name: entity_name(tpm, h),
                policy: match &nv {
                    Some((_, _, p)) => p.clone(),
                    None => object.map(|o| o.public.auth_policy.clone()).unwrap_or_default(),
                },
                user_with_auth: nv.as_ref().map_or(with_auth, |r| r.0),
                policy_allowed: nv.as_ref().is_none_or(|r| r.1),
                admin: admin || k == HandleKind::NvAdmin,
            }
        })
        .collect();
    let lockout = entities.iter().position(|e| e.handle == rh::LOCKOUT);
    if lockout.is_some() && hierarchy::locked_out(tpm) {
        return Err(Rc::LOCKOUT);
    }
    let cp =
        session::CommandHash { code, names: handles.iter().map(|&h| entity_name(tpm, h)).collect(), params: r.rest() };
    let pending = match (session::check(tpm, &sessions, &entities, &cp), lockout) {
        (Ok(p), _) => p,
        // lockoutAuth is DA-protected: a wrong one is TPM_RC_AUTH_FAIL and locks it out
        (Err(rc), Some(i)) if rc == Rc::BAD_AUTH.session(i as u32 + 1) => {
            hierarchy::lock_out(tpm);
            return Err(Rc::AUTH_FAIL.session(i as u32 + 1));
        }
        // a DA-protected object (noDA CLEAR): TPM_RC_AUTH_FAIL (there is no failure counter yet)
        (Err(rc), _)
            if entities.iter().enumerate().any(|(i, e)| {
                rc == Rc::BAD_AUTH.session(i as u32 + 1)
                    && (tpm.object(e.handle).is_some_and(|o| !o.public.has(crate::object::public::attr::NO_DA))
                        || tpm.perm.nv.get(&e.handle).is_some_and(|nv| !nv.public.has(crate::nv::attr::NO_DA)))
            }) =>
        {
            return Err(Rc(rc.0 - Rc::BAD_AUTH.0 + Rc::AUTH_FAIL.0));
        }
        (Err(rc), _) => return Err(rc),
    };
    drop(entities);

    // a decrypt session: the first parameter arrives encrypted
    let mut plain_params = Zeroizing::new(r.rest().to_vec());
    session::decrypt_params(&sessions, &pending, &mut plain_params).map_err(|rc| rc.param(1))?;
    let mut c = Command { code, locality, handles, params: Reader::new(&plain_params) };
    let mut resp = Response::default();
    (row.handler)(tpm, &mut c, &mut resp)?;

    let mut w = Writer::new();
    let mut body = Writer::new();
    resp.handles.iter().for_each(|&h| {
        body.u32(h);
    });
    if tag == st::SESSIONS {
        let area = session::response(tpm, &sessions, &pending, code, &mut resp.params.0);
        body.u32(resp.params.0.len() as u32).bytes(&resp.params.0).bytes(&area.0);
    } else {
        body.bytes(&resp.params.0);
    }
    w.u16(tag).u32(10 + body.0.len() as u32).u32(0).bytes(&body.0);
    Ok(w.0)
}
