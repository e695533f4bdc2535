//! Where the manager keeps its protected root secret: sectors 1 … 7 of its disk, the part of
//! `vtpm-store`'s header area that the store leaves zero. Byte layout in `docs/formats.md`
//! §"Manager disk: the sealed root area".
//!
//! The area says which [`Protection`] its blob uses: the hardware TPM's sealed root
//! ([`crate::hwtpm::RootBlob`], encoded) or the root secret wrapped by an administrator key
//! ([`crate::admin_key::WrappedRoot`], encoded; `tpmdriver=none`). Version 1 areas (written
//! before the administrator-key mode existed) have no such field and are the hardware TPM's;
//! this build writes version 2.
//!
//! The area is written once, on the manager's first boot, and flushed before the first root
//! record; it is never rewritten while a root record exists. It is not secret (the TPM or the
//! administrator key protects what is inside) and carries only a SHA-256 against damage: a
//! changed area makes the boot fail with a clear cause, it cannot make another secret open.

use alloc::vec;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};
use vtpm_store::layout::HEADER_SECTORS;
use vtpm_store::{BlockDevice, BlockError, SECTOR_SIZE};

/// The area's magic.
pub const AREA_MAGIC: [u8; 8] = *b"XVTPMHWB";
/// The area's format version this build writes (version 1 is still read).
pub const AREA_VERSION: u16 = 2;
/// The first version, without the protection field (always the hardware TPM).
pub const AREA_VERSION_1: u16 = 1;
/// The first sector of the area.
pub const AREA_FIRST_SECTOR: u64 = 1;
/// Sectors in the area (1 … 7).
pub const AREA_SECTORS: u64 = HEADER_SECTORS - AREA_FIRST_SECTOR;
/// Bytes before the blob.
pub const AREA_HEADER_LEN: usize = 48;
/// The largest blob the area holds.
pub const AREA_MAX_BLOB: usize = AREA_SECTORS as usize * SECTOR_SIZE - AREA_HEADER_LEN;

/// What protects the root secret in the area (byte 10 of a version 2 area).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Sealed by the hardware TPM (`tpmdriver=tpm_tis|tpmfront`), code 1.
    HardwareTpm,
    /// Wrapped by a key the administrator provides (`tpmdriver=none`, `root_key=`), code 2.
    AdminKey,
}

impl Protection {
    fn code(self) -> u8 {
        match self {
            Protection::HardwareTpm => 1,
            Protection::AdminKey => 2,
        }
    }
}

impl core::fmt::Display for Protection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Protection::HardwareTpm => "sealed by the hardware TPM",
            Protection::AdminKey => "wrapped by an administrator key (tpmdriver=none)",
        })
    }
}

/// A decoded area: what protects the blob, and the blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Area {
    /// What the blob is.
    pub protection: Protection,
    /// The blob's bytes.
    pub blob: Vec<u8>,
}

/// Why the area cannot be read (or written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AreaError {
    /// Not our magic: another format, or overwritten.
    BadMagic,
    /// Another format version.
    UnsupportedVersion(u16),
    /// A length past the area, a non-zero reserved field, or a checksum that does not match.
    Corrupt,
    /// A version 2 area names a protection this build does not know.
    UnknownProtection(u8),
    /// The blob to write is larger than [`AREA_MAX_BLOB`].
    TooLarge,
    /// The disk failed.
    Io(BlockError),
}

impl core::fmt::Display for AreaError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AreaError::BadMagic => f.write_str("not a sealed root area of ours (bad magic)"),
            AreaError::UnsupportedVersion(v) => write!(f, "unsupported sealed root area version {v}"),
            AreaError::Corrupt => f.write_str("the sealed root area is corrupt (length or checksum)"),
            AreaError::UnknownProtection(p) => write!(f, "the sealed root area names an unknown protection ({p})"),
            AreaError::TooLarge => f.write_str("the sealed root blob does not fit its area"),
            AreaError::Io(e) => write!(f, "the disk failed ({e:?})"),
        }
    }
}

/// The stored area; `Ok(None)` if it is all zeros (never written).
pub fn read<D: BlockDevice + ?Sized>(dev: &mut D) -> Result<Option<Area>, AreaError> {
    let mut area = vec![0u8; AREA_SECTORS as usize * SECTOR_SIZE];
    dev.read(AREA_FIRST_SECTOR, &mut area).map_err(AreaError::Io)?;
    if area.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    decode(&area).map(Some)
}

/// Decodes the area's bytes (all of them: the bytes after the blob must be zero).
pub fn decode(area: &[u8]) -> Result<Area, AreaError> {
    let h = area.get(..AREA_HEADER_LEN).ok_or(AreaError::Corrupt)?;
    if h[..8] != AREA_MAGIC {
        return Err(AreaError::BadMagic);
    }
    let version = u16::from_be_bytes([h[8], h[9]]);
    let protection = match (version, h[10]) {
        (AREA_VERSION_1, 0) => Protection::HardwareTpm,
        (AREA_VERSION, 1) => Protection::HardwareTpm,
        (AREA_VERSION, 2) => Protection::AdminKey,
        (AREA_VERSION, 0) => return Err(AreaError::Corrupt),
        (AREA_VERSION, p) => return Err(AreaError::UnknownProtection(p)),
        (AREA_VERSION_1, _) => return Err(AreaError::Corrupt),
        (v, _) => return Err(AreaError::UnsupportedVersion(v)),
    };
    if h[11] != 0 {
        return Err(AreaError::Corrupt);
    }
    let len = u32::from_be_bytes([h[12], h[13], h[14], h[15]]) as usize;
    if len > AREA_MAX_BLOB {
        return Err(AreaError::Corrupt);
    }
    let blob = area.get(AREA_HEADER_LEN..AREA_HEADER_LEN + len).ok_or(AreaError::Corrupt)?;
    let sum: [u8; 32] = Sha256::digest(blob).into();
    if sum[..] != h[16..48] {
        return Err(AreaError::Corrupt);
    }
    // the rest of the area is zero as written: anything else is damage (fuzz finding)
    if area[AREA_HEADER_LEN + len..].iter().any(|&b| b != 0) {
        return Err(AreaError::Corrupt);
    }
    Ok(Area { protection, blob: blob.to_vec() })
}

