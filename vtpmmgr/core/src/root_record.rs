//! The payload of the manager's root record (`RecordKind::MANAGER_ROOT` in `vtpm-store`): the
//! table of vTPM records, uuid → the vtpm's SAVEHASHKEY blob and flags, and what migration
//! keeps: the records retired by an export, the manager's migration key, the ids of the
//! exports imported. Encoding version 1 when there is nothing of migration's (so a table
//! without it keeps its bytes), else version 3 (2 is refused); byte layout in `docs/formats.md` §"Root
//! record". The decoder is strict (sorted, unique uuids, known flags only, a uuid live or
//! retired but not both, no trailing bytes, one encoding per table) and never panics: it is fuzzed
//! (`fuzz/fuzz_targets/mgr_root_record.rs`). The record around it is authenticated by the
//! store; this module only gives the bytes a meaning.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::proto::HASHKEY_MAX;

/// The encoding of a table without migration state (written and read).
pub const ROOT_VERSION: u16 = 1;
/// The encoding with migration state (written and read). Version 2 was never written and is
/// refused.
pub const ROOT_VERSION_3: u16 = 3;
/// Bytes before the first entry: version, flags, count.
pub const ROOT_HEADER_LEN: usize = 8;
/// Bytes of an entry besides its blob: uuid, flags, blob length.
pub const ENTRY_OVERHEAD: usize = 18;
/// Flag: the vTPM may extend the hardware TPM's PCRs (`TPM_Extend` passthrough).
pub const FLAG_ADMIN: u8 = 0x01;
const KNOWN_FLAGS: u8 = FLAG_ADMIN;
/// The migration key's algorithm byte: X25519.
const KEY_X25519: u8 = 1;

/// One vTPM's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VtpmRecord {
    /// [`FLAG_ADMIN`] or 0.
    pub flags: u8,
    /// The vtpm's last SAVEHASHKEY blob, as it sent it (≤ [`HASHKEY_MAX`] bytes; wiped when dropped).
    pub blob: Zeroizing<Vec<u8>>,
}

impl VtpmRecord {
    /// Whether the vTPM has [`FLAG_ADMIN`].
    pub fn is_admin(&self) -> bool {
        self.flags & FLAG_ADMIN != 0
    }
}

/// A record exported from this manager: not served any more, kept so that the same export can
/// be made again if its blob was lost (same export id, same target), until VTPM_DEL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retired {
    /// The export's id (the target accepts it once).
    pub export_id: [u8; 16],
    /// The target manager's X25519 public key.
    pub target: [u8; 32],
    /// The record as it was exported.
    pub record: VtpmRecord,
}

/// Why a root payload does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootDecodeError {
    /// Shorter than its header or than its entries claim.
    Truncated,
    /// Another encoding version.
    UnsupportedVersion(u16),
    /// Reserved header flags, or unknown entry flags.
    UnknownFlags,
    /// An entry's blob is longer than [`HASHKEY_MAX`].
    BlobTooLong,
    /// The uuids are not strictly ascending (a duplicate or an unsorted table).
    Unsorted,
    /// Bytes after the last entry.
    TrailingBytes,
    /// A uuid both live and retired.
    Conflict,
    /// An unknown migration key algorithm.
    UnknownAlgorithm,
    /// Version 3 without migration state (that table is written as version 1).
    NotCanonical,
}

impl core::fmt::Display for RootDecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RootDecodeError::Truncated => f.write_str("truncated"),
            RootDecodeError::UnsupportedVersion(v) => write!(f, "unsupported encoding version {v}"),
            RootDecodeError::UnknownFlags => f.write_str("unknown flags"),
            RootDecodeError::BlobTooLong => f.write_str("a vTPM blob is longer than 64 bytes"),
            RootDecodeError::Unsorted => f.write_str("vTPM uuids not strictly ascending"),
            RootDecodeError::TrailingBytes => f.write_str("trailing bytes"),
            RootDecodeError::Conflict => f.write_str("a vTPM uuid both live and retired"),
            RootDecodeError::UnknownAlgorithm => f.write_str("an unknown migration key algorithm"),
            RootDecodeError::NotCanonical => f.write_str("version 3 without migration state"),
        }
    }
}

