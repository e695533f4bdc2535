//! Thin wrappers over RustCrypto for what TPM 1.2 needs: SHA-1, HMAC-SHA1,
//! constant-time comparison, secrets that zeroise, and RSA keys with our own
//! storage encoding.
//!
//! Deliberately no entropy here: every function that needs randomness takes the
//! engine's injected [`crate::platform::TpmRng`].

use alloc::vec::Vec;

use hmac::{Hmac, KeyInit, Mac};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BoxedUint, RsaPrivateKey, RsaPublicKey};
use sha1::{Digest as _, Sha1};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::codec::{Reader, Writer};
use crate::constants::DIGEST_SIZE;
use crate::constants::rc::Rc;
use crate::platform::TpmRng;

/// A `TPM_DIGEST` / `TPM_NONCE` (20 bytes, not secret).
pub type Digest = [u8; DIGEST_SIZE];

/// A `TPM_SECRET` / `TPM_AUTHDATA`: 20 secret bytes, wiped on drop, compared in constant time.
#[derive(Clone, Default)]
pub struct Secret(pub [u8; DIGEST_SIZE]);

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for Secret {}

impl Secret {
    /// Constant-time equality with a received value.
    pub fn ct_eq(&self, other: &[u8; DIGEST_SIZE]) -> bool {
        self.0.ct_eq(other).into()
    }

    /// A fresh random secret.
    pub fn random(rng: &mut dyn TpmRng) -> Self {
        let mut s = Self::default();
        rng.fill_bytes(&mut s.0);
        s
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(&other.0)
    }
}
impl Eq for Secret {}

