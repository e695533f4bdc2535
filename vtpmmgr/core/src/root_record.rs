//! The payload of the manager's root record (`RecordKind::MANAGER_ROOT` in `vtpm-store`): the
//! table of vTPM records, uuid → the vtpm's SAVEHASHKEY blob and flags. Encoding version 1,
//! byte layout in `docs/formats.md` §"Manager root record". The decoder is strict (sorted,
//! unique uuids, known flags only, no trailing bytes) and never panics: it is fuzzed
//! (`fuzz/fuzz_targets/mgr_root_record.rs`). The record around it is authenticated by the
//! store; this module only gives the bytes a meaning.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::proto::HASHKEY_MAX;

/// The encoding version this build writes and reads.
pub const ROOT_VERSION: u16 = 1;
/// Bytes before the first entry: version, flags, count.
pub const ROOT_HEADER_LEN: usize = 8;
/// Bytes of an entry besides its blob: uuid, flags, blob length.
pub const ENTRY_OVERHEAD: usize = 18;
/// Flag: the vTPM may extend the hardware TPM's PCRs (`TPM_Extend` passthrough).
pub const FLAG_ADMIN: u8 = 0x01;
const KNOWN_FLAGS: u8 = FLAG_ADMIN;

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
        }
    }
}

/// The table of vTPM records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootRecord {
    /// uuid (as libxl wrote it into the backend dir, 16 bytes) → record.
    pub vtpms: BTreeMap<[u8; 16], VtpmRecord>,
}

impl RootRecord {
    /// The encoded payload (wiped when dropped: it holds every vtpm's key).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let n: usize = self.vtpms.values().map(|r| ENTRY_OVERHEAD + r.blob.len()).sum();
        let mut out = Zeroizing::new(Vec::with_capacity(ROOT_HEADER_LEN + n));
        out.extend_from_slice(&ROOT_VERSION.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&(self.vtpms.len() as u32).to_be_bytes());
        for (uuid, r) in &self.vtpms {
            out.extend_from_slice(uuid);
            out.push(r.flags);
            out.push(r.blob.len().min(HASHKEY_MAX) as u8);
            out.extend_from_slice(&r.blob[..r.blob.len().min(HASHKEY_MAX)]);
        }
        out
    }

    /// Decodes a payload.
    pub fn decode(b: &[u8]) -> Result<RootRecord, RootDecodeError> {
        let h = b.get(..ROOT_HEADER_LEN).ok_or(RootDecodeError::Truncated)?;
        let version = u16::from_be_bytes([h[0], h[1]]);
        if version != ROOT_VERSION {
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
            let e = rest.get(..ENTRY_OVERHEAD).ok_or(RootDecodeError::Truncated)?;
            let mut uuid = [0u8; 16];
            uuid.copy_from_slice(&e[..16]);
            let (flags, len) = (e[16], e[17] as usize);
            if flags & !KNOWN_FLAGS != 0 {
                return Err(RootDecodeError::UnknownFlags);
            }
            if len > HASHKEY_MAX {
                return Err(RootDecodeError::BlobTooLong);
            }
            if last.is_some_and(|l| l >= uuid) {
                return Err(RootDecodeError::Unsorted);
            }
            let blob = rest.get(ENTRY_OVERHEAD..ENTRY_OVERHEAD + len).ok_or(RootDecodeError::Truncated)?;
            vtpms.insert(uuid, VtpmRecord { flags, blob: Zeroizing::new(blob.to_vec()) });
            last = Some(uuid);
            rest = &rest[ENTRY_OVERHEAD + len..];
        }
        if !rest.is_empty() {
            return Err(RootDecodeError::TrailingBytes);
        }
        Ok(RootRecord { vtpms })
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