/// The table of vTPM records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootRecord {
    /// uuid (as libxl wrote it into the backend dir, 16 bytes) → record.
    pub vtpms: BTreeMap<[u8; 16], VtpmRecord>,
    /// uuid → the record retired by its export.
    pub retired: BTreeMap<[u8; 16], Retired>,
    /// The manager's X25519 migration key (private scalar), made on first use.
    pub manager_key: Option<Zeroizing<[u8; 32]>>,
    /// The export ids imported into this manager (each export is accepted once).
    pub imported: BTreeSet<[u8; 16]>,
}

fn put_entry(out: &mut Vec<u8>, r: &VtpmRecord) {
    out.push(r.flags);
    out.push(r.blob.len().min(HASHKEY_MAX) as u8);
    out.extend_from_slice(&r.blob[..r.blob.len().min(HASHKEY_MAX)]);
}

/// Reads `flags ‖ len ‖ blob` from the front of `rest`.
fn take_entry(rest: &mut &[u8]) -> Result<VtpmRecord, RootDecodeError> {
    let e = rest.get(..2).ok_or(RootDecodeError::Truncated)?;
    let (flags, len) = (e[0], e[1] as usize);
    if flags & !KNOWN_FLAGS != 0 {
        return Err(RootDecodeError::UnknownFlags);
    }
    if len > HASHKEY_MAX {
        return Err(RootDecodeError::BlobTooLong);
    }
    let blob = rest.get(2..2 + len).ok_or(RootDecodeError::Truncated)?;
    let r = VtpmRecord { flags, blob: Zeroizing::new(blob.to_vec()) };
    *rest = &rest[2 + len..];
    Ok(r)
}

fn take<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], RootDecodeError> {
    let b = rest.get(..N).ok_or(RootDecodeError::Truncated)?;
    let mut a = [0u8; N];
    a.copy_from_slice(b);
    *rest = &rest[N..];
    Ok(a)
}

fn take_u32(rest: &mut &[u8]) -> Result<u32, RootDecodeError> {
    take::<4>(rest).map(u32::from_be_bytes)
}

