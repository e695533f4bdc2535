//! The manager's service loop, generic over the hypervisor (host-buildable): its disk over
//! blkfront ([`BlkDisk`], a `BlockDevice`), the hardware TPM's transport ([`TpmLink`]: TIS,
//! or tpmfront to a TPM another domain serves, [`FrontTpm`], `tpmdriver=tpmfront`) under the
//! hardware-TPM client ([`LinkTpm`], a `HardwareTpm`), and [`Manager`]: tpmback serving every
//! vtpm domain with `vtpmmgr_core::Service`, one [`Manager::step`] per loop iteration
//! ([`serve`] loops it; the host tests step it in the simulated Xen). Without a hardware TPM
//! (`tpmdriver=none`) the key store is opened with an administrator key
//! ([`open_store_with_admin_key`]) and served by [`Manager::step_without_tpm`].
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
use drivers::tpmback::{BackendEvent, FrontendBinding, FrontendId, Request, TpmBack};
use drivers::tpmfront::{FrontStyle, TpmFront};
use rand_chacha::rand_core::CryptoRng;
use tpm_frame::Family;
use vtpm_store::{BlockDevice, BlockError, SECTOR_SIZE};
use vtpmmgr_core::admin_key::{AdminKey, KdfParams};
use vtpmmgr_core::{HardwareTpm, HwConfig, KeyStore, Service};

/// The manager's disk: `hda` (`device/vbd/768`), as the C manager.
pub const VBD: &str = "device/vbd/768";
/// The key disk of `root_key=hdb` (`tpmdriver=none`): `hdb`, `device/vbd/832`.
pub const KEY_VBD: &str = "device/vbd/832";
/// `tpmdriver=tpmfront`: the manager's own vTPM frontend to the domain serving its TPM.
pub const HW_FRONT_NODE: &str = "device/vtpm/0";
/// How long one tpmfront connection attempt waits before the waiting line is repeated.
pub const FRONT_CONNECT_TIMEOUT_NS: u64 = 10_000_000_000;
/// The deadline of one hardware-TPM command over tpmfront (a TPM 2.0 CreatePrimary may take
/// seconds on a real chip).
pub const FRONT_COMMAND_TIMEOUT_NS: u64 = 120_000_000_000;
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
        Self::connect_to(hv, VBD, true)
    }

    /// Connects to `vbd` (e.g. [`KEY_VBD`]); `writable`: refuse a read-only disk.
    pub fn connect_to(
        hv: &'r SharedHv<'h, X>,
        vbd: &str,
        writable: bool,
    ) -> Result<(BlkDisk<'r, 'h, X>, DiskInfo), String> {
        let mut front = BlkFront::<X>::new(vbd);
        let info = {
            let mut h = hv.try_borrow_mut().map_err(|_| String::from("hypervisor handle busy"))?;
            front.connect(&mut **h, DISK_TIMEOUT_NS).map_err(|e| format!("cannot connect to {vbd}: {e:?}"))?
        };
        if info.sector_size as usize != SECTOR_SIZE {
            return Err(format!("{vbd} has {}-byte sectors; only 512 is supported", info.sector_size));
        }
        if writable && info.readonly() {
            return Err(format!("{vbd} is read-only"));
        }
        Ok((BlkDisk { hv, front, sectors: info.sectors }, info))
    }
}

/// `root_key=hdb`: the administrator key from the first sector of the key disk ([`KEY_VBD`],
/// which may be read-only).
pub fn read_key_disk<X: Xen>(hv: &SharedHv<'_, X>) -> Result<AdminKey, String> {
    let (mut d, _) = BlkDisk::connect_to(hv, KEY_VBD, false)?;
    let mut sector = zeroize::Zeroizing::new([0u8; SECTOR_SIZE]);
    d.read(0, &mut sector[..]).map_err(|e| format!("reading {KEY_VBD} failed ({e:?})"))?;
    AdminKey::from_key_disk(&sector[..]).map_err(|e| format!("{KEY_VBD}: {e}"))
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

/// The transport to the hardware TPM under the hardware-TPM client: one command frame in,
/// its response out, with the hypervisor for the duration of the call.
pub trait TpmLink<X> {
    /// TPM 1.2 or TPM 2.0, as the transport found it.
    fn family(&self) -> Family;
    /// Sends one command and waits for its response.
    fn transmit(&mut self, hv: &mut X, command: &[u8]) -> Result<Vec<u8>, String>;
}

impl<M: Mmio, X: Clock> TpmLink<X> for Tis<M> {
    fn family(&self) -> Family {
        match self.info().family {
            TpmFamily::Tpm12 => Family::Tpm12,
            TpmFamily::Tpm20 => Family::Tpm20,
        }
    }
    fn transmit(&mut self, hv: &mut X, command: &[u8]) -> Result<Vec<u8>, String> {
        Tis::transmit(self, hv, command).map_err(|e| format!("TIS: {e:?}"))
    }
}

/// `tpmdriver=tpmfront`: the hardware TPM is the one a backend domain serves on the manager's
/// own `device/vtpm/0` (e.g. a vtpm, or a TPM passed to another domain), reached with
/// `drivers::tpmfront` as a vtpm reaches the manager. Commands carry the `tpmlocality=`
/// locality and are limited to the shared page (4088 bytes; the manager's are far smaller).
pub struct FrontTpm<X: Xen> {
    front: TpmFront<X>,
    family: Family,
    backend: String,
}

/// `TPM2_GetRandom(8)`: a TPM 2.0 answers with its own tag (`TPM_ST_NO_SESSIONS`), even when
/// not started; a TPM 1.2 answers `TPM_BADTAG` under its tag `0x00C4`.
const FAMILY_PROBE: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8];

