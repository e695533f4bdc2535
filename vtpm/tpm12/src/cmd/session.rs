//! Authorization sessions: TPM_OIAP, TPM_OSAP, TPM_Terminate_Handle,
//! TPM_FlushSpecific, and the session table (Part 1 §13, Part 3 §18, §22.3).
//!
//! A session holds the TPM's current `nonceEven` (rolled by
//! [`crate::auth::finish_response`]) and, for OSAP, the entity it is bound to
//! and the shared secret `HMAC(entityAuth, nonceEvenOSAP ‖ nonceOddOSAP)`.
//! HMAC checking itself lives in [`crate::auth`]; this module only keeps the table.

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{et, kh, ord, rt};
use crate::crypto::{Digest, Secret, hmac_sha1, sha1};
use crate::dispatch::{Command, OrdinalEntry, Response, check, tags};

use super::auth::AuthEntity;

/// What kind of session a handle names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// Object-Independent Authorization Protocol: the HMAC key is the
    /// entity's usage secret, given per command.
    Oiap,
    /// Object-Specific Authorization Protocol, bound to one entity.
    Osap {
        /// The entity the session authorizes.
        entity: AuthEntity,
        /// `TPM_ENTITY_TYPE` as received (high byte: ADIP scheme).
        entity_type: u16,
        /// `entityValue` as received.
        entity_value: u32,
        /// The shared secret, the HMAC key of every command in the session.
        shared_secret: Secret,
        /// Digest of the entity as it was at TPM_OSAP ([`entity_digest`]): the session
        /// is usable only while the entity still has this digest (libtpms' `entityDigest`),
        /// so a changed secret, a redefined NV space or a released counter ends it, active
        /// or saved. `None` only for a session restored from a format-1 image before it is
        /// bound by [`restore_state`]; an unbound session authorizes nothing.
        entity_digest: Option<Digest>,
    },
}

/// One loaded session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// `TPM_AUTHHANDLE`.
    pub handle: u32,
    /// OIAP or OSAP.
    pub kind: SessionKind,
    /// The nonceEven the caller must use in its next HMAC.
    pub nonce_even: Digest,
}

/// The loaded auth sessions.
#[derive(Debug, Default)]
pub struct SessionTable {
    sessions: Vec<Session>,
    next_handle: u32,
    /// `contextCount`s of session contexts saved and not yet loaded (`contextList`).
    saved: Vec<u32>,
}

/// First session handle; handles count up from here and never name a key.
const FIRST_HANDLE: u32 = 0x0200_0000;

impl SessionTable {
    /// Number of loaded sessions (TPM_CAP_PROP_AUTHSESS...).
    pub fn loaded(&self) -> usize {
        self.sessions.len()
    }
    /// Session handles for TPM_CAP_HANDLE(TPM_RT_AUTH).
    pub fn handles(&self) -> Vec<u32> {
        self.sessions.iter().map(|s| s.handle).collect()
    }
    /// Drops every session and saved-session record (TPM_Init, Startup).
    pub fn clear(&mut self) {
        self.sessions.clear();
        self.saved.clear();
    }
    /// Saved session contexts still loadable (TPM_SaveContext's `contextList`).
    pub fn saved_contexts(&self) -> &[u32] {
        &self.saved
    }
    /// Mutable access to the saved-context list.
    pub fn saved_contexts_mut(&mut self) -> &mut Vec<u32> {
        &mut self.saved
    }
    /// The session `handle`.
    pub fn get(&self, handle: u32) -> Option<&Session> {
        self.sessions.iter().find(|s| s.handle == handle)
    }
    /// The session `handle`, mutable.
    pub fn get_mut(&mut self, handle: u32) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|s| s.handle == handle)
    }
    /// Removes a session; false if it did not exist.
    pub fn terminate(&mut self, handle: u32) -> bool {
        let before = self.sessions.len();
        self.sessions.retain(|s| s.handle != handle);
        before != self.sessions.len()
    }
    /// Ends every OSAP session bound to `entity` (its secret changed or it went away).
    pub fn terminate_entity(&mut self, entity: AuthEntity) {
        self.sessions.retain(|s| !matches!(&s.kind, SessionKind::Osap { entity: e, .. } if *e == entity));
    }
    /// Adds a session with a fresh handle; `TPM_RESOURCES` when full.
    pub fn insert(&mut self, kind: SessionKind, nonce_even: Digest) -> Result<u32, Rc> {
        if self.sessions.len() >= MAX_SESSIONS {
            return Err(Rc::RESOURCES);
        }
        let handle = self.fresh_handle();
        self.sessions.push(Session { handle, kind, nonce_even });
        Ok(handle)
    }
    /// Re-inserts a session under its old handle (TPM_LoadContext); `TPM_RESOURCES` when full,
    /// `TPM_BAD_HANDLE` if the handle is taken.
    pub fn restore(&mut self, s: Session) -> Result<(), Rc> {
        if self.sessions.len() >= MAX_SESSIONS {
            return Err(Rc::RESOURCES);
        }
        if self.get(s.handle).is_some() {
            return Err(Rc::BAD_HANDLE);
        }
        self.sessions.push(s);
        Ok(())
    }
    fn fresh_handle(&mut self) -> u32 {
        loop {
            let h = FIRST_HANDLE | (self.next_handle & 0x00FF_FFFF);
            self.next_handle = self.next_handle.wrapping_add(1);
            if self.get(h).is_none() {
                return h;
            }
        }
    }
}

