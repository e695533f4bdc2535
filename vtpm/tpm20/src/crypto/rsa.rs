//! RSA keys (`TPM_ALG_RSA`, Part 1 §B) on RustCrypto `rsa`: key-pair generation from a
//! byte stream (the primary-key DRBG or the RNG), the private key rebuilt from the modulus
//! and the one prime a `TPMT_SENSITIVE` holds, and the operations the TPM offers —
//! RSAES-OAEP, RSAES-PKCS1-v1_5 and raw RSA (TPM_ALG_NULL) for encryption, RSASSA-PKCS1-v1_5
//! and RSASSA-PSS for signatures. Private-key operations are blinded with the TPM's RNG.
//!
//! Every input is checked before the rsa crate sees it (factors that do not divide the
//! modulus, a ciphertext not below the modulus, an over-long message): the crate's
//! arithmetic has panicked on degenerate factors before (the TPM 1.2 engine's fuzzing).

use alloc::vec::Vec;

use rsa::hazmat::{rsa_decrypt_and_check, rsa_encrypt};
use rsa::rand_core::{TryCryptoRng, TryRng};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BoxedUint, Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::HashAlg;
use crate::rc::Rc;

/// The public exponent the TPM uses when a template says 0 (2^16 + 1).
pub const DEFAULT_EXPONENT: u32 = 65537;

/// Modulus sizes implemented (`TPM_PT_...`: 1024 and 2048 bits).
pub const KEY_BITS: [u16; 2] = [1024, 2048];

/// An RNG over a byte-filling closure: the primary-key stream or the TPM's RNG, so that the
/// rsa crate draws every random byte from where the TPM says.
pub struct FillRng<'a>(pub &'a mut dyn FnMut(&mut [u8]));

impl TryRng for FillRng<'_> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        (self.0)(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        (self.0)(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        (self.0)(dst);
        Ok(())
    }
}

impl TryCryptoRng for FillRng<'_> {}

/// A decryption scheme (`TPMT_RSA_DECRYPT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// TPM_ALG_NULL: raw RSA (the message is the integer, left-padded to the modulus size).
    Raw,
    /// TPM_ALG_RSAES: RSAES-PKCS1-v1_5.
    Pkcs1,
    /// TPM_ALG_OAEP with its hash (also the MGF1 hash).
    Oaep(HashAlg),
}

/// A signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigPadding {
    /// TPM_ALG_RSASSA: RSASSA-PKCS1-v1_5 over a DigestInfo.
    Pkcs1(HashAlg),
    /// TPM_ALG_RSAPSS: RSASSA-PSS, MGF1 with the same hash, salt as long as the digest.
    Pss(HashAlg),
}

/// The exponent a `TPMS_RSA_PARMS.exponent` stands for.
pub fn exponent(e: u32) -> u32 {
    if e == 0 { DEFAULT_EXPONENT } else { e }
}

fn uint(bytes: &[u8], bits: u32) -> Result<BoxedUint, Rc> {
    BoxedUint::from_be_slice(bytes, bits).map_err(|_| Rc::KEY)
}

/// Big-endian bytes left-padded (or stripped of leading zeros) to exactly `len`.
fn fixed(bytes: &[u8], len: usize) -> Option<Vec<u8>> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let b = &bytes[start..];
    if b.len() > len {
        return None;
    }
    let mut out = alloc::vec![0u8; len - b.len()];
    out.extend_from_slice(b);
    Some(out)
}

/// A public key from the modulus (`TPM2B_PUBLIC_KEY_RSA`) and the exponent field.
pub fn public_key(n: &[u8], e: u32) -> Result<RsaPublicKey, Rc> {
    if n.is_empty() || n.len() > 512 || n.first() == Some(&0) || n.last().is_none_or(|b| b & 1 == 0) {
        return Err(Rc::KEY);
    }
    let n = uint(n, n.len() as u32 * 8)?;
    RsaPublicKey::new(n, BoxedUint::from(u64::from(exponent(e)))).map_err(|_| Rc::KEY)
}

