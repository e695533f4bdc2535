//! [`TpmifTransport`]: the guest's TPM commands to its vtpm stub domain over tpmif, from dom0
//! user space. The link is vtpmctl's ([`vtpmctl::mgmt_link::FrontLink`]: `drivers::tpmfront`
//! over `xen-dom0`, the same code a vtpm uses to reach its manager), found the way vtpmctl
//! finds its link to a manager ([`vtpmctl::mgmt_link::find_device`]: dom0's
//! `device/vtpm/N` whose backend is the vtpm's domain, attached once with
//! `xl vtpm-attach 0 backend=VTPM`). Nothing of the tpmif protocol is written here.
//!
//! A vtpm that goes away (its backend Closing or Closed, its directory gone, no answer within
//! the timeout) fails the command in flight and the link is dropped; the next command tries
//! to connect again, at most every [`RECONNECT_EVERY`], so a restarted vtpm is picked up and a
//! missing one costs the guest a quick failure, not a hang.

use core::task::Poll;
use std::path::Path;
use std::time::{Duration, Instant};

use drivers::tpmfront::TpmFrontError;
use vtpmctl::mgmt_link::FrontLink;
use xen_hv::Xen;

use crate::transport::{PowerOn, TpmTransport, TransportError};

/// How often a lost vtpm is looked for again.
pub const RECONNECT_EVERY: Duration = Duration::from_secs(2);
/// How often a command in flight checks that the backend is still there.
const BACKEND_CHECK: Duration = Duration::from_millis(500);
/// The largest command on the tpmif page (4096 − 8 bytes of header).
const MAX_PACKET: usize = 4088;

/// Makes a connected link (a fresh dom0 handle and the device's node each time).
pub type Connector<X> = Box<dyn FnMut() -> Result<FrontLink<X>, String>>;

/// A vtpm stub domain behind dom0's tpmfront.
pub struct TpmifTransport<X: Xen> {
    what: String,
    connect: Connector<X>,
    link: Option<FrontLink<X>>,
    timeout: Duration,
    last_attempt: Option<Instant>,
    /// When the command in flight was sent and when the backend was last checked.
    inflight: Option<(Instant, Instant)>,
}

impl<X: Xen> TpmifTransport<X> {
    /// A transport named `what` (for the log) that connects with `connect`.
    pub fn new(what: &str, connect: Connector<X>, timeout: Duration) -> Self {
        TpmifTransport { what: what.to_string(), connect, link: None, timeout, last_attempt: None, inflight: None }
    }

    /// Connects now if not connected (at most every [`RECONNECT_EVERY`]).
    pub fn ensure_connected(&mut self) -> Result<(), TransportError> {
        if self.link.is_some() {
            return Ok(());
        }
        if let Some(t) = self.last_attempt
            && t.elapsed() < RECONNECT_EVERY
        {
            return Err(TransportError::Gone(format!("{} is not connected (next attempt within 2 s)", self.what)));
        }
        self.last_attempt = Some(Instant::now());
        let link = (self.connect)().map_err(TransportError::Gone)?;
        self.link = Some(link);
        Ok(())
    }

    fn drop_link(&mut self, why: String) -> TransportError {
        self.inflight = None;
        self.link = None; // FrontLink's Drop closes (or abandons) the frontend
        self.last_attempt = None; // the next command may look for a restarted vtpm at once
        TransportError::Gone(why)
    }

    /// Whether the link is up.
    pub fn is_connected(&self) -> bool {
        self.link.is_some()
    }
}

fn front_error(e: &TpmFrontError) -> String {
    format!("{e:?}")
}

impl<X: Xen> TpmTransport for TpmifTransport<X> {
    fn describe(&self) -> String {
        match &self.link {
            Some(l) => format!("{} over tpmif ({})", self.what, l.node()),
            None => format!("{} over tpmif (not connected)", self.what),
        }
    }

    fn max_command(&self) -> usize {
        MAX_PACKET
    }

