//! The vtpm's state disk as a `vtpm_store::BlockDevice`: blkfront on `device/vbd/768` (xl
//! `hda`) in the image, any `BlockDevice` in host tests. The image's disk needs the hypervisor
//! handle for each request, which the service loop also uses, so a disk is a [`StateDisk`]:
//! [`StateDisk::bind`] lends it the handle for one load or save (`vtpm_store::Detached`
//! keeps the store's state in between). Writes are counted ([`Counted`]).

use drivers::blkfront::{BlkFront, DiskInfo};
use drivers::hv::Xen;
use vtpm_store::{BlockDevice, BlockError, SECTOR_SIZE};

/// The vbd holding the state (xl `hda`).
pub const STATE_VBD: &str = "device/vbd/768";
/// Deadline of one disk request.
const IO_TIMEOUT_NS: u64 = 30_000_000_000;
/// The largest blkif request: 11 segments of one page.
const MAX_IO: usize = 11 * 4096;

/// A disk that can be lent the hypervisor handle for a while.
pub trait StateDisk<X> {
    /// The disk with the handle.
    type Dev<'a>: BlockDevice
    where
        Self: 'a,
        X: 'a;
    /// Lends the disk `hv` for one load or save.
    fn bind<'a>(&'a mut self, hv: &'a mut X) -> Self::Dev<'a>;
}

/// A disk that needs no handle (host tests: `vtpm_store::MemDisk`, `FaultyDisk`).
pub struct HostDisk<D>(pub D);

/// A [`HostDisk`]'s disk, borrowed.
pub struct ByRef<'a, D>(&'a mut D);

impl<D: BlockDevice> BlockDevice for ByRef<'_, D> {
    fn sectors(&self) -> u64 {
        self.0.sectors()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.0.read(sector, buf)
    }
    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        self.0.write(sector, data)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.0.flush()
    }
}

impl<X, D: BlockDevice> StateDisk<X> for HostDisk<D> {
    type Dev<'a>
        = ByRef<'a, D>
    where
        D: 'a,
        X: 'a;
    fn bind<'a>(&'a mut self, _hv: &'a mut X) -> ByRef<'a, D> {
        ByRef(&mut self.0)
    }
}

/// blkfront as the state disk.
pub struct BlkDisk<X: Xen> {
    front: BlkFront<X>,
    info: DiskInfo,
}

impl<X: Xen> BlkDisk<X> {
    /// Connects to [`STATE_VBD`]. The `Err` is a sentence for the console.
    pub fn connect(hv: &mut X) -> Result<BlkDisk<X>, alloc::string::String> {
        let mut front = BlkFront::<X>::new(STATE_VBD);
        let info = front
            .connect(hv, IO_TIMEOUT_NS)
            .map_err(|e| alloc::format!("cannot connect to the state disk {STATE_VBD} ({e:?})"))?;
        if info.sector_size as usize != SECTOR_SIZE {
            return Err(alloc::format!("the state disk's sector size is {}, not {SECTOR_SIZE}", info.sector_size));
        }
        if info.readonly() {
            return Err(alloc::string::String::from("the state disk is read-only"));
        }
        Ok(BlkDisk { front, info })
    }

    /// What the backend said about the disk.
    pub fn info(&self) -> DiskInfo {
        self.info
    }
}

/// A [`BlkDisk`] with the handle.
pub struct BoundBlk<'a, X: Xen> {
    hv: &'a mut X,
    disk: &'a mut BlkDisk<X>,
}

impl<X: Xen> BlockDevice for BoundBlk<'_, X> {
    fn sectors(&self) -> u64 {
        self.disk.info.sectors
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        if !buf.len().is_multiple_of(SECTOR_SIZE) {
            return Err(BlockError::Unaligned);
        }
        let mut done = 0;
        while done < buf.len() {
            let n = (buf.len() - done).min(MAX_IO);
            let at = sector.saturating_mul(SECTOR_SIZE as u64).saturating_add(done as u64);
            let data = self.disk.front.read(self.hv, at, n, IO_TIMEOUT_NS).map_err(|_| BlockError::Io)?;
            let dst = buf.get_mut(done..done + n).ok_or(BlockError::Io)?;
            if data.len() != n {
                return Err(BlockError::Io);
            }
            dst.copy_from_slice(&data);
            done += n;
        }
        Ok(())
    }
    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        if !data.len().is_multiple_of(SECTOR_SIZE) {
            return Err(BlockError::Unaligned);
        }
        for (i, chunk) in data.chunks(MAX_IO).enumerate() {
            let at = sector.saturating_mul(SECTOR_SIZE as u64).saturating_add((i * MAX_IO) as u64);
            self.disk.front.write(self.hv, at, chunk, IO_TIMEOUT_NS).map_err(|_| BlockError::Io)?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.disk.front.flush(self.hv, IO_TIMEOUT_NS).map_err(|_| BlockError::Io)
    }
}

impl<X: Xen> StateDisk<X> for BlkDisk<X> {
    type Dev<'a>
        = BoundBlk<'a, X>
    where
        X: 'a;
    fn bind<'a>(&'a mut self, hv: &'a mut X) -> BoundBlk<'a, X> {
        BoundBlk { hv, disk: self }
    }
}

/// A device that counts its writes (the `disk writes` of the debug summary).
pub struct Counted<'c, D> {
    /// The device.
    pub dev: D,
    /// Incremented on each write.
    pub writes: &'c mut u64,
}

impl<D: BlockDevice> BlockDevice for Counted<'_, D> {
    fn sectors(&self) -> u64 {
        self.dev.sectors()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.dev.read(sector, buf)
    }
    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        *self.writes += 1;
        self.dev.write(sector, data)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.dev.flush()
    }
}
