//! Loading from a disk that can only be read with a borrowed handle (the image's blkfront
//! needs `&mut` of the runtime for every request, while `ext4-view` keeps its reader for
//! good): the loader runs over a [`SectorCache`]; a read that misses records the chunk it
//! needs and fails; [`load_by_fetching`] then fetches that chunk (and, for sequential misses,
//! a growing read-ahead of up to 16 MiB) through the caller's `fetch` and runs the loader
//! again, until it succeeds or fails for another reason. Everything read stays cached, so
//! each round gets further; the rounds are counted. The rounds only find and read the files;
//! the cache is freed before the kernel is decompressed.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::vec;
use core::cell::RefCell;

use vtpm_store::{BlockDevice, BlockError, SECTOR_SIZE};

use crate::error::LoadError;
use crate::loader::{Loaded, finish, read_boot_files};
use crate::options::BootSource;
use crate::volume::Disk;

/// Sectors per cached chunk (64 KiB).
pub const CHUNK_SECTORS: u64 = 128;
/// Longest read-ahead, in chunks (16 MiB).
const MAX_AHEAD: u64 = 256;
/// Most rounds before giving up (a loader that keeps missing the same data is a bug).
const MAX_ROUNDS: u32 = 100_000;

/// The chunks read so far.
pub struct SectorCache {
    sectors: u64,
    chunks: BTreeMap<u64, Box<[u8]>>,
    /// The first chunk a read missed.
    pending: Option<u64>,
}

/// How a load went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Loader runs (1 when everything was cached already).
    pub rounds: u32,
    /// `fetch` calls and the bytes they read.
    pub fetches: u32,
    pub bytes: u64,
}

/// The loader's view of the disk: the cache.
struct CachedDisk(Rc<RefCell<SectorCache>>);

impl BlockDevice for CachedDisk {
    fn sectors(&self) -> u64 {
        self.0.borrow().sectors
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        if !buf.len().is_multiple_of(SECTOR_SIZE) {
            return Err(BlockError::Unaligned);
        }
        let mut c = self.0.borrow_mut();
        let count = (buf.len() / SECTOR_SIZE) as u64;
        if sector.checked_add(count).is_none_or(|end| end > c.sectors) {
            return Err(BlockError::OutOfRange);
        }
        let mut done = 0usize;
        let mut s = sector;
        while done < buf.len() {
            let chunk = s / CHUNK_SECTORS;
            let within = ((s % CHUNK_SECTORS) as usize) * SECTOR_SIZE;
            let Some(data) = c.chunks.get(&chunk) else {
                c.pending = Some(chunk);
                return Err(BlockError::Io);
            };
            let n = (data.len() - within).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&data[within..within + n]);
            done += n;
            s += (n / SECTOR_SIZE) as u64;
        }
        Ok(())
    }
    fn write(&mut self, _sector: u64, _data: &[u8]) -> Result<(), BlockError> {
        Err(BlockError::Io)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

/// Loads the boot entry of a disk of `sectors` sectors read through `fetch(first_sector,
/// buf)` (which fills whole sectors).
pub fn load_by_fetching(
    sectors: u64,
    source: &BootSource,
    mut fetch: impl FnMut(u64, &mut [u8]) -> Result<(), BlockError>,
) -> Result<(Loaded, FetchStats), LoadError> {
    let cache = Rc::new(RefCell::new(SectorCache { sectors, chunks: BTreeMap::new(), pending: None }));
    let mut stats = FetchStats::default();
    let mut next_sequential = u64::MAX;
    let mut ahead = 1u64;
    loop {
        stats.rounds += 1;
        if stats.rounds > MAX_ROUNDS {
            return Err(LoadError::Disk(BlockError::Io));
        }
        let result = Disk::new(CachedDisk(cache.clone())).and_then(|mut d| read_boot_files(&mut d, source));
        let pending = cache.borrow_mut().pending.take();
        if result.is_ok() || pending.is_none() {
            // The cache goes before the kernel is decompressed: its memory is needed for that.
            drop(cache);
            return finish(result?).map(|l| (l, stats));
        }
        let Some(chunk) = pending else { continue };
        ahead = if chunk == next_sequential { (ahead * 2).min(MAX_AHEAD) } else { 1 };
        let mut c = cache.borrow_mut();
        if c.chunks.contains_key(&chunk) {
            return Err(LoadError::Filesystem(format!("internal: chunk {chunk} missed twice")));
        }
        let total_chunks = sectors.div_ceil(CHUNK_SECTORS);
        let mut end = chunk + 1;
        while end < total_chunks && end < chunk + ahead && !c.chunks.contains_key(&end) {
            end += 1;
        }
        let first = chunk * CHUNK_SECTORS;
        let last = (end * CHUNK_SECTORS).min(sectors);
        let mut buf = vec![0u8; ((last - first) as usize) * SECTOR_SIZE];
        fetch(first, &mut buf)?;
        stats.fetches += 1;
        stats.bytes += buf.len() as u64;
        for (i, piece) in buf.chunks(CHUNK_SECTORS as usize * SECTOR_SIZE).enumerate() {
            c.chunks.insert(chunk + i as u64, piece.into());
        }
        next_sequential = end;
    }
}