/// Generates a key pair of `bits` with exponent `e` from `fill`: the modulus and the prime
/// kept in the sensitive area, each big-endian of exactly `bits / 8` and `bits / 16` bytes.
/// The primes come from the rsa crate's generator (crypto-primes' sieve and Miller-Rabin /
/// Lucas tests), which draws all its randomness from `fill`, so a deterministic stream
/// gives a deterministic key.
pub fn generate(bits: u16, e: u32, fill: &mut dyn FnMut(&mut [u8])) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), Rc> {
    let mut rng = FillRng(fill);
    let k = RsaPrivateKey::new_with_exp(&mut rng, usize::from(bits), BoxedUint::from(u64::from(exponent(e))))
        .map_err(|_| Rc::NO_RESULT)?;
    let n = fixed(&k.n_bytes(), usize::from(bits / 8)).ok_or(Rc::NO_RESULT)?;
    let p = k.primes().first().ok_or(Rc::NO_RESULT)?;
    let p = fixed(&Zeroizing::new(p.to_be_bytes()), usize::from(bits / 16)).ok_or(Rc::NO_RESULT)?;
    Ok((n, Zeroizing::new(p)))
}

/// The private key from the modulus, the exponent field and one prime: q = n / p must divide
/// exactly, both factors odd, distinct and about half the modulus (`TPM_RC_BINDING`
/// otherwise; `TPM_RC_KEY` for an unusable modulus).
pub fn private_key(n: &[u8], e: u32, p: &[u8]) -> Result<RsaPrivateKey, Rc> {
    let public = public_key(n, e)?;
    let start = p.iter().position(|b| *b != 0).unwrap_or(p.len());
    let pb = &p[start..];
    let half = n.len() / 2;
    if pb.len() + 2 < half || pb.len() > half + 1 || pb.last().is_none_or(|b| b & 1 == 0) {
        return Err(Rc::BINDING);
    }
    let bits = n.len() as u32 * 8;
    let n_int = uint(n, bits)?;
    let p_int = uint(pb, bits)?;
    let q = Option::<BoxedUint>::from(n_int.checked_div(&p_int)).ok_or(Rc::BINDING)?;
    let qb = Zeroizing::new(q.to_be_bytes());
    let qstart = qb.iter().position(|b| *b != 0).unwrap_or(qb.len());
    let qb = &qb[qstart..];
    if qb.len() + 2 < half || qb.last().is_none_or(|b| b & 1 == 0) || qb == pb {
        return Err(Rc::BINDING);
    }
    let half_bits = (pb.len().max(qb.len()) as u32) * 8;
    let k = RsaPrivateKey::from_p_q(uint(pb, half_bits)?, uint(qb, half_bits)?, public.e().clone())
        .map_err(|_| Rc::BINDING)?;
    if k.n_bytes() != public.n_bytes() {
        return Err(Rc::BINDING);
    }
    Ok(k)
}

/// Largest message `padding` can carry under a modulus of `k` bytes.
pub fn max_message(padding: Padding, k: usize) -> usize {
    match padding {
        Padding::Raw => k,
        Padding::Pkcs1 => k.saturating_sub(11),
        Padding::Oaep(h) => k.saturating_sub(2 * h.size() + 2),
    }
}

/// Encrypts `msg` under `key` (`label` only for OAEP; the caller adds its terminating zero):
/// `TPM_RC_VALUE` for a message too long or, raw, not below the modulus.
pub fn encrypt(
    key: &RsaPublicKey,
    padding: Padding,
    label: &[u8],
    msg: &[u8],
    rng: &mut dyn FnMut(&mut [u8]),
) -> Result<Vec<u8>, Rc> {
    let k = key.size();
    if msg.len() > max_message(padding, k) {
        return Err(Rc::VALUE);
    }
    let mut rng = FillRng(rng);
    let r = match padding {
        Padding::Raw => {
            let bits = key.n().as_ref().bits_precision();
            let m = uint(&fixed(msg, k).ok_or(Rc::VALUE)?, bits).map_err(|_| Rc::VALUE)?;
            if m >= *key.n().as_ref() {
                return Err(Rc::VALUE);
            }
            let c = rsa_encrypt(key, &m).map_err(|_| Rc::VALUE)?;
            return fixed(&c.to_be_bytes(), k).ok_or(Rc::VALUE);
        }
        Padding::Pkcs1 => key.encrypt(&mut rng, Pkcs1v15Encrypt, msg),
        Padding::Oaep(HashAlg::Sha1) => key.encrypt(&mut rng, Oaep::<Sha1>::new_with_label(label), msg),
        Padding::Oaep(HashAlg::Sha256) => key.encrypt(&mut rng, Oaep::<Sha256>::new_with_label(label), msg),
    };
    r.map_err(|_| Rc::VALUE)
}

