//! The xenstore wire codec (public/io/xs_wire.h): encoding requests (`xsd_sockmsg` header +
//! payload), reassembling replies from ring bytes, decoding reply payloads, mapping
//! `XS_ERROR` strings to errors and parsing watch events.
//!
//! Pure and host-tested. Every reply comes from xenstored, a peer: a malformed header, an
//! oversized length, a missing NUL or a non-UTF-8 value is an `XsError`, never a panic.

use alloc::string::String;
use alloc::vec::Vec;
use xen_abi::xs_wire::{XENSTORE_PAYLOAD_MAX, XSD_ERRORS, XSD_SOCKMSG_SIZE, XsdSockmsg, XsdSockmsgType};

pub use super::{XsError, XsTx};

/// Maps the payload of an `XS_ERROR` reply (`"ENOENT\0"`) to an error. Names that
/// xenstored does not define become `Malformed`.
pub fn error_from_payload(payload: &[u8]) -> XsError {
    let name = payload.strip_suffix(b"\0").unwrap_or(payload);
    XSD_ERRORS
        .iter()
        .find(|(n, _)| n.as_bytes() == name)
        .map(|(n, _)| XsError::from_name(n))
        .unwrap_or(XsError::Malformed("unknown XS_ERROR name"))
}

/// The errno value of an error xenstored named (`NoEnt` → 2); `None` for local failures.
pub fn errno(e: &XsError) -> Option<i32> {
    let name = match e {
        XsError::NoEnt => "ENOENT",
        XsError::Access => "EACCES",
        XsError::Again => "EAGAIN",
        XsError::Other(n) => n.as_str(),
        XsError::Malformed(_) | XsError::TooLong | XsError::Timeout => return None,
    };
    XSD_ERRORS.iter().find(|(m, _)| *m == name).map(|(_, v)| *v)
}

/// Encodes one request: header + payload parts, each part followed by a NUL except when
/// `last_raw` is set (a `WRITE` value is sent without a terminator).
pub fn encode_request(
    ty: XsdSockmsgType,
    req_id: u32,
    tx: XsTx,
    parts: &[&[u8]],
    last_raw: bool,
) -> Result<Vec<u8>, XsError> {
    let mut len = 0usize;
    for (i, p) in parts.iter().enumerate() {
        len += p.len() + if last_raw && i + 1 == parts.len() { 0 } else { 1 };
    }
    if len > XENSTORE_PAYLOAD_MAX {
        return Err(XsError::TooLong);
    }
    let mut out = Vec::with_capacity(XSD_SOCKMSG_SIZE + len);
    let hdr = XsdSockmsg { r#type: ty as u32, req_id, tx_id: tx.0, len: len as u32 };
    out.extend_from_slice(&encode_header(&hdr));
    for (i, p) in parts.iter().enumerate() {
        out.extend_from_slice(p);
        if !(last_raw && i + 1 == parts.len()) {
            out.push(0);
        }
    }
    Ok(out)
}

/// The 16 header bytes (native = little-endian on x86).
pub fn encode_header(h: &XsdSockmsg) -> [u8; XSD_SOCKMSG_SIZE] {
    let mut b = [0u8; XSD_SOCKMSG_SIZE];
    b[0..4].copy_from_slice(&h.r#type.to_le_bytes());
    b[4..8].copy_from_slice(&h.req_id.to_le_bytes());
    b[8..12].copy_from_slice(&h.tx_id.to_le_bytes());
    b[12..16].copy_from_slice(&h.len.to_le_bytes());
    b
}

/// Parses 16 header bytes; rejects lengths above `XENSTORE_PAYLOAD_MAX`.
pub fn decode_header(b: &[u8; XSD_SOCKMSG_SIZE]) -> Result<XsdSockmsg, XsError> {
    let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let h = XsdSockmsg { r#type: word(0), req_id: word(4), tx_id: word(8), len: word(12) };
    if h.len as usize > XENSTORE_PAYLOAD_MAX {
        return Err(XsError::Malformed("payload length above XENSTORE_PAYLOAD_MAX"));
    }
    Ok(h)
}

/// One complete message read from the response ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: XsdSockmsg,
    pub payload: Vec<u8>,
}

/// Reassembles messages from bytes as they arrive (a message may straddle several reads).
#[derive(Default)]
pub struct MessageReader {
    hdr: [u8; XSD_SOCKMSG_SIZE],
    hdr_len: usize,
    header: Option<XsdSockmsg>,
    payload: Vec<u8>,
}

impl MessageReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many bytes the reader wants next (never 0 for a fresh message).
    pub fn wanted(&self) -> usize {
        match &self.header {
            None => XSD_SOCKMSG_SIZE - self.hdr_len,
            Some(h) => h.len as usize - self.payload.len(),
        }
    }

    /// Feeds bytes; returns how many were used and a message if one completed. Call again
    /// with the rest. A bad header is reported once and the reader starts over.
    pub fn feed(&mut self, data: &[u8]) -> (usize, Result<Option<Message>, XsError>) {
        let mut used = 0;
        if self.header.is_none() {
            let n = (XSD_SOCKMSG_SIZE - self.hdr_len).min(data.len());
            self.hdr[self.hdr_len..self.hdr_len + n].copy_from_slice(&data[..n]);
            self.hdr_len += n;
            used += n;
            if self.hdr_len < XSD_SOCKMSG_SIZE {
                return (used, Ok(None));
            }
            match decode_header(&self.hdr) {
                Ok(h) => self.header = Some(h),
                Err(e) => {
                    self.hdr_len = 0;
                    return (used, Err(e));
                }
            }
        }
        let Some(h) = self.header else {
            return (used, Ok(None));
        };
        let n = (h.len as usize - self.payload.len()).min(data.len() - used);
        self.payload.extend_from_slice(&data[used..used + n]);
        used += n;
        if self.payload.len() == h.len as usize {
            let payload = core::mem::take(&mut self.payload);
            self.header = None;
            self.hdr_len = 0;
            return (used, Ok(Some(Message { header: h, payload })));
        }
        (used, Ok(None))
    }
}

/// A watch firing: the path that changed and the token given to `XS_WATCH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub path: String,
    pub token: String,
}

