//! A model of Linux's xen-tpmfront plus the TPM core around it (fact sheet §2.5, §3.5, §3.6),
//! written from those facts, to run against our tpmback:
//!
//! - probe: grant one zeroed page, allocate an unbound port for the backend, write `ring-ref`,
//!   `event-channel` and `feature-protocol-v2` in one transaction, state 3, and **at once**
//!   send `GetCapability(0x115)` then `(0x120)` — before the backend has connected, so the
//!   first notify is dropped;
//! - no interrupt: status is polled every 5 ms (`TPM_TIMEOUT`); a command waits up to its
//!   duration (120 s until durations are known), then is cancelled (`-ETIME`);
//! - `recv` requires `len >= 10 && len == paramSize` (`-EFAULT`), IDLE means `-ECANCELED`;
//! - backend 3/4 → require `feature-protocol-v2`, state 4; backend 5/6 → state 6.
//!
//! Blocking calls drive the whole simulated machine while "sleeping" 5 ms at a time.

use drivers::hv::{Clock, EventChannels, GrantTable, PageAccess, XenStore, XsTx};
use drivers::hv::{DomId, EvtchnPort};

use crate::fake_tpm::get_capability_prop;
use crate::simxen::{SimDomain, SimPage, World};

/// Linux errnos the model returns.
pub const ETIME: i32 = 62;
/// `-EFAULT`.
pub const EFAULT: i32 = 14;
/// `-ECANCELED`.
pub const ECANCELED: i32 = 125;
/// `-EINVAL`.
pub const EINVAL: i32 = 22;
/// `-ENODEV`.
pub const ENODEV: i32 = 19;

const TPM_TIMEOUT_NS: u64 = 5_000_000;
const NODENAME: &str = "device/vtpm/0";
const TOKEN: &str = "linux-otherend";

/// The modelled device.
pub struct LinuxTpmFront {
    dom: SimDomain,
    world: World,
    page: SimPage,
    /// Our local port.
    pub port: EvtchnPort,
    backend: String,
    /// Frontend xenbus state we wrote last.
    pub fe_state: u8,
    /// TIS timeouts (ns) A..D; `timeout_c` is used for waits on "ready".
    pub timeouts_ns: [u64; 4],
    /// Short/medium/long durations (ns); until known, 120 s.
    pub durations_ns: [u64; 3],
    /// Virtual time from probe start to the end of the probe-time commands.
    pub probe_ns: u64,
    /// Number of CANCELs written.
    pub cancels: u32,
}

fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes(b[o..o + 4].try_into().unwrap())
}

/// The driver's remove (device detached): its watch on the backend's state goes.
impl Drop for LinuxTpmFront {
    fn drop(&mut self) {
        let _ = self.dom.unwatch(&format!("{}/state", self.backend), TOKEN);
    }
}

impl LinuxTpmFront {
    /// `tpmfront_probe`: set up the ring and run `tpm_get_timeouts` right away.
    pub fn probe(world: &World, fe: u16) -> Result<LinuxTpmFront, i32> {
        let mut dom = world.domain(fe);
        let start = world.now();
        let backend = dom.read(XsTx::NONE, &format!("{NODENAME}/backend")).map_err(|_| ENODEV)?;
        let be_id: u16 =
            dom.read(XsTx::NONE, &format!("{NODENAME}/backend-id")).map_err(|_| ENODEV)?.parse().map_err(|_| ENODEV)?;
        let page = dom.alloc_page().map_err(|_| ENODEV)?;
        let gref = dom.grant_foreign_access(&page, DomId(be_id), false).map_err(|_| ENODEV)?;
        let port = dom.alloc_unbound(DomId(be_id)).map_err(|_| ENODEV)?;
        loop {
            let t = dom.transaction_start().map_err(|_| ENODEV)?;
            dom.write(t, &format!("{NODENAME}/ring-ref"), &gref.0.to_string()).map_err(|_| ENODEV)?;
            dom.write(t, &format!("{NODENAME}/event-channel"), &port.0.to_string()).map_err(|_| ENODEV)?;
            dom.write(t, &format!("{NODENAME}/feature-protocol-v2"), "1").map_err(|_| ENODEV)?;
            match dom.transaction_end(t, true) {
                Ok(()) => break,
                Err(drivers::hv::XsError::Again) => continue,
                Err(_) => return Err(ENODEV),
            }
        }
        dom.write(XsTx::NONE, &format!("{NODENAME}/state"), "3").map_err(|_| ENODEV)?;
        dom.watch(&format!("{backend}/state"), TOKEN).map_err(|_| ENODEV)?;
        let mut me = LinuxTpmFront {
            dom,
            world: world.clone(),
            page,
            port,
            backend,
            fe_state: 3,
            timeouts_ns: [750_000_000, 2_000_000_000, 750_000_000, 750_000_000],
            durations_ns: [120_000_000_000; 3],
            probe_ns: 0,
            cancels: 0,
        };
        me.get_timeouts()?;
        me.probe_ns = world.now() - start;
        Ok(me)
    }