    fn submit(&mut self, locality: u8, command: &[u8]) -> Result<(), TransportError> {
        if self.inflight.is_some() {
            return Err(TransportError::Busy);
        }
        self.ensure_connected()?;
        let timeout_ns = u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX);
        let Some(link) = self.link.as_mut() else { return Err(TransportError::Gone("not connected".into())) };
        link.set_locality(locality);
        match link.submit(command, timeout_ns) {
            Ok(()) => {
                let now = Instant::now();
                self.inflight = Some((now, now));
                Ok(())
            }
            Err(TpmFrontError::BadCommand) => {
                Err(TransportError::Bad(format!("a {}-byte command does not fit the tpmif page", command.len())))
            }
            Err(TpmFrontError::NotReady) => Err(TransportError::Busy),
            Err(e) => Err(self.drop_link(format!("{}: {}", self.what, front_error(&e)))),
        }
    }

    fn poll_response(&mut self) -> Poll<Result<Vec<u8>, TransportError>> {
        let Some((sent, checked)) = self.inflight else { return Poll::Ready(Err(TransportError::Busy)) };
        let Some(link) = self.link.as_mut() else {
            return Poll::Ready(Err(self.drop_link("not connected".into())));
        };
        match link.poll() {
            Poll::Ready(r) => {
                self.inflight = None;
                Poll::Ready(match r {
                    Ok(resp) => Ok(resp),
                    Err(TpmFrontError::Timeout) => Err(TransportError::Timeout),
                    Err(TpmFrontError::Cancelled) => Err(TransportError::Cancelled),
                    Err(TpmFrontError::BadResponse) => {
                        Err(TransportError::Bad(format!("{}: a malformed response", self.what)))
                    }
                    Err(e) => Err(self.drop_link(format!("{}: {}", self.what, front_error(&e)))),
                })
            }
            Poll::Pending => {
                if checked.elapsed() >= BACKEND_CHECK {
                    if link.backend_gone() {
                        return Poll::Ready(Err(self.drop_link(format!("{}: the vtpm's backend left", self.what))));
                    }
                    self.inflight = Some((sent, Instant::now()));
                }
                Poll::Pending
            }
        }
    }

    fn cancel(&mut self) -> bool {
        match (self.inflight.is_some(), self.link.as_mut()) {
            (true, Some(link)) => {
                link.cancel();
                true
            }
            _ => false,
        }
    }

    fn power_on(&mut self) -> Result<PowerOn, TransportError> {
        let state = match self.ensure_connected() {
            Ok(()) => "connected".to_string(),
            Err(e) => format!("not reachable now ({e}); commands fail until it is"),
        };
        Ok(PowerOn::NotReset(format!(
            "{} ({state}) ran TPM_Init and TPM_Startup itself when it started; tpmif has no reset, so its \
             PCRs keep their values until the vtpm domain is restarted",
            self.what
        )))
    }

    fn shutdown(&mut self) -> Result<(), TransportError> {
        // the vtpm saves its state itself when it changes; nothing to do
        Ok(())
    }
}

/// The Linux driver dom0's kernel bound to frontend `node` (`device/vtpm/N`), if any: then
/// dom0's own xen-tpmfront owns the device and the bridge must not touch it. `sysfs` is
/// `/sys` on the machine.
pub fn kernel_driver_of(sysfs: &Path, node: &str) -> Option<String> {
    let n = node.strip_prefix("device/vtpm/")?;
    let link = sysfs.join("bus/xen/devices").join(format!("vtpm-{n}")).join("driver");
    let target = std::fs::read_link(&link).ok()?;
    Some(target.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "a driver".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_kernel_driver_holding_the_device() {
        let dir = std::env::temp_dir().join(format!("vtpm-bridge-sysfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let dev = dir.join("bus/xen/devices/vtpm-1");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::create_dir_all(dir.join("bus/xen/drivers/vtpm")).unwrap();
        assert_eq!(kernel_driver_of(&dir, "device/vtpm/1"), None);
        std::os::unix::fs::symlink("../../../../bus/xen/drivers/vtpm", dev.join("driver")).unwrap();
        assert_eq!(kernel_driver_of(&dir, "device/vtpm/1").as_deref(), Some("vtpm"));
        assert_eq!(kernel_driver_of(&dir, "device/vtpm/2"), None);
        assert_eq!(kernel_driver_of(&dir, "device/vbd/1"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