impl RootRecord {
    /// The encoded payload (wiped when dropped: it holds every vtpm's key).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let n: usize = self.vtpms.values().map(|r| ENTRY_OVERHEAD + r.blob.len()).sum();
        let mut out = Zeroizing::new(Vec::with_capacity(ROOT_HEADER_LEN + n));
        let v2 = self.has_migration_state();
        out.extend_from_slice(&if v2 { ROOT_VERSION_3 } else { ROOT_VERSION }.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&(self.vtpms.len() as u32).to_be_bytes());
        for (uuid, r) in &self.vtpms {
            out.extend_from_slice(uuid);
            put_entry(&mut out, r);
        }
        if v2 {
            out.extend_from_slice(&(self.retired.len() as u32).to_be_bytes());
            for (uuid, r) in &self.retired {
                out.extend_from_slice(uuid);
                out.extend_from_slice(&r.export_id);
                out.extend_from_slice(&r.target);
                put_entry(&mut out, &r.record);
            }
            match &self.manager_key {
                Some(k) => {
                    out.push(KEY_X25519);
                    out.extend_from_slice(&k[..]);
                }
                None => out.push(0),
            }
            out.extend_from_slice(&(self.imported.len() as u32).to_be_bytes());
            for id in &self.imported {
                out.extend_from_slice(id);
            }
        }
        out
    }

    /// Whether anything of migration's is here (then the encoding is version 3).
    pub fn has_migration_state(&self) -> bool {
        !self.retired.is_empty() || self.manager_key.is_some() || !self.imported.is_empty()
    }

    /// Whether `uuid` names a record, live or retired.
    pub fn knows(&self, uuid: &[u8; 16]) -> bool {
        self.vtpms.contains_key(uuid) || self.retired.contains_key(uuid)
    }

    /// Decodes a payload.
    pub fn decode(b: &[u8]) -> Result<RootRecord, RootDecodeError> {
        let h = b.get(..ROOT_HEADER_LEN).ok_or(RootDecodeError::Truncated)?;
        let version = u16::from_be_bytes([h[0], h[1]]);
        if version != ROOT_VERSION && version != ROOT_VERSION_3 {
            return Err(RootDecodeError::UnsupportedVersion(version));
        }
        if h[2] != 0 || h[3] != 0 {
            return Err(RootDecodeError::UnknownFlags);
        }
        let count = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        let mut rest = &b[ROOT_HEADER_LEN..];
        let mut vtpms = BTreeMap::new();
        let mut last: Option<[u8; 16]> = None;
        for _ in 0..count {
            let uuid = take::<16>(&mut rest)?;
            let (flags, len) = match rest.get(..2) {
                Some(e) => (e[0], e[1] as usize),
                None => return Err(RootDecodeError::Truncated),
            };
            if flags & !KNOWN_FLAGS != 0 {
                return Err(RootDecodeError::UnknownFlags);
            }
            if len > HASHKEY_MAX {
                return Err(RootDecodeError::BlobTooLong);
            }
            if last.is_some_and(|l| l >= uuid) {
                return Err(RootDecodeError::Unsorted);
            }
            vtpms.insert(uuid, take_entry(&mut rest)?);
            last = Some(uuid);
        }
        let mut root = RootRecord { vtpms, ..RootRecord::default() };
        if version == ROOT_VERSION_3 {
            let n = take_u32(&mut rest)?;
            let mut last: Option<[u8; 16]> = None;
            for _ in 0..n {
                let uuid = take::<16>(&mut rest)?;
                let export_id = take::<16>(&mut rest)?;
                let target = take::<32>(&mut rest)?;
                let record = take_entry(&mut rest)?;
                if last.is_some_and(|l| l >= uuid) {
                    return Err(RootDecodeError::Unsorted);
                }
                if root.vtpms.contains_key(&uuid) {
                    return Err(RootDecodeError::Conflict);
                }
                root.retired.insert(uuid, Retired { export_id, target, record });
                last = Some(uuid);
            }
            match take::<1>(&mut rest)?[0] {
                0 => {}
                KEY_X25519 => root.manager_key = Some(Zeroizing::new(take::<32>(&mut rest)?)),
                _ => return Err(RootDecodeError::UnknownAlgorithm),
            }
            let n = take_u32(&mut rest)?;
            let mut last: Option<[u8; 16]> = None;
            for _ in 0..n {
                let id = take::<16>(&mut rest)?;
                if last.is_some_and(|l| l >= id) {
                    return Err(RootDecodeError::Unsorted);
                }
                root.imported.insert(id);
                last = Some(id);
            }
            if !rest.is_empty() {
                return Err(RootDecodeError::TrailingBytes);
            }
            if !root.has_migration_state() {
                return Err(RootDecodeError::NotCanonical);
            }
        }
        if !rest.is_empty() {
            return Err(RootDecodeError::TrailingBytes);
        }
        Ok(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(flags: u8, blob: &[u8]) -> VtpmRecord {
        VtpmRecord { flags, blob: Zeroizing::new(blob.to_vec()) }
    }

    #[test]
    fn round_trip_and_layout() {
        let mut r = RootRecord::default();
        assert_eq!(*r.encode(), [0, 1, 0, 0, 0, 0, 0, 0]);
        r.vtpms.insert([2; 16], rec(0, &[9; 52]));
        r.vtpms.insert([1; 16], rec(FLAG_ADMIN, &[8; 64]));
        r.vtpms.insert([3; 16], rec(0, &[]));
        let e = r.encode();
        assert_eq!(e.len(), 8 + 3 * 18 + 64 + 52);
        assert_eq!(&e[..8], &[0, 1, 0, 0, 0, 0, 0, 3]);
        assert_eq!(&e[8..26], &[[1u8; 16].as_slice(), &[1, 64]].concat()[..]);
        assert_eq!(RootRecord::decode(&e), Ok(r));
    }

    #[test]
    fn version_3_round_trips_and_is_strict() {
        let mut r = RootRecord::default();
        r.vtpms.insert([1; 16], rec(FLAG_ADMIN, &[8; 64]));
        let v1 = r.encode().to_vec();
        assert_eq!(&v1[..2], &[0, 1], "no migration state: version 1 bytes");
        r.retired.insert([2; 16], Retired { export_id: [3; 16], target: [4; 32], record: rec(0, &[5; 52]) });
        r.manager_key = Some(Zeroizing::new([6; 32]));
        r.imported.insert([7; 16]);
        r.imported.insert([9; 16]);
        let e = r.encode().to_vec();
        assert_eq!(&e[..2], &[0, 3]);
        assert_eq!(e.len(), 8 + 82 + 4 + 16 + 16 + 32 + 2 + 52 + 1 + 32 + 4 + 32);
        assert_eq!(RootRecord::decode(&e), Ok(r.clone()));
        for n in 0..e.len() {
            assert!(RootRecord::decode(&e[..n]).is_err(), "cut at {n}");
        }
        let mut t = e.clone();
        t.push(0);
        assert_eq!(RootRecord::decode(&t), Err(RootDecodeError::TrailingBytes));
        // the retired uuid also live
        let mut c = e.clone();
        c[8 + 82 + 4..8 + 82 + 4 + 16].copy_from_slice(&[1; 16]);
        assert_eq!(RootRecord::decode(&c), Err(RootDecodeError::Conflict));
        // imported ids out of order
        let mut u = e.clone();
        let at = e.len() - 32;
        u[at..at + 16].copy_from_slice(&[0xFF; 16]);
        assert_eq!(RootRecord::decode(&u), Err(RootDecodeError::Unsorted));
        // an unknown key algorithm
        let mut k = e.clone();
        k[8 + 82 + 4 + 16 + 16 + 32 + 2 + 52] = 2;
        assert_eq!(RootRecord::decode(&k), Err(RootDecodeError::UnknownAlgorithm));
        // version 3 with nothing of migration's is not how that table is written
        let mut empty = v1.clone();
        empty[1] = 3;
        empty.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(RootRecord::decode(&empty), Err(RootDecodeError::NotCanonical));
    }

    #[test]
    fn strict_decoder() {
        let mut r = RootRecord::default();
        r.vtpms.insert([1; 16], rec(0, &[7; 52]));
        r.vtpms.insert([2; 16], rec(0, &[7; 52]));
        let good = r.encode().to_vec();
        for n in 0..good.len() {
            assert_eq!(RootRecord::decode(&good[..n]), Err(RootDecodeError::Truncated), "cut at {n}");
        }
        let mut t = good.clone();
        t.push(0);
        assert_eq!(RootRecord::decode(&t), Err(RootDecodeError::TrailingBytes));
        let mut v = good.clone();
        v[1] = 2;
        assert_eq!(RootRecord::decode(&v), Err(RootDecodeError::UnsupportedVersion(2)));
        let mut f = good.clone();
        f[3] = 1;
        assert_eq!(RootRecord::decode(&f), Err(RootDecodeError::UnknownFlags));
        let mut ef = good.clone();
        ef[8 + 16] = 0x80;
        assert_eq!(RootRecord::decode(&ef), Err(RootDecodeError::UnknownFlags));
        let mut long = good.clone();
        long[8 + 17] = 65;
        assert_eq!(RootRecord::decode(&long), Err(RootDecodeError::BlobTooLong));
        // the same uuid twice, and a descending pair
        let mut dup = good.clone();
        dup[8 + 70..8 + 70 + 16].copy_from_slice(&[1; 16]);
        assert_eq!(RootRecord::decode(&dup), Err(RootDecodeError::Unsorted));
        let mut desc = good.clone();
        desc[8 + 70..8 + 70 + 16].copy_from_slice(&[0; 16]);
        assert_eq!(RootRecord::decode(&desc), Err(RootDecodeError::Unsorted));
        // a huge count with no entries is just truncated
        assert_eq!(RootRecord::decode(&[0, 1, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]), Err(RootDecodeError::Truncated));
        assert_eq!(RootRecord::decode(&[0u8; 3]), Err(RootDecodeError::Truncated));
    }
}