/// Decrypts `ct` (exactly the modulus size, else `TPM_RC_SIZE`; raw: below the modulus, else
/// `TPM_RC_VALUE`); a bad padding is `TPM_RC_VALUE`.
pub fn decrypt(
    key: &RsaPrivateKey,
    padding: Padding,
    label: &[u8],
    ct: &[u8],
    rng: &mut dyn FnMut(&mut [u8]),
) -> Result<Zeroizing<Vec<u8>>, Rc> {
    let k = key.size();
    if ct.len() != k {
        return Err(Rc::SIZE);
    }
    let mut rng = FillRng(rng);
    let r = match padding {
        Padding::Raw => {
            let bits = key.n().as_ref().bits_precision();
            let c = uint(ct, bits).map_err(|_| Rc::VALUE)?;
            if c >= *key.n().as_ref() {
                return Err(Rc::VALUE);
            }
            let m = rsa_decrypt_and_check(key, Some(&mut rng), &c).map_err(|_| Rc::VALUE)?;
            return fixed(&Zeroizing::new(m.to_be_bytes()), k).map(Zeroizing::new).ok_or(Rc::VALUE);
        }
        Padding::Pkcs1 => key.decrypt_blinded(&mut rng, Pkcs1v15Encrypt, ct),
        Padding::Oaep(HashAlg::Sha1) => key.decrypt_blinded(&mut rng, Oaep::<Sha1>::new_with_label(label), ct),
        Padding::Oaep(HashAlg::Sha256) => key.decrypt_blinded(&mut rng, Oaep::<Sha256>::new_with_label(label), ct),
    };
    r.map(Zeroizing::new).map_err(|_| Rc::VALUE)
}

/// The DER `DigestInfo` prefix of `h` (RFC 8017 §9.2 note 1).
fn digest_info(h: HashAlg) -> &'static [u8] {
    match h {
        HashAlg::Sha1 => &[0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14],
        HashAlg::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
            0x20,
        ],
    }
}

/// Signs `digest` (its size must be the scheme hash's: `TPM_RC_SIZE`).
pub fn sign(
    key: &RsaPrivateKey,
    padding: SigPadding,
    digest: &[u8],
    rng: &mut dyn FnMut(&mut [u8]),
) -> Result<Vec<u8>, Rc> {
    let mut rng = FillRng(rng);
    let r = match padding {
        SigPadding::Pkcs1(h) => {
            if digest.len() != h.size() {
                return Err(Rc::SIZE);
            }
            let mut info = digest_info(h).to_vec();
            info.extend_from_slice(digest);
            key.sign_with_rng(&mut rng, Pkcs1v15Sign::new_unprefixed(), &info)
        }
        SigPadding::Pss(h) => {
            if digest.len() != h.size() {
                return Err(Rc::SIZE);
            }
            match h {
                HashAlg::Sha1 => key.sign_with_rng(&mut rng, Pss::<Sha1>::new(), digest),
                HashAlg::Sha256 => key.sign_with_rng(&mut rng, Pss::<Sha256>::new(), digest),
            }
        }
    };
    r.map_err(|_| Rc::VALUE)
}

