//! Our on-disk state image: permanent state plus optional saved state.
//!
//! Format version 3 (all integers big-endian):
//!
//! ```text
//! magic     8 bytes  "RTPM12\0\x01"
//! version   u16      3
//! perm_len  u32      length of the permanent section
//! perm      ...      PermanentState::encode
//! has_saved u8       0 or 1
//! [saved_len u32, saved ...]  SavedState::encode, if has_saved
//! check     20 bytes SHA-1 over every preceding byte
//! ```
//!
//! The trailing SHA-1 only detects corruption and truncation; confidentiality
//! and rollback protection are the job of whoever stores the image (the vtpm
//! manager encrypts it). A newer version is refused with a clear error instead
//! of being misread; older ones are read and migrated here:
//!
//! - Version 1 stored OSAP sessions (in the saved state) without their entity digest
//!   (session kind 2); they are bound to the entity's current state at
//!   Startup(ST_STATE). Version 2 writes kind 3, with the digest.
//! - Version 1 had no dictionary-attack state (it was volatile); version 2 appends
//!   [`super::da::DaRecord`] to the permanent section, and a version-1 image starts clear.
//! - Versions 1 and 2 had no audit: version 3 appends [`super::audit::AuditRecord`] to the
//!   permanent section (older images get the default audited ordinals, counter 0) and the
//!   audit digest to the saved section (older ones restore it as zeros).

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::crypto::{ct_eq, sha1};

use super::permanent::PermanentState;
use super::saved::SavedState;

/// Image magic.
pub const MAGIC: [u8; 8] = *b"RTPM12\0\x01";
/// Current format version.
pub const VERSION: u16 = 3;
/// Oldest format version still read.
pub const OLDEST_VERSION: u16 = 1;
/// Largest image we accept.
pub const MAX_IMAGE: usize = 1 << 22;

/// Why an image could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Not one of our images.
    BadMagic,
    /// Written by a newer (or unknown) format version.
    UnsupportedVersion(u16),
    /// The checksum does not match: corrupt or truncated.
    BadChecksum,
    /// The checksum matched but a section does not parse.
    Malformed,
    /// Larger than [`MAX_IMAGE`].
    TooLarge,
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadMagic => f.write_str("not a tpm12 state image (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported state image version {v}"),
            Self::BadChecksum => f.write_str("state image checksum mismatch (corrupt or truncated)"),
            Self::Malformed => f.write_str("state image section does not parse"),
            Self::TooLarge => f.write_str("state image too large"),
        }
    }
}

/// Serialises the state. The image holds tpmProof, the owner secret and private keys, so
/// it is built in secret writers and returned wiped-on-drop.
pub fn encode(perm: &PermanentState, saved: Option<&SavedState>) -> Zeroizing<Vec<u8>> {
    let mut p = Writer::secret();
    perm.encode(&mut p);
    let mut w = Writer::secret();
    w.bytes(&MAGIC).u16(VERSION);
    w.u32(p.len() as u32).bytes(p.as_slice());
    match saved {
        Some(s) => {
            let mut sw = Writer::secret();
            s.encode(&mut sw);
            w.u8(1).u32(sw.len() as u32).bytes(sw.as_slice());
        }
        None => {
            w.u8(0);
        }
    }
    let check = sha1(&[w.as_slice()]);
    w.bytes(&check);
    w.into_zeroizing()
}

/// Parses an image written by [`encode`].
pub fn decode(image: &[u8]) -> Result<(PermanentState, Option<SavedState>), ImageError> {
    if image.len() > MAX_IMAGE {
        return Err(ImageError::TooLarge);
    }
    if image.len() < MAGIC.len() + 2 + 20 || image[..8] != MAGIC {
        return Err(ImageError::BadMagic);
    }
    let version = u16::from_be_bytes([image[8], image[9]]);
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return Err(ImageError::UnsupportedVersion(version));
    }
    let (body, check) = image.split_at(image.len() - 20);
    if !ct_eq(&sha1(&[body]), check) {
        return Err(ImageError::BadChecksum);
    }
    let mut r = Reader::new(&body[10..]);
    let m = |_| ImageError::Malformed;
    let perm_bytes = r.sized32_max(MAX_IMAGE).map_err(m)?;
    let mut pr = Reader::new(perm_bytes);
    let perm = PermanentState::decode_version(&mut pr, version).map_err(m)?;
    pr.finish().map_err(m)?;
    let saved = if r.bool().map_err(m)? {
        let mut sr = Reader::new(r.sized32_max(MAX_IMAGE).map_err(m)?);
        let s = SavedState::decode_version(&mut sr, version).map_err(m)?;
        sr.finish().map_err(m)?;
        Some(s)
    } else {
        None
    };
    r.finish().map_err(m)?;
    Ok((perm, saved))
}
