//! The manager's service loop, generic over the hypervisor (host-buildable): its disk over
//! blkfront ([`BlkDisk`], a `BlockDevice`), the hardware TPM over TIS ([`TisTpm`], a
//! `HardwareTpm`), and [`Manager`]: tpmback serving every vtpm domain with
//! `vtpmmgr_core::Service`, one [`Manager::step`] per loop iteration ([`serve`] loops it; the
//! host tests step it in the simulated Xen).
//!
//! Every driver needs the hypervisor (`&mut X`) for each operation, and the key store owns its
//! disk for its whole life, so the hypervisor handle is shared through a `RefCell`: each
//! operation borrows it for its own duration only and nothing nests. A borrow that would
//! nest (it cannot, by construction) is reported as an I/O error, never a panic.
//!
//! tpmback serves every domain (`FrontendBinding::AnyDomain`): the manager's isolation is by
//! the backend dir's uuid (libxl writes it; a vtpm cannot choose it), done by the service —
//! one connection per uuid, each uuid its own record. A vtpm that restarts, or a manager that
//! restarts under running vtpms, simply connects again: nothing here is per-session state
//! that a reconnect would need.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use drivers::blkfront::{BlkFront, DiskInfo, MAX_REQUEST_BYTES};
use drivers::hv::{Clock, Mmio, Xen};
use drivers::tpm_tis::{Tis, TpmFamily};
use drivers::tpmback::{BackendEvent, FrontendBinding, FrontendId, TpmBack};
use rand_chacha::rand_core::CryptoRng;
use tpm_frame::Family;
use vtpm_store::{BlockDevice, BlockError, SECTOR_SIZE};
use vtpmmgr_core::{HardwareTpm, HwConfig, KeyStore, Service};

/// The manager's disk: `hda` (`device/vbd/768`), as the C manager.
pub const VBD: &str = "device/vbd/768";
/// Timeout of one disk request.
pub const DISK_TIMEOUT_NS: u64 = 20_000_000_000;
/// The line the C manager prints once it serves.
pub const WAITING: &str = "INFO[VTPM]: Waiting for commands from vTPM's:";
const IDLE_WAIT_NS: u64 = 60_000_000_000;

/// The shared hypervisor handle.
pub type SharedHv<'h, X> = RefCell<&'h mut X>;

/// The manager's disk over blkfront (512-byte sectors; transfers longer than one blkif
/// request, `MAX_REQUEST_BYTES`, are split into several, in order).
pub struct BlkDisk<'r, 'h, X: Xen> {
    hv: &'r SharedHv<'h, X>,
    front: BlkFront<X>,
    sectors: u64,
}

impl<'r, 'h, X: Xen> BlkDisk<'r, 'h, X> {
    /// Connects to `VBD`. Only 512-byte logical sectors are used (the store's unit).
    pub fn connect(hv: &'r SharedHv<'h, X>) -> Result<(BlkDisk<'r, 'h, X>, DiskInfo), String> {
        let mut front = BlkFront::<X>::new(VBD);
        let info = {
            let mut h = hv.try_borrow_mut().map_err(|_| String::from("hypervisor handle busy"))?;
            front.connect(&mut **h, DISK_TIMEOUT_NS).map_err(|e| format!("cannot connect to {VBD}: {e:?}"))?
        };
        if info.sector_size as usize != SECTOR_SIZE {
            return Err(format!("{VBD} has {}-byte sectors; only 512 is supported", info.sector_size));
        }
        if info.readonly() {
            return Err(format!("{VBD} is read-only"));
        }
        Ok((BlkDisk { hv, front, sectors: info.sectors }, info))
    }
}