impl Session {
    /// Storage encoding (SaveState, SaveContext).
    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.handle).bytes(&self.nonce_even);
        match &self.kind {
            SessionKind::Oiap => {
                w.u8(1);
            }
            SessionKind::Osap { entity_type, entity_value, shared_secret, entity_digest, .. } => {
                // Kind 3: OSAP with its entity digest (kind 2, without it, is format 1's).
                w.u8(3).u16(*entity_type).u32(*entity_value).bytes(&shared_secret.0);
                w.bytes(&entity_digest.unwrap_or_default());
            }
        }
    }

    /// Inverse of [`Session::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        let handle = r.u32()?;
        let nonce_even = r.array()?;
        let kind = match r.u8()? {
            1 => SessionKind::Oiap,
            kind @ (2 | 3) => {
                let entity_type = r.u16()?;
                let entity_value = r.u32()?;
                let shared_secret = Secret(r.array()?);
                let entity_digest = if kind == 3 { Some(r.array()?) } else { None };
                let entity = entity_of(entity_type, entity_value)?;
                SessionKind::Osap { entity, entity_type, entity_value, shared_secret, entity_digest }
            }
            _ => return Err(Rc::BADCONTEXT),
        };
        Ok(Self { handle, kind, nonce_even })
    }
}

/// Bytes for [`crate::state::SavedState::sessions`] (TPM_SaveState).
pub fn save_state(tpm: &Tpm) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(tpm.sessions.next_handle).u32(tpm.sessions.sessions.len() as u32);
    for s in &tpm.sessions.sessions {
        s.encode(&mut w);
    }
    w.into_vec()
}

/// Restores [`save_state`] output on Startup(ST_STATE).
pub fn restore_state(tpm: &mut Tpm, bytes: &[u8]) -> Result<(), Rc> {
    tpm.sessions.clear();
    if bytes.is_empty() {
        return Ok(());
    }
    let mut r = Reader::new(bytes);
    tpm.sessions.next_handle = r.u32()?;
    let n = r.u32()? as usize;
    if n > MAX_SESSIONS {
        return Err(Rc::FAIL);
    }
    for _ in 0..n {
        let mut s = Session::decode(&mut r)?;
        // A format-1 OSAP session carries no entity digest: bind it to the entity as it is
        // now, which is the state it was saved with (TPM_SaveState keeps both together).
        if let SessionKind::Osap { entity, entity_digest: d @ None, .. } = &mut s.kind {
            *d = entity_digest(tpm, *entity).ok();
        }
        tpm.sessions.restore(s)?;
    }
    r.finish()
}

/// Maximum loaded sessions (TPM_CAP_PROP_MAX_AUTHSESS).
pub const MAX_SESSIONS: usize = 16;

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::OIAP, oiap, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::OSAP, osap, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::Terminate_Handle, terminate_handle, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::FlushSpecific, flush_specific, tags::RQU, 0, check::BASIC),
];

