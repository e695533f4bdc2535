//! Where the manager keeps the hardware TPM's sealed root blob ([`crate::hwtpm::RootBlob`],
//! encoded): sectors 1 … 7 of its disk, the part of `vtpm-store`'s header area that the store
//! leaves zero. Byte layout in `docs/formats.md` §"Manager disk: the sealed root area".
//!
//! The area is written once, on the manager's first boot, and flushed before the first root
//! record; it is never rewritten while a root record exists. It is not secret (the TPM
//! protects what is inside) and carries only a SHA-256 against damage: a changed area makes
//! the boot fail with a clear cause, it cannot make another secret unseal.

use alloc::vec;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};
use vtpm_store::layout::HEADER_SECTORS;
use vtpm_store::{BlockDevice, BlockError, SECTOR_SIZE};

/// The area's magic.
pub const AREA_MAGIC: [u8; 8] = *b"XVTPMHWB";
/// The area's format version.
pub const AREA_VERSION: u16 = 1;
/// The first sector of the area.
pub const AREA_FIRST_SECTOR: u64 = 1;
/// Sectors in the area (1 … 7).
pub const AREA_SECTORS: u64 = HEADER_SECTORS - AREA_FIRST_SECTOR;
/// Bytes before the blob.
pub const AREA_HEADER_LEN: usize = 48;
/// The largest blob the area holds.
pub const AREA_MAX_BLOB: usize = AREA_SECTORS as usize * SECTOR_SIZE - AREA_HEADER_LEN;

/// Why the area cannot be read (or written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AreaError {
    /// Not our magic: another format, or overwritten.
    BadMagic,
    /// Another format version.
    UnsupportedVersion(u16),
    /// A length past the area, a non-zero reserved field, or a checksum that does not match.
    Corrupt,
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
            AreaError::TooLarge => f.write_str("the sealed root blob does not fit its area"),
            AreaError::Io(e) => write!(f, "the disk failed ({e:?})"),
        }
    }
}

/// The stored blob; `Ok(None)` if the area is all zeros (never written).
pub fn read<D: BlockDevice + ?Sized>(dev: &mut D) -> Result<Option<Vec<u8>>, AreaError> {
    let mut area = vec![0u8; AREA_SECTORS as usize * SECTOR_SIZE];
    dev.read(AREA_FIRST_SECTOR, &mut area).map_err(AreaError::Io)?;
    if area.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    decode(&area).map(Some)
}

/// Decodes the area's bytes (all of them: the bytes after the blob must be zero).
pub fn decode(area: &[u8]) -> Result<Vec<u8>, AreaError> {
    let h = area.get(..AREA_HEADER_LEN).ok_or(AreaError::Corrupt)?;
    if h[..8] != AREA_MAGIC {
        return Err(AreaError::BadMagic);
    }
    let version = u16::from_be_bytes([h[8], h[9]]);
    if version != AREA_VERSION {
        return Err(AreaError::UnsupportedVersion(version));
    }
    if h[10] != 0 || h[11] != 0 {
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
    Ok(blob.to_vec())
}

/// The area's bytes for `blob`.
pub fn encode(blob: &[u8]) -> Result<Vec<u8>, AreaError> {
    if blob.len() > AREA_MAX_BLOB {
        return Err(AreaError::TooLarge);
    }
    let mut area = vec![0u8; AREA_SECTORS as usize * SECTOR_SIZE];
    area[..8].copy_from_slice(&AREA_MAGIC);
    area[8..10].copy_from_slice(&AREA_VERSION.to_be_bytes());
    area[12..16].copy_from_slice(&(blob.len() as u32).to_be_bytes());
    let sum: [u8; 32] = Sha256::digest(blob).into();
    area[16..48].copy_from_slice(&sum);
    area[AREA_HEADER_LEN..AREA_HEADER_LEN + blob.len()].copy_from_slice(blob);
    Ok(area)
}

/// Writes `blob` to the area and flushes.
pub fn write<D: BlockDevice + ?Sized>(dev: &mut D, blob: &[u8]) -> Result<(), AreaError> {
    let area = encode(blob)?;
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
        write(&mut d, &[5; 300]).unwrap();
        assert_eq!(read(&mut d), Ok(Some(vec![5; 300])));
        assert!(d.image()[..SECTOR_SIZE].iter().all(|&b| b == 0), "sector 0 is the store's");
        assert!(d.image()[8 * SECTOR_SIZE..].iter().all(|&b| b == 0), "slots untouched");
        for (off, want) in [(0, AreaError::BadMagic), (9, AreaError::UnsupportedVersion(0)), (20, AreaError::Corrupt)] {
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
        assert_eq!(encode(&vec![0; AREA_MAX_BLOB + 1]), Err(AreaError::TooLarge));
        assert!(encode(&vec![0; AREA_MAX_BLOB]).is_ok());
    }
}
