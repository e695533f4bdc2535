//! The vtpm ⇄ manager messages (fact sheet §7; `xen:stubdom/vtpmmgr/vtpm_manager.h`). They use
//! TPM 1.2 framing (`tpm-frame`: `tag | paramSize | ordinal`, replies `tag | paramSize |
//! returnCode`) over the same shared-page transport (the vtpm's tpmfront to the manager's
//! tpmback), with the manager's own tags:
//!
//! | tag | value | use |
//! |---|---|---|
//! | `VTPM_TAG_REQ` | `0x01C1` | vTPM → manager (SAVEHASHKEY, LOADHASHKEY, GET_BOOT_HASH, GET_QUOTE) |
//! | `VTPM_TAG_REQ2` | `0x01C2` | management (groups, vTPM records) |
//! | `VTPM_TAG_RSP` | `0x01C4` | the reply to both on success |
//!
//! plus raw TPM 1.2 passthroughs (tag `0x00C1`) of `TPM_GetRandom` (the vtpm's RNG source:
//! the seam `vtpm::entropy` will use with issue 8) and `TPM_PCRRead` (`hwinitpcr=`).
//! Dispatcher-level errors are 10-byte replies with `tag + 3`; requests shorter than a header
//! get `TPM_BAD_PARAMETER` with tag `0x00C4`.
//!
//! Decoded here: the header and the shapes of SAVEHASHKEY (a 52..=64-byte blob: SHA-1 of the
//! encrypted state ‖ its 32-byte key, and up to 12 more bytes), LOADHASHKEY (no parameters;
//! replies with 52 or 64 bytes), GET_BOOT_HASH (no parameters; replies with 20 bytes), and the
//! two passthroughs (exactly 14 bytes each). GET_QUOTE and the management ordinals are
//! recognised by tag and ordinal only ([`Request::Other`]): their payloads are not decoded yet.

use alloc::vec::Vec;

use tpm_frame::{HEADER_LEN, Header, TPM_BAD_PARAMETER, TPM_SUCCESS, TPM_TAG_RQU_COMMAND, TPM_TAG_RSP_COMMAND};
use zeroize::Zeroizing;

/// vTPM → manager commands.
pub const VTPM_TAG_REQ: u16 = 0x01C1;
/// Management commands.
pub const VTPM_TAG_REQ2: u16 = 0x01C2;
/// The reply to a REQ or REQ2 command on success.
pub const VTPM_TAG_RSP: u16 = 0x01C4;
/// Defined by the C manager, unused (a REQ2 error reply has it, by the `tag + 3` rule).
pub const VTPM_TAG_RSP2: u16 = 0x01C5;

/// `VTPM_ORD_SAVEHASHKEY`: store the vTPM's hash-and-key blob.
pub const VTPM_ORD_SAVEHASHKEY: u32 = 0x0000_0001;
/// `VTPM_ORD_LOADHASHKEY`: return the stored blob.
pub const VTPM_ORD_LOADHASHKEY: u32 = 0x0000_0002;
/// `VTPM_ORD_GET_BOOT_HASH`: the vTPM's "kernel hash".
pub const VTPM_ORD_GET_BOOT_HASH: u32 = 0x0000_0003;
/// `VTPM_ORD_GET_QUOTE`: a hardware quote over vTPM data (deep quote).
pub const VTPM_ORD_GET_QUOTE: u32 = 0x0000_0004;
/// `TPM_ORD_GetRandom` (passthrough).
pub const TPM_ORD_GET_RANDOM: u32 = 0x46;
/// `TPM_ORD_PcrRead` (passthrough).
pub const TPM_ORD_PCR_READ: u32 = 0x15;

/// The blob of SAVEHASHKEY / LOADHASHKEY: SHA-1 (20) ‖ AES-256 key (32).
pub const HASHKEY_LEN: usize = 52;
/// The longest blob the manager stores.
pub const HASHKEY_MAX: usize = 64;
/// The length of both passthrough requests.
pub const PASSTHROUGH_LEN: usize = 14;

