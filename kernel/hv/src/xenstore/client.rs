//! The xenstore client: request/reply over a byte transport (the shared ring page in a
//! guest, a fake in host tests), with watch events queued for the event loop. It speaks the
//! driver interface's types (`XsError`, `XsTx`) and implements `XenStore`, so transactions are
//! retried by the one loop, `with_transaction`.
//!
//! Synchronous: one request is outstanding at a time; while waiting for its reply, watch
//! events that arrive are queued (`take_watch_event`). Replies with an unexpected `req_id`
//! (stale answers to a request that timed out) are dropped.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use xen_abi::xs_wire::XsdSockmsgType;

use super::wire::{
    MessageReader, WatchEvent, XsError, XsTx, encode_request, expect_ok, parse_tx_id, parse_watch_event, reply_payload,
    split_nul_terminated,
};

/// How the client reaches xenstored.
pub trait XsTransport {
    /// Copies as much of `data` as fits into the request ring; returns the count.
    fn send(&mut self, data: &[u8]) -> Result<usize, XsError>;
    /// Copies available reply bytes into `buf`; returns the count (0 if none).
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, XsError>;
    /// Tells xenstored there is something to do.
    fn notify(&mut self);
    /// Blocks until xenstored signals or `deadline_ns` passes (spurious returns are fine).
    fn wait(&mut self, deadline_ns: u64);
    /// Monotonic time in ns.
    fn now_ns(&self) -> u64;
}

pub struct XsClient<T: XsTransport> {
    transport: T,
    next_req_id: u32,
    reader: MessageReader,
    watch_events: VecDeque<WatchEvent>,
    /// Watch events received so far (queued or already taken).
    received: u64,
    /// Per-request timeout.
    pub timeout_ns: u64,
}

