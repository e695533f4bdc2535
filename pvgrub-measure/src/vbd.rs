//! The guest's disk: the first `device/vbd/<n>` (GRUB's `hd0`) over blkfront, read in whole
//! sectors for `pvgrub_loader::fetch::load_by_fetching`.
//!
//! A long read is split into blkif requests of up to 11 segments (44 KiB) and up to
//! [`MAX_IN_FLIGHT`] of them are kept on the ring at once, so the backend serves a batch per
//! notification instead of one request per round trip (one request at a time made Debian's
//! 11 MiB take 8.3 s under Xen in QEMU). Indirect descriptors (`feature-max-indirect-segments`)
//! are not used: with the ring kept full they would save little here.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;

use drivers::blkfront::{BlkError, BlkFront, DiskInfo, RequestId};
use drivers::hv::{Xen, XenbusState, XsError, XsTx};
use drivers::xenbus::switch_state;
use vtpm_store::{BlockError, SECTOR_SIZE};

/// Deadline of one disk request.
const IO_TIMEOUT_NS: u64 = 30_000_000_000;
/// The largest blkif request: 11 segments of one page.
const MAX_IO: usize = 11 * 4096;
/// Requests kept in flight (the ring has 32 slots; blkfront answers `RingFull` beyond them):
/// 1.4 MiB of granted pages at most.
pub const MAX_IN_FLIGHT: usize = 32;
/// How often a read without progress looks at the ring again (an event wakes it earlier).
const POLL_NS: u64 = 10_000_000;

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

    /// Reads whole sectors from `first` into `buf`, with up to [`MAX_IN_FLIGHT`] requests on
    /// the ring at once. A request that fails, or no completion for 30 s, fails the read
    /// (requests still in flight then are dropped as they complete).
    pub fn read_into(&mut self, hv: &mut X, first: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        if !buf.len().is_multiple_of(SECTOR_SIZE) {
            return Err(BlockError::Unaligned);
        }
        let base = first.checked_mul(SECTOR_SIZE as u64).ok_or(BlockError::OutOfRange)?;
        // Request → (offset in buf, length).
        let mut pending: BTreeMap<RequestId, (usize, usize)> = BTreeMap::new();
        let mut next = 0;
        let mut deadline = hv.now_ns().saturating_add(IO_TIMEOUT_NS);
        while next < buf.len() || !pending.is_empty() {
            while next < buf.len() && pending.len() < MAX_IN_FLIGHT {
                let n = (buf.len() - next).min(MAX_IO);
                match self.front.submit_read(hv, base.saturating_add(next as u64), n) {
                    Ok(id) => {
                        pending.insert(id, (next, n));
                        next += n;
                    }
                    // Slots held by our requests, or by those of an earlier failed read.
                    Err(BlkError::RingFull) => break,
                    Err(BlkError::OutOfRange) => return Err(BlockError::OutOfRange),
                    Err(_) => return Err(BlockError::Io),
                }
            }
            let mut progress = false;
            for c in self.front.poll(hv) {
                // Completions of an earlier, failed read are not ours.
                let Some((at, n)) = pending.remove(&c.id) else { continue };
                let data = c.result.map_err(|_| BlockError::Io)?.ok_or(BlockError::Io)?;
                if data.len() != n {
                    return Err(BlockError::Io);
                }
                buf[at..at + n].copy_from_slice(&data);
                progress = true;
            }
            let now = hv.now_ns();
            if progress {
                deadline = now.saturating_add(IO_TIMEOUT_NS);
            } else if !pending.is_empty() || next < buf.len() {
                if now >= deadline {
                    return Err(BlockError::Io);
                }
                hv.wait_until(deadline.min(now.saturating_add(POLL_NS)));
            }
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
