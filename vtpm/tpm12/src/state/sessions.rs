//! The loaded authorization sessions (Part 1 §13): the session table, what a session
//! holds, and its storage encoding (TPM_SaveState, TPM_SaveContext).
//!
//! A session holds the TPM's current `nonceEven` (rolled by [`crate::auth::finish_response`])
//! and, for OSAP, the entity it is bound to, the shared secret
//! `HMAC(entityAuth, nonceEvenOSAP ‖ nonceOddOSAP)` and the entity digest it was opened
//! against ([`crate::auth::entity_digest`]). The OIAP/OSAP ordinals are in `cmd::session`.

use alloc::vec::Vec;

use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{et, kh};
use crate::crypto::{Digest, Secret};

/// What an authorization is for (OSAP sessions are bound to one entity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthEntity {
    /// The TPM owner (`TPM_ET_OWNER`, `TPM_KH_OWNER`).
    Owner,
    /// The operator (`TPM_ET_OPERATOR`).
    Operator,
    /// The SRK (`TPM_ET_SRK`).
    Srk,
    /// A loaded key (`TPM_ET_KEYHANDLE`).
    Key(u32),
    /// An NV space (`TPM_ET_NV`) by index.
    Nv(u32),
    /// A monotonic counter (`TPM_ET_COUNTER`) by handle.
    Counter(u32),
    /// Sealed or bound data (`TPM_ET_DATA`, usage auth of a blob).
    Data,
}

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
        /// Digest of the entity as it was at TPM_OSAP ([`crate::auth::entity_digest`]): the session
        /// is usable only while the entity still has this digest (libtpms' `entityDigest`),
        /// so a changed secret, a redefined NV space or a released counter ends it, active
        /// or saved. `None` only for a session restored from a format-1 image before it is
        /// bound by `cmd::session::restore_state`; an unbound session authorizes nothing.
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
    /// Bytes for [`crate::state::SavedState::sessions`] (TPM_SaveState).
    pub fn save_state(&self) -> Vec<u8> {
        let mut w = Writer::secret();
        w.u32(self.next_handle).u32(self.sessions.len() as u32);
        for s in &self.sessions {
            s.encode(&mut w);
        }
        w.into_vec()
    }
    /// Parses [`SessionTable::save_state`] output: the next handle and the sessions.
    pub fn decode_state(bytes: &[u8]) -> Result<(u32, Vec<Session>), Rc> {
        if bytes.is_empty() {
            return Ok((0, Vec::new()));
        }
        let mut r = Reader::new(bytes);
        let next = r.u32()?;
        let n = r.u32()? as usize;
        if n > MAX_SESSIONS {
            return Err(Rc::FAIL);
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(Session::decode(&mut r)?);
        }
        r.finish()?;
        Ok((next, v))
    }
    /// Sets the next handle to try (Startup(ST_STATE)).
    pub fn set_next_handle(&mut self, next: u32) {
        self.next_handle = next;
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

/// Maximum loaded sessions (TPM_CAP_PROP_MAX_AUTHSESS).
pub const MAX_SESSIONS: usize = 16;

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