impl<X: Xen> FrontTpm<X> {
    /// Connects to [`HW_FRONT_NODE`], waiting as long as it takes (a line every
    /// [`FRONT_CONNECT_TIMEOUT_NS`]: the key store is not opened without the TPM), then asks
    /// which family answers (`tpm2`: the configuration expects a TPM 2.0; a mismatch is a
    /// warning line and the TPM's answer wins, as with TIS).
    pub fn connect(hv: &SharedHv<'_, X>, locality: u8, tpm2: bool, line: &mut dyn FnMut(&str)) -> FrontTpm<X> {
        let backend = match hv.try_borrow_mut() {
            Ok(mut h) => h
                .read(drivers::hv::XsTx::NONE, &format!("{HW_FRONT_NODE}/backend"))
                .map(|b| String::from(b.trim_end_matches('\0')))
                .unwrap_or_else(|_| String::from("(no backend path)")),
            Err(_) => String::from("(no backend path)"),
        };
        let mut next_line = 0;
        loop {
            let mut front = TpmFront::<X>::new(HW_FRONT_NODE);
            front.set_locality(locality);
            let (r, t0, now) = match hv.try_borrow_mut() {
                Ok(mut h) => {
                    let t0 = h.now_ns();
                    let r = front.connect(&mut **h, FrontStyle::MiniOs, FRONT_CONNECT_TIMEOUT_NS);
                    (r, t0, h.now_ns())
                }
                Err(_) => continue,
            };
            match r {
                Ok(()) => {
                    line(&format!(
                        "INFO[TPM]: tpmdriver=tpmfront: connected ({HW_FRONT_NODE} -> {backend}), locality {locality}"
                    ));
                    let mut t = FrontTpm { front, family: Family::Tpm12, backend };
                    t.probe_family(hv, tpm2, line);
                    return t;
                }
                Err(e) => {
                    if now >= next_line {
                        line(&format!(
                            "Info: waiting for the hardware TPM's backend ({HW_FRONT_NODE} -> {backend}: {e:?}); the key store is not opened until it answers"
                        ));
                        next_line = now.saturating_add(FRONT_CONNECT_TIMEOUT_NS);
                    }
                    let until = t0.saturating_add(1_000_000_000);
                    if let Ok(mut h) = hv.try_borrow_mut() {
                        while h.now_ns() < until {
                            h.wait_until(until);
                        }
                    }
                }
            }
        }
    }

    fn probe_family(&mut self, hv: &SharedHv<'_, X>, tpm2: bool, line: &mut dyn FnMut(&str)) {
        let answer = match hv.try_borrow_mut() {
            Ok(mut h) => {
                self.front.transact(&mut **h, &FAMILY_PROBE, FRONT_COMMAND_TIMEOUT_NS).map_err(|e| format!("{e:?}"))
            }
            Err(_) => Err(String::from("hypervisor handle busy")),
        };
        self.family = match answer {
            Ok(r) if tpm_frame::tag(&r) == Some(0x8001) => Family::Tpm20,
            Ok(_) => Family::Tpm12,
            Err(e) => {
                let f = if tpm2 { Family::Tpm20 } else { Family::Tpm12 };
                line(&format!("Warning: tpmdriver=tpmfront: the family probe got no answer ({e}); assuming {f:?}"));
                f
            }
        };
        let name = match self.family {
            Family::Tpm12 => "TPM 1.2",
            Family::Tpm20 => "TPM 2.0",
        };
        line(&format!("INFO[TPM]: hardware TPM over tpmfront ({}): {name}", self.backend));
        match (tpm2, self.family) {
            (true, Family::Tpm12) => line("Warning: tpm2=1 given, but the hardware TPM is a TPM 1.2"),
            (false, Family::Tpm20) => {
                line("Warning: the hardware TPM is a TPM 2.0 (the C manager needs tpm2=1 for it)")
            }
            _ => {}
        }
    }

