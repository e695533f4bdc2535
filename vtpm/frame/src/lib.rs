//! The facts about TPM command and response frames that every side needs (transports,
//! clients, the vtpm, later the engines): the 10-byte header `tag:u16 | paramSize:u32 |
//! ordinal (command) or returnCode (response):u32`, all big-endian (TCG TPM Main Part 3 §1
//! "Command and response structure"; TPM 2.0 Part 1 §18 uses the same layout with its own
//! tags), the TPM 1.2 tags `0x00C1`–`0x00C6` and the TPM 2.0 tags `0x8001`/`0x8002`, the
//! consistency check `paramSize == length`, and the 10-byte error responses a transport
//! builds itself.
//!
//! Pure and allocation-only: [`command`] builds a frame; everything else reads or writes
//! fixed-size arrays. Used by `drivers` (tpmback, tpmfront, tpm_tis) and the `vtpm` image.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

/// Size of a command or response header.
pub const HEADER_LEN: usize = 10;

/// `TPM_TAG_RQU_COMMAND`: a TPM 1.2 command without authorization.
pub const TPM_TAG_RQU_COMMAND: u16 = 0x00C1;
/// `TPM_TAG_RQU_AUTH1_COMMAND`.
pub const TPM_TAG_RQU_AUTH1_COMMAND: u16 = 0x00C2;
/// `TPM_TAG_RQU_AUTH2_COMMAND`.
pub const TPM_TAG_RQU_AUTH2_COMMAND: u16 = 0x00C3;
/// `TPM_TAG_RSP_COMMAND`: the response tag of an unauthenticated command.
pub const TPM_TAG_RSP_COMMAND: u16 = 0x00C4;
/// `TPM_TAG_RSP_AUTH1_COMMAND`.
pub const TPM_TAG_RSP_AUTH1_COMMAND: u16 = 0x00C5;
/// `TPM_TAG_RSP_AUTH2_COMMAND`.
pub const TPM_TAG_RSP_AUTH2_COMMAND: u16 = 0x00C6;
/// `TPM_ST_NO_SESSIONS` (TPM 2.0).
pub const TPM_ST_NO_SESSIONS: u16 = 0x8001;
/// `TPM_ST_SESSIONS` (TPM 2.0).
pub const TPM_ST_SESSIONS: u16 = 0x8002;

/// `TPM_SUCCESS` / `TPM_RC_SUCCESS`.
pub const TPM_SUCCESS: u32 = 0;
/// `TPM_BAD_PARAMETER`.
pub const TPM_BAD_PARAMETER: u32 = 3;
/// `TPM_FAIL`.
pub const TPM_FAIL: u32 = 9;
/// `TPM_SIZE`.
pub const TPM_SIZE: u32 = 23;

/// Which TPM family a tag belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// TPM 1.2 (tags `0x00C1`–`0x00C6`).
    Tpm12,
    /// TPM 2.0 (tags `0x8001`, `0x8002`).
    Tpm20,
}

impl Family {
    /// The family of `tag`, or `None` for a tag neither family uses.
    pub const fn of_tag(tag: u16) -> Option<Family> {
        match tag {
            0x00C1..=0x00C6 => Some(Family::Tpm12),
            TPM_ST_NO_SESSIONS | TPM_ST_SESSIONS => Some(Family::Tpm20),
            _ => None,
        }
    }
}

/// A decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The tag.
    pub tag: u16,
    /// `paramSize`: the whole frame's length as the sender claims it.
    pub param_size: u32,
    /// The ordinal (command code) of a command, or the return code of a response.
    pub code: u32,
}

impl Header {
    /// The header at the start of `frame`, if it is long enough.
    pub fn parse(frame: &[u8]) -> Option<Header> {
        let h: &[u8; HEADER_LEN] = frame.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Header {
            tag: u16::from_be_bytes([h[0], h[1]]),
            param_size: u32::from_be_bytes([h[2], h[3], h[4], h[5]]),
            code: u32::from_be_bytes([h[6], h[7], h[8], h[9]]),
        })
    }

    /// The 10 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let (t, p, c) = (self.tag.to_be_bytes(), self.param_size.to_be_bytes(), self.code.to_be_bytes());
        [t[0], t[1], p[0], p[1], p[2], p[3], c[0], c[1], c[2], c[3]]
    }
}

