//! The loaded transport sessions (`TPM_TRANSPORT_INTERNAL`, Part 2 §13.3; Part 1 §31).
//!
//! Volatile: lost at TPM_Init and not kept by TPM_SaveState (TPM_STARTUP_EFFECTS bit 1:
//! Startup(ST_STATE) initialises transport sessions). The exclusive session, if any, is
//! `TPM_STANY_FLAGS.transportExclusive`.

use alloc::vec::Vec;

use crate::crypto::{Digest, Secret};

/// Transport sessions held at once.
pub const MAX_TRANSPORT_SESSIONS: usize = 3;

/// First transport handle; handles count up from here (never a key or auth handle).
const FIRST_HANDLE: u32 = 0x0300_0000;

/// `TPM_TRANSPORT_ENCRYPT`: wrapped commands' parameters are encrypted.
pub const ATTR_ENCRYPT: u32 = 0x0000_0001;
/// `TPM_TRANSPORT_LOG`: the session keeps a transport log digest.
pub const ATTR_LOG: u32 = 0x0000_0002;
/// `TPM_TRANSPORT_EXCLUSIVE`: any command outside the session ends it.
pub const ATTR_EXCLUSIVE: u32 = 0x0000_0004;

/// One transport session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportSession {
    /// `transHandle`.
    pub handle: u32,
    /// `transPublic.transAttributes`.
    pub attributes: u32,
    /// `transPublic.algId`.
    pub alg_id: u32,
    /// `transPublic.encScheme`.
    pub enc_scheme: u16,
    /// `authData`: the session secret (HMAC key and encryption secret).
    pub auth: Secret,
    /// `transNonceEven` (the last one sent).
    pub nonce_even: Digest,
    /// `transDigest`: the transport log digest.
    pub digest: Digest,
}

impl TransportSession {
    /// True if `attr` (an `ATTR_*` bit) is set.
    pub fn has(&self, attr: u32) -> bool {
        self.attributes & attr != 0
    }
}

/// The session table.
#[derive(Debug, Default)]
pub struct TransportSessions {
    sessions: Vec<TransportSession>,
    next_handle: u32,
}

impl TransportSessions {
    /// Number of sessions held.
    pub fn loaded(&self) -> usize {
        self.sessions.len()
    }

    /// Their handles (TPM_CAP_HANDLE(TPM_RT_TRANS)).
    pub fn handles(&self) -> Vec<u32> {
        self.sessions.iter().map(|s| s.handle).collect()
    }

    /// Drops every session (TPM_Init, Startup).
    pub fn clear(&mut self) {
        self.sessions.clear();
    }

    /// The session `handle`.
    pub fn get(&self, handle: u32) -> Option<&TransportSession> {
        self.sessions.iter().find(|s| s.handle == handle)
    }

    /// The session `handle`, mutable.
    pub fn get_mut(&mut self, handle: u32) -> Option<&mut TransportSession> {
        self.sessions.iter_mut().find(|s| s.handle == handle)
    }

    /// Adds a session (its `handle` is assigned here); `None` when the table is full.
    pub fn insert(&mut self, mut session: TransportSession) -> Option<u32> {
        if self.sessions.len() >= MAX_TRANSPORT_SESSIONS {
            return None;
        }
        let handle = FIRST_HANDLE | (self.next_handle & 0x00FF_FFFF);
        self.next_handle = self.next_handle.wrapping_add(1);
        session.handle = handle;
        self.sessions.push(session);
        Some(handle)
    }

    /// Ends the session `handle`; true if it existed.
    pub fn terminate(&mut self, handle: u32) -> bool {
        let before = self.sessions.len();
        self.sessions.retain(|s| s.handle != handle);
        self.sessions.len() != before
    }
}
