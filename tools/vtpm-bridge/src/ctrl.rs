//! The control channel of QEMU's `-tpmdev emulator` backend: swtpm's socket control commands
//! (swtpm's `tpm_ioctl.h`, "Commands used by the non-CUSE TPMs"), as QEMU's
//! `backends/tpm/tpm_emulator.c` sends them. A request is a big-endian `u32` command code and
//! a fixed-size payload; the reply is the command's `resp` structure, big-endian, of the size
//! QEMU reads (QEMU reads exactly that many bytes, so every reply here — an error too — has
//! the full size of its command's answer).
//!
//! The channel is a byte stream without lengths: a request's size follows from its code. So
//! this codec knows the payload of every command QEMU sends ([`payload_len`]); a code it does
//! not know cannot be framed, and [`decode`] then gives up the bytes it holds (swtpm, which
//! reads one message per `read`, does the same) and says so.
//!
//! This module is pure: bytes in, typed requests out, typed replies to bytes. What each
//! command does is `crate::session`'s.

/// `CMD_GET_CAPABILITY`: no payload; the reply is a `u64` of `PTM_CAP_*` bits.
pub const CMD_GET_CAPABILITY: u32 = 0x01;
/// `CMD_INIT`: `u32` init flags; reply `u32` result. A TPM power-on (TPM_Init / _TPM_Init).
pub const CMD_INIT: u32 = 0x02;
/// `CMD_SHUTDOWN`: no payload; reply `u32` result. QEMU sends it when it exits.
pub const CMD_SHUTDOWN: u32 = 0x03;
/// `CMD_GET_TPMESTABLISHED`: no payload; reply `u32` result, `u8` bit, 3 bytes padding.
pub const CMD_GET_TPMESTABLISHED: u32 = 0x04;
/// `CMD_SET_LOCALITY`: `u8` locality and 3 bytes padding (QEMU sends its whole 4-byte
/// `ptm_loc`); reply `u32` result.
pub const CMD_SET_LOCALITY: u32 = 0x05;
/// `CMD_HASH_START` (not used by QEMU; not served).
pub const CMD_HASH_START: u32 = 0x06;
/// `CMD_HASH_DATA` (not used by QEMU; not served).
pub const CMD_HASH_DATA: u32 = 0x07;
/// `CMD_HASH_END` (not used by QEMU; not served).
pub const CMD_HASH_END: u32 = 0x08;
/// `CMD_CANCEL_TPM_CMD`: no payload; reply `u32` result.
pub const CMD_CANCEL_TPM_CMD: u32 = 0x09;
/// `CMD_STORE_VOLATILE` (not used by QEMU; not served).
pub const CMD_STORE_VOLATILE: u32 = 0x0a;
/// `CMD_RESET_TPMESTABLISHED`: `u8` locality and 3 bytes padding; reply `u32` result.
pub const CMD_RESET_TPMESTABLISHED: u32 = 0x0b;
/// `CMD_GET_STATEBLOB`: `u32` flags, `u32` type, `u32` offset; reply `u32` result, `u32`
/// flags, `u32` total length, `u32` length, then the blob's bytes.
pub const CMD_GET_STATEBLOB: u32 = 0x0c;
/// `CMD_SET_STATEBLOB`: `u32` flags, `u32` type, `u32` length, then `length` bytes (QEMU
/// writes them separately); reply `u32` result.
pub const CMD_SET_STATEBLOB: u32 = 0x0d;
/// `CMD_STOP`: no payload; reply `u32` result.
pub const CMD_STOP: u32 = 0x0e;
/// `CMD_GET_CONFIG`: no payload; reply `u32` result, `u32` flags.
pub const CMD_GET_CONFIG: u32 = 0x0f;
/// `CMD_SET_DATAFD`: no payload, the data channel's descriptor rides along (SCM_RIGHTS);
/// reply `u32` result.
pub const CMD_SET_DATAFD: u32 = 0x10;
/// `CMD_SET_BUFFERSIZE`: `u32` wanted size (0 = query); reply `u32` result, `u32` size in
/// use, `u32` minimum, `u32` maximum.
pub const CMD_SET_BUFFERSIZE: u32 = 0x11;

