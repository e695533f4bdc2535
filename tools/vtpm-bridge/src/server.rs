//! The bridge's event loop: one UNIX socket QEMU connects to (`-chardev socket,path=…`), the
//! control channel on it, the data channel QEMU hands over with CMD_SET_DATAFD (its
//! descriptor in SCM_RIGHTS ancillary data), and the transport. One thread, one `poll`:
//! control requests are answered while a data command runs on the transport (so
//! CMD_CANCEL_TPM_CMD reaches it), data commands go one at a time.
//!
//! One QEMU at a time: a second connection while one is served is closed at once (two QEMUs
//! must not share a TPM). When QEMU goes away (CMD_SHUTDOWN, or its socket closes: it
//! crashed or was killed) its channels are dropped and the next QEMU is served; the
//! transport (the vtpm link) stays up. A malformed control request gets an error reply and
//! a log line; malformed data (a header announcing less than 10 bytes) gets a failure
//! response and the data channel is closed, since its framing is lost.

use std::collections::VecDeque;
use std::io::{ErrorKind, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use core::task::Poll;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};

use crate::ctrl::{self, CtrlResponse, Decoded, rc};
use crate::data::{self, HEADER_LEN};
use crate::session::{After, Context, Session};
use crate::transport::TpmTransport;

/// How long a write to QEMU may take before its channel is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The data channel QEMU handed over.
struct DataChannel {
    stream: UnixStream,
    buf: Vec<u8>,
    /// Bytes of an oversized command still to drop, and its header for the failure answer.
    skip: Option<(usize, Vec<u8>)>,
}

/// One connected QEMU.
struct Qemu {
    ctrl: UnixStream,
    buf: Vec<u8>,
    fds: VecDeque<OwnedFd>,
    discard: u64,
    data: Option<DataChannel>,
    session: Session,
}

/// The bridge: a listener, a transport, a log.
pub struct Bridge<'a> {
    listener: &'a UnixListener,
    transport: &'a mut dyn TpmTransport,
    log: &'a mut dyn FnMut(&str),
    qemu: Option<Qemu>,
    /// The data command on the transport.
    inflight: Option<Vec<u8>>,
    sessions: usize,
}