/// Parses an `XS_WATCH_EVENT` payload: `path\0token\0` (extra fields are ignored).
pub fn parse_watch_event(payload: &[u8]) -> Result<WatchEvent, XsError> {
    let mut fields = split_nul_terminated(payload)?;
    if fields.len() < 2 {
        return Err(XsError::Malformed("watch event without path and token"));
    }
    let token = fields.swap_remove(1);
    let path = fields.swap_remove(0);
    Ok(WatchEvent { path, token })
}

/// Splits a payload of NUL-terminated strings (a `DIRECTORY` reply). An empty payload is an
/// empty list; a final string without its NUL is accepted (some servers omit it).
pub fn split_nul_terminated(payload: &[u8]) -> Result<Vec<String>, XsError> {
    let body = payload.strip_suffix(b"\0").unwrap_or(payload);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split(|&b| b == 0)
        .map(|s| core::str::from_utf8(s).map(String::from).map_err(|_| XsError::Malformed("non-UTF-8 name")))
        .collect()
}

/// Checks an `"OK\0"` reply (WRITE, MKDIR, RM, WATCH, UNWATCH, TRANSACTION_END).
pub fn expect_ok(payload: &[u8]) -> Result<(), XsError> {
    match payload {
        b"OK\0" | b"OK" => Ok(()),
        _ => Err(XsError::Malformed("expected OK")),
    }
}

/// Decodes the `TRANSACTION_START` reply: the decimal id, NUL-terminated.
pub fn parse_tx_id(payload: &[u8]) -> Result<XsTx, XsError> {
    let s = payload.strip_suffix(b"\0").unwrap_or(payload);
    let s = core::str::from_utf8(s).map_err(|_| XsError::Malformed("transaction id"))?;
    match s.parse::<u32>() {
        Ok(0) | Err(_) => Err(XsError::Malformed("transaction id")),
        Ok(v) => Ok(XsTx(v)),
    }
}

