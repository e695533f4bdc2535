//! tpm_tis: the TIS 1.2 / PTP FIFO driver for a hardware TPM (1.2 or 2.0) behind an MMIO
//! window, polling only (the C driver's `tpmirq=0`) (fact sheet §6).
//!
//! The window starts at the TIS base (`tpmiomem`, default 0xFED40000): locality `l`'s registers
//! are at `l · 0x1000`. The driver requests its locality (seizing it from a lower locality
//! that keeps it past timeout A, as firmware that never relinquishes locality 0 does; see
//! [`locality`]), logs DID/VID/RID and INTF_CAPS, tells
//! TPM 1.2 from 2.0 by sending a TPM 2.0 `GetCapability` (a 1.2 chip answers with a 1.2 tag, as
//! Linux's `tpm2_probe` relies on), starts a TPM that no firmware started (TPM_Startup /
//! TPM2_Startup on `INVALID_POSTINIT` / `TPM_RC_INITIALIZE`, as Linux does), reads the 1.2
//! chip's timeouts and durations, and then moves
//! commands through the FIFO: command ready (B), burst-count chunks (D) with `Expect` checked
//! after each chunk (C), GO, polling for `dataAvail` for the ordinal's duration (cancelling with
//! `commandReady` when it runs out), and reading the response by its paramSize. After each
//! response the locality is released if another locality is waiting.
//!
//! Every wait has a deadline. Waiting uses [`Clock::wait_until`] in short steps.

pub mod locality;
pub mod regs;
pub mod timing;
pub mod version;

use alloc::vec;
use alloc::vec::Vec;

pub use regs::{NR_LOCALITIES, TIS_BASE, at, interface_version, sts_family};
pub use timing::{Class, Timeouts, tpm12_class, tpm20_class};

use crate::hv::{Clock, Mmio};
use crate::tpm_frame;
use regs::*;

/// Largest response accepted.
pub const MAX_RESPONSE: usize = 4096;

/// TPM family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TpmFamily {
    /// TPM 1.2.
    Tpm12,
    /// TPM 2.0.
    Tpm20,
}

/// What the chip says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChipInfo {
    /// Device id.
    pub did: u16,
    /// Vendor id.
    pub vid: u16,
    /// Revision id.
    pub rid: u8,
    /// `TPM_INTF_CAPABILITY`.
    pub intf_caps: u32,
    /// 1.2 or 2.0.
    pub family: TpmFamily,
}

/// Why a TIS operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TisError {
    /// Locality not in 0..=4.
    BadLocality,
    /// Nothing answers at the window (DID/VID all ones or zero).
    NoDevice,
    /// A higher locality (`by`) holds the TPM past timeout A; a lower locality cannot seize it.
    LocalityHeld {
        /// The active locality.
        by: u8,
    },
    /// The locality was not granted within timeout A and the TPM ignored our `Seize` (the
    /// holder is not visible in our window and is probably a higher locality).
    SeizeRefused,
    /// `commandReady` did not come within timeout B.
    CommandReadyTimeout,
    /// `stsValid` did not come within timeout C.
    StatusTimeout,
    /// burstCount stayed 0 for timeout D.
    BurstTimeout,
    /// The TPM stopped expecting data early, or still expected data at the end.
    ExpectMismatch,
    /// The command ran longer than its duration and was cancelled.
    DurationExceeded,
    /// The TPM went back to `commandReady` without a response (cancelled).
    Cancelled,
    /// The response header is missing or its paramSize is out of range, or data was left over.
    BadResponse,
    /// Command empty or too large.
    BadCommand,
}

/// A TPM behind TIS, with its locality held.
pub struct Tis<M: Mmio> {
    mmio: M,
    locality: u8,
    timeouts: Timeouts,
    info: ChipInfo,
}

const POLL_MIN_NS: u64 = 50_000;

/// `TPM_INVALID_POSTINIT`: a TPM 1.2 that has not seen TPM_Startup.
const TPM_INVALID_POSTINIT: u32 = 38;
/// `TPM_RC_INITIALIZE`: a TPM 2.0 that has not seen TPM2_Startup.
const TPM2_RC_INITIALIZE: u32 = 0x100;
/// `TPM_Startup(TPM_ST_CLEAR)`.
const TPM_STARTUP_CLEAR: [u8; 12] = [0x00, 0xC1, 0, 0, 0, 12, 0, 0, 0, 0x99, 0, 1];
/// `TPM2_Startup(TPM_SU_CLEAR)`.
const TPM2_STARTUP_CLEAR: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0];
/// `TPM2_SelfTest(fullTest = YES)`.
const TPM2_SELF_TEST: [u8; 11] = [0x80, 0x01, 0, 0, 0, 0x0B, 0, 0, 0x01, 0x43, 0x01];