/// Constant-time comparison of two byte strings (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// SHA-1 over the concatenation of `parts`.
pub fn sha1(parts: &[&[u8]]) -> Digest {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// HMAC-SHA1 keyed with `key` over the concatenation of `parts`.
pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Digest {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let Ok(mut m) = <Hmac<Sha1> as KeyInit>::new_from_slice(key) else {
        return [0; DIGEST_SIZE];
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// MGF1 with SHA-1 (PKCS#1 v2.1 B.2.1) over the seed `Z` = the concatenation of
/// `seed`: `len` bytes of SHA-1(Z ‖ counter) blocks, counter a big-endian u32 from 0.
/// The transport sessions' XOR pad (Part 1 §31.1.1). Returned wiped-on-drop: it is a
/// keystream.
pub fn mgf1_sha1(seed: &[&[u8]], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + DIGEST_SIZE));
    let mut counter = 0u32;
    while out.len() < len {
        let mut h = Sha1::new();
        for p in seed {
            h.update(p);
        }
        h.update(counter.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// An incremental SHA-1 context (TPM_SHA1Start/Update/Complete).
#[derive(Clone, Debug, Default)]
pub struct Sha1Context(Sha1);

impl Sha1Context {
    /// Feeds data.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// Finishes the hash.
    pub fn finish(self) -> Digest {
        self.0.finalize().into()
    }
}

/// The TPM's default RSA public exponent (65537; `TPM_RSA_KEY_PARMS.exponent` empty).
pub const DEFAULT_EXPONENT: u32 = 65537;

/// An RSA key pair (the private half may be absent for public-only keys).
#[derive(Clone)]
pub struct RsaKey {
    /// The public part (always present).
    pub public: RsaPublicKey,
    /// The private part, if the TPM holds it.
    pub private: Option<RsaPrivateKey>,
}

impl core::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RsaKey({} bits, private: {})", self.bits(), self.private.is_some())
    }
}

/// Equal when the public keys match and both or neither hold the same primes.
impl PartialEq for RsaKey {
    fn eq(&self, other: &Self) -> bool {
        self.public == other.public
            && match (&self.private, &other.private) {
                (None, None) => true,
                (Some(a), Some(b)) => a.primes() == b.primes(),
                _ => false,
            }
    }
}
impl Eq for RsaKey {}

impl RsaKey {
    /// Generates a key pair of `bits` with exponent 65537 from the injected RNG.
    pub fn generate(rng: &mut dyn TpmRng, bits: usize) -> Result<Self, Rc> {
        let private = RsaPrivateKey::new(rng, bits).map_err(|_| Rc::FAIL)?;
        Ok(Self { public: private.to_public_key(), private: Some(private) })
    }

    /// The modulus, big-endian, without leading zero padding beyond the key size.
    pub fn modulus(&self) -> Vec<u8> {
        self.public.n_bytes().into_vec()
    }

    /// The public exponent, big-endian.
    pub fn exponent(&self) -> Vec<u8> {
        self.public.e_bytes().into_vec()
    }

    /// Key size in bits.
    pub fn bits(&self) -> usize {
        self.public.size() * 8
    }

    /// Our storage encoding (not a TCG structure): modulus, exponent, then
    /// (present flag, p, q), each as UINT32-sized big-endian byte strings.
    pub fn encode(&self, w: &mut Writer) {
        w.sized32(&self.modulus()).sized32(&self.exponent());
        match &self.private {
            Some(k) if k.primes().len() == 2 => {
                let p = zeroize::Zeroizing::new(k.primes()[0].to_be_bytes());
                let q = zeroize::Zeroizing::new(k.primes()[1].to_be_bytes());
                w.u8(1).sized32(&p).sized32(&q);
            }
            _ => {
                w.u8(0);
            }
        }
    }

    /// Inverse of [`RsaKey::encode`]; checks that p·q equals the stored modulus.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        let n = r.sized32_max(1024)?;
        let e = r.sized32_max(1024)?;
        // Canonical form only (what `encode` writes): no leading zero bytes.
        if n.first() == Some(&0) || e.first() == Some(&0) {
            return Err(Rc::BAD_KEY_PROPERTY);
        }
        let n_int = be_uint(n)?;
        let e_int = be_uint(e)?;
        let public = RsaPublicKey::new(n_int, e_int.clone()).map_err(|_| Rc::BAD_KEY_PROPERTY)?;
        if r.bool()? {
            let p = be_uint(r.sized32_max(1024)?)?;
            let q = be_uint(r.sized32_max(1024)?)?;
            Self::from_factors(public, p, q)
        } else {
            Ok(Self { public, private: None })
        }
    }

    /// The one way to build a private key from its two prime factors (the image decoder,
    /// and LoadKey's `TPM_STORE_PRIVKEY` through `rsa_ops::private_from_prime`). The
    /// factors are checked before the key arithmetic sees them — both odd, distinct, about
    /// half the modulus each, and multiplying to it — because the rsa crate panics on an
    /// even product or a factor of 1 (found by fuzzing). Any failure is
    /// `TPM_BAD_KEY_PROPERTY`; callers that need another code map it.
    pub fn from_factors(public: RsaPublicKey, p: BoxedUint, q: BoxedUint) -> Result<Self, Rc> {
        let n = Zeroizing::new(public.n_bytes().into_vec());
        check_factors(&p, &q, &n)?;
        let e = public.e().clone();
        let k = RsaPrivateKey::from_p_q(p, q, e).map_err(|_| Rc::BAD_KEY_PROPERTY)?;
        if k.n_bytes() != public.n_bytes() {
            return Err(Rc::BAD_KEY_PROPERTY);
        }
        Ok(Self { public, private: Some(k) })
    }

    /// A public key from a modulus and an exponent (`TPM_RSA_KEY_PARMS`: empty = 65537).
    pub fn from_public(modulus: &[u8], exponent: &[u8]) -> Result<Self, Rc> {
        let e = if exponent.is_empty() { BoxedUint::from(u64::from(DEFAULT_EXPONENT)) } else { be_uint(exponent)? };
        let public = RsaPublicKey::new(be_uint(modulus)?, e).map_err(|_| Rc::BAD_KEY_PROPERTY)?;
        Ok(Self { public, private: None })
    }
}

/// Checks that p and q really factor the modulus `n` into two halves before the
/// key arithmetic sees them: the rsa crate panics on an even product or a
/// factor of 1 (found by fuzzing the image decoder).
fn check_factors(p: &BoxedUint, q: &BoxedUint, n: &[u8]) -> Result<(), Rc> {
    let trim = |b: &[u8]| -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new(b.iter().copied().skip_while(|x| *x == 0).collect())
    };
    let n = trim(n);
    let (pb, qb) = (trim(&zeroize::Zeroizing::new(p.to_be_bytes())), trim(&zeroize::Zeroizing::new(q.to_be_bytes())));
    let half = n.len() / 2;
    let odd = |b: &[u8]| b.last().is_some_and(|x| x & 1 == 1);
    if pb.len() + 2 < half || qb.len() + 2 < half || pb == qb || !odd(&pb) || !odd(&qb) {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    // `mul` is deprecated in favour of a crypto-bigint trait method; crypto-bigint
    // is not a direct dependency and the product is the same.
    #[allow(deprecated)]
    let product = p.mul(q);
    if trim(&product.to_be_bytes()) != n {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    Ok(())
}

/// A big-endian unsigned integer, sized to its byte length (at most 4096 bits).
fn be_uint(bytes: &[u8]) -> Result<BoxedUint, Rc> {
    if bytes.is_empty() || bytes.len() > 512 {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    let bits = u32::try_from(bytes.len() * 8).map_err(|_| Rc::BAD_KEY_PROPERTY)?;
    BoxedUint::from_be_slice(bytes, bits).map_err(|_| Rc::BAD_KEY_PROPERTY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_known_answer() {
        let d = sha1(&[b"ab", b"c"]);
        assert_eq!(d[..4], [0xa9, 0x99, 0x3e, 0x36]);
    }

    #[test]
    fn hmac_known_answer() {
        // RFC 2202 test case 2.
        let d = hmac_sha1(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(d[..4], [0xef, 0xfc, 0xdf, 0x6a]);
    }

    #[test]
    fn secret_compare() {
        let s = Secret([7; 20]);
        assert!(s.ct_eq(&[7; 20]));
        assert!(!s.ct_eq(&[8; 20]));
        assert!(!ct_eq(&[1, 2], &[1]));
    }
}
