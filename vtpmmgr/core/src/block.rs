//! The manager's disk as the core sees it: fixed-size sectors, read and written whole. The
//! image implements [`BlockDevice`] over `drivers::blkfront` (xl `disk=`); tests use
//! [`MemDisk`].

use alloc::vec;
use alloc::vec::Vec;

/// Bytes per sector (blkif's unit).
pub const SECTOR_SIZE: usize = 512;

/// Why a disk operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The sector range is past the end of the disk.
    OutOfRange,
    /// The buffer is not a whole number of sectors.
    Unaligned,
    /// The backend failed the request (`BLKIF_RSP_ERROR`) or went away.
    Io,
}

/// A disk of [`SECTOR_SIZE`]-byte sectors.
pub trait BlockDevice {
    /// Number of sectors.
    fn sectors(&self) -> u64;
    /// Reads `buf.len() / SECTOR_SIZE` sectors starting at `sector`.
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError>;
    /// Writes `data.len() / SECTOR_SIZE` sectors starting at `sector`.
    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlockError>;
    /// Makes earlier writes durable (`BLKIF_OP_FLUSH_DISKCACHE`).
    fn flush(&mut self) -> Result<(), BlockError>;
}

/// A disk in memory, for tests.
pub struct MemDisk {
    data: Vec<u8>,
    /// Writes done.
    pub writes: u64,
}

impl MemDisk {
    /// A zeroed disk of `sectors` sectors.
    pub fn new(sectors: u64) -> MemDisk {
        MemDisk { data: vec![0; sectors as usize * SECTOR_SIZE], writes: 0 }
    }

    fn range(&self, sector: u64, len: usize) -> Result<core::ops::Range<usize>, BlockError> {
        if !len.is_multiple_of(SECTOR_SIZE) {
            return Err(BlockError::Unaligned);
        }
        let start =
            usize::try_from(sector).ok().and_then(|s| s.checked_mul(SECTOR_SIZE)).ok_or(BlockError::OutOfRange)?;
        let end = start.checked_add(len).ok_or(BlockError::OutOfRange)?;
        if end > self.data.len() {
            return Err(BlockError::OutOfRange);
        }
        Ok(start..end)
    }
}

impl BlockDevice for MemDisk {
    fn sectors(&self) -> u64 {
        (self.data.len() / SECTOR_SIZE) as u64
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let r = self.range(sector, buf.len())?;
        buf.copy_from_slice(&self.data[r]);
        Ok(())
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        let r = self.range(sector, data.len())?;
        self.data[r].copy_from_slice(data);
        self.writes += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sectors_round_trip_and_bounds_are_checked() {
        let mut d = MemDisk::new(8);
        assert_eq!(d.sectors(), 8);
        let data: Vec<u8> = (0..2 * SECTOR_SIZE).map(|i| i as u8).collect();
        d.write(6, &data).unwrap();
        let mut back = vec![0; 2 * SECTOR_SIZE];
        d.read(6, &mut back).unwrap();
        assert_eq!(back, data);
        assert_eq!(d.write(7, &data), Err(BlockError::OutOfRange));
        assert_eq!(d.read(0, &mut [0; 100]), Err(BlockError::Unaligned));
        assert_eq!(d.read(u64::MAX, &mut [0; SECTOR_SIZE]), Err(BlockError::OutOfRange));
        assert_eq!(d.writes, 1);
        assert_eq!(d.flush(), Ok(()));
    }
}