/// `PTM_CAP_*` bits of the GET_CAPABILITY reply.
pub mod cap {
    pub const INIT: u64 = 1;
    pub const SHUTDOWN: u64 = 1 << 1;
    pub const GET_TPMESTABLISHED: u64 = 1 << 2;
    pub const SET_LOCALITY: u64 = 1 << 3;
    pub const HASHING: u64 = 1 << 4;
    pub const CANCEL_TPM_CMD: u64 = 1 << 5;
    pub const STORE_VOLATILE: u64 = 1 << 6;
    pub const RESET_TPMESTABLISHED: u64 = 1 << 7;
    pub const GET_STATEBLOB: u64 = 1 << 8;
    pub const SET_STATEBLOB: u64 = 1 << 9;
    pub const STOP: u64 = 1 << 10;
    pub const GET_CONFIG: u64 = 1 << 11;
    pub const SET_DATAFD: u64 = 1 << 12;
    pub const SET_BUFFERSIZE: u64 = 1 << 13;
}

/// Result codes the replies carry (TPM 1.2 return codes, as swtpm uses them; TPM Main Part 2
/// §16).
pub mod rc {
    pub const SUCCESS: u32 = 0;
    pub const BAD_PARAMETER: u32 = 0x03;
    pub const FAIL: u32 = 0x09;
    pub const BAD_ORDINAL: u32 = 0x0a;
    pub const BAD_LOCALITY: u32 = 0x3d;
}

/// `PTM_INIT_FLAG_DELETE_VOLATILE`: swtpm deletes its volatile state file after reading it.
pub const INIT_FLAG_DELETE_VOLATILE: u32 = 1;

/// One control request, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtrlRequest {
    GetCapability,
    Init {
        flags: u32,
    },
    Shutdown,
    GetTpmEstablished,
    SetLocality {
        locality: u8,
    },
    CancelTpmCmd,
    ResetTpmEstablished {
        locality: u8,
    },
    GetStateBlob {
        flags: u32,
        blob_type: u32,
        offset: u32,
    },
    /// The header; `length` bytes of blob follow on the channel (not part of the request).
    SetStateBlob {
        flags: u32,
        blob_type: u32,
        length: u32,
    },
    Stop,
    GetConfig,
    SetDataFd,
    SetBufferSize {
        size: u32,
    },
    /// A code swtpm knows but QEMU does not send (hashing, store-volatile): fixed payload,
    /// answered "not served".
    NotServed {
        code: u32,
    },
}

impl CtrlRequest {
    /// The command code.
    pub fn code(&self) -> u32 {
        match self {
            CtrlRequest::GetCapability => CMD_GET_CAPABILITY,
            CtrlRequest::Init { .. } => CMD_INIT,
            CtrlRequest::Shutdown => CMD_SHUTDOWN,
            CtrlRequest::GetTpmEstablished => CMD_GET_TPMESTABLISHED,
            CtrlRequest::SetLocality { .. } => CMD_SET_LOCALITY,
            CtrlRequest::CancelTpmCmd => CMD_CANCEL_TPM_CMD,
            CtrlRequest::ResetTpmEstablished { .. } => CMD_RESET_TPMESTABLISHED,
            CtrlRequest::GetStateBlob { .. } => CMD_GET_STATEBLOB,
            CtrlRequest::SetStateBlob { .. } => CMD_SET_STATEBLOB,
            CtrlRequest::Stop => CMD_STOP,
            CtrlRequest::GetConfig => CMD_GET_CONFIG,
            CtrlRequest::SetDataFd => CMD_SET_DATAFD,
            CtrlRequest::SetBufferSize { .. } => CMD_SET_BUFFERSIZE,
            CtrlRequest::NotServed { code } => *code,
        }
    }

    /// swtpm's name of the command, for log lines.
    pub fn name(&self) -> &'static str {
        command_name(self.code())
    }

    /// The request as QEMU writes it (the test client's encoder; the inverse of [`decode`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.code().to_be_bytes().to_vec();
        match self {
            CtrlRequest::Init { flags } => out.extend_from_slice(&flags.to_be_bytes()),
            CtrlRequest::SetLocality { locality } | CtrlRequest::ResetTpmEstablished { locality } => {
                out.extend_from_slice(&[*locality, 0, 0, 0])
            }
            CtrlRequest::GetStateBlob { flags, blob_type, offset } => {
                for v in [flags, blob_type, offset] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            CtrlRequest::SetStateBlob { flags, blob_type, length } => {
                for v in [flags, blob_type, length] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            CtrlRequest::SetBufferSize { size } => out.extend_from_slice(&size.to_be_bytes()),
            CtrlRequest::NotServed { code } => out.resize(4 + payload_len(*code).unwrap_or(0), 0),
            _ => {}
        }
        out
    }
}

