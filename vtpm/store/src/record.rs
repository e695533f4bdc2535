//! One sealed record, as bytes: [`seal`] builds it, [`parse_header`] and [`open`] check and
//! decrypt it. Pure functions over byte slices (no disk), so the fuzz target drives them
//! directly. The byte layout is `docs/formats.md` §"Sealed record".
//!
//! ```text
//! off  size  field
//!   0     8  magic "XVTPMREC"
//!   8     2  format version (be16) = 1
//!  10     2  record kind (be16)
//!  12    16  owner uuid
//!  28     8  sequence number (be64)
//!  36     4  payload length n (be32)
//!  40    12  nonce
//!  52     n  ciphertext (ChaCha20-Poly1305, RFC 8439)
//! 52+n   16  tag
//! ```
//! Bytes 0..52 are the AEAD's associated data, so everything before the ciphertext is
//! authenticated. What this module does not do: choose slots, sequence numbers or nonces
//! (that is [`crate::store`]).

use alloc::vec::Vec;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::StoreError;
use crate::key::{OwnerUuid, RecordDigest, RecordKey, RecordKind};

/// The record magic.
pub const RECORD_MAGIC: [u8; 8] = *b"XVTPMREC";
/// The record format version this build writes and reads.
pub const RECORD_VERSION: u16 = 1;
/// Bytes before the ciphertext (all of them authenticated as associated data).
pub const RECORD_HEADER_LEN: usize = 52;
/// Bytes in the Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Bytes a record adds to its payload.
pub const RECORD_OVERHEAD: usize = RECORD_HEADER_LEN + TAG_LEN;
/// Bytes in the nonce.
pub const NONCE_LEN: usize = 12;

/// The plaintext fields at the start of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// What the payload is.
    pub kind: RecordKind,
    /// Whose record this is.
    pub owner: OwnerUuid,
    /// Higher is newer.
    pub sequence: u64,
    /// Plaintext (and ciphertext) bytes.
    pub payload_len: u32,
    /// The AEAD nonce.
    pub nonce: [u8; NONCE_LEN],
}

impl RecordHeader {
    /// Bytes of the whole record this header starts.
    pub fn record_len(&self) -> usize {
        RECORD_OVERHEAD + self.payload_len as usize
    }

    fn encode(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut h = [0u8; RECORD_HEADER_LEN];
        h[0..8].copy_from_slice(&RECORD_MAGIC);
        h[8..10].copy_from_slice(&RECORD_VERSION.to_be_bytes());
        h[10..12].copy_from_slice(&self.kind.0.to_be_bytes());
        h[12..28].copy_from_slice(&self.owner.0);
        h[28..36].copy_from_slice(&self.sequence.to_be_bytes());
        h[36..40].copy_from_slice(&self.payload_len.to_be_bytes());
        h[40..52].copy_from_slice(&self.nonce);
        h
    }
}

/// A record that verified: its header, the decrypted payload and the record's digest.
pub struct OpenedRecord {
    /// The record's plaintext fields.
    pub header: RecordHeader,
    /// The decrypted payload (wiped when dropped).
    pub payload: Zeroizing<Vec<u8>>,
    /// SHA-256 over the record as stored.
    pub digest: RecordDigest,
}

/// SHA-256 over a record's bytes.
pub fn digest(record: &[u8]) -> RecordDigest {
    RecordDigest(Sha256::digest(record).into())
}

/// Builds a record: the header fields, then `payload` encrypted under `key` with the header as
/// associated data, then the tag. Fails only if the payload does not fit the length field.
pub fn seal(
    key: &RecordKey,
    kind: RecordKind,
    owner: OwnerUuid,
    sequence: u64,
    nonce: [u8; NONCE_LEN],
    payload: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let payload_len = u32::try_from(payload.len()).map_err(|_| StoreError::PayloadTooLarge)?;
    let header = RecordHeader { kind, owner, sequence, payload_len, nonce };
    let aad = header.encode();
    let mut out = Vec::with_capacity(header.record_len());
    out.extend_from_slice(&aad);
    out.extend_from_slice(payload);
    let cipher = ChaCha20Poly1305::new(&Key::from(*key.as_bytes()));
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(nonce), &aad, (&mut out[RECORD_HEADER_LEN..]).into())
        .map_err(|_| StoreError::PayloadTooLarge)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads the plaintext header at the start of `bytes`: magic, version, then the fields. Checks
