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
//! - VTPM_DEL(uuid): removes the record (live or retired). Unknown, or connected: `TPM_FAIL` (as C).
//!
//! Ours (`crate::migration` has the blobs):
//! - BACKUP(uuid): the record sealed for this manager. Retired: `RC_RETIRED`; unknown:
//!   `TPM_BADINDEX`; connected: `RC_OPEN` (the vtpm could save meanwhile, and its disk and the
//!   backup would not match).
//! - RESTORE(blob): the record back. Another manager's: `RC_OTHER_MANAGER`; a changed byte:
//!   `TPM_AUTHFAIL`; not a backup: `TPM_BAD_PARAMETER`; the uuid known (live or retired — a
//!   backup from before an export would run the vTPM twice; VTPM_DEL first if that is meant):
//!   `RC_EXISTS`.
//! - MANAGER_KEY: the X25519 public key; the key pair is made on the first call and kept in
//!   the root record (under the root secret, as every key of this disk).
//! - EXPORT(uuid, X25519, target key): the record sealed to the target; it is retired here in
//!   the same save (LOADHASHKEY and SAVEHASHKEY of that uuid then answer `RC_RETIRED`, so the
//!   vtpm cannot run from two managers). Asked again for a retired uuid with the same target
//!   (the reply was lost), the same export id is sealed again; another target: `RC_RETIRED`.
//!   Unknown: `TPM_BADINDEX`; connected: `RC_OPEN`; a low-order key: `TPM_BAD_PARAMETER`.
//! - IMPORT(blob): the record into the table, its export id remembered. Not for this
//!   manager's key (or no key made yet): `RC_OTHER_MANAGER`; a changed byte: `TPM_AUTHFAIL`;
//!   an export id seen before: `RC_REPLAYED`; a live record with the uuid: `RC_EXISTS`. A
//!   retired one (the vTPM comes back) is replaced. The source's `ADMIN` flag is dropped.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;
use tpm_frame::TPM_BAD_PARAMETER;
use vtpm_store::BlockDevice;
use zeroize::Zeroizing;