/// swtpm's name of command `code`.
pub fn command_name(code: u32) -> &'static str {
    match code {
        CMD_GET_CAPABILITY => "CMD_GET_CAPABILITY",
        CMD_INIT => "CMD_INIT",
        CMD_SHUTDOWN => "CMD_SHUTDOWN",
        CMD_GET_TPMESTABLISHED => "CMD_GET_TPMESTABLISHED",
        CMD_SET_LOCALITY => "CMD_SET_LOCALITY",
        CMD_HASH_START => "CMD_HASH_START",
        CMD_HASH_DATA => "CMD_HASH_DATA",
        CMD_HASH_END => "CMD_HASH_END",
        CMD_CANCEL_TPM_CMD => "CMD_CANCEL_TPM_CMD",
        CMD_STORE_VOLATILE => "CMD_STORE_VOLATILE",
        CMD_RESET_TPMESTABLISHED => "CMD_RESET_TPMESTABLISHED",
        CMD_GET_STATEBLOB => "CMD_GET_STATEBLOB",
        CMD_SET_STATEBLOB => "CMD_SET_STATEBLOB",
        CMD_STOP => "CMD_STOP",
        CMD_GET_CONFIG => "CMD_GET_CONFIG",
        CMD_SET_DATAFD => "CMD_SET_DATAFD",
        CMD_SET_BUFFERSIZE => "CMD_SET_BUFFERSIZE",
        _ => "an unknown command",
    }
}

/// The payload size of command `code` (after its 4-byte code), or `None` for a code this
/// codec cannot frame. `CMD_HASH_DATA`'s length-prefixed data is not framed either (QEMU
/// never sends it).
pub fn payload_len(code: u32) -> Option<usize> {
    match code {
        CMD_GET_CAPABILITY
        | CMD_SHUTDOWN
        | CMD_GET_TPMESTABLISHED
        | CMD_HASH_START
        | CMD_HASH_END
        | CMD_CANCEL_TPM_CMD
        | CMD_STORE_VOLATILE
        | CMD_STOP
        | CMD_GET_CONFIG
        | CMD_SET_DATAFD => Some(0),
        CMD_INIT | CMD_SET_LOCALITY | CMD_RESET_TPMESTABLISHED | CMD_SET_BUFFERSIZE => Some(4),
        CMD_GET_STATEBLOB | CMD_SET_STATEBLOB => Some(12),
        _ => None,
    }
}

/// What [`decode`] found at the start of the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Not a whole request yet: read more.
    NeedMore,
    /// A request and the number of bytes it took.
    Request { request: CtrlRequest, consumed: usize },
}

/// Why the buffer's start is not a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtrlError {
    /// A code that cannot be framed (`CMD_HASH_DATA`, `CMD_GET_INFO`, or not swtpm's at all):
    /// the whole buffer (`discarded` bytes) is dropped, the caller answers `TPM_BAD_ORDINAL`.
    UnknownCommand { code: u32, discarded: usize },
}

impl core::fmt::Display for CtrlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CtrlError::UnknownCommand { code, discarded } => write!(
                f,
                "control command {code:#010x} ({}) is not one QEMU sends; its {discarded} byte(s) were dropped",
                command_name(*code)
            ),
        }
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        v.copy_from_slice(s);
    }
    u32::from_be_bytes(v)
}

/// Decodes the request at the start of `buf`.
pub fn decode(buf: &[u8]) -> Result<Decoded, CtrlError> {
    if buf.len() < 4 {
        return Ok(Decoded::NeedMore);
    }
    let code = be32(buf, 0);
    let Some(len) = payload_len(code) else {
        return Err(CtrlError::UnknownCommand { code, discarded: buf.len() });
    };
    if buf.len() < 4 + len {
        return Ok(Decoded::NeedMore);
    }
    let p = &buf[4..4 + len];
    let request = match code {
        CMD_GET_CAPABILITY => CtrlRequest::GetCapability,
        CMD_INIT => CtrlRequest::Init { flags: be32(p, 0) },
        CMD_SHUTDOWN => CtrlRequest::Shutdown,
        CMD_GET_TPMESTABLISHED => CtrlRequest::GetTpmEstablished,
        CMD_SET_LOCALITY => CtrlRequest::SetLocality { locality: p[0] },
        CMD_CANCEL_TPM_CMD => CtrlRequest::CancelTpmCmd,
        CMD_RESET_TPMESTABLISHED => CtrlRequest::ResetTpmEstablished { locality: p[0] },
        CMD_GET_STATEBLOB => CtrlRequest::GetStateBlob { flags: be32(p, 0), blob_type: be32(p, 4), offset: be32(p, 8) },
        CMD_SET_STATEBLOB => CtrlRequest::SetStateBlob { flags: be32(p, 0), blob_type: be32(p, 4), length: be32(p, 8) },
        CMD_STOP => CtrlRequest::Stop,
        CMD_GET_CONFIG => CtrlRequest::GetConfig,
        CMD_SET_DATAFD => CtrlRequest::SetDataFd,
        CMD_SET_BUFFERSIZE => CtrlRequest::SetBufferSize { size: be32(p, 0) },
        other => CtrlRequest::NotServed { code: other },
    };
    Ok(Decoded::Request { request, consumed: 4 + len })
}