impl<T: XsTransport> XsClient<T> {
    pub fn new(transport: T) -> Self {
        XsClient {
            transport,
            next_req_id: 1,
            reader: MessageReader::new(),
            watch_events: VecDeque::new(),
            received: 0,
            timeout_ns: 30_000_000_000,
        }
    }

    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Sends one request and returns the reply payload.
    pub fn request(
        &mut self,
        ty: XsdSockmsgType,
        tx: XsTx,
        parts: &[&[u8]],
        last_raw: bool,
    ) -> Result<Vec<u8>, XsError> {
        let req_id = self.next_req_id;
        self.next_req_id = self.next_req_id.wrapping_add(1).max(1);
        let bytes = encode_request(ty, req_id, tx, parts, last_raw)?;
        let deadline = self.transport.now_ns().saturating_add(self.timeout_ns);
        let mut sent = 0;
        while sent < bytes.len() {
            let n = self.transport.send(&bytes[sent..])?;
            sent += n;
            self.transport.notify();
            if n == 0 {
                if self.transport.now_ns() >= deadline {
                    return Err(XsError::Timeout);
                }
                self.transport.wait(deadline);
            }
        }
        loop {
            while let Some(msg) = self.read_message()? {
                if msg.header.r#type == XsdSockmsgType::WatchEvent as u32 {
                    self.queue_watch_event(&msg.payload);
                    continue;
                }
                if msg.header.req_id != req_id {
                    continue;
                }
                return reply_payload(ty, msg);
            }
            if self.transport.now_ns() >= deadline {
                return Err(XsError::Timeout);
            }
            self.transport.wait(deadline);
        }
    }

    fn queue_watch_event(&mut self, payload: &[u8]) {
        match parse_watch_event(payload) {
            Ok(ev) => {
                self.received += 1;
                self.watch_events.push_back(ev);
            }
            Err(e) => log::warn!("xenstore: dropping bad watch event: {e}"),
        }
    }

    /// Reads whatever complete message is in the ring, without blocking.
    fn read_message(&mut self) -> Result<Option<super::wire::Message>, XsError> {
        let mut buf = [0u8; 256];
        loop {
            let want = self.reader.wanted().min(buf.len());
            let n = self.transport.recv(&mut buf[..want])?;
            if n == 0 {
                return Ok(None);
            }
            let (_, res) = self.reader.feed(&buf[..n]);
            if let Some(m) = res? {
                return Ok(Some(m));
            }
        }
    }

    /// Moves watch events that have arrived into the queue (non-blocking).
    pub fn poll(&mut self) -> Result<(), XsError> {
        while let Some(msg) = self.read_message()? {
            if msg.header.r#type == XsdSockmsgType::WatchEvent as u32 {
                self.queue_watch_event(&msg.payload);
            }
        }
        Ok(())
    }

    /// How many watch events have been received so far (a counter that only grows): lets a
    /// loop notice events that a request read off the ring while it was not waiting.
    pub fn watch_events_received(&self) -> u64 {
        self.received
    }

    /// The oldest queued watch event.
    pub fn take_watch_event(&mut self) -> Option<WatchEvent> {
        self.watch_events.pop_front()
    }

    /// The oldest queued watch event registered with `token` (others stay queued).
    pub fn take_watch_event_for(&mut self, token: &str) -> Option<WatchEvent> {
        let i = self.watch_events.iter().position(|e| e.token == token)?;
        self.watch_events.remove(i)
    }

    pub fn read_tx(&mut self, tx: XsTx, path: &str) -> Result<String, XsError> {
        let v = self.request(XsdSockmsgType::Read, tx, &[path.as_bytes()], false)?;
        String::from_utf8(v).map_err(|_| XsError::Malformed("value is not UTF-8"))
    }

    pub fn write_tx(&mut self, tx: XsTx, path: &str, value: &str) -> Result<(), XsError> {
        let v = self.request(XsdSockmsgType::Write, tx, &[path.as_bytes(), value.as_bytes()], true)?;
        expect_ok(&v)
    }

    pub fn mkdir_tx(&mut self, tx: XsTx, path: &str) -> Result<(), XsError> {
        let v = self.request(XsdSockmsgType::Mkdir, tx, &[path.as_bytes()], false)?;
        expect_ok(&v)
    }

    pub fn rm_tx(&mut self, tx: XsTx, path: &str) -> Result<(), XsError> {
        let v = self.request(XsdSockmsgType::Rm, tx, &[path.as_bytes()], false)?;
        expect_ok(&v)
    }

    pub fn directory_tx(&mut self, tx: XsTx, path: &str) -> Result<Vec<String>, XsError> {
        let v = self.request(XsdSockmsgType::Directory, tx, &[path.as_bytes()], false)?;
        split_nul_terminated(&v)
    }

    pub fn read(&mut self, path: &str) -> Result<String, XsError> {
        self.read_tx(XsTx::NONE, path)
    }
    pub fn write(&mut self, path: &str, value: &str) -> Result<(), XsError> {
        self.write_tx(XsTx::NONE, path, value)
    }
    pub fn mkdir(&mut self, path: &str) -> Result<(), XsError> {
        self.mkdir_tx(XsTx::NONE, path)
    }
    pub fn rm(&mut self, path: &str) -> Result<(), XsError> {
        self.rm_tx(XsTx::NONE, path)
    }
    pub fn directory(&mut self, path: &str) -> Result<Vec<String>, XsError> {
        self.directory_tx(XsTx::NONE, path)
    }

    /// Registers a watch; xenstored fires it once right away, then on every change at or
    /// below `path`.
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        let v = self.request(XsdSockmsgType::Watch, XsTx::NONE, &[path.as_bytes(), token.as_bytes()], false)?;
        expect_ok(&v)
    }

    /// Removes a watch and drops its queued events: those of its token at or below its path.
    /// Events of other watches that share the token stay queued (security review L3: tpmback
    /// watches every frontend with one token).
    pub fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        let v = self.request(XsdSockmsgType::Unwatch, XsTx::NONE, &[path.as_bytes(), token.as_bytes()], false)?;
        self.watch_events.retain(|e| !(e.token == token && is_at_or_below(&e.path, path)));
        expect_ok(&v)
    }

    pub fn transaction_start(&mut self) -> Result<XsTx, XsError> {
        let v = self.request(XsdSockmsgType::TransactionStart, XsTx::NONE, &[b""], false)?;
        parse_tx_id(&v)
    }

    /// Commits (`commit = true`) or aborts a transaction. A commit that conflicted with
    /// another writer fails with `EAGAIN`.
    pub fn transaction_end(&mut self, tx: XsTx, commit: bool) -> Result<(), XsError> {
        let arg: &[u8] = if commit { b"T" } else { b"F" };
        let v = self.request(XsdSockmsgType::TransactionEnd, tx, &[arg], false)?;
        expect_ok(&v)
    }
}

/// True if `path` is `root` or a node below it (`a/b` is below `a`, `ab` is not).
fn is_at_or_below(path: &str, root: &str) -> bool {
    let root = root.trim_end_matches('/');
    path.strip_prefix(root).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The driver interface, natively: the same requests, the same errors.
impl<T: XsTransport> super::XenStore for XsClient<T> {
    fn read(&mut self, tx: XsTx, path: &str) -> Result<String, XsError> {
        self.read_tx(tx, path)
    }

    fn write(&mut self, tx: XsTx, path: &str, value: &str) -> Result<(), XsError> {
        self.write_tx(tx, path, value)
    }

    fn mkdir(&mut self, tx: XsTx, path: &str) -> Result<(), XsError> {
        self.mkdir_tx(tx, path)
    }

    fn rm(&mut self, tx: XsTx, path: &str) -> Result<(), XsError> {
        self.rm_tx(tx, path)
    }

    fn directory(&mut self, tx: XsTx, path: &str) -> Result<Vec<String>, XsError> {
        self.directory_tx(tx, path)
    }

    fn transaction_start(&mut self) -> Result<XsTx, XsError> {
        XsClient::transaction_start(self)
    }

    fn transaction_end(&mut self, tx: XsTx, commit: bool) -> Result<(), XsError> {
        XsClient::transaction_end(self, tx, commit)
    }

    fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        XsClient::watch(self, path, token)
    }

    fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        XsClient::unwatch(self, path, token)
    }

    fn next_watch_event(&mut self, token: &str) -> Option<String> {
        let _ = self.poll();
        self.take_watch_event_for(token).map(|e| e.path)
    }
}