impl<X: Xen> BlockDevice for BlkDisk<'_, '_, X> {
    fn sectors(&self) -> u64 {
        self.sectors
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        if !buf.len().is_multiple_of(SECTOR_SIZE) {
            return Err(BlockError::Unaligned);
        }
        let end = sector.checked_add((buf.len() / SECTOR_SIZE) as u64).ok_or(BlockError::OutOfRange)?;
        if end > self.sectors {
            return Err(BlockError::OutOfRange);
        }
        let mut h = self.hv.try_borrow_mut().map_err(|_| BlockError::Io)?;
        // one blkif request carries at most MAX_REQUEST_BYTES: longer transfers are split
        for (i, chunk) in buf.chunks_mut(MAX_REQUEST_BYTES).enumerate() {
            let offset = sector * SECTOR_SIZE as u64 + (i * MAX_REQUEST_BYTES) as u64;
            match self.front.read(&mut **h, offset, chunk.len(), DISK_TIMEOUT_NS) {
                Ok(d) if d.len() == chunk.len() => chunk.copy_from_slice(&d),
                _ => return Err(BlockError::Io),
            }
        }
        Ok(())
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        if !data.len().is_multiple_of(SECTOR_SIZE) {
            return Err(BlockError::Unaligned);
        }
        let end = sector.checked_add((data.len() / SECTOR_SIZE) as u64).ok_or(BlockError::OutOfRange)?;
        if end > self.sectors {
            return Err(BlockError::OutOfRange);
        }
        let mut h = self.hv.try_borrow_mut().map_err(|_| BlockError::Io)?;
        for (i, chunk) in data.chunks(MAX_REQUEST_BYTES).enumerate() {
            let offset = sector * SECTOR_SIZE as u64 + (i * MAX_REQUEST_BYTES) as u64;
            self.front.write(&mut **h, offset, chunk, DISK_TIMEOUT_NS).map_err(|_| BlockError::Io)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        let mut h = self.hv.try_borrow_mut().map_err(|_| BlockError::Io)?;
        self.front.flush(&mut **h, DISK_TIMEOUT_NS).map_err(|_| BlockError::Io)
    }
}

/// The hardware TPM over `drivers::tpm_tis`.
pub struct TisTpm<'t, 'r, 'h, M: Mmio, X: Clock> {
    tis: &'t mut Tis<M>,
    hv: &'r SharedHv<'h, X>,
}

impl<'t, 'r, 'h, M: Mmio, X: Clock> TisTpm<'t, 'r, 'h, M, X> {
    /// The adapter for one or more commands.
    pub fn new(tis: &'t mut Tis<M>, hv: &'r SharedHv<'h, X>) -> Self {
        TisTpm { tis, hv }
    }
}

impl<M: Mmio, X: Clock> HardwareTpm for TisTpm<'_, '_, '_, M, X> {
    type Error = String;
    fn family(&self) -> Family {
        match self.tis.info().family {
            TpmFamily::Tpm12 => Family::Tpm12,
            TpmFamily::Tpm20 => Family::Tpm20,
        }
    }
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, String> {
        let mut h = self.hv.try_borrow_mut().map_err(|_| String::from("hypervisor handle busy"))?;
        self.tis.transmit(&mut **h, command).map_err(|e| format!("TIS: {e:?}"))
    }
}

/// The manager's service loop state: tpmback (serving every domain) and the service.
pub struct Manager<X: Xen, D: BlockDevice> {
    back: TpmBack<X>,
    service: Service<D, FrontendId>,
}

impl<X: Xen, D: BlockDevice> Manager<X, D> {
    /// Starts tpmback (watching `backend/vtpm`, every domain) in front of `service` and
    /// prints [`WAITING`].
    pub fn start(hv: &SharedHv<'_, X>, service: Service<D, FrontendId>, line: &mut dyn FnMut(&str)) -> Self {
        let mut back = TpmBack::<X>::new();
        back.set_binding(FrontendBinding::AnyDomain);
        match hv.try_borrow_mut() {
            Ok(mut h) => {
                if let Err(e) = back.start(&mut **h) {
                    line(&format!("ERROR[VTPM]: cannot watch backend/vtpm: {e:?}"));
                }
            }
            Err(_) => line("ERROR[VTPM]: hypervisor handle busy; cannot start tpmback"),
        }
        line(WAITING);
        Manager { back, service }
    }

    /// The service (its key store, who holds which uuid).
    pub fn service(&self) -> &Service<D, FrontendId> {
        &self.service
    }

    /// The backend (its connections and counters).
    pub fn backend(&self) -> &TpmBack<X> {
        &self.back
    }

