//! A test disk that fails: [`FaultyDisk`] keeps its media and a volatile write cache apart, so
//! a test can make operation *k* (a write or a flush) fail, or cut the power during it with
//! only some of its sectors on the media (a prefix, or a suffix: out of order), and lose or
//! keep what was not flushed. After [`FaultyDisk::restart`] only the media is left, as after a
//! real power cycle. Used by this crate's tests and by anyone testing over [`BlockDevice`].
//!
//! Sector writes are atomic here (a sector lands whole or not at all), as the store assumes of
//! real disks. What this does not model: bit rot (tests flip bits in the media directly).

use alloc::vec;
use alloc::vec::Vec;

use crate::block::{BlockDevice, BlockError, SECTOR_SIZE};

/// Which sectors of the write interrupted by a power cut reach the media.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Landing {
    /// None of them.
    Nothing,
    /// The first `n` sectors.
    Prefix(usize),
    /// The last `n` sectors (the disk wrote them out of order).
    Suffix(usize),
    /// All of them.
    All,
}

/// What happens at a power cut to writes done before but not yet flushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheFate {
    /// They are lost.
    Lost,
    /// The disk wrote them back just before the power went.
    WrittenBack,
}

/// The fault to inject. `op` counts writes and flushes from the moment the fault is armed
/// (0 = the next one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Operation `op` returns [`BlockError::Io`] and has no effect; later ones work.
    Fail {
        /// Which operation.
        op: u64,
    },
    /// The power goes during operation `op`; it and everything after fail until
    /// [`FaultyDisk::restart`].
    PowerCut {
        /// Which operation.
        op: u64,
        /// What of a write in progress lands.
        landing: Landing,
        /// What happens to the unflushed writes.
        cache: CacheFate,
    },
}

/// A disk in memory with a write cache and injected faults.
#[derive(Clone)]
pub struct FaultyDisk {
    media: Vec<u8>,
    cache: Vec<(usize, Vec<u8>)>,
    ops: u64,
    fault: Option<Fault>,
    dead: bool,
}

impl FaultyDisk {
    /// A zeroed disk of `sectors` sectors.
    pub fn new(sectors: u64) -> FaultyDisk {
        FaultyDisk::from_media(vec![0; sectors as usize * SECTOR_SIZE])
    }

    /// A disk whose media holds `media` (a whole number of sectors).
    pub fn from_media(media: Vec<u8>) -> FaultyDisk {
        FaultyDisk { media, cache: Vec::new(), ops: 0, fault: None, dead: false }
    }

    /// Arms `fault`; operations are counted from now.
    pub fn arm(&mut self, fault: Fault) {
        self.fault = Some(fault);
        self.ops = 0;
    }

    /// Writes and flushes since the last [`FaultyDisk::arm`] or [`FaultyDisk::restart`].
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Whether the power is off.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// The media (what survives a power cycle).
    pub fn media(&self) -> &[u8] {
        &self.media
    }

    /// The media, to corrupt in tests.
    pub fn media_mut(&mut self) -> &mut [u8] {
        &mut self.media
    }

    /// A power cycle: unflushed writes are lost (unless a cut already wrote them back), the
    /// fault is disarmed, and the disk works again.
    pub fn restart(&mut self) {
        self.cache.clear();
        self.fault = None;
        self.dead = false;
        self.ops = 0;
    }

    fn range(&self, sector: u64, len: usize) -> Result<usize, BlockError> {
        if !len.is_multiple_of(SECTOR_SIZE) {
            return Err(BlockError::Unaligned);
        }
        let start =
            usize::try_from(sector).ok().and_then(|s| s.checked_mul(SECTOR_SIZE)).ok_or(BlockError::OutOfRange)?;
        match start.checked_add(len) {
            Some(end) if end <= self.media.len() => Ok(start),
            _ => Err(BlockError::OutOfRange),
        }
    }

    /// Counts an operation and says whether it is the armed one.
    fn next_op(&mut self) -> Result<Option<Fault>, BlockError> {
        if self.dead {
            return Err(BlockError::Io);
        }
        let op = self.ops;
        self.ops += 1;
        Ok(match self.fault {
            Some(f @ Fault::Fail { op: k }) | Some(f @ Fault::PowerCut { op: k, .. }) if k == op => Some(f),
            _ => None,
        })
    }

    fn write_back(&mut self) {
        for (at, data) in core::mem::take(&mut self.cache) {
            self.media[at..at + data.len()].copy_from_slice(&data);
        }
    }

    fn cut(&mut self, cache: CacheFate) {
        if cache == CacheFate::WrittenBack {
            self.write_back();
        }
        self.cache.clear();
        self.dead = true;
    }
}