/// Whether `sig` is a valid signature of `digest`.
pub fn verify(key: &RsaPublicKey, padding: SigPadding, digest: &[u8], sig: &[u8]) -> bool {
    if sig.len() != key.size() {
        return false;
    }
    match padding {
        SigPadding::Pkcs1(h) => {
            let mut info = digest_info(h).to_vec();
            info.extend_from_slice(digest);
            key.verify(Pkcs1v15Sign::new_unprefixed(), &info, sig).is_ok()
        }
        SigPadding::Pss(HashAlg::Sha1) => key.verify(Pss::<Sha1>::new(), digest, sig).is_ok(),
        SigPadding::Pss(HashAlg::Sha256) => key.verify(Pss::<Sha256>::new(), digest, sig).is_ok(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One 1024-bit key pair from a fixed stream, shared by the tests (generation is slow in
    /// debug builds).
    pub(crate) fn test_key() -> &'static (Vec<u8>, Zeroizing<Vec<u8>>) {
        static KEY: std::sync::OnceLock<(Vec<u8>, Zeroizing<Vec<u8>>)> = std::sync::OnceLock::new();
        KEY.get_or_init(|| {
            let mut i = 0u64;
            let mut fill = |b: &mut [u8]| {
                for chunk in b.chunks_mut(32) {
                    let block = HashAlg::Sha256.digest(&[b"rsa test", &i.to_be_bytes()]);
                    i += 1;
                    chunk.copy_from_slice(&block[..chunk.len()]);
                }
            };
            generate(1024, 0, &mut fill).expect("a key")
        })
    }

    fn rng() -> impl FnMut(&mut [u8]) {
        let mut i = 0u8;
        move |b: &mut [u8]| {
            b.iter_mut().for_each(|x| {
                i = i.wrapping_add(37);
                *x = i;
            })
        }
    }

    #[test]
    fn rebuild_encrypt_decrypt_sign_verify() {
        let (n, p) = test_key();
        assert_eq!((n.len(), p.len()), (128, 64));
        let k = private_key(n, 0, p).expect("rebuilds");
        let public = public_key(n, 0).expect("public");
        let mut r = rng();
        for padding in [Padding::Raw, Padding::Pkcs1, Padding::Oaep(HashAlg::Sha1), Padding::Oaep(HashAlg::Sha256)] {
            let ct = encrypt(&public, padding, b"SECRET\0", b"hello", &mut r).expect("encrypts");
            assert_eq!(ct.len(), 128);
            let pt = decrypt(&k, padding, b"SECRET\0", &ct, &mut r).expect("decrypts");
            let want = if padding == Padding::Raw { fixed(b"hello", 128).expect("fits") } else { b"hello".to_vec() };
            assert_eq!(*pt, want, "{padding:?}");
        }
        // OAEP: another label does not decrypt
        let ct = encrypt(&public, Padding::Oaep(HashAlg::Sha256), b"SECRET\0", b"x", &mut r).expect("encrypts");
        assert_eq!(decrypt(&k, Padding::Oaep(HashAlg::Sha256), b"OTHER\0", &ct, &mut r), Err(Rc::VALUE));
        assert_eq!(decrypt(&k, Padding::Raw, b"", &ct[1..], &mut r), Err(Rc::SIZE));
        assert_eq!(decrypt(&k, Padding::Raw, b"", &[0xFF; 128], &mut r), Err(Rc::VALUE));
        let d = HashAlg::Sha256.digest(&[b"msg"]);
        for padding in [SigPadding::Pkcs1(HashAlg::Sha256), SigPadding::Pss(HashAlg::Sha256)] {
            let sig = sign(&k, padding, &d, &mut r).expect("signs");
            assert!(verify(&public, padding, &d, &sig));
            let mut bad = sig.clone();
            bad[5] ^= 1;
            assert!(!verify(&public, padding, &d, &bad));
        }
        assert_eq!(sign(&k, SigPadding::Pkcs1(HashAlg::Sha1), &d, &mut r), Err(Rc::SIZE));
    }

    #[test]
    fn degenerate_factors_are_refused() {
        let (n, p) = test_key();
        assert_eq!(private_key(n, 0, &[1]).err(), Some(Rc::BINDING));
        assert_eq!(private_key(n, 0, n).err(), Some(Rc::BINDING));
        assert_eq!(private_key(n, 0, &[7; 64]).err(), Some(Rc::BINDING));
        assert_eq!(private_key(n, 0, &[]).err(), Some(Rc::BINDING));
        let mut even = p.to_vec();
        even[63] &= 0xFE;
        assert_eq!(private_key(n, 0, &even).err(), Some(Rc::BINDING));
        assert_eq!(private_key(&[0; 128], 0, p).err(), Some(Rc::KEY));
    }
}