/// `TPM_GetCapability(TPM_CAP_PROPERTY, sub)`.
fn get_cap_prop_cmd(sub: u32) -> Vec<u8> {
    let mut cmd = vec![0x00, 0xC1, 0, 0, 0, 22, 0, 0, 0, 0x65, 0, 0, 0, 5, 0, 0, 0, 4];
    cmd.extend_from_slice(&sub.to_be_bytes());
    cmd
}
const POLL_MAX_NS: u64 = 5_000_000;

impl<M: Mmio> Tis<M> {
    /// Opens the TPM at `locality`: request it, identify the chip, tell 1.2 from 2.0, read
    /// timeouts (1.2) and start the self test (`ContinueSelfTest` / `TPM2_SelfTest`).
    pub fn probe<C: Clock + ?Sized>(mmio: M, clock: &mut C, locality: u8) -> Result<Self, TisError> {
        if locality >= NR_LOCALITIES {
            return Err(TisError::BadLocality);
        }
        let mut t = Tis {
            mmio,
            locality,
            timeouts: Timeouts::TPM12_DEFAULT,
            info: ChipInfo { did: 0, vid: 0, rid: 0, intf_caps: 0, family: TpmFamily::Tpm12 },
        };
        let did_vid = t.mmio.read32(at(locality, DID_VID));
        if did_vid == 0 || did_vid == u32::MAX {
            return Err(TisError::NoDevice);
        }
        t.request_locality(clock)?;
        t.info.did = (did_vid >> 16) as u16;
        t.info.vid = did_vid as u16;
        t.info.rid = t.mmio.read8(at(locality, RID));
        t.info.intf_caps = t.mmio.read32(at(locality, INTF_CAPS));
        // Polling only: no interrupt sources enabled.
        t.mmio.write32(at(locality, INT_ENABLE), 0);
        let sts32 = t.mmio.read32(at(locality, STS));
        log::info!(
            "tpm_tis: locality {}: DID {:#06x} VID {:#06x} RID {:#04x} INTF_CAPS {:#010x} (interface version {}, STS family {})",
            locality,
            t.info.did,
            t.info.vid,
            t.info.rid,
            t.info.intf_caps,
            interface_version(t.info.intf_caps),
            sts_family(sts32)
        );
        t.info.family = t.detect_family(clock)?;
        match t.info.family {
            TpmFamily::Tpm20 => {
                t.timeouts = Timeouts::TPM20;
                log::info!("tpm_tis: TPM 2.0");
                // TPM2_SelfTest(fullTest = YES); a TPM nobody started (no firmware did) answers
                // TPM_RC_INITIALIZE: then TPM2_Startup(SU_CLEAR) and test again (as Linux does).
                let r = t.transmit(clock, &TPM2_SELF_TEST).ok().and_then(|r| tpm_frame::ordinal(&r));
                if r == Some(TPM2_RC_INITIALIZE) {
                    let s = t.transmit(clock, &TPM2_STARTUP_CLEAR).ok().and_then(|r| tpm_frame::ordinal(&r));
                    log::info!("tpm_tis: TPM 2.0 was not started; TPM2_Startup(SU_CLEAR) → {:?}", s);
                    let r = t.transmit(clock, &TPM2_SELF_TEST).ok().and_then(|r| tpm_frame::ordinal(&r));
                    log::debug!("tpm_tis: TPM2_SelfTest → {:?}", r);
                } else {
                    log::debug!("tpm_tis: TPM2_SelfTest → {:?}", r);
                }
            }
            TpmFamily::Tpm12 => {
                log::info!("tpm_tis: TPM 1.2");
                t.read_tpm12_timeouts(clock);
                // TPM_ContinueSelfTest
                let r = t.transmit(clock, &[0x00, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x53]);
                log::debug!("tpm_tis: TPM_ContinueSelfTest: {:?}", r.as_ref().map(|r| tpm_frame::ordinal(r)));
            }
        }
        Ok(t)
    }

    /// Chip identity.
    pub fn info(&self) -> ChipInfo {
        self.info
    }

    /// Current timeouts and durations.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The locality we use.
    pub fn locality(&self) -> u8 {
        self.locality
    }

    /// Gives the MMIO window back (the locality stays as it is).
    pub fn into_inner(self) -> M {
        self.mmio
    }

    fn access(&mut self) -> u8 {
        self.mmio.read8(at(self.locality, ACCESS))
    }

    fn sts(&mut self) -> u8 {
        self.mmio.read8(at(self.locality, STS))
    }

    fn burst_count(&mut self) -> usize {
        let lo = self.mmio.read8(at(self.locality, BURST_COUNT_LO));
        let hi = self.mmio.read8(at(self.locality, BURST_COUNT_HI));
        usize::from(u16::from_le_bytes([lo, hi]))
    }

