//! The few facts about TPM 1.2 / 2.0 frames that transports need: the 10-byte header with a
//! big-endian `paramSize`, and the 10-byte error responses a transport builds itself.
//! (TCG TPM Main Part 3 §1 "Command and response structure"; fact sheet §7.1.)

/// Size of a command or response header: `tag:u16 | paramSize:u32 | ordinal/returnCode:u32`.
pub const HEADER_LEN: usize = 10;

/// `TPM_TAG_RSP_COMMAND`: the response tag of an unauthenticated command.
pub const TPM_TAG_RSP_COMMAND: u16 = 0x00C4;
/// `TPM_BAD_PARAMETER`.
pub const TPM_BAD_PARAMETER: u32 = 3;
/// `TPM_FAIL`.
pub const TPM_FAIL: u32 = 9;
/// `TPM_SIZE`.
pub const TPM_SIZE: u32 = 23;

/// The `paramSize` field (big-endian u32 at offset 2), if the buffer has a header.
pub fn param_size(frame: &[u8]) -> Option<u32> {
    if frame.len() < HEADER_LEN {
        return None;
    }
    Some(u32::from_be_bytes([frame[2], frame[3], frame[4], frame[5]]))
}

/// The ordinal of a command (or return code of a response): big-endian u32 at offset 6.
pub fn ordinal(frame: &[u8]) -> Option<u32> {
    if frame.len() < HEADER_LEN {
        return None;
    }
    Some(u32::from_be_bytes([frame[6], frame[7], frame[8], frame[9]]))
}

/// The tag (big-endian u16 at offset 0).
pub fn tag(frame: &[u8]) -> Option<u16> {
    if frame.len() < 2 {
        return None;
    }
    Some(u16::from_be_bytes([frame[0], frame[1]]))
}

/// True if `frame` is a well-formed frame whose `paramSize` equals its length (the check Linux's
/// `tpm_try_transmit` makes on every response).
pub fn is_consistent(frame: &[u8]) -> bool {
    param_size(frame) == Some(frame.len() as u32)
}

/// A 10-byte error response: `00 C4 | 00 00 00 0A | rc`.
pub fn error_response(rc: u32) -> [u8; HEADER_LEN] {
    let t = TPM_TAG_RSP_COMMAND.to_be_bytes();
    let r = rc.to_be_bytes();
    [t[0], t[1], 0, 0, 0, 10, r[0], r[1], r[2], r[3]]
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
        assert_eq!(param_size(&e[..9]), None);
        assert!(!is_consistent(&[0, 0xC4, 0, 0, 0, 11, 0, 0, 0, 0]));
        assert_eq!(tag(&[1]), None);
    }
}