    /// `tpm1_get_timeouts`.
    fn get_timeouts(&mut self) -> Result<(), i32> {
        let r = self.transmit(&get_capability_prop(0x115))?;
        if be32(&r, 6) != 0 || r.len() < 30 {
            return Err(EINVAL);
        }
        let mut t: Vec<u64> = (0..4).map(|i| u64::from(be32(&r, 14 + 4 * i))).collect();
        if t[0] < 1000 {
            t.iter_mut().for_each(|v| *v *= 1000);
        }
        for (i, v) in t.into_iter().enumerate() {
            if v != 0 {
                self.timeouts_ns[i] = v * 1000;
            }
        }
        let r = self.transmit(&get_capability_prop(0x120))?;
        if be32(&r, 6) != 0 || r.len() < 26 {
            return Err(EINVAL);
        }
        let mut d: Vec<u64> = (0..3).map(|i| u64::from(be32(&r, 14 + 4 * i)) * 1000).collect();
        if d[0] < 10_000_000 {
            d[0] = 1_000_000_000;
            d[1] *= 1000;
            d[2] *= 1000;
        }
        self.durations_ns = [d[0], d[1], d[2]];
        Ok(())
    }

    /// The duration the TPM core allows for an ordinal (simplified classification).
    pub fn duration_for(&self, ordinal: u32) -> u64 {
        match ordinal {
            0x14 | 0x15 | 0x65 | 0x46 => self.durations_ns[0],
            _ => self.durations_ns[2],
        }
    }

    fn state_byte(&self) -> u8 {
        self.page.read_u8(4).unwrap()
    }

    /// The xenbus `otherend_changed` handler.
    fn otherend_changed(&mut self) {
        while self.dom.next_watch_event(TOKEN).is_some() {}
        let be: u8 = self.world.xs(&format!("{}/state", self.backend)).and_then(|s| s.parse().ok()).unwrap_or(0);
        match be {
            3 | 4 if self.fe_state != 4 => {
                let v2 = self
                    .dom
                    .read(XsTx::NONE, &format!("{}/feature-protocol-v2", self.backend))
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
                    .unwrap_or(0);
                if v2 == 0 {
                    self.set_state(6); // "vTPM protocol 2 required"
                } else {
                    self.set_state(4);
                }
            }
            5 | 6 if self.fe_state != 6 => self.set_state(6),
            _ => {}
        }
    }

    fn set_state(&mut self, s: u8) {
        self.fe_state = s;
        let _ = self.dom.write(XsTx::NONE, &format!("{NODENAME}/state"), &s.to_string());
    }

    /// "Sleeps" one `TPM_TIMEOUT`: the rest of the machine runs, time advances 5 ms.
    fn msleep(&mut self) {
        self.world.step_except(Some(self.dom.id));
        self.world.advance(TPM_TIMEOUT_NS);
        let _ = self.dom.take_pending(self.port);
        self.otherend_changed();
    }

    /// Polls until the status is IDLE or FINISH ("ready"), at most `limit_ns`.
    fn wait_ready(&mut self, limit_ns: u64) -> bool {
        let end = self.dom.now_ns() + limit_ns;
        loop {
            if matches!(self.state_byte(), 0 | 2) {
                return true;
            }
            if self.dom.now_ns() >= end {
                return false;
            }
            self.msleep();
        }
    }

    /// `vtpm_cancel`.
    pub fn cancel(&mut self) {
        self.page.write(4, &[3]).unwrap();
        self.cancels += 1;
        let _ = self.dom.notify(self.port);
    }

    /// `tpm_transmit` with the duration of the command's ordinal.
    pub fn transmit(&mut self, cmd: &[u8]) -> Result<Vec<u8>, i32> {
        let d = self.duration_for(be32(cmd, 6));
        self.transmit_with_duration(cmd, d)
    }

    /// `vtpm_send` + wait + `vtpm_recv` + the core's paramSize check.
    pub fn transmit_with_duration(&mut self, cmd: &[u8], duration_ns: u64) -> Result<Vec<u8>, i32> {
        // vtpm_send
        if !self.wait_ready(self.timeouts_ns[2]) {
            self.cancel();
            return Err(ETIME);
        }
        let offset = 8 + 4 * usize::from(self.page.read_u8(7).unwrap());
        if offset + cmd.len() > 4096 {
            return Err(EINVAL);
        }
        self.page.write(offset, cmd).unwrap();
        self.page.write_u32_le(0, cmd.len() as u32).unwrap();
        self.page.write(4, &[1]).unwrap();
        let _ = self.dom.notify(self.port);
        // the core waits for "complete" (FINISH) or "canceled" (IDLE), polling every 5 ms; as
        // in `tpm_try_transmit`, the time is checked after each sleep without another look at
        // the status, so an answer that lands in the last sleep still times out
        let end = self.dom.now_ns() + duration_ns;
        loop {
            match self.state_byte() {
                0 | 2 => break,
                _ => {}
            }
            self.msleep();
            if self.dom.now_ns() >= end {
                self.cancel();
                return Err(ETIME);
            }
        }
        // vtpm_recv
        if self.state_byte() == 0 {
            return Err(ECANCELED);
        }
        let length = self.page.read_u32_le(0).unwrap() as usize;
        let n = length.min(4096 - offset);
        let mut buf = vec![0u8; n];
        self.page.read(offset, &mut buf).unwrap();
        if buf.len() < 10 || be32(&buf, 2) as usize != buf.len() {
            return Err(EFAULT);
        }
        Ok(buf)
    }

    /// Frontend domain id.
    pub fn domid(&self) -> u16 {
        self.dom.id
    }
}
