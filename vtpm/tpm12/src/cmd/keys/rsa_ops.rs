//! The RSA operations TPM 1.2 uses (Part 1 §31 "Cryptographic algorithms"):
//! RSAES-OAEP with SHA-1, MGF1 and the label "TCPA"; RSAES-PKCS1-v1_5;
//! RSASSA-PKCS1-v1_5 over a SHA-1 DigestInfo or over raw (DER) data; and
//! rebuilding a private key from the modulus and the prime p that
//! `TPM_STORE_PRIVKEY` carries.
//!
//! Private-key operations are blinded with the engine's injected RNG.

use alloc::vec::Vec;

use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use zeroize::Zeroizing;

use crate::constants::rc::Rc;
use crate::crypto::RsaKey;
use crate::platform::TpmRng;

/// The OAEP encoding parameter TPM 1.2 uses everywhere.
pub const OAEP_LABEL: &[u8] = b"TCPA";

/// DER `DigestInfo` prefix for SHA-1 (PKCS #1 v2.1 §9.2 note 1).
const SHA1_DIGEST_INFO: [u8; 15] =
    [0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14];

fn oaep() -> Oaep<Sha1> {
    Oaep::<Sha1>::new_with_label(OAEP_LABEL)
}

/// Largest message OAEP-SHA1 can carry under a key of `modulus_len` bytes.
pub fn oaep_max_message(modulus_len: usize) -> usize {
    modulus_len.saturating_sub(2 * 20 + 2)
}

/// RSAES-OAEP encryption with label "TCPA".
pub fn oaep_encrypt(key: &RsaPublicKey, rng: &mut dyn TpmRng, msg: &[u8]) -> Result<Vec<u8>, Rc> {
    if msg.len() > oaep_max_message(key.size()) {
        return Err(Rc::BAD_DATASIZE);
    }
    key.encrypt(rng, oaep(), msg).map_err(|_| Rc::ENCRYPT_ERROR)
}

fn private(key: &RsaKey) -> Result<&RsaPrivateKey, Rc> {
    key.private.as_ref().ok_or(Rc::KEYNOTFOUND)
}