    /// One iteration: tpmback's events (a detached frontend releases its uuid), then one
    /// round-robin pass of requests, each through the service with the hardware TPM. Returns
    /// the time to wait until (`None`: the hypervisor handle was busy; step again).
    pub fn step<M, R>(
        &mut self,
        hv: &SharedHv<'_, X>,
        tis: &mut Tis<M>,
        rng: &mut R,
        config: &HwConfig,
        line: &mut dyn FnMut(&str),
    ) -> Option<u64>
    where
        M: Mmio,
        R: CryptoRng + ?Sized,
    {
        {
            let mut h = hv.try_borrow_mut().ok()?;
            self.back.poll(&mut **h);
        }
        while let Some(ev) = self.back.take_event() {
            match ev {
                BackendEvent::Attached(id) => {
                    line(&format!("INFO[VTPM]: vTPM attached: Frontend {}/{}", id.domid.0, id.handle))
                }
                BackendEvent::Detached(id) => {
                    self.service.disconnect(id);
                    line(&format!("INFO[VTPM]: vTPM detached: Frontend {}/{}", id.domid.0, id.handle));
                }
                BackendEvent::Refused(..) => {}
            }
        }
        let budget = self.back.connected().max(1);
        let mut served = 0;
        while served < budget {
            let req = {
                let mut h = hv.try_borrow_mut().ok()?;
                self.back.next_request(&mut **h)
            };
            let Some(req) = req else { break };
            served += 1;
            let reply = {
                let mut tpm = TisTpm::new(tis, hv);
                zeroize::Zeroizing::new(self.service.handle(
                    req.frontend,
                    req.uuid,
                    &req.command,
                    &mut tpm,
                    rng,
                    config,
                ))
            };
            for n in self.service.take_notes() {
                line(&n);
            }
            let mut h = hv.try_borrow_mut().ok()?;
            if let Err(e) = self.back.respond(&mut **h, &req, &reply) {
                log::warn!("vtpmmgr: reply to {}/{} not delivered: {e:?}", req.frontend.domid.0, req.frontend.handle);
            }
        }
        let now = hv.try_borrow().ok()?.now_ns();
        Some(if served == budget { now } else { now + IDLE_WAIT_NS })
    }
}

/// Serves vtpms forever (xl shutdown is handled inside `Clock::wait_until`).
pub fn serve<X, M, D, R>(
    hv: &SharedHv<'_, X>,
    tis: &mut Tis<M>,
    service: Service<D, FrontendId>,
    rng: &mut R,
    config: &HwConfig,
    line: &mut dyn FnMut(&str),
) -> !
where
    X: Xen,
    M: Mmio,
    D: BlockDevice,
    R: CryptoRng + ?Sized,
{
    let mut m = Manager::start(hv, service, line);
    loop {
        if let Some(deadline) = m.step(hv, tis, rng, config, line)
            && let Ok(mut h) = hv.try_borrow_mut()
        {
            h.wait_until(deadline);
        }
    }
}

/// Opens the key store on `disk` with the hardware TPM; the console line to print either way.
pub fn open_store<D, M, X, R>(
    disk: D,
    tis: &mut Tis<M>,
    hv: &SharedHv<'_, X>,
    rng: &mut R,
    config: &HwConfig,
) -> Result<(KeyStore<D>, String), String>
where
    D: BlockDevice,
    M: Mmio,
    X: Clock,
    R: CryptoRng + ?Sized,
{
    let mut tpm = TisTpm::new(tis, hv);
    match KeyStore::boot(disk, &mut tpm, rng, config) {
        Ok((store, vtpmmgr_core::BootKind::FirstBoot)) => Ok((
            store,
            String::from("INFO[VTPM]: first boot: a new root is sealed to the hardware TPM and written to the disk"),
        )),
        Ok((store, vtpmmgr_core::BootKind::Restored { sequence })) => {
            let n = store.len();
            Ok((store, format!("INFO[VTPM]: key store loaded: {n} vTPM record(s), root sequence {sequence}")))
        }
        Err(f) => Err(format!("ERROR[VTPM]: {}; nothing was written", f.error)),
    }
}