/// Maps an OSAP `entityType`/`entityValue` to the entity it names
/// (`TPM_BAD_PARAMETER` for types we do not authorize through OSAP, as libtpms).
pub fn entity_of(entity_type: u16, entity_value: u32) -> Result<AuthEntity, Rc> {
    Ok(match entity_type & 0x00FF {
        et::OWNER => AuthEntity::Owner,
        et::SRK => AuthEntity::Srk,
        et::KEYHANDLE if entity_value == kh::SRK => AuthEntity::Srk,
        et::KEYHANDLE => AuthEntity::Key(entity_value),
        et::NV => AuthEntity::Nv(entity_value),
        et::COUNTER => AuthEntity::Counter(entity_value),
        et::OPERATOR => AuthEntity::Operator,
        _ => return Err(Rc::BAD_PARAMETER),
    })
}

/// The current usage secret of an entity (for OSAP's shared secret).
fn entity_secret(tpm: &Tpm, entity: AuthEntity) -> Result<Secret, Rc> {
    let d = &tpm.perm.data;
    match entity {
        AuthEntity::Owner => {
            if d.owner_installed {
                Ok(d.owner_auth.clone())
            } else {
                Err(Rc::NOSRK)
            }
        }
        AuthEntity::Operator => {
            if tpm.perm.flags.operator {
                Ok(d.operator_auth.clone())
            } else {
                Err(Rc::NOOPERATOR)
            }
        }
        AuthEntity::Srk => d.srk.as_ref().map(|k| k.usage_auth.clone()).ok_or(Rc::NOSRK),
        AuthEntity::Key(h) => super::keys::usage_auth(tpm, h),
        AuthEntity::Nv(i) => d.nv.iter().find(|s| s.index == i).map(|s| s.auth.clone()).ok_or(Rc::BADINDEX),
        AuthEntity::Counter(c) => {
            d.counters.iter().find(|x| x.handle == c).map(|x| x.auth.clone()).ok_or(Rc::BAD_COUNTER)
        }
        AuthEntity::Data => Err(Rc::WRONG_ENTITYTYPE),
    }
}

/// The digest an OSAP session is bound to (see `SessionKind::Osap::entity_digest`): owner,
/// operator and SRK: SHA-1 of the current usage secret; a key: SHA-1 of its public
/// structure and handle; an NV space: SHA-1 of its public area (index, PCR infos,
/// attributes, size) and authValue; a counter: SHA-1 of handle, label and auth. Errors as
/// for the entity's lookup when it no longer exists.
pub fn entity_digest(tpm: &Tpm, entity: AuthEntity) -> Result<Digest, Rc> {
    let d = &tpm.perm.data;
    Ok(match entity {
        AuthEntity::Owner | AuthEntity::Operator | AuthEntity::Srk => sha1(&[&entity_secret(tpm, entity)?.0]),
        AuthEntity::Key(h) => {
            let rec = super::keys::record(tpm, h).ok_or(Rc::INVALID_KEYHANDLE)?;
            sha1(&[&rec.public_blob, &h.to_be_bytes()])
        }
        AuthEntity::Nv(i) => {
            let s = d.nv.iter().find(|s| s.index == i).ok_or(Rc::BADINDEX)?;
            let size = u32::try_from(s.data.len()).unwrap_or(u32::MAX);
            sha1(&[
                &i.to_be_bytes(),
                &(s.pcr_info_read.len() as u32).to_be_bytes(),
                &s.pcr_info_read,
                &s.pcr_info_write,
                &s.attributes.to_be_bytes(),
                &size.to_be_bytes(),
                &s.auth.0,
            ])
        }
        AuthEntity::Counter(c) => {
            let x = d.counters.iter().find(|x| x.handle == c).ok_or(Rc::BAD_COUNTER)?;
            sha1(&[&c.to_be_bytes(), &x.label, &x.auth.0])
        }
        AuthEntity::Data => return Err(Rc::WRONG_ENTITYTYPE),
    })
}

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
        rt::TRANS | rt::DAA_TPM => Err(Rc::BAD_HANDLE),
        _ => Err(Rc::INVALID_RESOURCE),
    }
}