/// nothing else (not the length against `bytes`, not the owner). Never panics.
pub fn parse_header(bytes: &[u8]) -> Result<RecordHeader, StoreError> {
    if bytes.len() < RECORD_HEADER_LEN {
        return Err(if bytes.len() >= RECORD_MAGIC.len() && bytes[..8] != RECORD_MAGIC {
            StoreError::BadMagic
        } else {
            StoreError::Truncated
        });
    }
    if bytes[..8] != RECORD_MAGIC {
        return Err(StoreError::BadMagic);
    }
    let version = be16(bytes, 8);
    if version != RECORD_VERSION {
        return Err(StoreError::UnsupportedVersion(version));
    }
    let mut owner = [0u8; 16];
    owner.copy_from_slice(&bytes[12..28]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&bytes[28..36]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&bytes[40..52]);
    Ok(RecordHeader {
        kind: RecordKind(be16(bytes, 10)),
        owner: OwnerUuid(owner),
        sequence: u64::from_be_bytes(seq),
        payload_len: u32::from_be_bytes([bytes[36], bytes[37], bytes[38], bytes[39]]),
        nonce,
    })
}

/// The record at the start of `bytes` (trailing bytes, e.g. the rest of a slot, are ignored),
/// if it is whole. Checks the header and the length; returns the record's exact bytes.
pub fn frame(bytes: &[u8]) -> Result<(RecordHeader, &[u8]), StoreError> {
    let header = parse_header(bytes)?;
    let len = RECORD_OVERHEAD.checked_add(header.payload_len as usize).ok_or(StoreError::Truncated)?;
    let record = bytes.get(..len).ok_or(StoreError::Truncated)?;
    Ok((header, record))
}