/// `TPM_BAD_ORDINAL`.
pub const TPM_BAD_ORDINAL: u32 = 10;
/// The rc of a LOADHASHKEY error reply when the manager holds no record for the vtpm's uuid
/// (`TPM_BADINDEX`): a first start. Any other error rc means the manager failed.
pub const RC_NO_RECORD: u32 = 0x2;
/// `TPM_BADTAG`.
pub const TPM_BADTAG: u32 = 30;

/// A decoded request.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// `VTPM_ORD_SAVEHASHKEY` with its blob (52..=64 bytes; wiped when dropped).
    SaveHashKey(Zeroizing<Vec<u8>>),
    /// `VTPM_ORD_LOADHASHKEY`.
    LoadHashKey,
    /// `VTPM_ORD_GET_BOOT_HASH`.
    GetBootHash,
    /// `TPM_GetRandom(bytes)` passed through to the hardware TPM.
    GetRandom { bytes: u32 },
    /// `TPM_PCRRead(index)` passed through to the hardware TPM.
    PcrRead { index: u32 },
    /// A well-framed request whose payload is not decoded here (GET_QUOTE, management,
    /// other passthroughs): the dispatcher decides.
    Other { tag: u16, ordinal: u32 },
}

/// The tag of the reply to a request with `request_tag`.
pub fn reply_tag(request_tag: u16, success: bool) -> u16 {
    match request_tag {
        VTPM_TAG_REQ | VTPM_TAG_REQ2 if success => VTPM_TAG_RSP,
        t => t.wrapping_add(3),
    }
}

/// A reply: `reply_tag | 10 + body | rc | body`.
pub fn reply(request_tag: u16, rc: u32, body: &[u8]) -> Vec<u8> {
    tpm_frame::command(reply_tag(request_tag, rc == TPM_SUCCESS), rc, body)
}

/// A 10-byte dispatcher error reply.
pub fn error_reply(request_tag: u16, rc: u32) -> [u8; HEADER_LEN] {
    tpm_frame::error_response_tagged(reply_tag(request_tag, false), rc)
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// Decodes a request; `Err` is the error reply to send.
pub fn decode_request(frame: &[u8]) -> Result<Request, [u8; HEADER_LEN]> {
    let Some(h) = Header::parse(frame) else {
        return Err(tpm_frame::error_response_tagged(TPM_TAG_RSP_COMMAND, TPM_BAD_PARAMETER));
    };
    if h.param_size as usize != frame.len() {
        return Err(error_reply(h.tag, TPM_BAD_PARAMETER));
    }
    let body = &frame[HEADER_LEN..];
    let empty = |r: Request| if body.is_empty() { Ok(r) } else { Err(error_reply(h.tag, TPM_BAD_PARAMETER)) };
    match (h.tag, h.code) {
        (VTPM_TAG_REQ, VTPM_ORD_SAVEHASHKEY) => {
            if (HASHKEY_LEN..=HASHKEY_MAX).contains(&body.len()) {
                Ok(Request::SaveHashKey(Zeroizing::new(body.to_vec())))
            } else {
                Err(error_reply(h.tag, TPM_BAD_PARAMETER))
            }
        }
        (VTPM_TAG_REQ, VTPM_ORD_LOADHASHKEY) => empty(Request::LoadHashKey),
        (VTPM_TAG_REQ, VTPM_ORD_GET_BOOT_HASH) => empty(Request::GetBootHash),
        (TPM_TAG_RQU_COMMAND, TPM_ORD_GET_RANDOM | TPM_ORD_PCR_READ) => {
            let (true, Some(v)) = (frame.len() == PASSTHROUGH_LEN, be32(body)) else {
                return Err(error_reply(h.tag, TPM_BAD_PARAMETER));
            };
            Ok(if h.code == TPM_ORD_GET_RANDOM {
                Request::GetRandom { bytes: v }
            } else {
                Request::PcrRead { index: v }
            })
        }
        (VTPM_TAG_REQ | VTPM_TAG_REQ2 | 0x00C1..=0x00C3, ordinal) => Ok(Request::Other { tag: h.tag, ordinal }),
        _ => Err(tpm_frame::error_response_tagged(TPM_TAG_RSP_COMMAND, TPM_BADTAG)),
    }
}

/// The vtpm's SAVEHASHKEY request (wiped when dropped: the blob holds the state's key).
pub fn save_hash_key(blob: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(tpm_frame::command(VTPM_TAG_REQ, VTPM_ORD_SAVEHASHKEY, blob))
}

/// The vtpm's LOADHASHKEY request.
pub fn load_hash_key() -> Vec<u8> {
    tpm_frame::command(VTPM_TAG_REQ, VTPM_ORD_LOADHASHKEY, &[])
}

/// The vtpm's GET_BOOT_HASH request.
pub fn get_boot_hash() -> Vec<u8> {
    tpm_frame::command(VTPM_TAG_REQ, VTPM_ORD_GET_BOOT_HASH, &[])
}

/// The vtpm's `TPM_GetRandom(bytes)` passthrough (its RNG source with a manager).
pub fn get_random(bytes: u32) -> Vec<u8> {
    tpm_frame::command(TPM_TAG_RQU_COMMAND, TPM_ORD_GET_RANDOM, &bytes.to_be_bytes())
}

/// Why a reply could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// Shorter than a header, or `paramSize` is not its length.
    Malformed,
    /// The manager answered with this return code.
    Rc(u32),
    /// Success, but the parameters have the wrong shape.
    BadPayload,
}

