//! Small xenbus helpers shared by the split drivers: reading and switching `state` nodes,
//! reading numeric keys, and running a xenstore transaction with retry on `EAGAIN`.
//!
//! Nothing here blocks; nothing here panics on whatever a peer wrote into xenstore.

use alloc::format;
use alloc::string::String;

use crate::hv::{XenStore, XenbusState, XsError, XsTx};

/// Why a xenbus operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XenbusError {
    /// A xenstore request failed.
    Store(XsError),
    /// A node holds something that does not parse (path).
    BadValue(String),
    /// A transaction kept conflicting.
    TooManyRetries,
}

impl From<XsError> for XenbusError {
    fn from(e: XsError) -> Self {
        XenbusError::Store(e)
    }
}

/// Joins a directory and a key.
pub fn join(dir: &str, key: &str) -> String {
    format!("{}/{}", dir.trim_end_matches('/'), key)
}

/// Reads `<dir>/state`. A node that exists but holds garbage reads as `Ok(None)`.
pub fn read_state<X: XenStore + ?Sized>(xs: &mut X, dir: &str) -> Result<Option<XenbusState>, XsError> {
    let v = xs.read(XsTx::NONE, &join(dir, "state"))?;
    Ok(XenbusState::parse(&v))
}

/// Writes `<dir>/state` unless it already holds `state` (re-read first, as Mini-OS does, so a
/// value changed behind our back by the toolstack is not rewritten needlessly). Returns whether
/// it wrote.
pub fn switch_state<X: XenStore + ?Sized>(xs: &mut X, dir: &str, state: XenbusState) -> Result<bool, XsError> {
    let path = join(dir, "state");
    if let Ok(cur) = xs.read(XsTx::NONE, &path)
        && XenbusState::parse(&cur) == Some(state)
    {
        return Ok(false);
    }
    xs.write(XsTx::NONE, &path, state.as_str())?;
    Ok(true)
}

/// Reads a decimal unsigned key (`ring-ref`, `event-channel`, `sectors`, …).
pub fn read_u64<X: XenStore + ?Sized>(xs: &mut X, path: &str) -> Result<u64, XenbusError> {
    let v = xs.read(XsTx::NONE, path)?;
    parse_u64(&v).ok_or_else(|| XenbusError::BadValue(String::from(path)))
}

/// Reads a decimal key that may be missing (missing → `default`; garbage → error).
pub fn read_u64_or<X: XenStore + ?Sized>(xs: &mut X, path: &str, default: u64) -> Result<u64, XenbusError> {
    match xs.read(XsTx::NONE, path) {
        Ok(v) => parse_u64(&v).ok_or_else(|| XenbusError::BadValue(String::from(path))),
        Err(XsError::NoEnt) => Ok(default),
        Err(e) => Err(e.into()),
    }
}

/// Parses a decimal number as written by `%u`/`%llu` (a trailing NUL tolerated).
pub fn parse_u64(s: &str) -> Option<u64> {
    let t = s.trim_end_matches('\0').trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Runs `body` inside a transaction, retrying on `EAGAIN` (the one retry loop,
/// [`xen_hv::with_transaction`]); a transaction that kept conflicting is `TooManyRetries`.
pub fn with_transaction<X, F>(xs: &mut X, body: F) -> Result<(), XenbusError>
where
    X: XenStore + ?Sized,
    F: FnMut(&mut X, XsTx) -> Result<(), XsError>,
{
    match xen_hv::with_transaction(xs, body) {
        Ok(()) => Ok(()),
        Err(XsError::Again) => Err(XenbusError::TooManyRetries),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_u64("12"), Some(12));
        assert_eq!(parse_u64("12\0"), Some(12));
        assert_eq!(parse_u64("-1"), None);
        assert_eq!(parse_u64(""), None);
        assert_eq!(parse_u64("0x10"), None);
        assert_eq!(parse_u64("99999999999999999999999"), None);
        assert_eq!(join("a/b/", "state"), "a/b/state");
    }
}
