//! The data channel: raw TPM frames (TPM 1.2 / TPM 2.0 header: `u16` tag, `u32` size,
//! `u32` ordinal or return code, big-endian), one command in, its response out — what QEMU's
//! `tpm_emulator_unix_tx_bufs` writes and reads. The size in the header frames the stream;
//! [`fatal_response`] is what the guest gets when the TPM cannot answer.

/// A TPM header's length.
pub const HEADER_LEN: usize = 10;

/// TPM 1.2 `TPM_TAG_RSP_COMMAND`.
const TAG_RSP_COMMAND: u16 = 0x00C4;
/// TPM 2.0 `TPM_ST_NO_SESSIONS`.
const ST_NO_SESSIONS: u16 = 0x8001;
/// TPM 2.0 `TPM_ST_SESSIONS`.
const ST_SESSIONS: u16 = 0x8002;
/// TPM 1.2 `TPM_FAIL`.
pub const TPM_FAIL: u32 = 0x09;
/// TPM 2.0 `TPM_RC_FAILURE`.
pub const TPM_RC_FAILURE: u32 = 0x101;

/// The frame size a header announces.
pub fn frame_size(header: &[u8; HEADER_LEN]) -> usize {
    u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize
}

/// Whether the command is a TPM 2.0 one (tag 0x8001 or 0x8002).
pub fn is_tpm2(command: &[u8]) -> bool {
    matches!(command.get(..2), Some(&[a, b]) if matches!(u16::from_be_bytes([a, b]), ST_NO_SESSIONS | ST_SESSIONS))
}

/// The 10-byte failure response for `command`: TPM 2.0 `TPM_RC_FAILURE` under tag 0x8001
/// for a TPM 2.0 command, else TPM 1.2 `TPM_FAIL` under tag 0x00C4 (what QEMU itself writes
/// when its backend fails). The guest's driver sees a failed command, not a hang.
pub fn fatal_response(command: &[u8]) -> Vec<u8> {
    let (tag, rc) = if is_tpm2(command) { (ST_NO_SESSIONS, TPM_RC_FAILURE) } else { (TAG_RSP_COMMAND, TPM_FAIL) };
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(&tag.to_be_bytes());
    out.extend_from_slice(&(HEADER_LEN as u32).to_be_bytes());
    out.extend_from_slice(&rc.to_be_bytes());
    out
}

/// Whether `response` is one whole TPM frame (header size = length).
pub fn is_whole_frame(response: &[u8]) -> bool {
    response.len() >= HEADER_LEN
        && response.get(2..6).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize) == Some(response.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_responses_by_family() {
        assert_eq!(fatal_response(&[0, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x65]), [0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 9]);
        assert_eq!(fatal_response(&[0x80, 0x01, 0, 0, 0, 12]), [0x80, 1, 0, 0, 0, 10, 0, 0, 1, 1]);
        assert_eq!(fatal_response(&[0x80, 0x02]), [0x80, 1, 0, 0, 0, 10, 0, 0, 1, 1]);
        assert_eq!(fatal_response(&[]), [0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 9]);
        assert!(is_whole_frame(&fatal_response(&[])));
        assert!(!is_whole_frame(&[0, 0xC4, 0, 0, 0, 11, 0, 0, 0, 0]));
        assert_eq!(frame_size(&[0, 0xC1, 0, 0, 1, 2, 0, 0, 0, 0]), 258);
    }
}
