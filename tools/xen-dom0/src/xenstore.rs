//! XenStore for a dom0 process: the tree's one client (`xen_hv::xenstore::client::XsClient`)
//! over a byte stream to xenstored — the kernel's `/dev/xen/xenbus` (Linux relays whole
//! `xsd_sockmsg`s and delivers watch events on the same descriptor) or, without it, xenstored's
//! Unix socket. Both are opened non-blocking; waiting is `poll(2)` on the descriptor.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use xen_hv::XsError;
use xen_hv::xenstore::client::{XsClient, XsTransport};

use crate::sys;

/// The kernel's xenstore device.
pub const XENBUS_DEVICE: &str = "/dev/xen/xenbus";
/// xenstored's socket (the fallback).
pub const XENSTORED_SOCKET: &str = "/var/run/xenstored/socket";

/// Longest single sleep in [`XsTransport::wait`]: a wait for room to send also ends (xenstored
/// drains the socket without telling us), so the client re-checks at least this often.
const MAX_WAIT_MS: u64 = 50;

/// The connection to xenstored.
pub enum XsStream {
    /// `/dev/xen/xenbus`.
    Device(File),
    /// xenstored's Unix socket (or, in tests, one end of a socket pair).
    Socket(UnixStream),
}

impl XsStream {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            XsStream::Device(f) => f.as_fd(),
            XsStream::Socket(s) => s.as_fd(),
        }
    }
}

/// [`XsTransport`] over an [`XsStream`].
pub struct StreamTransport {
    stream: XsStream,
    epoch: Instant,
    /// Where the connection goes (for messages).
    pub path: String,
}

impl StreamTransport {
    /// Opens `/dev/xen/xenbus`, else connects to xenstored's socket; the error names both.
    pub fn open() -> io::Result<StreamTransport> {
        match Self::open_device(XENBUS_DEVICE) {
            Ok(t) => Ok(t),
            Err(dev_err) => Self::connect(XENSTORED_SOCKET).map_err(|sock_err| {
                io::Error::new(
                    sock_err.kind(),
                    format!("no xenstore: {XENBUS_DEVICE}: {dev_err}; {XENSTORED_SOCKET}: {sock_err}"),
                )
            }),
        }
    }

    /// A xenbus-like character device at `path`.
    pub fn open_device(path: &str) -> io::Result<StreamTransport> {
        let f = File::options().read(true).write(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)?;
        Ok(Self::over(XsStream::Device(f), path))
    }

    /// xenstored's socket at `path`.
    pub fn connect(path: &str) -> io::Result<StreamTransport> {
        let s = UnixStream::connect(path)?;
        Self::socket(s, path)
    }

    /// An already connected socket (tests: one end of a pair).
    pub fn socket(s: UnixStream, path: &str) -> io::Result<StreamTransport> {
        s.set_nonblocking(true)?;
        Ok(Self::over(XsStream::Socket(s), path))
    }

    fn over(stream: XsStream, path: &str) -> StreamTransport {
        StreamTransport { stream, epoch: Instant::now(), path: path.to_string() }
    }

    /// The descriptor to poll for replies and watch events.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.fd()
    }

    fn io_err(&self, e: io::Error) -> XsError {
        XsError::Other(format!("{}: {e}", self.path))
    }
}

impl XsTransport for StreamTransport {
    fn send(&mut self, data: &[u8]) -> Result<usize, XsError> {
        let r = match &mut self.stream {
            XsStream::Device(f) => f.write(data),
            XsStream::Socket(s) => s.write(data),
        };
        match r {
            Ok(n) => Ok(n),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => Ok(0),
            Err(e) => Err(self.io_err(e)),
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, XsError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let r = match &mut self.stream {
            XsStream::Device(f) => f.read(buf),
            XsStream::Socket(s) => s.read(buf),
        };
        match r {
            Ok(0) => Err(XsError::Other(format!("{}: xenstored closed the connection", self.path))),
            Ok(n) => Ok(n),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => Ok(0),
            Err(e) => Err(self.io_err(e)),
        }
    }

    fn notify(&mut self) {}

    fn wait(&mut self, deadline_ns: u64) {
        let ms = deadline_ns.saturating_sub(self.now_ns()).div_ceil(1_000_000).min(MAX_WAIT_MS);
        let _ = sys::poll_readable(&[self.stream.fd()], ms as i32);
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The dom0 xenstore client.
pub type Dom0XenStore = XsClient<StreamTransport>;

/// Connects (device first, then socket).
pub fn open() -> io::Result<Dom0XenStore> {
    Ok(XsClient::new(StreamTransport::open()?))
}

#[cfg(test)]
mod tests;
