//! The session ordinals: TPM_OIAP, TPM_OSAP, TPM_Terminate_Handle, TPM_FlushSpecific
//! (Part 3 §18, §22.3), and the session part of TPM_SaveState / Startup(ST_STATE). The
//! table is `state::sessions`; HMAC checking and entity binding are in [`crate::auth`].

use alloc::vec::Vec;

use crate::Tpm;
use crate::auth::{entity_digest, entity_secret};
use crate::constants::rc::Rc;
use crate::constants::{et, ord, rt};
use crate::crypto::{Digest, Secret, hmac_sha1};
use crate::frame::{Command, OrdinalEntry, Response, check, tags};
use crate::state::sessions::{SessionKind, entity_of};

/// Bytes for [`crate::state::SavedState::sessions`] (TPM_SaveState).
pub fn save_state(tpm: &Tpm) -> Vec<u8> {
    tpm.sessions.save_state()
}

/// Restores [`save_state`] output on Startup(ST_STATE).
pub fn restore_state(tpm: &mut Tpm, bytes: &[u8]) -> Result<(), Rc> {
    tpm.sessions.clear();
    let (next, sessions) = crate::state::sessions::SessionTable::decode_state(bytes)?;
    tpm.sessions.set_next_handle(next);
    for mut s in sessions {
        // A format-1 OSAP session carries no entity digest: bind it to the entity as it is
        // now, which is the state it was saved with (TPM_SaveState keeps both together).
        if let SessionKind::Osap { entity, entity_digest: d @ None, .. } = &mut s.kind {
            *d = entity_digest(tpm, *entity).ok();
        }
        tpm.sessions.restore(s)?;
    }
    Ok(())
}

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::OIAP, oiap, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::OSAP, osap, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::Terminate_Handle, terminate_handle, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::FlushSpecific, flush_specific, tags::RQU, 0, check::BASIC),
];

/// TPM_OIAP (Part 3 §18.1): outputs `authHandle, nonceEven`.
pub fn oiap(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    let nonce_even = tpm.nonce();
    let handle = tpm.sessions.insert(SessionKind::Oiap, nonce_even)?;
    resp.params.u32(handle).bytes(&nonce_even);
    Ok(())
}

/// TPM_OSAP (Part 3 §18.2): `entityType, entityValue, nonceOddOSAP` in;
/// `authHandle, nonceEven, nonceEvenOSAP` out. Only XOR ADIP is offered
/// (an AES-CTR entity type is `TPM_INAPPROPRIATE_ENC`). The owner and the SRK
/// need an owner (`TPM_NOSRK`); other entities do not (libtpms requires an
/// owner for every OSAP, which would lock out ownerless NV spaces).
pub fn osap(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let entity_type = cmd.params.u16()?;
    let entity_value = cmd.params.u32()?;
    let nonce_odd_osap: Digest = cmd.params.array()?;
    cmd.params.finish()?;
    if entity_type >> 8 != et::XOR {
        return Err(Rc::INAPPROPRIATE_ENC);
    }
    let entity = entity_of(entity_type, entity_value)?;
    let secret = entity_secret(tpm, entity)?;
    let nonce_even = tpm.nonce();
    let nonce_even_osap = tpm.nonce();
    let shared_secret = Secret(hmac_sha1(&secret.0, &[&nonce_even_osap, &nonce_odd_osap]));
    let entity_digest = Some(entity_digest(tpm, entity)?);
    let kind = SessionKind::Osap { entity, entity_type, entity_value, shared_secret, entity_digest };
    let handle = tpm.sessions.insert(kind, nonce_even)?;
    resp.params.u32(handle).bytes(&nonce_even).bytes(&nonce_even_osap);
    Ok(())
}

/// TPM_Terminate_Handle (Part 3 §18.4).
pub fn terminate_handle(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let handle = cmd.params.u32()?;
    cmd.params.finish()?;
    if tpm.sessions.terminate(handle) { Ok(()) } else { Err(Rc::INVALID_AUTHHANDLE) }
}

/// TPM_FlushSpecific (Part 3 §22.3): keys, auth sessions and saved contexts.
pub fn flush_specific(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let handle = cmd.params.u32()?;
    let resource_type = cmd.params.u32()?;
    cmd.params.finish()?;
    match resource_type {
        // libtpms answers TPM_BAD_PARAMETER for a key handle that is not loaded.
        rt::KEY => super::keys::flush_key(tpm, handle)
            .map_err(|rc| if rc == Rc::INVALID_KEYHANDLE { Rc::BAD_PARAMETER } else { rc }),
        rt::AUTH => {
            if tpm.sessions.terminate(handle) {
                Ok(())
            } else {
                Err(Rc::INVALID_AUTHHANDLE)
            }
        }
        rt::CONTEXT => super::context::flush_context(tpm, handle),
        rt::TRANS => super::transport::flush(tpm, handle),
        rt::DAA_TPM => Err(Rc::BAD_HANDLE),
        _ => Err(Rc::INVALID_RESOURCE),
    }
}