    /// Polls `cond` until it holds or `timeout_ns` passes, sleeping in growing steps.
    fn wait<C: Clock + ?Sized>(
        &mut self,
        clock: &mut C,
        timeout_ns: u64,
        mut cond: impl FnMut(&mut Self) -> bool,
    ) -> bool {
        let deadline = clock.now_ns().saturating_add(timeout_ns);
        let mut step = POLL_MIN_NS;
        loop {
            if cond(self) {
                return true;
            }
            let now = clock.now_ns();
            if now >= deadline {
                return cond(self);
            }
            clock.wait_until(deadline.min(now.saturating_add(step)));
            step = (step * 2).min(POLL_MAX_NS);
        }
    }

    /// Aborts the command in progress (`commandReady`).
    pub fn cancel(&mut self) {
        self.mmio.write8(at(self.locality, STS), STS_COMMAND_READY);
    }

    fn duration(&self, cmd: &[u8]) -> u64 {
        let Some(ord) = tpm_frame::ordinal(cmd) else { return timing::FALLBACK_DURATION_NS };
        let class = match self.info.family {
            TpmFamily::Tpm12 => tpm12_class(ord),
            TpmFamily::Tpm20 => tpm20_class(ord),
        };
        let d = self.timeouts.durations[class as usize];
        if d == 0 { timing::FALLBACK_DURATION_NS } else { d }
    }

    /// Sends one command and returns the response.
    pub fn transmit<C: Clock + ?Sized>(&mut self, clock: &mut C, cmd: &[u8]) -> Result<Vec<u8>, TisError> {
        if cmd.len() < tpm_frame::HEADER_LEN || cmd.len() > MAX_RESPONSE {
            return Err(TisError::BadCommand);
        }
        self.request_locality(clock)?;
        if let Err(e) = self.send(clock, cmd) {
            self.cancel();
            return Err(e);
        }
        let dur = self.duration(cmd);
        let mut cancelled = false;
        let done = self.wait(clock, dur, |t| {
            let s = t.sts();
            if s & (STS_VALID | STS_DATA_AVAIL) == STS_VALID | STS_DATA_AVAIL {
                return true;
            }
            if s == STS_COMMAND_READY || s == STS_VALID | STS_COMMAND_READY {
                cancelled = true;
                return true;
            }
            false
        });
        if cancelled {
            return Err(TisError::Cancelled);
        }
        if !done {
            log::warn!("tpm_tis: command {:?} exceeded its duration; cancelling", tpm_frame::ordinal(cmd));
            self.cancel();
            return Err(TisError::DurationExceeded);
        }
        let r = self.recv(clock);
        self.cancel(); // back to idle / ready for the next command
        if self.access() & ACCESS_REQUEST_PENDING != 0 {
            self.release_locality();
        }
        r
    }

    fn send<C: Clock + ?Sized>(&mut self, clock: &mut C, cmd: &[u8]) -> Result<(), TisError> {
        if self.sts() & STS_COMMAND_READY == 0 {
            self.cancel();
            let b = self.timeouts.abcd[1];
            if !self.wait(clock, b, |t| t.sts() & STS_COMMAND_READY != 0) {
                return Err(TisError::CommandReadyTimeout);
            }
        }
        let mut sent = 0;
        while sent < cmd.len() - 1 {
            let burst = self.wait_burst(clock)?;
            let n = burst.min(cmd.len() - 1 - sent);
            for &b in &cmd[sent..sent + n] {
                self.mmio.write8(at(self.locality, DATA_FIFO), b);
            }
            sent += n;
            if self.valid_sts(clock)? & STS_DATA_EXPECT == 0 {
                return Err(TisError::ExpectMismatch);
            }
        }
        self.wait_burst(clock)?;
        self.mmio.write8(at(self.locality, DATA_FIFO), cmd[cmd.len() - 1]);
        if self.valid_sts(clock)? & STS_DATA_EXPECT != 0 {
            return Err(TisError::ExpectMismatch);
        }
        self.mmio.write8(at(self.locality, STS), STS_GO);
        Ok(())
    }

    fn wait_burst<C: Clock + ?Sized>(&mut self, clock: &mut C) -> Result<usize, TisError> {
        let d = self.timeouts.abcd[3];
        let mut burst = 0;
        if self.wait(clock, d, |t| {
            burst = t.burst_count();
            burst > 0
        }) {
            Ok(burst)
        } else {
            Err(TisError::BurstTimeout)
        }
    }

    fn valid_sts<C: Clock + ?Sized>(&mut self, clock: &mut C) -> Result<u8, TisError> {
        let c = self.timeouts.abcd[2];
        let mut s = 0;
        if self.wait(clock, c, |t| {
            s = t.sts();
            s & STS_VALID != 0
        }) {
            Ok(s)
        } else {
            Err(TisError::StatusTimeout)
        }
    }

