//! The protection of an object's private area under its storage parent (Part 1 §22–23 and
//! Part 1 "Protected Storage"): the sensitive area is encrypted with AES-CFB (zero IV) under
//! `KDFa(parentNameAlg, seedValue, "STORAGE", name, "", keyBits)` and bound to the object's
//! Name by the outer HMAC `HMAC(KDFa(parentNameAlg, seedValue, "INTEGRITY", "", "", digest
//! bits), encSensitive ‖ name)`. `TPM2B_PRIVATE` = `TPM2B(outerHMAC) ‖ encSensitive`, where
//! encSensitive is the encrypted `TPM2B(TPMT_SENSITIVE)`.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::crypto::kdf::kdfa;
use crate::crypto::{HashAlg, cfb, ct_eq};
use crate::object::sensitive::Sensitive;
use crate::rc::Rc;

/// The keys a storage parent protects a child with.
struct Keys {
    sym: Zeroizing<Vec<u8>>,
    hmac: Zeroizing<Vec<u8>>,
    alg: HashAlg,
}

fn keys(parent_alg: HashAlg, parent_seed: &[u8], key_bits: u16, name: &[u8]) -> Keys {
    Keys {
        sym: kdfa(parent_alg, parent_seed, b"STORAGE", name, &[], u32::from(key_bits)),
        hmac: kdfa(parent_alg, parent_seed, b"INTEGRITY", &[], &[], parent_alg.size() as u32 * 8),
        alg: parent_alg,
    }
}

/// The TPM2B_PRIVATE buffer (without its own size) of `sensitive` for the object `name`
/// under the parent's nameAlg, seedValue and symmetric key size.
pub fn wrap(parent_alg: HashAlg, parent_seed: &[u8], key_bits: u16, name: &[u8], sensitive: &Sensitive) -> Vec<u8> {
    let k = keys(parent_alg, parent_seed, key_bits, name);
    let inner = sensitive.marshal();
    let mut enc = Writer::new();
    enc.tpm2b(&inner);
    let mut enc = Zeroizing::new(enc.0);
    // The key has the size the parent's symmetric definition names (128 or 256 bits).
    if cfb::encrypt(&k.sym, &[0; 16], &mut enc).is_err() {
        return Vec::new();
    }
    let mac = k.alg.hmac(&k.hmac, &[&enc, name]);
    let mut w = Writer::new();
    w.tpm2b(&mac).bytes(&enc);
    w.0
}

/// Checks and decrypts a private area: a wrong outer HMAC (tampered, another parent, another
/// public area) is `TPM_RC_INTEGRITY`; a bad inner structure `TPM_RC_SIZE` (both unnumbered).
pub fn unwrap(
    parent_alg: HashAlg,
    parent_seed: &[u8],
    key_bits: u16,
    name: &[u8],
    private: &[u8],
) -> Result<Sensitive, Rc> {
    let k = keys(parent_alg, parent_seed, key_bits, name);
    let mut r = Reader::new(private);
    let mac = r.tpm2b(parent_alg.size()).map_err(|_| Rc::INTEGRITY)?;
    let enc = r.bytes(r.remaining())?;
    if enc.is_empty() || !ct_eq(&k.alg.hmac(&k.hmac, &[enc, name]), mac) {
        return Err(Rc::INTEGRITY);
    }
    let mut plain = Zeroizing::new(enc.to_vec());
    cfb::decrypt(&k.sym, &[0; 16], &mut plain).map_err(|_| Rc::INTEGRITY)?;
    let mut pr = Reader::new(&plain);
    let size = usize::from(pr.u16().map_err(|_| Rc::SIZE)?);
    if size != pr.remaining() {
        return Err(Rc::SIZE);
    }
    Sensitive::read(pr.bytes(size)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let s = Sensitive {
            ty: crate::constants::alg::KEYEDHASH,
            auth: Zeroizing::new(b"pw".to_vec()),
            seed: Zeroizing::new([7; 32].to_vec()),
            value: Zeroizing::new(b"secret".to_vec()),
        };
        let seed = [1u8; 32];
        let name = [0, 0x0b, 9, 9];
        let p = wrap(HashAlg::Sha256, &seed, 128, &name, &s);
        assert_eq!(unwrap(HashAlg::Sha256, &seed, 128, &name, &p), Ok(s.clone()));
        let mut t = p.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert_eq!(unwrap(HashAlg::Sha256, &seed, 128, &name, &t), Err(Rc::INTEGRITY));
        assert_eq!(unwrap(HashAlg::Sha256, &[2; 32], 128, &name, &p), Err(Rc::INTEGRITY));
        assert_eq!(unwrap(HashAlg::Sha256, &seed, 128, &[0, 0x0b, 9, 8], &p), Err(Rc::INTEGRITY));
        assert_eq!(unwrap(HashAlg::Sha256, &seed, 128, &name, &p[..3]), Err(Rc::INTEGRITY));
    }
}