/// The `paramSize` field, if the buffer has a header.
pub fn param_size(frame: &[u8]) -> Option<u32> {
    Header::parse(frame).map(|h| h.param_size)
}

/// The ordinal of a command (or return code of a response), if the buffer has a header.
pub fn ordinal(frame: &[u8]) -> Option<u32> {
    Header::parse(frame).map(|h| h.code)
}

/// The return code of a response, if the buffer has a header.
pub fn return_code(frame: &[u8]) -> Option<u32> {
    ordinal(frame)
}

/// The tag (big-endian u16 at offset 0), if the buffer has one.
pub fn tag(frame: &[u8]) -> Option<u16> {
    let t = frame.get(..2)?;
    Some(u16::from_be_bytes([t[0], t[1]]))
}

/// True if `frame` is a well-formed frame whose `paramSize` equals its length (the check Linux's
/// `tpm_try_transmit` makes on every response).
pub fn is_consistent(frame: &[u8]) -> bool {
    param_size(frame) == Some(frame.len() as u32)
}

/// A 10-byte TPM 1.2 error response: `00 C4 | 00 00 00 0A | rc`.
pub fn error_response(rc: u32) -> [u8; HEADER_LEN] {
    error_response_tagged(TPM_TAG_RSP_COMMAND, rc)
}

/// A 10-byte error response with `tag` (`TPM_ST_NO_SESSIONS` for TPM 2.0).
pub fn error_response_tagged(tag: u16, rc: u32) -> [u8; HEADER_LEN] {
    Header { tag, param_size: HEADER_LEN as u32, code: rc }.encode()
}

/// A whole frame: the header (with `paramSize` = 10 + `body.len()`) followed by `body`.
/// Saturates `paramSize` at `u32::MAX` (such a frame is then inconsistent, never truncated).
pub fn command(tag: u16, ordinal: u32, body: &[u8]) -> Vec<u8> {
    let size = u32::try_from(HEADER_LEN + body.len()).unwrap_or(u32::MAX);
    let mut v = Vec::with_capacity(HEADER_LEN + body.len());
    v.extend_from_slice(&Header { tag, param_size: size, code: ordinal }.encode());
    v.extend_from_slice(body);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields() {
        let e = error_response(TPM_SIZE);
        assert_eq!(e, [0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 23]);
        assert!(is_consistent(&e));
        assert_eq!(param_size(&e), Some(10));
        assert_eq!(ordinal(&e), Some(23));
        assert_eq!(return_code(&e), Some(23));
        assert_eq!(param_size(&e[..9]), None);
        assert!(!is_consistent(&[0, 0xC4, 0, 0, 0, 11, 0, 0, 0, 0]));
        assert_eq!(tag(&[1]), None);
        assert_eq!(tag(&e), Some(TPM_TAG_RSP_COMMAND));
    }

    #[test]
    fn commands_and_families() {
        // TPM_Startup(ST_CLEAR) and TPM2_SelfTest(YES) as the fact sheet spells them
        assert_eq!(command(TPM_TAG_RQU_COMMAND, 0x99, &[0, 1]), [0, 0xC1, 0, 0, 0, 12, 0, 0, 0, 0x99, 0, 1]);
        assert_eq!(command(TPM_ST_NO_SESSIONS, 0x143, &[1]), [0x80, 1, 0, 0, 0, 11, 0, 0, 1, 0x43, 1]);
        let h = Header::parse(&command(TPM_ST_SESSIONS, 7, &[9; 5])).unwrap();
        assert_eq!(h, Header { tag: TPM_ST_SESSIONS, param_size: 15, code: 7 });
        assert_eq!(Header::parse(&h.encode()), Some(h));
        assert_eq!(error_response_tagged(TPM_ST_NO_SESSIONS, 0x101), [0x80, 1, 0, 0, 0, 10, 0, 0, 1, 1]);
        for t in 0xC1..=0xC6 {
            assert_eq!(Family::of_tag(t), Some(Family::Tpm12));
        }
        assert_eq!(Family::of_tag(0x8001), Some(Family::Tpm20));
        assert_eq!(Family::of_tag(0x8002), Some(Family::Tpm20));
        assert_eq!(Family::of_tag(0x00C7), None);
        assert_eq!(Family::of_tag(0), None);
    }
}