/// RSAES-OAEP decryption with label "TCPA"; the ciphertext must be exactly
/// the modulus size (`TPM_BAD_DATASIZE`), bad padding is `TPM_DECRYPT_ERROR`.
pub fn oaep_decrypt(key: &RsaKey, rng: &mut dyn TpmRng, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, Rc> {
    let k = private(key)?;
    if ct.len() != k.size() {
        return Err(Rc::BAD_DATASIZE);
    }
    k.decrypt_blinded(rng, oaep(), ct).map(Zeroizing::new).map_err(|_| Rc::DECRYPT_ERROR)
}

/// RSAES-PKCS1-v1_5 decryption. The rsa crate answers bad padding with a
/// synthetic plaintext (implicit rejection), so callers must authenticate the
/// result (TPM_BOUND_DATA's header does).
pub fn pkcs1v15_decrypt(key: &RsaKey, rng: &mut dyn TpmRng, ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, Rc> {
    let k = private(key)?;
    if ct.len() != k.size() {
        return Err(Rc::BAD_DATASIZE);
    }
    k.decrypt_blinded(rng, Pkcs1v15Encrypt, ct).map(Zeroizing::new).map_err(|_| Rc::DECRYPT_ERROR)
}

/// RSAES-PKCS1-v1_5 encryption (tests; TPM_Bind is a client-side operation).
pub fn pkcs1v15_encrypt(key: &RsaPublicKey, rng: &mut dyn TpmRng, msg: &[u8]) -> Result<Vec<u8>, Rc> {
    key.encrypt(rng, Pkcs1v15Encrypt, msg).map_err(|_| Rc::BAD_DATASIZE)
}

/// RSASSA-PKCS1-v1_5 over `data` as is (the DER scheme: the caller supplies
/// the DigestInfo or whatever it wants signed). Too long is `TPM_BAD_DATASIZE`.
pub fn sign_raw(key: &RsaKey, rng: &mut dyn TpmRng, data: &[u8]) -> Result<Vec<u8>, Rc> {
    let k = private(key)?;
    if data.len() + 11 > k.size() {
        return Err(Rc::BAD_DATASIZE);
    }
    k.sign_with_rng(rng, Pkcs1v15Sign::new_unprefixed(), data).map_err(|_| Rc::FAIL)
}

/// RSASSA-PKCS1-v1_5 with a SHA-1 DigestInfo over a 20-byte digest.
pub fn sign_sha1(key: &RsaKey, rng: &mut dyn TpmRng, digest: &[u8]) -> Result<Vec<u8>, Rc> {
    if digest.len() != 20 {
        return Err(Rc::BAD_DATASIZE);
    }
    let mut info = Vec::with_capacity(35);
    info.extend_from_slice(&SHA1_DIGEST_INFO);
    info.extend_from_slice(digest);
    sign_raw(key, rng, &info)
}

/// Verifies a SHA-1 PKCS#1 v1.5 signature (tests and clients).
pub fn verify_sha1(key: &RsaPublicKey, digest: &[u8], sig: &[u8]) -> bool {
    let mut info = Vec::with_capacity(35);
    info.extend_from_slice(&SHA1_DIGEST_INFO);
    info.extend_from_slice(digest);
    key.verify(Pkcs1v15Sign::new_unprefixed(), &info, sig).is_ok()
}

/// A big-endian integer sized to its byte length, leading zeros stripped.
pub fn be_uint(bytes: &[u8]) -> Result<BoxedUint, Rc> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let b = &bytes[start..];
    if b.is_empty() || b.len() > 512 {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    let bits = u32::try_from(b.len() * 8).map_err(|_| Rc::BAD_KEY_PROPERTY)?;
    BoxedUint::from_be_slice(b, bits).map_err(|_| Rc::BAD_KEY_PROPERTY)
}

/// Rebuilds a key pair from the public key and the prime p
/// (`TPM_STORE_PRIVKEY`): q = n / p, which must divide exactly; the factors are then
/// checked by [`RsaKey::from_factors`]. Errors: `TPM_BAD_KEY_PROPERTY` for an unreadable p,
/// `TPM_DECRYPT_ERROR` for factors that do not make the key (the blob is not genuine).
pub fn private_from_prime(public: &RsaKey, p_bytes: &[u8]) -> Result<RsaKey, Rc> {
    let n = be_uint(&public.modulus())?;
    let p = be_uint(p_bytes)?;
    let q = Option::<BoxedUint>::from(n.checked_div(&p)).ok_or(Rc::DECRYPT_ERROR)?;
    let q = be_uint(&Zeroizing::new(q.to_be_bytes())).map_err(|_| Rc::DECRYPT_ERROR)?;
    RsaKey::from_factors(public.public.clone(), p, q).map_err(|_| Rc::DECRYPT_ERROR)
}

/// The prime p of a key pair (what `TPM_STORE_PRIVKEY` stores).
pub fn prime_p(key: &RsaKey) -> Result<Zeroizing<Vec<u8>>, Rc> {
    use rsa::traits::PrivateKeyParts;
    let k = private(key)?;
    let p = k.primes().first().ok_or(Rc::FAIL)?;
    let bytes = Zeroizing::new(p.to_be_bytes());
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    Ok(Zeroizing::new(bytes[start..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a crafted TPM_STORE_PRIVKEY with p = 1 (or p = n) is an
    /// error, not a panic in the key arithmetic.
    #[test]
    fn degenerate_primes_are_refused() {
        let key = crate::testing::test_ek();
        let public = RsaKey { public: key.public.clone(), private: None };
        assert_eq!(private_from_prime(&public, &[1]).unwrap_err(), Rc::DECRYPT_ERROR);
        assert_eq!(private_from_prime(&public, &key.modulus()).unwrap_err(), Rc::DECRYPT_ERROR);
        assert_eq!(private_from_prime(&public, &[0]).unwrap_err(), Rc::BAD_KEY_PROPERTY);
        assert_eq!(private_from_prime(&public, &[7; 128]).unwrap_err(), Rc::DECRYPT_ERROR);
        let p = prime_p(&key).unwrap();
        assert_eq!(private_from_prime(&public, &p).unwrap(), key);
    }
}
