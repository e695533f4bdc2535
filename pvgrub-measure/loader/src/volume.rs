//! The guest's disk as GRUB sees it: its partition table, and each partition (or the whole
//! disk) opened read-only as an ext2/3/4 file system with the `ext4-view` crate, through a
//! byte-range reader over the [`BlockDevice`] sectors. Also the `search --fs-uuid` lookup.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use ext4_view::{Ext4, Ext4Error, Ext4Read};
use vtpm_store::{BlockDevice, BlockError, SECTOR_SIZE};

use crate::error::LoadError;
use crate::grub_path::Device;
use crate::partition::{PartitionTable, read_partitions};

/// Largest file read (a kernel or an initrd): 512 MiB.
pub const MAX_FILE_SIZE: u64 = 512 << 20;

/// Sectors read per disk request by the file-system reader.
const CHUNK_SECTORS: usize = 128;

/// A sector read failure as `ext4-view` wants it (a boxed `core::error::Error`).
#[derive(Debug)]
struct DiskReadError(BlockError, u64);

impl fmt::Display for DiskReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", LoadError::Disk(self.0), self.1)
    }
}

impl core::error::Error for DiskReadError {}

/// Bytes `[start, start + len)` of the disk, read through whole sectors.
struct RangeReader<D> {
    disk: Rc<RefCell<D>>,
    start: u64,
    len: u64,
}

impl<D: BlockDevice + 'static> Ext4Read for RangeReader<D> {
    fn read(&mut self, start_byte: u64, dst: &mut [u8]) -> Result<(), Box<dyn core::error::Error + Send + Sync>> {
        let end = start_byte.checked_add(dst.len() as u64);
        if end.is_none_or(|e| e > self.len) {
            return Err(Box::new(DiskReadError(BlockError::OutOfRange, start_byte)));
        }
        let mut disk = self.disk.borrow_mut();
        let mut done = 0usize;
        let mut buf = vec![0u8; CHUNK_SECTORS * SECTOR_SIZE];
        while done < dst.len() {
            let abs = self.start + start_byte + done as u64;
            let sector = abs / SECTOR_SIZE as u64;
            let skip = (abs % SECTOR_SIZE as u64) as usize;
            let want = dst.len() - done;
            let sectors = (skip + want).div_ceil(SECTOR_SIZE).min(CHUNK_SECTORS);
            let chunk = &mut buf[..sectors * SECTOR_SIZE];
            disk.read(sector, chunk).map_err(|e| Box::new(DiskReadError(e, abs)))?;
            let n = (sectors * SECTOR_SIZE - skip).min(want);
            dst[done..done + n].copy_from_slice(&chunk[skip..skip + n]);
            done += n;
        }
        Ok(())
    }
}

/// The disk: its table and the file systems opened so far.
pub struct Disk<D> {
    disk: Rc<RefCell<D>>,
    table: PartitionTable,
    sectors: u64,
    opened: BTreeMap<u32, Ext4>,
}

impl<D: BlockDevice + 'static> Disk<D> {
    /// Reads the partition table.
    pub fn new(mut disk: D) -> Result<Disk<D>, LoadError> {
        let table = read_partitions(&mut disk)?;
        let sectors = disk.sectors();
        Ok(Disk { disk: Rc::new(RefCell::new(disk)), table, sectors, opened: BTreeMap::new() })
    }

    /// The partition table.
    pub fn table(&self) -> &PartitionTable {
        &self.table
    }

    /// The volumes GRUB would look at, in order: each partition, or the whole disk.
    pub fn volumes(&self) -> Vec<Device> {
        match self.table.kind {
            None => vec![Device::Whole],
            Some(kind) => self
                .table
                .partitions
                .iter()
                .map(|p| Device::Partition { number: p.number, table: Some(kind) })
                .collect(),
        }
    }

    /// Sector range of a device.
    fn range(&self, dev: Device) -> Result<(u64, u64), LoadError> {
        match dev {
            Device::Whole => Ok((0, self.sectors)),
            Device::Partition { number, table } => {
                let kind = self.table.kind;
                if let (Some(want), Some(have)) = (table, kind)
                    && want != have
                {
                    return Err(LoadError::NoSuchPartition(format!(
                        "({}): the disk has a {} table",
                        dev.grub2_name(),
                        have.name()
                    )));
                }
                self.table
                    .partitions
                    .iter()
                    .find(|p| p.number == number)
                    .map(|p| (p.start_lba, p.sectors))
                    .ok_or_else(|| LoadError::NoSuchPartition(format!("({}) is not on the disk", dev.grub2_name())))
            }
        }
    }

    /// Opens (once) the ext2/3/4 file system on `dev`.
    pub fn fs(&mut self, dev: Device) -> Result<&Ext4, LoadError> {
        let (start, sectors) = self.range(dev)?;
        let key = match dev {
            Device::Whole => 0,
            Device::Partition { number, .. } => number,
        };
        if !self.opened.contains_key(&key) {
            let reader = RangeReader {
                disk: self.disk.clone(),
                start: start * SECTOR_SIZE as u64,
                len: sectors * SECTOR_SIZE as u64,
            };
            let fs = Ext4::load(Box::new(reader))
                .map_err(|e| LoadError::Filesystem(format!("({}): {e}", dev.grub2_name())))?;
            self.opened.insert(key, fs);
        }
        self.opened.get(&key).ok_or_else(|| LoadError::Filesystem(dev.grub2_name()))
    }

    /// Reads a whole file (at most [`MAX_FILE_SIZE`] bytes).
    pub fn read_file(&mut self, dev: Device, path: &str) -> Result<Vec<u8>, LoadError> {
        let name = format!("({}){path}", dev.grub2_name());
        let fs = self.fs(dev)?;
        let meta = fs.metadata(path).map_err(|e| file_error(&name, e))?;
        if meta.is_dir() {
            return Err(LoadError::FileNotFound(format!("{name} is a directory")));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(LoadError::Layout(format!("{name} is {} bytes, more than {MAX_FILE_SIZE}", meta.len())));
        }
        fs.read(path).map_err(|e| file_error(&name, e))
    }

    /// True if `path` exists as a file on `dev` (false also when `dev` has no file system).
    pub fn has_file(&mut self, dev: Device, path: &str) -> bool {
        match self.fs(dev) {
            Ok(fs) => fs.metadata(path).is_ok_and(|m| !m.is_dir()),
            Err(_) => false,
        }
    }

    /// The ext2/3/4 UUID of `dev`, lowercase with hyphens (as `search --fs-uuid` takes it).
    pub fn fs_uuid(&mut self, dev: Device) -> Option<String> {
        self.fs(dev).ok().map(|fs| fs.uuid().to_string().to_ascii_lowercase())
    }

    /// `search --fs-uuid`: the first volume whose file system has this UUID.
    pub fn find_fs_uuid(&mut self, uuid: &str) -> Option<Device> {
        let want = uuid.to_ascii_lowercase();
        self.volumes().into_iter().find(|&dev| self.fs_uuid(dev).is_some_and(|u| u == want))
    }
}

fn file_error(name: &str, e: Ext4Error) -> LoadError {
    match e {
        Ext4Error::NotFound => LoadError::FileNotFound(name.to_string()),
        Ext4Error::Io(_) => LoadError::Filesystem(format!("{name}: {e}")),
        other => LoadError::Filesystem(format!("{name}: {other}")),
    }
}