/// The area's bytes (version 2) for `blob` under `protection`.
pub fn encode(protection: Protection, blob: &[u8]) -> Result<Vec<u8>, AreaError> {
    if blob.len() > AREA_MAX_BLOB {
        return Err(AreaError::TooLarge);
    }
    let mut area = vec![0u8; AREA_SECTORS as usize * SECTOR_SIZE];
    area[..8].copy_from_slice(&AREA_MAGIC);
    area[8..10].copy_from_slice(&AREA_VERSION.to_be_bytes());
    area[10] = protection.code();
    area[12..16].copy_from_slice(&(blob.len() as u32).to_be_bytes());
    let sum: [u8; 32] = Sha256::digest(blob).into();
    area[16..48].copy_from_slice(&sum);
    area[AREA_HEADER_LEN..AREA_HEADER_LEN + blob.len()].copy_from_slice(blob);
    Ok(area)
}

/// Writes `blob` under `protection` to the area and flushes.
pub fn write<D: BlockDevice + ?Sized>(dev: &mut D, protection: Protection, blob: &[u8]) -> Result<(), AreaError> {
    let area = encode(protection, blob)?;
    dev.write(AREA_FIRST_SECTOR, &area).map_err(AreaError::Io)?;
    dev.flush().map_err(AreaError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtpm_store::MemDisk;

    #[test]
    fn round_trip_blank_and_damage() {
        let mut d = MemDisk::new(64);
        assert_eq!(read(&mut d), Ok(None));
        write(&mut d, Protection::HardwareTpm, &[5; 300]).unwrap();
        assert_eq!(read(&mut d), Ok(Some(Area { protection: Protection::HardwareTpm, blob: vec![5; 300] })));
        assert!(d.image()[..SECTOR_SIZE].iter().all(|&b| b == 0), "sector 0 is the store's");
        assert!(d.image()[8 * SECTOR_SIZE..].iter().all(|&b| b == 0), "slots untouched");
        for (off, want) in [(0, AreaError::BadMagic), (9, AreaError::UnsupportedVersion(3)), (20, AreaError::Corrupt)] {
            let mut img = d.image().to_vec();
            img[SECTOR_SIZE + off] ^= 1;
            assert_eq!(read(&mut MemDisk::from_image(img)), Err(want), "offset {off}");
        }
        let mut img = d.image().to_vec();
        img[SECTOR_SIZE + AREA_HEADER_LEN + 299] ^= 1;
        assert_eq!(read(&mut MemDisk::from_image(img)), Err(AreaError::Corrupt));
        let mut img = d.image().to_vec();
        img[SECTOR_SIZE + 12] = 0xFF;
        assert_eq!(read(&mut MemDisk::from_image(img)), Err(AreaError::Corrupt), "length past the area");
        // fuzz finding: a byte after the blob was ignored, so two areas decoded the same
        let mut img = d.image().to_vec();
        img[SECTOR_SIZE + AREA_HEADER_LEN + 300] = 0xFF;
        assert_eq!(read(&mut MemDisk::from_image(img)), Err(AreaError::Corrupt), "a byte after the blob");
        let mut img = d.image().to_vec();
        img[8 * SECTOR_SIZE - 1] = 1;
        assert_eq!(read(&mut MemDisk::from_image(img)), Err(AreaError::Corrupt), "the area's last byte");
        assert_eq!(encode(Protection::AdminKey, &vec![0; AREA_MAX_BLOB + 1]), Err(AreaError::TooLarge));
        assert!(encode(Protection::AdminKey, &vec![0; AREA_MAX_BLOB]).is_ok());
    }

    #[test]
    fn the_protection_is_recorded_and_version_1_areas_still_read() {
        let mut d = MemDisk::new(64);
        write(&mut d, Protection::AdminKey, &[7; 100]).unwrap();
        assert_eq!(&d.image()[SECTOR_SIZE + 8..SECTOR_SIZE + 12], &[0, 2, 2, 0]);
        assert_eq!(read(&mut d).unwrap().unwrap().protection, Protection::AdminKey);
        // a version 1 area (as the first builds wrote it: reserved bytes zero) is the TPM's
        let mut v1 = encode(Protection::HardwareTpm, &[5; 40]).unwrap();
        v1[8..12].copy_from_slice(&[0, 1, 0, 0]);
        assert_eq!(decode(&v1), Ok(Area { protection: Protection::HardwareTpm, blob: vec![5; 40] }));
        let mut bad = v1.clone();
        bad[10] = 2;
        assert_eq!(decode(&bad), Err(AreaError::Corrupt), "version 1 has no protection field");
        let mut v2 = encode(Protection::HardwareTpm, &[5; 40]).unwrap();
        assert_eq!(v2[10], 1);
        v2[10] = 9;
        assert_eq!(decode(&v2), Err(AreaError::UnknownProtection(9)));
        v2[10] = 0;
        assert_eq!(decode(&v2), Err(AreaError::Corrupt));
    }
}
