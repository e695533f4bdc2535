//! The hash banks (SHA-1, SHA-256, RustCrypto underneath), PCR extension, their known-answer
//! self-tests, HMAC, and the constant-time comparison used for authorization values and HMACs.
//! [`kdf`] is KDFa, [`cfb`] AES-CFB, [`ecc`] the NIST P-256 keys.

pub mod cfb;
pub mod ecc;
pub mod kdf;
pub mod rsa;

use alloc::vec::Vec;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::constants::alg;

/// A hash algorithm this engine implements (a PCR bank).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    /// `TPM_ALG_SHA1`.
    Sha1,
    /// `TPM_ALG_SHA256`.
    Sha256,
}

/// The implemented hashes in `TPM_ALG` order.
pub const HASHES: [HashAlg; 2] = [HashAlg::Sha1, HashAlg::Sha256];

impl HashAlg {
    /// From a `TPM_ALG_ID` (`None` for any other algorithm).
    pub const fn from_alg(id: u16) -> Option<Self> {
        match id {
            alg::SHA1 => Some(Self::Sha1),
            alg::SHA256 => Some(Self::Sha256),
            _ => None,
        }
    }

    /// Its `TPM_ALG_ID`.
    pub const fn alg(self) -> u16 {
        match self {
            Self::Sha1 => alg::SHA1,
            Self::Sha256 => alg::SHA256,
        }
    }

    /// Digest size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// Index in [`HASHES`].
    pub const fn index(self) -> usize {
        match self {
            Self::Sha1 => 0,
            Self::Sha256 => 1,
        }
    }

    /// The digest of the concatenation of `parts`.
    pub fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Self::Sha1 => {
                let mut h = Sha1::new();
                parts.iter().for_each(|p| h.update(p));
                h.finalize().to_vec()
            }
            Self::Sha256 => {
                let mut h = Sha256::new();
                parts.iter().for_each(|p| h.update(p));
                h.finalize().to_vec()
            }
        }
    }

    /// HMAC (RFC 2104) keyed with `key` over the concatenation of `parts`.
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Self::Sha1 => {
                let Ok(mut m) = <Hmac<Sha1> as KeyInit>::new_from_slice(key) else { return Vec::new() };
                parts.iter().for_each(|p| m.update(p));
                m.finalize().into_bytes().to_vec()
            }
            Self::Sha256 => {
                let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else { return Vec::new() };
                parts.iter().for_each(|p| m.update(p));
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// Known-answer test: the digest of "abc" (FIPS 180-4 examples).
    pub fn self_test(self) -> bool {
        let want: &[u8] = match self {
            Self::Sha1 => &[
                0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c,
                0xd0, 0xd8, 0x9d,
            ],
            Self::Sha256 => &[
                0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0,
                0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
            ],
        };
        ct_eq(&self.digest(&[b"abc"]), want)
    }
}

/// Constant-time equality of two byte strings (the lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kats_pass_and_compare() {
        assert!(HASHES.iter().all(|h| h.self_test()));
        assert!(ct_eq(b"ab", b"ab"));
        assert!(!ct_eq(b"ab", b"abc"));
        assert!(!ct_eq(b"ab", b"aa"));
        assert_eq!(HashAlg::from_alg(alg::SHA256), Some(HashAlg::Sha256));
        assert_eq!(HashAlg::from_alg(alg::SHA384), None);
        // RFC 4231 test case 2
        let mac = HashAlg::Sha256.hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(mac[..4], [0x5b, 0xdc, 0xc1, 0x46]);
    }
}