/// A control reply, in the layout of its command's `resp` structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtrlResponse {
    /// `ptm_res` alone (4 bytes).
    Result(u32),
    /// `ptm_cap` (8 bytes).
    Capability(u64),
    /// `ptm_est.resp` (8 bytes: result, bit, padding).
    Established { result: u32, bit: bool },
    /// `ptm_setbuffersize.resp` (16 bytes).
    BufferSize { result: u32, size: u32, min: u32, max: u32 },
    /// `ptm_getconfig.resp` (8 bytes).
    Config { result: u32, flags: u32 },
    /// `ptm_getstate.resp` up to its data (16 bytes) and the data.
    StateBlob { result: u32, flags: u32, data: Vec<u8> },
}

impl CtrlResponse {
    /// The reply to `request` carrying only the result code `rc`, in that command's layout
    /// (QEMU reads the full layout even when the result is an error).
    pub fn error_for(request: &CtrlRequest, rc: u32) -> CtrlResponse {
        match request {
            CtrlRequest::GetTpmEstablished => CtrlResponse::Established { result: rc, bit: false },
            CtrlRequest::SetBufferSize { .. } => CtrlResponse::BufferSize { result: rc, size: 0, min: 0, max: 0 },
            CtrlRequest::GetConfig => CtrlResponse::Config { result: rc, flags: 0 },
            CtrlRequest::GetStateBlob { .. } => CtrlResponse::StateBlob { result: rc, flags: 0, data: Vec::new() },
            _ => CtrlResponse::Result(rc),
        }
    }

    /// The result code (0 for a capability list).
    pub fn result(&self) -> u32 {
        match self {
            CtrlResponse::Result(r)
            | CtrlResponse::Established { result: r, .. }
            | CtrlResponse::BufferSize { result: r, .. }
            | CtrlResponse::Config { result: r, .. }
            | CtrlResponse::StateBlob { result: r, .. } => *r,
            CtrlResponse::Capability(_) => 0,
        }
    }

    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        match self {
            CtrlResponse::Result(r) => out.extend_from_slice(&r.to_be_bytes()),
            CtrlResponse::Capability(c) => out.extend_from_slice(&c.to_be_bytes()),
            CtrlResponse::Established { result, bit } => {
                out.extend_from_slice(&result.to_be_bytes());
                out.extend_from_slice(&[u8::from(*bit), 0, 0, 0]);
            }
            CtrlResponse::BufferSize { result, size, min, max } => {
                for v in [result, size, min, max] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            CtrlResponse::Config { result, flags } => {
                out.extend_from_slice(&result.to_be_bytes());
                out.extend_from_slice(&flags.to_be_bytes());
            }
            CtrlResponse::StateBlob { result, flags, data } => {
                let n = u32::try_from(data.len()).unwrap_or(u32::MAX);
                for v in [*result, *flags, n, n] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                out.extend_from_slice(data);
            }
        }
        out
    }