fn write_all(stream: &mut UnixStream, bytes: &[u8]) -> std::io::Result<()> {
    let deadline = Instant::now() + WRITE_TIMEOUT;
    let mut off = 0;
    while off < bytes.len() {
        match stream.write(&bytes[off..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => off += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(ErrorKind::TimedOut.into());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl<'a> Bridge<'a> {
    /// A bridge serving QEMUs that connect to `listener`, with `transport` behind it.
    pub fn new(listener: &'a UnixListener, transport: &'a mut dyn TpmTransport, log: &'a mut dyn FnMut(&str)) -> Self {
        Bridge { listener, transport, log, qemu: None, inflight: None, sessions: 0 }
    }

    /// Serves until `stop` is set, or until `max_sessions` QEMUs have come and gone.
    pub fn run(&mut self, stop: &AtomicBool, max_sessions: Option<usize>) -> Result<(), String> {
        self.listener.set_nonblocking(true).map_err(|e| format!("listener: {e}"))?;
        while !stop.load(Ordering::Relaxed) {
            if max_sessions.is_some_and(|m| self.sessions >= m) && self.qemu.is_none() {
                break;
            }
            let (accept, ctrl_ready, data_ready) = self.wait();
            // the old QEMU's end first: a restarted QEMU connects after the old one's socket closed
            if ctrl_ready {
                self.read_ctrl();
            }
            if accept {
                self.accept();
            }
            if data_ready {
                self.read_data();
            }
            self.poll_transport();
            self.frame_data();
        }
        Ok(())
    }

    /// Waits for a connection, a control or data request, or the transport.
    fn wait(&mut self) -> (bool, bool, bool) {
        let inflight = self.inflight.is_some();
        let wake = if inflight { self.transport.wake_fd() } else { None };
        let has_wake = wake.is_some();
        let mut fds = vec![PollFd::new(self.listener, PollFlags::IN)];
        let (mut ctrl_at, mut data_at) = (None, None);
        if let Some(q) = &self.qemu {
            ctrl_at = Some(fds.len());
            fds.push(PollFd::new(&q.ctrl, PollFlags::IN));
            if let Some(d) = &q.data
                && !inflight
            {
                data_at = Some(fds.len());
                fds.push(PollFd::new(&d.stream, PollFlags::IN));
            }
        }
        if let Some(w) = wake {
            fds.push(PollFd::from_borrowed_fd(w, PollFlags::IN));
        }
        // without a wake-up descriptor, a command in flight is looked at every millisecond
        let ms: i64 = if inflight && !has_wake {
            1
        } else if inflight {
            50
        } else {
            500
        };
        let ts = Timespec { tv_sec: 0, tv_nsec: ms * 1_000_000 };
        match poll(&mut fds, Some(&ts)) {
            Ok(_) => {}
            Err(Errno::INTR) => return (false, false, false),
            Err(e) => {
                (self.log)(&format!("poll: {e}"));
                std::thread::sleep(Duration::from_millis(ms as u64));
                return (false, false, false);
            }
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds.get(i))
                .is_some_and(|f| f.revents().intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR))
        };
        (ready(Some(0)), ready(ctrl_at), ready(data_at))
    }

    fn accept(&mut self) {
        let Ok((stream, _)) = self.listener.accept() else { return };
        if self.qemu.is_some() {
            (self.log)("refused a second connection: one QEMU is served at a time");
            return;
        }
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        (self.log)(&format!("QEMU connected (TPM: {})", self.transport.describe()));
        self.qemu = Some(Qemu {
            ctrl: stream,
            buf: Vec::new(),
            fds: VecDeque::new(),
            discard: 0,
            data: None,
            session: Session::new(self.transport.max_command()),
        });
    }

    fn end_session(&mut self, why: &str) {
        if self.qemu.take().is_some() {
            self.sessions += 1;
            if self.inflight.is_some() {
                let cancelled = self.transport.cancel();
                (self.log)(&format!(
                    "{why}; the command in flight {}",
                    if cancelled { "was cancelled" } else { "runs on, its answer will be dropped" }
                ));
            } else {
                (self.log)(why);
            }
        }
    }

    /// Reads what the control socket has (and any descriptors with it), then answers every
    /// whole request.
    fn read_ctrl(&mut self) {
        let Some(q) = self.qemu.as_mut() else { return };
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut cmsg = RecvAncillaryBuffer::new(&mut space);
        let mut b = [0u8; 4096];
        let r =
            recvmsg(&q.ctrl, &mut [IoSliceMut::new(&mut b)], &mut cmsg, RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC);
        let n = match r {
            Ok(m) => m.bytes,
            Err(Errno::AGAIN) | Err(Errno::INTR) => return,
            Err(e) => {
                self.end_session(&format!("the control channel failed ({e}): QEMU is gone"));
                return;
            }
        };
        for msg in cmsg.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = msg {
                q.fds.extend(fds);
            }
        }
        if n == 0 {
            self.end_session("QEMU closed the control channel");
            return;
        }
        q.buf.extend_from_slice(&b[..n.min(b.len())]);
        self.answer_ctrl();
    }

    fn answer_ctrl(&mut self) {
        loop {
            let Some(q) = self.qemu.as_mut() else { return };
            if q.discard > 0 {
                let n = usize::try_from(q.discard).unwrap_or(usize::MAX).min(q.buf.len());
                q.buf.drain(..n);
                q.discard -= n as u64;
                if q.discard > 0 {
                    return;
                }
            }
            let (reply, after, note) = match ctrl::decode(&q.buf) {
                Ok(Decoded::NeedMore) => return,
                Ok(Decoded::Request { request, consumed }) => {
                    q.buf.drain(..consumed);
                    let ctx = Context { inflight: self.inflight.is_some(), have_fd: !q.fds.is_empty() };
                    q.session.control(&request, self.transport, ctx)
                }
                Err(e) => {
                    q.buf.clear();
                    (CtrlResponse::Result(rc::BAD_ORDINAL), After::Continue, Some(e.to_string()))
                }
            };
            if let Some(note) = note {
                (self.log)(&note);
            }
            if let Err(e) = q.ctrl.write_all(&reply.encode()) {
                self.end_session(&format!("cannot answer QEMU ({e}): QEMU is gone"));
                return;
            }
            match after {
                After::Continue => {}
                After::DiscardBlob(n) => q.discard = u64::from(n),
                After::InstallDataFd => {
                    if let Some(fd) = q.fds.pop_front() {
                        let stream = UnixStream::from(fd);
                        let _ = stream.set_nonblocking(true);
                        // a second CMD_SET_DATAFD replaces the first channel
                        q.data = Some(DataChannel { stream, buf: Vec::new(), skip: None });
                    }
                }
                After::EndSession => {
                    self.end_session("QEMU shut the TPM down (CMD_SHUTDOWN); waiting for the next QEMU");
                    return;
                }
            }
        }
    }

    fn read_data(&mut self) {
        let Some(d) = self.qemu.as_mut().and_then(|q| q.data.as_mut()) else { return };
        let mut b = [0u8; 4096];
        match d.stream.read(&mut b) {
            Ok(0) => {
                if let Some(q) = self.qemu.as_mut() {
                    q.data = None;
                }
                (self.log)("QEMU closed the data channel");
            }
            Ok(n) => d.buf.extend_from_slice(&b[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => {
                if let Some(q) = self.qemu.as_mut() {
                    q.data = None;
                }
                (self.log)(&format!("the data channel failed: {e}"));
            }
        }
    }

    /// Answers the data channel with `resp`; a failed write drops the channel.
    fn reply_data(&mut self, resp: &[u8]) {
        let Some(q) = self.qemu.as_mut() else { return };
        let Some(d) = q.data.as_mut() else { return };
        if let Err(e) = write_all(&mut d.stream, resp) {
            q.data = None;
            (self.log)(&format!("cannot answer on the data channel ({e}); dropped it"));
        }
    }

    /// Sends the next whole command of the data channel to the transport (one at a time).
    fn frame_data(&mut self) {
        while self.inflight.is_none() {
            let Some(q) = self.qemu.as_mut() else { return };
            let locality = q.session.locality;
            let Some(d) = q.data.as_mut() else { return };
            if let Some((left, header)) = d.skip.take() {
                let n = left.min(d.buf.len());
                d.buf.drain(..n);
                if left > n {
                    d.skip = Some((left - n, header));
                    return;
                }
                self.reply_data(&data::fatal_response(&header));
                continue;
            }
            if d.buf.len() < HEADER_LEN {
                return;
            }
            let mut h = [0u8; HEADER_LEN];
            h.copy_from_slice(&d.buf[..HEADER_LEN]);
            let size = data::frame_size(&h);
            let max = self.transport.max_command();
            if size < HEADER_LEN {
                let resp = data::fatal_response(&h);
                (self.log)(&format!(
                    "a data-channel header announces {size} bytes (< 10): framing lost, the data channel is closed"
                ));
                self.reply_data(&resp);
                if let Some(q) = self.qemu.as_mut() {
                    q.data = None;
                }
                return;
            }
            if size > max {
                (self.log)(&format!("a {size}-byte command is larger than the TPM's {max}: refused"));
                d.buf.drain(..HEADER_LEN);
                d.skip = Some((size - HEADER_LEN, h.to_vec()));
                continue;
            }
            if d.buf.len() < size {
                return;
            }
            let cmd: Vec<u8> = d.buf.drain(..size).collect();
            match self.transport.submit(locality, &cmd) {
                Ok(()) => self.inflight = Some(cmd),
                Err(e) => {
                    (self.log)(&format!("a command could not be sent: {e}; the guest gets a failure"));
                    self.reply_data(&data::fatal_response(&cmd));
                }
            }
        }
    }

    /// Delivers the transport's answer (or a failure response) when it is there.
    fn poll_transport(&mut self) {
        let Some(cmd) = self.inflight.as_ref() else { return };
        let resp = match self.transport.poll_response() {
            Poll::Pending => return,
            Poll::Ready(Ok(resp)) if data::is_whole_frame(&resp) => resp,
            Poll::Ready(Ok(resp)) => {
                (self.log)(&format!(
                    "the TPM's {}-byte answer is not one TPM frame; the guest gets a failure",
                    resp.len()
                ));
                data::fatal_response(cmd)
            }
            Poll::Ready(Err(e)) => {
                (self.log)(&format!("a command failed: {e}; the guest gets a failure"));
                data::fatal_response(cmd)
            }
        };
        self.inflight = None;
        if self.qemu.as_ref().is_some_and(|q| q.data.is_some()) {
            self.reply_data(&resp);
        } else {
            (self.log)("an answer arrived with no QEMU to take it; dropped");
        }
    }
}