impl BlockDevice for FaultyDisk {
    fn sectors(&self) -> u64 {
        (self.media.len() / SECTOR_SIZE) as u64
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        if self.dead {
            return Err(BlockError::Io);
        }
        let start = self.range(sector, buf.len())?;
        let end = start + buf.len();
        buf.copy_from_slice(&self.media[start..end]);
        for (at, data) in &self.cache {
            let (lo, hi) = ((*at).max(start), (at + data.len()).min(end));
            if lo < hi {
                buf[lo - start..hi - start].copy_from_slice(&data[lo - at..hi - at]);
            }
        }
        Ok(())
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        let start = self.range(sector, data.len())?;
        match self.next_op()? {
            None => {
                self.cache.push((start, data.to_vec()));
                Ok(())
            }
            Some(Fault::Fail { .. }) => Err(BlockError::Io),
            Some(Fault::PowerCut { landing, cache, .. }) => {
                self.cut(cache);
                let n = data.len() / SECTOR_SIZE;
                let (from, to) = match landing {
                    Landing::Nothing => (0, 0),
                    Landing::Prefix(k) => (0, k.min(n)),
                    Landing::Suffix(k) => (n - k.min(n), n),
                    Landing::All => (0, n),
                };
                let (a, b) = (from * SECTOR_SIZE, to * SECTOR_SIZE);
                self.media[start + a..start + b].copy_from_slice(&data[a..b]);
                Err(BlockError::Io)
            }
        }
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        match self.next_op()? {
            None => {
                self.write_back();
                Ok(())
            }
            Some(Fault::Fail { .. }) => Err(BlockError::Io),
            Some(Fault::PowerCut { cache, .. }) => {
                self.cut(cache);
                Err(BlockError::Io)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sectors(n: usize, b: u8) -> Vec<u8> {
        vec![b; n * SECTOR_SIZE]
    }

    #[test]
    fn unflushed_writes_are_read_back_but_lost_on_restart() {
        let mut d = FaultyDisk::new(4);
        d.write(1, &sectors(1, 5)).unwrap();
        let mut b = sectors(1, 0);
        d.read(1, &mut b).unwrap();
        assert_eq!(b, sectors(1, 5));
        d.restart();
        d.read(1, &mut b).unwrap();
        assert_eq!(b, sectors(1, 0));
        d.write(1, &sectors(1, 6)).unwrap();
        d.flush().unwrap();
        d.restart();
        d.read(1, &mut b).unwrap();
        assert_eq!(b, sectors(1, 6));
    }

    #[test]
    fn a_failed_op_has_no_effect_and_later_ops_work() {
        let mut d = FaultyDisk::new(4);
        d.arm(Fault::Fail { op: 1 });
        d.write(0, &sectors(1, 1)).unwrap();
        assert_eq!(d.write(1, &sectors(1, 2)), Err(BlockError::Io));
        d.flush().unwrap();
        assert_eq!(&d.media()[..SECTOR_SIZE], &sectors(1, 1)[..]);
        assert_eq!(d.media()[SECTOR_SIZE], 0);
        assert_eq!(d.ops(), 3);
    }

    #[test]
    fn a_power_cut_lands_a_prefix_or_a_suffix_and_kills_the_disk() {
        for (landing, expect) in [
            (Landing::Nothing, [0, 0, 0]),
            (Landing::Prefix(1), [9, 0, 0]),
            (Landing::Suffix(2), [0, 9, 9]),
            (Landing::All, [9, 9, 9]),
            (Landing::Prefix(7), [9, 9, 9]),
        ] {
            let mut d = FaultyDisk::new(4);
            d.arm(Fault::PowerCut { op: 0, landing, cache: CacheFate::Lost });
            assert_eq!(d.write(1, &sectors(3, 9)), Err(BlockError::Io));
            assert!(d.is_dead());
            assert_eq!(d.read(0, &mut sectors(1, 0)), Err(BlockError::Io));
            assert_eq!(d.flush(), Err(BlockError::Io));
            d.restart();
            let got: Vec<u8> = (1..4).map(|s| d.media()[s * SECTOR_SIZE]).collect();
            assert_eq!(got, expect, "{landing:?}");
        }
    }

    #[test]
    fn a_cut_may_write_back_or_lose_the_cache() {
        for (cache, expect) in [(CacheFate::Lost, 0), (CacheFate::WrittenBack, 3)] {
            let mut d = FaultyDisk::new(2);
            d.arm(Fault::PowerCut { op: 1, landing: Landing::Nothing, cache });
            d.write(0, &sectors(1, 3)).unwrap();
            assert_eq!(d.flush(), Err(BlockError::Io));
            d.restart();
            assert_eq!(d.media()[0], expect);
        }
    }

    #[test]
    fn bounds_are_checked_before_counting() {
        let mut d = FaultyDisk::new(2);
        assert_eq!(d.write(2, &sectors(1, 0)), Err(BlockError::OutOfRange));
        assert_eq!(d.write(0, &[0; 3]), Err(BlockError::Unaligned));
        assert_eq!(d.read(u64::MAX, &mut sectors(1, 0)), Err(BlockError::OutOfRange));
        assert_eq!(d.ops(), 0);
    }
}