    fn read_fifo<C: Clock + ?Sized>(&mut self, clock: &mut C, buf: &mut [u8]) -> Result<(), TisError> {
        let mut got = 0;
        while got < buf.len() {
            let c = self.timeouts.abcd[2];
            let avail = STS_VALID | STS_DATA_AVAIL;
            if !self.wait(clock, c, |t| t.sts() & avail == avail) {
                return Err(TisError::BadResponse);
            }
            let burst = self.wait_burst(clock)?;
            let n = burst.min(buf.len() - got);
            for b in &mut buf[got..got + n] {
                *b = self.mmio.read8(at(self.locality, DATA_FIFO));
            }
            got += n;
        }
        Ok(())
    }

    fn recv<C: Clock + ?Sized>(&mut self, clock: &mut C) -> Result<Vec<u8>, TisError> {
        let mut hdr = [0u8; tpm_frame::HEADER_LEN];
        self.read_fifo(clock, &mut hdr)?;
        let size = tpm_frame::param_size(&hdr).ok_or(TisError::BadResponse)? as usize;
        if !(tpm_frame::HEADER_LEN..=MAX_RESPONSE).contains(&size) {
            return Err(TisError::BadResponse);
        }
        let mut resp = vec![0u8; size];
        resp[..tpm_frame::HEADER_LEN].copy_from_slice(&hdr);
        self.read_fifo(clock, &mut resp[tpm_frame::HEADER_LEN..])?;
        if self.valid_sts(clock)? & STS_DATA_AVAIL != 0 {
            return Err(TisError::BadResponse);
        }
        Ok(resp)
    }

    /// Sends `TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES, TPM_PT_FAMILY_INDICATOR, 1)`: a 2.0
    /// chip answers with tag `TPM_ST_NO_SESSIONS` (0x8001), a 1.2 chip with a 1.2 tag.
    fn detect_family<C: Clock + ?Sized>(&mut self, clock: &mut C) -> Result<TpmFamily, TisError> {
        let cmd = [0x80, 0x01, 0, 0, 0, 22, 0, 0, 0x01, 0x7A, 0, 0, 0, 6, 0, 0, 0x01, 0x00, 0, 0, 0, 1];
        let saved = self.timeouts;
        self.timeouts.durations = [crate::hv::ms(750); 4];
        let r = self.transmit(clock, &cmd);
        self.timeouts = saved;
        let r = r?;
        Ok(if tpm_frame::tag(&r) == Some(0x8001) { TpmFamily::Tpm20 } else { TpmFamily::Tpm12 })
    }

    /// `TPM_GetCapability(TPM_CAP_PROPERTY, 0x115 / 0x120)`; failures keep the defaults.
    fn read_tpm12_timeouts<C: Clock + ?Sized>(&mut self, clock: &mut C) {
        let mut timeouts = self.get_cap_prop::<C, 4>(clock, 0x115);
        if timeouts == Err(Some(TPM_INVALID_POSTINIT)) {
            // Not started (no firmware did it): TPM_Startup(ST_CLEAR), as Linux does here.
            let r = self.transmit(clock, &TPM_STARTUP_CLEAR).ok().and_then(|r| tpm_frame::ordinal(&r));
            log::info!("tpm_tis: TPM 1.2 was not started; TPM_Startup(ST_CLEAR) → {:?}", r);
            timeouts = self.get_cap_prop::<C, 4>(clock, 0x115);
        }
        if let Ok(v) = timeouts {
            self.timeouts.apply_tpm12_timeouts(v);
        }
        if let Ok(v) = self.get_cap_prop::<C, 3>(clock, 0x120) {
            self.timeouts.apply_tpm12_durations(v);
        } else {
            // The C driver's defaults when the chip does not say.
            self.timeouts.durations = Timeouts::TPM12_DEFAULT.durations;
        }
        log::info!(
            "tpm_tis: timeouts A-D {:?} ns, durations {:?} ns",
            self.timeouts.abcd,
            &self.timeouts.durations[..3]
        );
    }

    /// `N` u32 values of a capability property; `Err(Some(rc))` for a TPM error, `Err(None)`
    /// for a transport failure or a short answer.
    fn get_cap_prop<C: Clock + ?Sized, const N: usize>(
        &mut self,
        clock: &mut C,
        sub: u32,
    ) -> Result<[u32; N], Option<u32>> {
        let r = self.transmit(clock, &get_cap_prop_cmd(sub)).map_err(|_| None)?;
        match tpm_frame::ordinal(&r) {
            Some(0) => {}
            rc => return Err(rc),
        }
        if r.len() < 14 + 4 * N {
            return Err(None);
        }
        let mut out = [0u32; N];
        for (i, o) in out.iter_mut().enumerate() {
            let b = &r[14 + 4 * i..18 + 4 * i];
            *o = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(out)
    }
}
