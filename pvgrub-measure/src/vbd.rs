//! The guest's disk: the first `device/vbd/<n>` (GRUB's `hd0`) over blkfront, read in whole
//! sectors for `pvgrub_loader::fetch::load_by_fetching`.

use alloc::format;
use alloc::string::String;

use drivers::blkfront::{BlkFront, DiskInfo};
use drivers::hv::{Xen, XenbusState, XsError, XsTx};
use drivers::xenbus::switch_state;
use vtpm_store::{BlockError, SECTOR_SIZE};

/// Deadline of one disk request.
const IO_TIMEOUT_NS: u64 = 30_000_000_000;
/// The largest blkif request: 11 segments of one page.
const MAX_IO: usize = 11 * 4096;

/// The lowest-numbered `device/vbd/<n>` (`None`: the domain has no disk).
pub fn first_vbd<X: Xen>(hv: &mut X) -> Result<Option<String>, String> {
    let mut ids = match hv.directory(XsTx::NONE, "device/vbd") {
        Ok(ids) => ids,
        Err(XsError::NoEnt) => return Ok(None),
        Err(e) => return Err(format!("listing device/vbd: {e}")),
    };
    ids.retain(|id| id.parse::<u32>().is_ok());
    ids.sort_by_key(|id| id.parse::<u32>().unwrap_or(u32::MAX));
    Ok(ids.first().map(|id| format!("device/vbd/{id}")))
}

/// The connected disk.
pub struct GuestDisk<X: Xen> {
    front: BlkFront<X>,
    info: DiskInfo,
    node: String,
}

impl<X: Xen> GuestDisk<X> {
    /// Connects to `node`. The `Err` is a sentence for the console.
    pub fn connect(hv: &mut X, node: &str) -> Result<GuestDisk<X>, String> {
        let mut front = BlkFront::<X>::new(node);
        let info =
            front.connect(hv, IO_TIMEOUT_NS).map_err(|e| format!("cannot connect to the disk {node} ({e:?})"))?;
        if info.sector_size as usize != SECTOR_SIZE {
            return Err(format!("the disk {node} has {}-byte sectors, not {SECTOR_SIZE}", info.sector_size));
        }
        Ok(GuestDisk { front, info, node: String::from(node) })
    }

    /// Size in sectors.
    pub fn sectors(&self) -> u64 {
        self.info.sectors
    }

    /// Reads whole sectors from `first` into `buf`.
    pub fn read_into(&mut self, hv: &mut X, first: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        if !buf.len().is_multiple_of(SECTOR_SIZE) {
            return Err(BlockError::Unaligned);
        }
        let mut done = 0;
        while done < buf.len() {
            let n = (buf.len() - done).min(MAX_IO);
            let at = first.saturating_mul(SECTOR_SIZE as u64).saturating_add(done as u64);
            let data = self.front.read(hv, at, n, IO_TIMEOUT_NS).map_err(|_| BlockError::Io)?;
            if data.len() != n {
                return Err(BlockError::Io);
            }
            buf[done..done + n].copy_from_slice(&data);
            done += n;
        }
        Ok(())
    }

    /// Disconnects (the kernel booted next opens the disk again): Closing, Closed, and then
    /// Initialising, the state a Linux frontend probes a device in (it skips a device in any
    /// other state); the backend, Closed, answers Initialising with InitWait.
    pub fn close(mut self, hv: &mut X) {
        if let Err(e) = self.front.close(hv, IO_TIMEOUT_NS) {
            log::warn!("closing {}: {e:?}", self.node);
        }
        if let Err(e) = switch_state(hv, &self.node, XenbusState::Initialising) {
            log::warn!("{}: state Initialising: {e}", self.node);
        }
    }
}