    /// The size of the reply QEMU reads for command `code` (the test client's decoder),
    /// GET_STATEBLOB's header only.
    pub fn wire_len(code: u32) -> usize {
        match code {
            CMD_GET_CAPABILITY | CMD_GET_TPMESTABLISHED | CMD_GET_CONFIG => 8,
            CMD_SET_BUFFERSIZE | CMD_GET_STATEBLOB => 16,
            _ => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request QEMU sends, as bytes, decodes to itself and back.
    #[test]
    fn every_command_round_trips() {
        let all = [
            CtrlRequest::GetCapability,
            CtrlRequest::Init { flags: INIT_FLAG_DELETE_VOLATILE },
            CtrlRequest::Shutdown,
            CtrlRequest::GetTpmEstablished,
            CtrlRequest::SetLocality { locality: 3 },
            CtrlRequest::CancelTpmCmd,
            CtrlRequest::ResetTpmEstablished { locality: 4 },
            CtrlRequest::GetStateBlob { flags: 1, blob_type: 2, offset: 0 },
            CtrlRequest::SetStateBlob { flags: 2, blob_type: 1, length: 77 },
            CtrlRequest::Stop,
            CtrlRequest::GetConfig,
            CtrlRequest::SetDataFd,
            CtrlRequest::SetBufferSize { size: 4096 },
            CtrlRequest::NotServed { code: CMD_HASH_START },
            CtrlRequest::NotServed { code: CMD_STORE_VOLATILE },
        ];
        for r in all {
            let bytes = r.encode();
            assert_eq!(bytes.len(), 4 + payload_len(r.code()).unwrap(), "{r:?}");
            assert_eq!(decode(&bytes), Ok(Decoded::Request { request: r.clone(), consumed: bytes.len() }));
            // every shorter prefix asks for more, never errs or panics
            for n in 0..bytes.len() {
                assert_eq!(decode(&bytes[..n]), Ok(Decoded::NeedMore), "{r:?} prefix {n}");
            }
            assert_ne!(r.name(), "an unknown command");
        }
    }

    /// The exact bytes QEMU's `tpm_emulator.c` writes (its structures, big-endian).
    #[test]
    fn qemu_layouts() {
        assert_eq!(CtrlRequest::SetLocality { locality: 2 }.encode(), [0, 0, 0, 5, 2, 0, 0, 0]);
        assert_eq!(CtrlRequest::Init { flags: 0 }.encode(), [0, 0, 0, 2, 0, 0, 0, 0]);
        assert_eq!(CtrlRequest::SetBufferSize { size: 0x1000 }.encode(), [0, 0, 0, 0x11, 0, 0, 0x10, 0]);
        assert_eq!(CtrlRequest::SetDataFd.encode(), [0, 0, 0, 0x10]);
        assert_eq!(CtrlResponse::Capability(0x3fff).encode(), [0, 0, 0, 0, 0, 0, 0x3f, 0xff]);
        assert_eq!(CtrlResponse::Established { result: 0, bit: true }.encode(), [0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(
            CtrlResponse::BufferSize { result: 0, size: 4088, min: 1024, max: 4088 }.encode(),
            [0, 0, 0, 0, 0, 0, 0x0f, 0xf8, 0, 0, 4, 0, 0, 0, 0x0f, 0xf8]
        );
        assert_eq!(CtrlResponse::StateBlob { result: 9, flags: 0, data: vec![] }.encode().len(), 16);
        assert_eq!(CtrlResponse::Config { result: 0, flags: 0 }.encode().len(), 8);
    }

    /// An error reply has its command's full size: QEMU reads that many bytes whatever the result.
    #[test]
    fn error_replies_keep_the_commands_size() {
        // (CMD_GET_CAPABILITY cannot fail: its reply has no result field)
        for code in 2..=0x11u32 {
            let Ok(Decoded::Request { request, .. }) = decode(&{
                let mut b = code.to_be_bytes().to_vec();
                b.resize(4 + payload_len(code).unwrap_or(0), 0);
                b
            }) else {
                continue;
            };
            let bytes = CtrlResponse::error_for(&request, rc::FAIL).encode();
            assert_eq!(bytes.len(), CtrlResponse::wire_len(code).max(4), "{}", command_name(code));
            assert_eq!(&bytes[..4], &rc::FAIL.to_be_bytes());
        }
    }

    #[test]
    fn two_requests_in_one_buffer_decode_one_at_a_time() {
        let mut b = CtrlRequest::SetLocality { locality: 1 }.encode();
        b.extend(CtrlRequest::Stop.encode());
        let Ok(Decoded::Request { request, consumed }) = decode(&b) else { panic!() };
        assert_eq!((request, consumed), (CtrlRequest::SetLocality { locality: 1 }, 8));
        assert_eq!(decode(&b[8..]), Ok(Decoded::Request { request: CtrlRequest::Stop, consumed: 4 }));
    }

    #[test]
    fn malformed_input_is_a_clear_error() {
        for code in [0u32, CMD_HASH_DATA, 0x12, 0x13, 0xffff_ffff] {
            let b = [&code.to_be_bytes()[..], &[1, 2, 3]].concat();
            let e = decode(&b).unwrap_err();
            assert_eq!(e, CtrlError::UnknownCommand { code, discarded: 7 });
            assert!(e.to_string().contains("dropped"), "{e}");
        }
    }
}
