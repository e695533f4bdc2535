//! The manager's answers to management requests (`crate::mgmt`), for a connection the service
//! lets manage (`Service::set_management_peer`). State changes go through the key store's one
//! write path (`KeyStore::update`: the whole table to the other slot, flushed, then current),
//! so a crash leaves the old or the new table, never half of one; on a disk error the answer
//! is `TPM_FAIL` and nothing changed.
//!
//! - GROUP_LIST: 1 (this manager has group 0 only).
//! - VTPM_LIST(group 0, offset): the number of records, then at most `VTPM_LIST_MAX` uuids
//!   from `offset` on, in ascending order; an offset past the end gives none. Another group:
//!   `TPM_BADINDEX`.
//! - VTPM_NEW(group 0 [, uuid]): a record without state (its vtpm's first LOADHASHKEY answers
//!   `RC_NO_RECORD`, so it starts fresh), with the given uuid or a random version-4 one. A uuid
//!   that exists: `RC_EXISTS`; the nil uuid: `TPM_BAD_PARAMETER`.
//! - VTPM_DEL(uuid): removes the record. Unknown, or connected: `TPM_FAIL` (as C).

use alloc::format;
use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;
use tpm_frame::TPM_BAD_PARAMETER;
use vtpm_store::BlockDevice;
use zeroize::Zeroizing;

use crate::mgmt::{self, GROUP_0, MgmtRequest, RC_EXISTS, TPM_BADINDEX, TPM_FAIL, VTPM_LIST_MAX};
use crate::proto::TPM_BAD_ORDINAL;
use crate::root_record::VtpmRecord;
use crate::service::Service;

pub(crate) fn hex(uuid: &[u8; 16]) -> alloc::string::String {
    uuid.iter().map(|b| format!("{b:02x}")).collect()
}

impl<D: BlockDevice, C: Ord + Copy + fmt::Debug> Service<D, C> {
    /// One management request (its ordinal and parameters) → the reply.
    pub(crate) fn management<R: CryptoRng + ?Sized>(&mut self, ordinal: u32, body: &[u8], rng: &mut R) -> Vec<u8> {
        let req = match mgmt::decode(ordinal, body) {
            Ok(r) => r,
            Err(rc) => return mgmt::err(rc),
        };
        match req {
            MgmtRequest::GroupList => mgmt::ok(&1u32.to_be_bytes()),
            MgmtRequest::VtpmList { group, .. } | MgmtRequest::VtpmNew { group, .. } if group != GROUP_0 => {
                mgmt::err(TPM_BADINDEX)
            }
            MgmtRequest::VtpmList { offset, .. } => {
                let known = self.known_uuids();
                let mut out = (known.len() as u32).to_be_bytes().to_vec();
                for u in known.iter().skip(offset as usize).take(VTPM_LIST_MAX) {
                    out.extend_from_slice(u);
                }
                mgmt::ok(&out)
            }
            MgmtRequest::VtpmNew { uuid, .. } => self.vtpm_new(uuid, rng),
            MgmtRequest::VtpmDel { uuid } => self.vtpm_del(uuid, rng),
            other => self.migration(other, rng).unwrap_or_else(|| mgmt::err(TPM_BAD_ORDINAL)),
        }
    }

    /// Every uuid the manager knows, ascending.
    pub(crate) fn known_uuids(&self) -> Vec<[u8; 16]> {
        self.store.root().vtpms.keys().copied().collect()
    }

    fn vtpm_new<R: CryptoRng + ?Sized>(&mut self, uuid: Option<[u8; 16]>, rng: &mut R) -> Vec<u8> {
        let uuid = match uuid {
            Some(u) if u == [0; 16] => return mgmt::err(TPM_BAD_PARAMETER),
            Some(u) => u,
            None => {
                let mut u = [0u8; 16];
                rng.fill_bytes(&mut u);
                u[6] = (u[6] & 0x0F) | 0x40; // version 4
                u[8] = (u[8] & 0x3F) | 0x80; // RFC 4122 variant
                u
            }
        };
        if self.known_uuids().contains(&uuid) {
            self.notes.push(format!("ERROR[VTPM]: VTPM_NEW refused: vTPM {} exists", hex(&uuid)));
            return mgmt::err(RC_EXISTS);
        }
        let record = VtpmRecord { flags: 0, blob: Zeroizing::new(Vec::new()) };
        match self.store.put(uuid, record, rng) {
            Ok(()) => {
                self.notes.push(format!("INFO[VTPM]: created vTPM record {} (management)", hex(&uuid)));
                mgmt::ok(&uuid)
            }
            Err(e) => {
                self.notes.push(format!("ERROR[VTPM]: VTPM_NEW: saving the key store failed: {e}"));
                mgmt::err(TPM_FAIL)
            }
        }
    }

    fn vtpm_del<R: CryptoRng + ?Sized>(&mut self, uuid: [u8; 16], rng: &mut R) -> Vec<u8> {
        if !self.known_uuids().contains(&uuid) {
            self.notes.push(format!("ERROR[VTPM]: VTPM_DEL refused: no vTPM {}", hex(&uuid)));
            return mgmt::err(TPM_FAIL);
        }
        if let Some(c) = self.open.get(&uuid) {
            self.notes.push(format!("ERROR[VTPM]: VTPM_DEL refused: vTPM {} is connected ({c:?})", hex(&uuid)));
            return mgmt::err(TPM_FAIL);
        }
        match self.store.update(rng, |root| {
            root.vtpms.remove(&uuid);
        }) {
            Ok(()) => {
                self.notes.push(format!("INFO[VTPM]: deleted vTPM record {}", hex(&uuid)));
                mgmt::ok(&[])
            }
            Err(e) => {
                self.notes.push(format!("ERROR[VTPM]: VTPM_DEL: saving the key store failed: {e}"));
                mgmt::err(TPM_FAIL)
            }
        }
    }

    /// Our own ordinals (migration); `None`: not one of them.
    fn migration<R: CryptoRng + ?Sized>(&mut self, _req: MgmtRequest, _rng: &mut R) -> Option<Vec<u8>> {
        None
    }
}
