//! The xenstore part of the interface: the client trait, its error and transaction types, and
//! the one transaction-retry loop (`drivers::xenbus::with_transaction` builds on it, the
//! kernel's selftest uses it directly). Below it, the one implementation of the protocol: the
//! pure wire codec (`wire`) and the transport-generic client (`client`), shared by the kernel
//! (over its shared ring) and by dom0 tools (`xen-dom0`, over `/dev/xen/xenbus` or xenstored's
//! socket).

pub mod client;
pub mod wire;

#[cfg(test)]
mod client_tests;

use alloc::string::String;
use alloc::vec::Vec;

/// Failure of a xenstore request: the error name xenstored sent (`ENOENT`, `EACCES`,
/// `EAGAIN`, …) or a local failure of the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XsError {
    /// No such node (`ENOENT`).
    NoEnt,
    /// Permission denied (`EACCES`).
    Access,
    /// Transaction conflict: redo the whole transaction (`EAGAIN`).
    Again,
    /// Any other error name from xenstored (`EEXIST`, `EINVAL`, …), or a local condition
    /// named by the implementation (no xenstore at all, in dom0 smoke mode).
    Other(String),
    /// The reply broke the protocol; the reason says how.
    Malformed(&'static str),
    /// The request (path + value) exceeds `XENSTORE_PAYLOAD_MAX` (`E2BIG`).
    TooLong,
    /// No reply before the client's deadline.
    Timeout,
}

impl XsError {
    /// The error for an `XS_ERROR` name (`"ENOENT"` → [`XsError::NoEnt`]).
    pub fn from_name(name: &str) -> XsError {
        match name {
            "ENOENT" => XsError::NoEnt,
            "EACCES" => XsError::Access,
            "EAGAIN" => XsError::Again,
            other => XsError::Other(String::from(other)),
        }
    }
}

impl core::fmt::Display for XsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            XsError::NoEnt => f.write_str("ENOENT"),
            XsError::Access => f.write_str("EACCES"),
            XsError::Again => f.write_str("EAGAIN"),
            XsError::Other(name) => f.write_str(name),
            XsError::Malformed(why) => write!(f, "malformed reply: {why}"),
            XsError::TooLong => f.write_str("request too long"),
            XsError::Timeout => f.write_str("timed out"),
        }
    }
}

/// A xenstore transaction id; [`XsTx::NONE`] (0) means "outside any transaction".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XsTx(pub u32);

impl XsTx {
    /// No transaction.
    pub const NONE: XsTx = XsTx(0);
}

/// The xenstore client (`xs_wire.h` requests). Relative paths are resolved by xenstored against
/// `/local/domain/<self>`; watch events report paths the way the watch was registered.
pub trait XenStore {
    /// `XS_READ`.
    fn read(&mut self, tx: XsTx, path: &str) -> Result<String, XsError>;
    /// `XS_WRITE` (creates missing parents).
    fn write(&mut self, tx: XsTx, path: &str, value: &str) -> Result<(), XsError>;
    /// `XS_MKDIR`.
    fn mkdir(&mut self, tx: XsTx, path: &str) -> Result<(), XsError>;
    /// `XS_RM` (recursive; removing a missing node is `NoEnt`).
    fn rm(&mut self, tx: XsTx, path: &str) -> Result<(), XsError>;
    /// `XS_DIRECTORY`: names of the children.
    fn directory(&mut self, tx: XsTx, path: &str) -> Result<Vec<String>, XsError>;
    /// `XS_TRANSACTION_START`.
    fn transaction_start(&mut self) -> Result<XsTx, XsError>;
    /// `XS_TRANSACTION_END`; `Err(Again)` means "conflict, start over".
    fn transaction_end(&mut self, tx: XsTx, commit: bool) -> Result<(), XsError>;
    /// `XS_WATCH`. Like xenstored, the watch fires once right after it is set.
    fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError>;
    /// `XS_UNWATCH`. Queued events of this watch (its token, at or below its path) are dropped;
    /// events of other watches sharing the token stay queued.
    fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError>;
    /// The oldest queued watch event for `token` (its path), removed from the queue. The kernel
    /// keeps one queue of `XS_WATCH_EVENT`s and hands each driver the events of its own token.
    fn next_watch_event(&mut self, token: &str) -> Option<String>;
}

/// How many times [`with_transaction`] starts a transaction before giving up on `EAGAIN`.
pub const TRANSACTION_RETRIES: u32 = 16;

/// Runs `body` inside a transaction and commits it, starting over (at most
/// [`TRANSACTION_RETRIES`] times in all) when the commit reports `EAGAIN`. Any error of the body
/// aborts the transaction and is returned; a commit that kept conflicting returns `Again`.
pub fn with_transaction<X, R, F>(xs: &mut X, mut body: F) -> Result<R, XsError>
where
    X: XenStore + ?Sized,
    F: FnMut(&mut X, XsTx) -> Result<R, XsError>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let tx = xs.transaction_start()?;
        let r = match body(xs, tx) {
            Ok(r) => r,
            Err(e) => {
                let _ = xs.transaction_end(tx, false);
                return Err(e);
            }
        };
        match xs.transaction_end(tx, true) {
            Ok(()) => return Ok(r),
            Err(XsError::Again) if attempt < TRANSACTION_RETRIES => continue,
            Err(e) => return Err(e),
        }
    }
}