/// Classifies a reply to a request of type `sent`: `XS_ERROR` becomes its error, a reply of
/// another type is malformed, else the payload is returned.
pub fn reply_payload(sent: XsdSockmsgType, msg: Message) -> Result<Vec<u8>, XsError> {
    match XsdSockmsgType::from_u32(msg.header.r#type) {
        Some(XsdSockmsgType::Error) => Err(error_from_payload(&msg.payload)),
        Some(t) if t == sent => Ok(msg.payload),
        _ => Err(XsError::Malformed("reply type does not match request")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn msg(ty: u32, req_id: u32, payload: &[u8]) -> Vec<u8> {
        let h = XsdSockmsg { r#type: ty, req_id, tx_id: 0, len: payload.len() as u32 };
        let mut v = encode_header(&h).to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn encodes_read_and_write() {
        let r = encode_request(XsdSockmsgType::Read, 7, XsTx::NONE, &[b"domid"], false).unwrap();
        assert_eq!(&r[..16], &[2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0]);
        assert_eq!(&r[16..], b"domid\0");
        let w = encode_request(XsdSockmsgType::Write, 1, XsTx(5), &[b"a/b", b"val"], true).unwrap();
        assert_eq!(&w[8..12], &5u32.to_le_bytes());
        assert_eq!(&w[12..16], &7u32.to_le_bytes());
        assert_eq!(&w[16..], b"a/b\0val");
        let watch = encode_request(XsdSockmsgType::Watch, 1, XsTx::NONE, &[b"p", b"tok"], false).unwrap();
        assert_eq!(&watch[16..], b"p\0tok\0");
        let too_long = vec![b'x'; XENSTORE_PAYLOAD_MAX];
        assert_eq!(encode_request(XsdSockmsgType::Read, 1, XsTx::NONE, &[&too_long], false), Err(XsError::TooLong));
    }

    #[test]
    fn reader_reassembles_split_messages() {
        let mut bytes = msg(2, 9, b"hello");
        bytes.extend(msg(15, 0, b"control/shutdown\0tok\0"));
        let mut r = MessageReader::new();
        let mut got = Vec::new();
        // Feed one byte at a time, as a slow ring would deliver it.
        for b in &bytes {
            let (used, res) = r.feed(core::slice::from_ref(b));
            assert_eq!(used, 1);
            if let Some(m) = res.unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].payload, b"hello");
        assert_eq!(got[0].header.req_id, 9);
        let ev = parse_watch_event(&got[1].payload).unwrap();
        assert_eq!(ev, WatchEvent { path: "control/shutdown".into(), token: "tok".into() });
        // Or all at once: first message, then the rest.
        let mut r = MessageReader::new();
        let (used, res) = r.feed(&bytes);
        assert_eq!(used, 21);
        assert!(res.unwrap().is_some());
        let (_, res) = r.feed(&bytes[used..]);
        assert!(res.unwrap().is_some());
    }

    #[test]
    fn zero_length_payload_completes() {
        let mut r = MessageReader::new();
        let (used, res) = r.feed(&msg(2, 1, b""));
        assert_eq!(used, 16);
        assert_eq!(res.unwrap().unwrap().payload, b"");
    }

    #[test]
    fn oversized_length_is_malformed() {
        let h = XsdSockmsg { r#type: 2, req_id: 1, tx_id: 0, len: 4097 };
        let mut r = MessageReader::new();
        let (_, res) = r.feed(&encode_header(&h));
        assert!(matches!(res, Err(XsError::Malformed(_))));
        assert_eq!(r.wanted(), 16);
    }

    #[test]
    fn error_replies_map_to_names() {
        let m =
            Message { header: XsdSockmsg { r#type: 16, req_id: 1, tx_id: 0, len: 7 }, payload: b"ENOENT\0".to_vec() };
        assert_eq!(reply_payload(XsdSockmsgType::Read, m), Err(XsError::NoEnt));
        assert_eq!(error_from_payload(b"EACCES"), XsError::Access);
        assert_eq!(error_from_payload(b"EAGAIN\0"), XsError::Again);
        assert!(matches!(error_from_payload(b"EWHAT\0"), XsError::Malformed(_)));
        assert!(matches!(error_from_payload(b""), XsError::Malformed(_)));
        assert_eq!(errno(&XsError::NoEnt), Some(2));
        assert_eq!(errno(&XsError::Timeout), None);
    }

    #[test]
    fn mismatched_reply_type_is_malformed() {
        let m = Message { header: XsdSockmsg { r#type: 1, req_id: 1, tx_id: 0, len: 0 }, payload: vec![] };
        assert!(matches!(reply_payload(XsdSockmsgType::Read, m), Err(XsError::Malformed(_))));
        let m = Message { header: XsdSockmsg { r#type: 999, req_id: 1, tx_id: 0, len: 0 }, payload: vec![] };
        assert!(matches!(reply_payload(XsdSockmsgType::Read, m), Err(XsError::Malformed(_))));
    }

    #[test]
    fn directory_lists() {
        assert_eq!(split_nul_terminated(b"a\0bc\0").unwrap(), vec!["a", "bc"]);
        assert_eq!(split_nul_terminated(b"a\0bc").unwrap(), vec!["a", "bc"]);
        assert_eq!(split_nul_terminated(b"").unwrap(), Vec::<String>::new());
        assert_eq!(split_nul_terminated(b"\0").unwrap(), Vec::<String>::new());
        assert!(split_nul_terminated(b"\xff\0").is_err());
    }

    #[test]
    fn malformed_watch_events() {
        assert!(parse_watch_event(b"").is_err());
        assert!(parse_watch_event(b"onlypath\0").is_err());
        assert!(parse_watch_event(b"\xff\0t\0").is_err());
        let ev = parse_watch_event(b"p\0t\0extra\0").unwrap();
        assert_eq!(ev.token, "t");
    }

    #[test]
    fn ok_and_tx_id() {
        assert_eq!(expect_ok(b"OK\0"), Ok(()));
        assert!(expect_ok(b"NO\0").is_err());
        assert!(expect_ok(b"").is_err());
        assert_eq!(parse_tx_id(b"42\0"), Ok(XsTx(42)));
        assert!(parse_tx_id(b"0\0").is_err());
        assert!(parse_tx_id(b"x\0").is_err());
        assert!(parse_tx_id(b"99999999999\0").is_err());
    }
}