fn reply_body(frame: &[u8]) -> Result<&[u8], ReplyError> {
    let h = Header::parse(frame).ok_or(ReplyError::Malformed)?;
    if !tpm_frame::is_consistent(frame) {
        return Err(ReplyError::Malformed);
    }
    if h.code != TPM_SUCCESS {
        return Err(ReplyError::Rc(h.code));
    }
    Ok(&frame[HEADER_LEN..])
}

/// The blob of a LOADHASHKEY reply (52 or 64 bytes; wiped when dropped).
pub fn decode_load_hash_key_reply(frame: &[u8]) -> Result<Zeroizing<Vec<u8>>, ReplyError> {
    let body = reply_body(frame)?;
    if body.len() != HASHKEY_LEN && body.len() != HASHKEY_MAX {
        return Err(ReplyError::BadPayload);
    }
    Ok(Zeroizing::new(body.to_vec()))
}

/// The random bytes of a `TPM_GetRandom` reply (`randomBytesSize:u32 ‖ bytes`; wiped when dropped).
pub fn decode_get_random_reply(frame: &[u8]) -> Result<Zeroizing<Vec<u8>>, ReplyError> {
    let body = reply_body(frame)?;
    let n = be32(body).ok_or(ReplyError::BadPayload)? as usize;
    if body.len() != 4 + n {
        return Err(ReplyError::BadPayload);
    }
    Ok(Zeroizing::new(body[4..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn requests_round_trip() {
        let blob = [7u8; HASHKEY_LEN];
        let f = save_hash_key(&blob);
        assert_eq!(&f[..10], &[0x01, 0xC1, 0, 0, 0, 62, 0, 0, 0, 1]);
        assert_eq!(decode_request(&f), Ok(Request::SaveHashKey(Zeroizing::new(blob.to_vec()))));
        assert_eq!(load_hash_key(), [0x01, 0xC1, 0, 0, 0, 10, 0, 0, 0, 2]);
        assert_eq!(decode_request(&load_hash_key()), Ok(Request::LoadHashKey));
        assert_eq!(decode_request(&get_boot_hash()), Ok(Request::GetBootHash));
        // the vtpm's GetRandom as the fact sheet spells it: 14 bytes, tag 00C1, ordinal 70
        assert_eq!(get_random(32), [0, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x46, 0, 0, 0, 32]);
        assert_eq!(decode_request(&get_random(32)), Ok(Request::GetRandom { bytes: 32 }));
        let pcr = [0, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15, 0, 0, 0, 5];
        assert_eq!(decode_request(&pcr), Ok(Request::PcrRead { index: 5 }));
        let quote = tpm_frame::command(VTPM_TAG_REQ, VTPM_ORD_GET_QUOTE, &[0; 30]);
        assert_eq!(decode_request(&quote), Ok(Request::Other { tag: VTPM_TAG_REQ, ordinal: VTPM_ORD_GET_QUOTE }));
        let list = tpm_frame::command(VTPM_TAG_REQ2, 0x0200_0101, &[]);
        assert_eq!(decode_request(&list), Ok(Request::Other { tag: VTPM_TAG_REQ2, ordinal: 0x0200_0101 }));
    }

    #[test]
    fn bad_requests_get_the_c_managers_error_replies() {
        assert_eq!(decode_request(&[0x01, 0xC1, 0]), Err([0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 3]), "short: 00C4");
        // paramSize lies
        let mut f = load_hash_key();
        f[5] = 11;
        assert_eq!(decode_request(&f), Err([0x01, 0xC4, 0, 0, 0, 10, 0, 0, 0, 3]));
        // blob sizes
        for n in [0, 51, 65] {
            assert_eq!(decode_request(&save_hash_key(&vec![1; n])), Err(error_reply(VTPM_TAG_REQ, 3)), "{n}");
        }
        assert!(decode_request(&save_hash_key(&[1; HASHKEY_MAX])).is_ok());
        // parameters where none belong, passthroughs of the wrong length
        assert!(decode_request(&tpm_frame::command(VTPM_TAG_REQ, VTPM_ORD_LOADHASHKEY, &[0])).is_err());
        assert!(decode_request(&tpm_frame::command(TPM_TAG_RQU_COMMAND, TPM_ORD_GET_RANDOM, &[0; 5])).is_err());
        assert_eq!(
            decode_request(&tpm_frame::command(0x8001, 0x17B, &[0, 16])),
            Err([0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 30]),
            "an unknown tag"
        );
    }

    #[test]
    fn replies() {
        assert_eq!(reply_tag(VTPM_TAG_REQ, true), VTPM_TAG_RSP);
        assert_eq!(reply_tag(VTPM_TAG_REQ2, true), VTPM_TAG_RSP);
        assert_eq!(reply_tag(VTPM_TAG_REQ, false), VTPM_TAG_RSP);
        assert_eq!(reply_tag(VTPM_TAG_REQ2, false), VTPM_TAG_RSP2);
        assert_eq!(reply_tag(TPM_TAG_RQU_COMMAND, true), TPM_TAG_RSP_COMMAND);
        let blob = [9u8; HASHKEY_LEN];
        let r = reply(VTPM_TAG_REQ, 0, &blob);
        assert_eq!(&r[..10], &[0x01, 0xC4, 0, 0, 0, 62, 0, 0, 0, 0]);
        assert_eq!(*decode_load_hash_key_reply(&r).unwrap(), blob);
        assert_eq!(decode_load_hash_key_reply(&reply(VTPM_TAG_REQ, 0, &[0; 64])).map(|b| b.len()), Ok(64));
        assert_eq!(decode_load_hash_key_reply(&reply(VTPM_TAG_REQ, 0, &[0; 53])), Err(ReplyError::BadPayload));
        assert_eq!(decode_load_hash_key_reply(&error_reply(VTPM_TAG_REQ, 9)), Err(ReplyError::Rc(9)));
        assert_eq!(decode_load_hash_key_reply(&r[..20]), Err(ReplyError::Malformed));
        let rnd = reply(TPM_TAG_RQU_COMMAND, 0, &[0, 0, 0, 3, 1, 2, 3]);
        assert_eq!(*decode_get_random_reply(&rnd).unwrap(), [1, 2, 3]);
        assert_eq!(
            decode_get_random_reply(&reply(TPM_TAG_RQU_COMMAND, 0, &[0, 0, 0, 4, 1])),
            Err(ReplyError::BadPayload)
        );
    }
}
