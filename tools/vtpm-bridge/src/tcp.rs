//! [`TcpTransport`]: the TPM behind swtpm's TCP framing (`tpm12-server`, or swtpm
//! `--server type=tcp`): the command written as it is, the response framed by its header.
//! With a control port (`--ctrl` of `tpm12-server`, swtpm's `--ctrl type=tcp`) CMD_INIT,
//! CMD_SHUTDOWN and the locality go there, one request per connection (as tpm2-tss' swtpm
//! TCTI does); without one the TPM is never reset and runs every command at locality 0.
//! For host tests and the opt-in QEMU run; a vtpm stub domain is reached over
//! [`crate::tpmif`].

use core::task::Poll;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use crate::data::HEADER_LEN;
use crate::transport::{PowerOn, TpmTransport, TransportError};

/// The largest response accepted (swtpm's and tpm12-server's buffers are 4 KiB).
const MAX_RESPONSE: usize = 65536;
/// The largest command sent (tpm12-server's limit; swtpm's buffer is 4096).
const MAX_COMMAND: usize = 4088;
/// Control-channel request codes (swtpm's `tpm_ioctl.h`).
const CTRL_INIT: u32 = 0x02;
const CTRL_SHUTDOWN: u32 = 0x03;
const CTRL_SET_LOCALITY: u32 = 0x05;

/// A TPM on 127.0.0.1 (or any host) with swtpm's TCP framing.
pub struct TcpTransport {
    host: String,
    port: u16,
    ctrl_port: Option<u16>,
    timeout: Duration,
    stream: Option<TcpStream>,
    /// The response read so far, and when the command was sent.
    inflight: Option<(Vec<u8>, Instant)>,
    /// The locality the server was last told (None: not yet).
    server_locality: Option<u8>,
}

impl TcpTransport {
    /// A transport to `host:port` (control channel on `ctrl_port`); connects on first use.
    pub fn new(host: &str, port: u16, ctrl_port: Option<u16>, timeout: Duration) -> Self {
        TcpTransport {
            host: host.to_string(),
            port,
            ctrl_port,
            timeout,
            stream: None,
            inflight: None,
            server_locality: None,
        }
    }

    fn stream(&mut self) -> Result<&mut TcpStream, TransportError> {
        if self.stream.is_none() {
            let s = TcpStream::connect((self.host.as_str(), self.port))
                .map_err(|e| TransportError::Gone(format!("connect {}:{}: {e}", self.host, self.port)))?;
            let _ = s.set_nodelay(true);
            s.set_write_timeout(Some(Duration::from_secs(5)))
                .map_err(|e| TransportError::Gone(format!("{}:{}: {e}", self.host, self.port)))?;
            self.stream = Some(s);
        }
        self.stream.as_mut().ok_or_else(|| TransportError::Gone("not connected".into()))
    }

    /// One control request on a fresh connection; the 4-byte result.
    fn ctrl(&self, code: u32, payload: &[u8]) -> Result<u32, TransportError> {
        let Some(port) = self.ctrl_port else { return Err(TransportError::Bad("no control port".into())) };
        let gone = |e: std::io::Error| TransportError::Gone(format!("control channel {}:{port}: {e}", self.host));
        let mut c = TcpStream::connect((self.host.as_str(), port)).map_err(gone)?;
        c.set_read_timeout(Some(Duration::from_secs(5))).map_err(gone)?;
        let mut req = code.to_be_bytes().to_vec();
        req.extend_from_slice(payload);
        c.write_all(&req).map_err(gone)?;
        let mut res = [0u8; 4];
        c.read_exact(&mut res).map_err(gone)?;
        Ok(u32::from_be_bytes(res))
    }

    fn lost(&mut self, why: String) -> TransportError {
        self.stream = None;
        self.inflight = None;
        TransportError::Gone(why)
    }
}

impl TpmTransport for TcpTransport {
    fn describe(&self) -> String {
        match self.ctrl_port {
            Some(c) => format!("TCP {}:{} (control channel {c})", self.host, self.port),
            None => format!("TCP {}:{} (no control channel)", self.host, self.port),
        }
    }

    fn max_command(&self) -> usize {
        MAX_COMMAND
    }

    fn submit(&mut self, locality: u8, command: &[u8]) -> Result<(), TransportError> {
        if self.inflight.is_some() {
            return Err(TransportError::Busy);
        }
        if command.len() < HEADER_LEN || command.len() > MAX_COMMAND {
            return Err(TransportError::Bad(format!("a {}-byte command does not fit", command.len())));
        }
        if self.ctrl_port.is_some() && self.server_locality != Some(locality) {
            // tpm12-server and swtpm read one byte of locality here
            match self.ctrl(CTRL_SET_LOCALITY, &[locality])? {
                0 => self.server_locality = Some(locality),
                rc => return Err(TransportError::Bad(format!("the server refused locality {locality} (rc {rc:#x})"))),
            }
        }
        let r = self.stream()?.write_all(command);
        if let Err(e) = r {
            return Err(self.lost(format!("write: {e}")));
        }
        if let Some(s) = self.stream.as_mut() {
            let _ = s.set_nonblocking(true);
        }
        self.inflight = Some((Vec::new(), Instant::now()));
        Ok(())
    }

    fn poll_response(&mut self) -> Poll<Result<Vec<u8>, TransportError>> {
        let Some((mut got, since)) = self.inflight.take() else { return Poll::Ready(Err(TransportError::Busy)) };
        let Some(stream) = self.stream.as_mut() else { return Poll::Ready(Err(self.lost("not connected".into()))) };
        let mut buf = [0u8; 4096];
        loop {
            let want = if got.len() < HEADER_LEN {
                HEADER_LEN
            } else {
                let mut h = [0u8; HEADER_LEN];
                h.copy_from_slice(&got[..HEADER_LEN]);
                crate::data::frame_size(&h)
            };
            if !(HEADER_LEN..=MAX_RESPONSE).contains(&want) {
                return Poll::Ready(Err(self.lost(format!("a response of {want} bytes"))));
            }
            if got.len() == want {
                return Poll::Ready(Ok(got));
            }
            let n = want - got.len();
            match stream.read(&mut buf[..n.min(4096)]) {
                Ok(0) => return Poll::Ready(Err(self.lost("the server closed the connection".into()))),
                Ok(k) => got.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(self.lost(format!("read: {e}")))),
            }
        }
        if since.elapsed() > self.timeout {
            // the framing of a late answer would be lost: start over on a new connection
            let _ = self.lost(String::new());
            return Poll::Ready(Err(TransportError::Timeout));
        }
        self.inflight = Some((got, since));
        Poll::Pending
    }

    fn cancel(&mut self) -> bool {
        false
    }

    fn power_on(&mut self) -> Result<PowerOn, TransportError> {
        if self.ctrl_port.is_none() {
            return Ok(PowerOn::NotReset("no control channel: the TPM keeps running".into()));
        }
        self.server_locality = None;
        match self.ctrl(CTRL_INIT, &0u32.to_be_bytes())? {
            0 => Ok(PowerOn::Reset),
            rc => Err(TransportError::Bad(format!("the server's CMD_INIT failed (rc {rc:#x})"))),
        }
    }

    fn shutdown(&mut self) -> Result<(), TransportError> {
        if self.ctrl_port.is_none() {
            return Ok(());
        }
        match self.ctrl(CTRL_SHUTDOWN, &[])? {
            0 => Ok(()),
            rc => Err(TransportError::Bad(format!("the server's CMD_SHUTDOWN failed (rc {rc:#x})"))),
        }
    }

    fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        self.stream.as_ref().map(|s| s.as_fd())
    }
}
