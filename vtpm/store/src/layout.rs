//! Where things are on the disk: a header area of [`HEADER_SECTORS`] sectors, then slot A,
//! then slot B, each [`Geometry::slot_sectors`] long. The header sector names the format and
//! the geometry so a later build (or a resized disk) reads the slots where they were written.
//! Byte layout: `docs/formats.md` §"Disk header".
//!
//! The header is not secret and not authenticated (it is a layout note, checked by a plain
//! SHA-256 checksum against damage): a changed header can make a load fail, never make a
//! forged record verify. What this module does not do: read records (that is
//! [`crate::record`]).

use sha2::{Digest, Sha256};

use crate::block::SECTOR_SIZE;
use crate::error::StoreError;

/// The disk header magic.
pub const DISK_MAGIC: [u8; 8] = *b"XVTPMDSK";
/// The disk format version this build writes and reads.
pub const DISK_VERSION: u16 = 1;
/// Sectors before slot A (4 KiB): the header sector and reserved zeros.
pub const HEADER_SECTORS: u64 = 8;
/// Slots are whole multiples of this many sectors (4 KiB).
pub const SLOT_ALIGN: u64 = 8;
/// The smallest slot: 4 KiB.
pub const MIN_SLOT_SECTORS: u64 = 8;
/// Bytes of the header sector that carry fields (the rest is zero).
const HEADER_FIELDS: usize = 40;

/// One of the two record slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The first slot, right after the header area.
    A,
    /// The second slot, after slot A.
    B,
}

impl Slot {
    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

/// The slots' place and size, in sectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Sectors in each slot.
    pub slot_sectors: u64,
}

impl Geometry {
    /// The geometry a blank disk of `sectors` gets: the header area, then the rest halved and
    /// rounded down to [`SLOT_ALIGN`].
    pub fn for_disk(sectors: u64) -> Result<Geometry, StoreError> {
        let slot_sectors = sectors.saturating_sub(HEADER_SECTORS) / 2 / SLOT_ALIGN * SLOT_ALIGN;
        if slot_sectors < MIN_SLOT_SECTORS {
            return Err(StoreError::DiskTooSmall);
        }
        Ok(Geometry { slot_sectors })
    }

    /// First sector of `slot`.
    pub fn start(&self, slot: Slot) -> u64 {
        match slot {
            Slot::A => HEADER_SECTORS,
            Slot::B => HEADER_SECTORS + self.slot_sectors,
        }
    }

    /// Bytes in one slot.
    pub fn slot_bytes(&self) -> u64 {
        self.slot_sectors * SECTOR_SIZE as u64
    }

    /// Sectors the geometry needs on the disk.
    pub fn end(&self) -> u64 {
        HEADER_SECTORS + 2 * self.slot_sectors
    }

    /// The header sector describing this geometry.
    pub fn encode_header(&self) -> [u8; SECTOR_SIZE] {
        let mut s = [0u8; SECTOR_SIZE];
        s[0..8].copy_from_slice(&DISK_MAGIC);
        s[8..10].copy_from_slice(&DISK_VERSION.to_be_bytes());
        s[10..12].copy_from_slice(&(SECTOR_SIZE as u16).to_be_bytes());
        s[12..16].copy_from_slice(&(HEADER_SECTORS as u32).to_be_bytes());
        s[16..24].copy_from_slice(&self.slot_sectors.to_be_bytes());
        s[24..32].copy_from_slice(&self.start(Slot::A).to_be_bytes());
        s[32..40].copy_from_slice(&self.start(Slot::B).to_be_bytes());
        let sum: [u8; 32] = Sha256::digest(&s[..HEADER_FIELDS]).into();
        s[HEADER_FIELDS..HEADER_FIELDS + 32].copy_from_slice(&sum);
        s
    }

    /// Reads a header sector: `Ok(None)` if it is all zeros (never written), the geometry if
    /// it is ours and fits a disk of `disk_sectors`. Never panics.
    pub fn decode_header(sector: &[u8], disk_sectors: u64) -> Result<Option<Geometry>, StoreError> {
        if sector.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        if sector.len() < SECTOR_SIZE || sector[0..8] != DISK_MAGIC {
            return Err(StoreError::BadMagic);
        }
        let version = u16::from_be_bytes([sector[8], sector[9]]);
        if version != DISK_VERSION {
            return Err(StoreError::UnsupportedVersion(version));
        }
        let sum: [u8; 32] = Sha256::digest(&sector[..HEADER_FIELDS]).into();
        if sector[HEADER_FIELDS..HEADER_FIELDS + 32] != sum || sector[HEADER_FIELDS + 32..].iter().any(|&b| b != 0) {
            return Err(StoreError::CorruptHeader);
        }
        let be64 = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&sector[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let g = Geometry { slot_sectors: be64(16) };
        let consistent = sector[10..12] == (SECTOR_SIZE as u16).to_be_bytes()
            && sector[12..16] == (HEADER_SECTORS as u32).to_be_bytes()
            && g.slot_sectors >= MIN_SLOT_SECTORS
            && g.slot_sectors.is_multiple_of(SLOT_ALIGN)
            && g.slot_sectors <= u64::MAX / 4
            && be64(24) == g.start(Slot::A)
            && be64(32) == g.start(Slot::B);
        if !consistent {
            return Err(StoreError::CorruptHeader);
        }
        if g.end() > disk_sectors {
            return Err(StoreError::DiskTooSmall);
        }
        Ok(Some(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_disk_is_halved_after_the_header_area() {
        let g = Geometry::for_disk(4096).unwrap();
        assert_eq!(g.slot_sectors, 2040);
        assert_eq!(g.start(Slot::A), 8);
        assert_eq!(g.start(Slot::B), 2048);
        assert_eq!(g.end(), 4088);
        assert_eq!(Geometry::for_disk(23), Err(StoreError::DiskTooSmall));
        assert_eq!(Geometry::for_disk(24).unwrap().slot_sectors, 8);
        assert_eq!(Geometry::for_disk(0), Err(StoreError::DiskTooSmall));
    }

    #[test]
    fn the_header_round_trips_and_every_defect_is_named() {
        let g = Geometry::for_disk(4096).unwrap();
        let h = g.encode_header();
        assert_eq!(&h[0..8], b"XVTPMDSK");
        assert_eq!(Geometry::decode_header(&h, 4096), Ok(Some(g)));
        assert_eq!(Geometry::decode_header(&[0; SECTOR_SIZE], 4096), Ok(None));
        assert_eq!(Geometry::decode_header(&h, 4000), Err(StoreError::DiskTooSmall));
        let mut m = h;
        m[0] ^= 1;
        assert_eq!(Geometry::decode_header(&m, 4096), Err(StoreError::BadMagic));
        let mut v = h;
        v[9] = 9;
        assert_eq!(Geometry::decode_header(&v, 4096), Err(StoreError::UnsupportedVersion(9)));
        for at in (10..SECTOR_SIZE).step_by(7) {
            let mut c = h;
            c[at] ^= 0x40;
            assert_eq!(Geometry::decode_header(&c, 4096), Err(StoreError::CorruptHeader), "byte {at}");
        }
    }
}