    /// The backend directory (`device/vtpm/0/backend`).
    pub fn backend(&self) -> &str {
        &self.backend
    }
}

impl<X: Xen> TpmLink<X> for FrontTpm<X> {
    fn family(&self) -> Family {
        self.family
    }
    fn transmit(&mut self, hv: &mut X, command: &[u8]) -> Result<Vec<u8>, String> {
        self.front.transact(hv, command, FRONT_COMMAND_TIMEOUT_NS).map_err(|e| format!("tpmfront: {e:?}"))
    }
}

/// The hardware TPM (a [`TpmLink`] and the shared hypervisor) as the core's `HardwareTpm`.
pub struct LinkTpm<'t, 'r, 'h, L, X> {
    link: &'t mut L,
    hv: &'r SharedHv<'h, X>,
}

/// The hardware TPM over `drivers::tpm_tis`.
pub type TisTpm<'t, 'r, 'h, M, X> = LinkTpm<'t, 'r, 'h, Tis<M>, X>;

impl<'t, 'r, 'h, L: TpmLink<X>, X> LinkTpm<'t, 'r, 'h, L, X> {
    /// The adapter for one or more commands.
    pub fn new(link: &'t mut L, hv: &'r SharedHv<'h, X>) -> Self {
        LinkTpm { link, hv }
    }
}

impl<L: TpmLink<X>, X> HardwareTpm for LinkTpm<'_, '_, '_, L, X> {
    type Error = String;
    fn family(&self) -> Family {
        self.link.family()
    }
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, String> {
        let mut h = self.hv.try_borrow_mut().map_err(|_| String::from("hypervisor handle busy"))?;
        self.link.transmit(&mut **h, command)
    }
}

/// Who may send management requests: a frontend in dom0 (the toolstack's domain, where
/// `vtpmctl` runs). Never a vtpm: a guest's raw bytes forwarded by its vtpm come from the
/// vtpm's domain, not dom0.
pub fn is_management_frontend(id: &FrontendId) -> bool {
    id.domid.0 == 0
}

/// How one request is answered (with or without the hardware TPM).
type Answer<'a, D> = dyn FnMut(&mut Service<D, FrontendId>, &Request) -> Vec<u8> + 'a;

/// The manager's service loop state: tpmback (serving every domain) and the service.
pub struct Manager<X: Xen, D: BlockDevice> {
    back: TpmBack<X>,
    service: Service<D, FrontendId>,
}