use crate::mgmt::{
    self, ALG_X25519, GROUP_0, MgmtRequest, RC_EXISTS, RC_OPEN, RC_OTHER_MANAGER, RC_REPLAYED, RC_RETIRED,
    TPM_AUTHFAIL, TPM_BADINDEX, TPM_FAIL, VTPM_LIST_MAX,
};
use crate::migration::{self, MigError};
use crate::proto::TPM_BAD_ORDINAL;
use crate::root_record::{FLAG_ADMIN, Retired, RootRecord, VtpmRecord};
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

    /// Every uuid the manager knows (live or retired), ascending.
    pub(crate) fn known_uuids(&self) -> Vec<[u8; 16]> {
        let root = self.store.root();
        let mut v: Vec<[u8; 16]> = root.vtpms.keys().chain(root.retired.keys()).copied().collect();
        v.sort_unstable();
        v
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
            root.retired.remove(&uuid);
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

    /// Saves a change of the table; the reply is `ok` on success, else `TPM_FAIL` (nothing changed).
    fn commit<R, F>(&mut self, what: &str, rng: &mut R, f: F, ok: Vec<u8>) -> Vec<u8>
    where
        R: CryptoRng + ?Sized,
        F: FnOnce(&mut RootRecord),
    {
        match self.store.update(rng, f) {
            Ok(()) => ok,
            Err(e) => {
                self.notes.push(format!("ERROR[VTPM]: {what}: saving the key store failed: {e}"));
                mgmt::err(TPM_FAIL)
            }
        }
    }

    fn refuse(&mut self, what: &str, uuid: &[u8; 16], rc: u32) -> Vec<u8> {
        self.notes.push(format!("ERROR[VTPM]: {what} of vTPM {} refused: {}", hex(uuid), mgmt::rc_text(rc)));
        mgmt::err(rc)
    }

    /// A live record that is not connected, or the refusal.
    fn idle_record(&mut self, what: &str, uuid: &[u8; 16]) -> Result<VtpmRecord, Vec<u8>> {
        if self.store.root().retired.contains_key(uuid) {
            return Err(self.refuse(what, uuid, RC_RETIRED));
        }
        let Some(r) = self.store.get(uuid).cloned() else { return Err(self.refuse(what, uuid, TPM_BADINDEX)) };
        if self.open.contains_key(uuid) {
            return Err(self.refuse(what, uuid, RC_OPEN));
        }
        Ok(r)
    }

    /// Our own ordinals (migration); `None`: not one of them.
    fn migration<R: CryptoRng + ?Sized>(&mut self, req: MgmtRequest, rng: &mut R) -> Option<Vec<u8>> {
        Some(match req {
            MgmtRequest::Backup { uuid } => match self.idle_record("BACKUP", &uuid) {
                Ok(r) => {
                    let blob = migration::seal_backup(self.store.backup_key(), self.store.manager_id(), uuid, &r, rng);
                    self.notes.push(format!("INFO[VTPM]: backup of vTPM {} made", hex(&uuid)));
                    mgmt::ok(&blob)
                }
                Err(reply) => reply,
            },
            MgmtRequest::Restore { blob } => {
                let opened = match migration::open_backup(self.store.backup_key(), self.store.manager_id(), &blob) {
                    Ok(o) => o,
                    Err(e) => {
                        let uuid = migration::backup_uuid(&blob).unwrap_or_default();
                        return Some(self.refuse("RESTORE", &uuid, mig_rc(e)));
                    }
                };
                let uuid = opened.uuid;
                if uuid == [0; 16] {
                    return Some(mgmt::err(TPM_BAD_PARAMETER));
                }
                if self.store.root().knows(&uuid) {
                    return Some(self.refuse("RESTORE", &uuid, RC_EXISTS));
                }
                self.notes.push(format!("INFO[VTPM]: vTPM {} restored from a backup", hex(&uuid)));
                self.commit(
                    "RESTORE",
                    rng,
                    |root| {
                        root.vtpms.insert(uuid, opened.record);
                    },
                    mgmt::ok(&uuid),
                )
            }
            MgmtRequest::ManagerKey => {
                if let Some(k) = &self.store.root().manager_key {
                    return Some(manager_key_reply(k));
                }
                let mut k = Zeroizing::new([0u8; 32]);
                rng.fill_bytes(&mut k[..]);
                let reply = manager_key_reply(&k);
                self.notes.push(String::from("INFO[VTPM]: a migration key (X25519) was made"));
                self.commit("MANAGER_KEY", rng, |root| root.manager_key = Some(k), reply)
            }
            MgmtRequest::Export { alg, .. } if alg != ALG_X25519 => mgmt::err(TPM_BAD_PARAMETER),
            MgmtRequest::Export { uuid, target, .. } => {
                // the same export again (its reply was lost): the same id, to the same target only
                if let Some(r) = self.store.root().retired.get(&uuid).cloned() {
                    if r.target != target {
                        return Some(self.refuse("EXPORT", &uuid, RC_RETIRED));
                    }
                    return Some(match migration::seal_export(&target, uuid, r.export_id, &r.record, rng) {
                        Ok(b) => mgmt::ok(&b),
                        Err(e) => self.refuse("EXPORT", &uuid, mig_rc(e)),
                    });
                }
                let record = match self.idle_record("EXPORT", &uuid) {
                    Ok(r) => r,
                    Err(reply) => return Some(reply),
                };
                let mut export_id = [0u8; 16];
                rng.fill_bytes(&mut export_id);
                let blob = match migration::seal_export(&target, uuid, export_id, &record, rng) {
                    Ok(b) => b,
                    Err(e) => return Some(self.refuse("EXPORT", &uuid, mig_rc(e))),
                };
                self.notes.push(format!("INFO[VTPM]: vTPM {} exported; its record here is retired", hex(&uuid)));
                self.commit(
                    "EXPORT",
                    rng,
                    |root| {
                        root.vtpms.remove(&uuid);
                        root.retired.insert(uuid, Retired { export_id, target, record });
                    },
                    mgmt::ok(&blob),
                )
            }
            MgmtRequest::Import { blob } => {
                let uuid = migration::export_uuid(&blob).unwrap_or_default();
                let Some(k) = self.store.root().manager_key.clone() else {
                    return Some(self.refuse("IMPORT", &uuid, RC_OTHER_MANAGER));
                };
                let opened = match migration::open_export(&k, &blob) {
                    Ok(o) => o,
                    Err(e) => return Some(self.refuse("IMPORT", &uuid, mig_rc(e))),
                };
                if uuid == [0; 16] {
                    return Some(mgmt::err(TPM_BAD_PARAMETER));
                }
                if self.store.root().imported.contains(&opened.export_id) {
                    return Some(self.refuse("IMPORT", &uuid, RC_REPLAYED));
                }
                if self.store.get(&uuid).is_some() {
                    return Some(self.refuse("IMPORT", &uuid, RC_EXISTS));
                }
                // the admin flag is this manager's to give, not the source's
                let record = VtpmRecord { flags: opened.record.flags & !FLAG_ADMIN, blob: opened.record.blob };
                let id = opened.export_id;
                self.notes.push(format!("INFO[VTPM]: vTPM {} imported", hex(&uuid)));
                self.commit(
                    "IMPORT",
                    rng,
                    |root| {
                        root.retired.remove(&uuid);
                        root.vtpms.insert(uuid, record);
                        root.imported.insert(id);
                    },
                    mgmt::ok(&uuid),
                )
            }
            _ => return None,
        })
    }
}

fn manager_key_reply(private: &[u8; 32]) -> Vec<u8> {
    let mut b = ALG_X25519.to_be_bytes().to_vec();
    b.extend_from_slice(&migration::public_key(private));
    mgmt::ok(&b)
}

/// The return code of a blob that does not open.
fn mig_rc(e: MigError) -> u32 {
    match e {
        MigError::Malformed | MigError::BadKey => TPM_BAD_PARAMETER,
        MigError::OtherManager => RC_OTHER_MANAGER,
        MigError::Authentication => TPM_AUTHFAIL,
    }
}
