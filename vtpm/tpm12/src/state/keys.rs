//! The loaded-key table (`TPM_KEY_HANDLE_LIST`, Part 2 §5.12 / TPM_CAP_KEY_HANDLE): keys
//! loaded by LoadKey/LoadKey2/LoadContext under handles `0x01xxxxxx`. The SRK and the
//! owner-evict keys are in permanent data; key lookup and the key ordinals are in `cmd::keys`.

use alloc::vec::Vec;

use crate::constants::rc::Rc;

use super::KeyRecord;

/// One loaded key.
#[derive(Clone, Debug)]
pub struct LoadedKey {
    /// Its handle.
    pub handle: u32,
    /// Public structure (no encData), RSA pair and secrets.
    pub record: KeyRecord,
    /// `parentPCRStatus`: the parent was PCR bound (reported by CertifyKey).
    pub parent_pcr_status: bool,
}

/// Loaded keys (TPM_CAP_KEY_HANDLE, TPM_CAP_PROP_KEYS...).
#[derive(Debug, Default)]
pub struct KeySlots {
    slots: Vec<LoadedKey>,
    next_handle: u32,
}

/// First handle given to a loaded key.
const FIRST_HANDLE: u32 = 0x0100_0000;

impl KeySlots {
    /// Handles of loaded keys (TPM_CAP_KEY_HANDLE / TPM_CAP_HANDLE(TPM_RT_KEY)).
    pub fn handles(&self) -> Vec<u32> {
        self.slots.iter().map(|k| k.handle).collect()
    }
    /// Drops keys that do not survive TPM_Startup(ST_CLEAR) / TPM_Init.
    pub fn clear(&mut self) {
        self.slots.clear();
    }
    /// The loaded key `handle`.
    pub fn get(&self, handle: u32) -> Option<&LoadedKey> {
        self.slots.iter().find(|k| k.handle == handle)
    }
    /// Loads a key under a fresh handle that is neither loaded nor in `reserved` (the
    /// owner-evict handles, which name keys of their own); `TPM_NOSPACE` when full.
    pub fn insert(&mut self, record: KeyRecord, parent_pcr_status: bool, reserved: &[u32]) -> Result<u32, Rc> {
        if self.slots.len() >= MAX_KEYS {
            return Err(Rc::NOSPACE);
        }
        let handle = loop {
            let h = FIRST_HANDLE | (self.next_handle & 0x00FF_FFFF);
            self.next_handle = self.next_handle.wrapping_add(1);
            if self.get(h).is_none() && !reserved.contains(&h) {
                break h;
            }
        };
        self.slots.push(LoadedKey { handle, record, parent_pcr_status });
        Ok(handle)
    }
    /// Re-inserts a key under a known handle (SaveState/LoadContext); `TPM_BAD_HANDLE` if
    /// the handle is loaded or in `reserved` (owner-evict handles).
    pub fn restore(
        &mut self,
        handle: u32,
        record: KeyRecord,
        parent_pcr_status: bool,
        reserved: &[u32],
    ) -> Result<(), Rc> {
        if self.slots.len() >= MAX_KEYS {
            return Err(Rc::NOSPACE);
        }
        if self.get(handle).is_some() || reserved.contains(&handle) {
            return Err(Rc::BAD_HANDLE);
        }
        self.slots.push(LoadedKey { handle, record, parent_pcr_status });
        Ok(())
    }
    /// The loaded keys.
    pub fn iter(&self) -> impl Iterator<Item = &LoadedKey> {
        self.slots.iter()
    }
    /// The counter the next fresh handle comes from (TPM_SaveState).
    pub fn next_handle(&self) -> u32 {
        self.next_handle
    }
    /// Sets the counter for fresh handles (Startup(ST_STATE)).
    pub fn set_next_handle(&mut self, next: u32) {
        self.next_handle = next;
    }
    /// Unloads `handle`; false if absent.
    pub fn remove(&mut self, handle: u32) -> bool {
        let before = self.slots.len();
        self.slots.retain(|k| k.handle != handle);
        before != self.slots.len()
    }
}

/// Maximum loaded keys (TPM_CAP_PROP_MAX_KEYS).
pub const MAX_KEYS: usize = 10;