/// Checks and decrypts the record at the start of `bytes`, in this order: magic, version,
/// length (truncated), owner (foreign uuid), kind, then the tag (authentication failed).
/// Never panics on any input.
pub fn open(bytes: &[u8], key: &RecordKey, kind: RecordKind, owner: OwnerUuid) -> Result<OpenedRecord, StoreError> {
    let (header, record) = frame(bytes)?;
    if header.owner != owner {
        return Err(StoreError::ForeignUuid);
    }
    if header.kind != kind {
        return Err(StoreError::WrongKind(header.kind.0));
    }
    let body_end = record.len() - TAG_LEN;
    let mut payload = Zeroizing::new(record[RECORD_HEADER_LEN..body_end].to_vec());
    let tag = Tag::try_from(&record[body_end..]).map_err(|_| StoreError::Truncated)?;
    let cipher = ChaCha20Poly1305::new(&Key::from(*key.as_bytes()));
    cipher
        .decrypt_inout_detached(
            &Nonce::from(header.nonce),
            &record[..RECORD_HEADER_LEN],
            (&mut payload[..]).into(),
            &tag,
        )
        .map_err(|_| StoreError::AuthenticationFailed)?;
    Ok(OpenedRecord { header, payload, digest: digest(record) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: OwnerUuid = OwnerUuid([0x11; 16]);

    fn key(b: u8) -> RecordKey {
        RecordKey::from_bytes([b; 32])
    }

    fn sample() -> Vec<u8> {
        seal(&key(1), RecordKind::TPM12_STATE, UUID, 7, [9; 12], b"permanent state").unwrap()
    }

    #[test]
    fn seal_then_open_round_trips_and_the_layout_is_as_documented() {
        let r = sample();
        assert_eq!(r.len(), RECORD_OVERHEAD + 15);
        assert_eq!(&r[0..8], b"XVTPMREC");
        assert_eq!(&r[8..12], &[0, 1, 0, 1]);
        assert_eq!(&r[12..28], &[0x11; 16]);
        assert_eq!(&r[28..36], &7u64.to_be_bytes());
        assert_eq!(&r[36..40], &15u32.to_be_bytes());
        assert_eq!(&r[40..52], &[9; 12]);
        assert_ne!(&r[52..67], b"permanent state", "the payload is encrypted");
        let o = open(&r, &key(1), RecordKind::TPM12_STATE, UUID).unwrap();
        assert_eq!(&o.payload[..], b"permanent state");
        assert_eq!(o.header.sequence, 7);
        assert_eq!(o.digest, digest(&r));
    }

    #[test]
    fn trailing_slot_bytes_are_not_part_of_the_record() {
        let mut r = sample();
        let d = digest(&r);
        r.extend_from_slice(&[0xAA; 100]);
        assert_eq!(open(&r, &key(1), RecordKind::TPM12_STATE, UUID).unwrap().digest, d);
    }

    #[test]
    fn each_cause_has_its_own_error() {
        let r = sample();
        let k = RecordKind::TPM12_STATE;
        assert_eq!(open(&r, &key(2), k, UUID).err(), Some(StoreError::AuthenticationFailed));
        assert_eq!(open(&r, &key(1), k, OwnerUuid([0x22; 16])).err(), Some(StoreError::ForeignUuid));
        assert_eq!(open(&r, &key(1), RecordKind::MANAGER_ROOT, UUID).err(), Some(StoreError::WrongKind(1)));
        let mut bad = r.clone();
        bad[0] ^= 1;
        assert_eq!(open(&bad, &key(1), k, UUID).err(), Some(StoreError::BadMagic));
        let mut v2 = r.clone();
        v2[9] = 2;
        assert_eq!(open(&v2, &key(1), k, UUID).err(), Some(StoreError::UnsupportedVersion(2)));
        for cut in 0..r.len() {
            assert_eq!(open(&r[..cut], &key(1), k, UUID).err(), Some(StoreError::Truncated), "cut at {cut}");
        }
        let mut huge = r.clone();
        huge[36..40].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(open(&huge, &key(1), k, UUID).err(), Some(StoreError::Truncated));
    }

    #[test]
    fn a_bit_flipped_anywhere_is_refused() {
        let r = sample();
        for byte in 0..r.len() {
            for bit in 0..8 {
                let mut f = r.clone();
                f[byte] ^= 1 << bit;
                assert!(open(&f, &key(1), RecordKind::TPM12_STATE, UUID).is_err(), "byte {byte} bit {bit}");
            }
        }
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// A record built by another implementation (pyca/cryptography's ChaCha20Poly1305, RFC
    /// 8439) from the layout in docs/formats.md: ciphertext + tag and the SHA-256 digest agree.
    #[test]
    fn a_record_from_an_independent_implementation_matches() {
        let key = RecordKey::from_bytes(core::array::from_fn(|i| i as u8));
        let nonce: [u8; 12] = core::array::from_fn(|i| i as u8);
        let r = seal(&key, RecordKind::TPM12_STATE, OwnerUuid([0x42; 16]), 9, nonce, b"TPM 1.2 state").unwrap();
        assert_eq!(r[52..], unhex("ddab452018399760c4f75e87fd3aa66347a21173cf9553487e2f0ec984")[..]);
        assert_eq!(digest(&r).0[..], unhex("246de7383851f44467e54cc4da2d0b347030c7d70790afb4a08fa5c5d4500184")[..]);
    }

    #[test]
    fn an_empty_payload_is_a_record_too() {
        let r = seal(&key(3), RecordKind::MANAGER_ROOT, UUID, 0, [0; 12], b"").unwrap();
        assert_eq!(r.len(), RECORD_OVERHEAD);
        assert!(open(&r, &key(3), RecordKind::MANAGER_ROOT, UUID).unwrap().payload.is_empty());
    }
}