impl<X: Xen, D: BlockDevice> Manager<X, D> {
    /// Starts tpmback (watching `backend/vtpm`, every domain) in front of `service` and
    /// prints [`WAITING`].
    /// Management requests (tag `0x01C2`) are accepted from the frontend in dom0 only
    /// ([`is_management_frontend`]).
    pub fn start(hv: &SharedHv<'_, X>, mut service: Service<D, FrontendId>, line: &mut dyn FnMut(&str)) -> Self {
        service.set_management_peer(is_management_frontend);
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
    /// round-robin pass of requests, each through the service with the hardware TPM (over
    /// `tpm`: TIS or tpmfront). Returns the time to wait until (`None`: the hypervisor handle
    /// was busy; step again).
    pub fn step<L, R>(
        &mut self,
        hv: &SharedHv<'_, X>,
        tpm: &mut L,
        rng: &mut R,
        config: &HwConfig,
        line: &mut dyn FnMut(&str),
    ) -> Option<u64>
    where
        L: TpmLink<X>,
        R: CryptoRng + ?Sized,
    {
        self.step_with(hv, line, &mut |service, req| {
            let mut t = LinkTpm::new(tpm, hv);
            service.handle(req.frontend, req.uuid, &req.command, &mut t, rng, config)
        })
    }

    /// As [`Manager::step`], for a manager without a hardware TPM (`tpmdriver=none`).
    pub fn step_without_tpm<R: CryptoRng + ?Sized>(
        &mut self,
        hv: &SharedHv<'_, X>,
        rng: &mut R,
        line: &mut dyn FnMut(&str),
    ) -> Option<u64> {
        self.step_with(hv, line, &mut |service, req| {
            service.handle_without_tpm(req.frontend, req.uuid, &req.command, rng)
        })
    }

    fn step_with(
        &mut self,
        hv: &SharedHv<'_, X>,
        line: &mut dyn FnMut(&str),
        answer: &mut Answer<'_, D>,
    ) -> Option<u64> {
        {
            let mut h = hv.try_borrow_mut().ok()?;
            self.back.tick(&mut **h);
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
                BackendEvent::Refused(..) | BackendEvent::Rebound { .. } => {}
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
            let reply = zeroize::Zeroizing::new(answer(&mut self.service, &req));
            for n in self.service.take_notes() {
                line(&n);
            }
            let mut h = hv.try_borrow_mut().ok()?;
            if let Err(e) = self.back.respond(&mut **h, &req, &reply) {
                log::warn!("vtpmmgr: reply to {}/{} not delivered: {e:?}", req.frontend.domid.0, req.frontend.handle);
            }
        }
        let now = hv.try_borrow().ok()?.now_ns();
        let idle = self.back.next_deadline().map_or(now + IDLE_WAIT_NS, |t| t.min(now + IDLE_WAIT_NS));
        Some(if served == budget { now } else { idle })
    }
}

/// Serves vtpms forever (xl shutdown is handled inside `Clock::wait_until`).
pub fn serve<X, L, D, R>(
    hv: &SharedHv<'_, X>,
    tpm: &mut L,
    service: Service<D, FrontendId>,
    rng: &mut R,
    config: &HwConfig,
    line: &mut dyn FnMut(&str),
) -> !
where
    X: Xen,
    L: TpmLink<X>,
    D: BlockDevice,
    R: CryptoRng + ?Sized,
{
    let mut m = Manager::start(hv, service, line);
    loop {
        if let Some(deadline) = m.step(hv, tpm, rng, config, line)
            && let Ok(mut h) = hv.try_borrow_mut()
        {
            h.wait_until(deadline);
        }
    }
}

/// As [`serve`], without a hardware TPM (`tpmdriver=none`).
pub fn serve_without_tpm<X, D, R>(
    hv: &SharedHv<'_, X>,
    service: Service<D, FrontendId>,
    rng: &mut R,
    line: &mut dyn FnMut(&str),
) -> !
where
    X: Xen,
    D: BlockDevice,
    R: CryptoRng + ?Sized,
{
    let mut m = Manager::start(hv, service, line);
    loop {
        if let Some(deadline) = m.step_without_tpm(hv, rng, line)
            && let Ok(mut h) = hv.try_borrow_mut()
        {
            h.wait_until(deadline);
        }
    }
}

fn store_line<D: BlockDevice>(
    r: Result<(KeyStore<D>, vtpmmgr_core::BootKind), vtpmmgr_core::BootFailure<D>>,
    first: &str,
) -> Result<(KeyStore<D>, String), String> {
    match r {
        Ok((store, vtpmmgr_core::BootKind::FirstBoot)) => Ok((store, String::from(first))),
        Ok((store, vtpmmgr_core::BootKind::Restored { sequence })) => {
            let n = store.len();
            Ok((store, format!("INFO[VTPM]: key store loaded: {n} vTPM record(s), root sequence {sequence}")))
        }
        Err(f) => Err(format!("ERROR[VTPM]: {}; nothing was written", f.error)),
    }
}

/// Opens the key store on `disk` with the hardware TPM (over `tpm`: TIS or tpmfront); the
/// console line to print either way.
pub fn open_store<D, L, X, R>(
    disk: D,
    tpm: &mut L,
    hv: &SharedHv<'_, X>,
    rng: &mut R,
    config: &HwConfig,
) -> Result<(KeyStore<D>, String), String>
where
    D: BlockDevice,
    L: TpmLink<X>,
    R: CryptoRng + ?Sized,
{
    let mut t = LinkTpm::new(tpm, hv);
    store_line(
        KeyStore::boot(disk, &mut t, rng, config),
        "INFO[VTPM]: first boot: a new root is sealed to the hardware TPM and written to the disk",
    )
}

/// Opens the key store on `disk` without a hardware TPM, with the administrator's `key`; the
/// console line to print either way.
pub fn open_store_with_admin_key<D, R>(
    disk: D,
    key: &AdminKey,
    kdf: KdfParams,
    rng: &mut R,
) -> Result<(KeyStore<D>, String), String>
where
    D: BlockDevice,
    R: CryptoRng + ?Sized,
{
    store_line(
        KeyStore::boot_with_admin_key(disk, key, kdf, rng),
        "INFO[VTPM]: first boot: a new root is wrapped by the administrator key and written to the disk",
    )
}
