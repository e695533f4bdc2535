//! Event channels for a dom0 process over `/dev/xen/evtchn`: binding is an ioctl whose result is
//! the local port; a port that fires is masked by the kernel and queued for `read(2)` (4 bytes
//! per port); writing the port back unmasks it. [`Evtchn::take_pending`] drains the queue into
//! a set, re-arms every port it read, and answers test-and-clear from the set.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;

use xen_hv::{DomId, EventChannels, EvtchnPort, HvError};

use crate::ioctl::{
    EvtchnBindInterdomain, EvtchnBindUnboundPort, EvtchnPortArg, IOCTL_EVTCHN_BIND_INTERDOMAIN,
    IOCTL_EVTCHN_BIND_UNBOUND_PORT, IOCTL_EVTCHN_NOTIFY, IOCTL_EVTCHN_UNBIND,
};
use crate::{hv_error, sys};

/// The device node.
pub const EVTCHN_DEVICE: &str = "/dev/xen/evtchn";

/// An open `/dev/xen/evtchn`; every port bound through it is unbound when it is closed.
pub struct Evtchn {
    file: File,
    pending: BTreeSet<u32>,
}

impl Evtchn {
    /// Opens the device (non-blocking, close-on-exec).
    pub fn open() -> io::Result<Evtchn> {
        Self::open_path(EVTCHN_DEVICE)
    }

    /// Opens an event-channel device at `path`.
    pub fn open_path(path: &str) -> io::Result<Evtchn> {
        let file =
            File::options().read(true).write(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)?;
        Ok(Evtchn { file, pending: BTreeSet::new() })
    }

    /// The descriptor that becomes readable when a port fires (for `poll`).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    fn port(r: i32) -> Result<EvtchnPort, HvError> {
        u32::try_from(r).map(EvtchnPort).map_err(|_| HvError::Xen(-libc::EINVAL))
    }

    /// Reads every queued port (non-blocking) into the pending set and unmasks each.
    pub fn drain(&mut self) -> io::Result<usize> {
        let mut got = 0;
        let mut buf = [0u8; 4 * 64];
        loop {
            let n = match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let whole = n - n % 4;
            for c in buf[..whole].chunks_exact(4) {
                self.pending.insert(u32::from_ne_bytes([c[0], c[1], c[2], c[3]]));
            }
            got += whole / 4;
            // Re-arm: writing the ports back unmasks them.
            self.file.write_all(&buf[..whole])?;
            if n < buf.len() {
                break;
            }
        }
        Ok(got)
    }
}

impl EventChannels for Evtchn {
    fn alloc_unbound(&mut self, remote: DomId) -> Result<EvtchnPort, HvError> {
        let mut arg = EvtchnBindUnboundPort { remote_domain: u32::from(remote.0) };
        Self::port(sys::ioctl(self.file.as_fd(), IOCTL_EVTCHN_BIND_UNBOUND_PORT, &mut arg).map_err(hv_error)?)
    }

    fn bind_interdomain(&mut self, remote: DomId, remote_port: EvtchnPort) -> Result<EvtchnPort, HvError> {
        let mut arg = EvtchnBindInterdomain { remote_domain: u32::from(remote.0), remote_port: remote_port.0 };
        Self::port(sys::ioctl(self.file.as_fd(), IOCTL_EVTCHN_BIND_INTERDOMAIN, &mut arg).map_err(hv_error)?)
    }

    fn notify(&mut self, port: EvtchnPort) -> Result<(), HvError> {
        let mut arg = EvtchnPortArg { port: port.0 };
        sys::ioctl(self.file.as_fd(), IOCTL_EVTCHN_NOTIFY, &mut arg).map(|_| ()).map_err(hv_error)
    }

    fn close(&mut self, port: EvtchnPort) {
        let mut arg = EvtchnPortArg { port: port.0 };
        let _ = sys::ioctl(self.file.as_fd(), IOCTL_EVTCHN_UNBIND, &mut arg);
        self.pending.remove(&port.0);
    }

    fn take_pending(&mut self, port: EvtchnPort) -> bool {
        // A read error leaves the set as it is: the trait's pending bit is only a hint.
        let _ = self.drain();
        self.pending.remove(&port.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    /// A socket stands in for the device's read/write side (the ioctls need real Xen).
    fn fake() -> (Evtchn, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let file = File::from(std::os::fd::OwnedFd::from(a));
        (Evtchn { file, pending: BTreeSet::new() }, b)
    }

    #[test]
    fn pending_ports_are_read_rearmed_and_cleared_once() {
        let (mut ev, mut kernel) = fake();
        assert!(!ev.take_pending(EvtchnPort(5)));
        kernel.write_all(&[5u32.to_ne_bytes(), 9u32.to_ne_bytes()].concat()).unwrap();
        assert!(ev.take_pending(EvtchnPort(5)));
        assert!(!ev.take_pending(EvtchnPort(5)), "test-and-clear");
        assert!(ev.take_pending(EvtchnPort(9)), "the other port stayed pending");
        // Both ports were written back (unmasked), in the order they were read.
        let mut back = [0u8; 8];
        kernel.read_exact(&mut back).unwrap();
        assert_eq!(back, [5u32.to_ne_bytes(), 9u32.to_ne_bytes()].concat()[..]);
    }

    #[test]
    fn ioctls_on_a_non_device_are_errors_not_panics() {
        let (mut ev, _k) = fake();
        assert_eq!(ev.alloc_unbound(DomId(1)), Err(HvError::Xen(-libc::ENOTTY)));
        assert_eq!(ev.notify(EvtchnPort(1)), Err(HvError::Xen(-libc::ENOTTY)));
        ev.close(EvtchnPort(1));
    }
}
