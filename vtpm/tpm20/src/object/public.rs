//! `TPMT_PUBLIC` (Part 2 §12.2.4): the public area of an object — type, nameAlg, attributes,
//! authPolicy, the type's parameters and its unique field — with its unmarshaling checks
//! (Part 2's interface types: `TPMI_ALG_PUBLIC`, `TPMI_ALG_HASH`, `TPMA_OBJECT` reserved
//! bits, `TPMT_SYM_DEF_OBJECT`, the schemes) and its canonical marshaling. The object's Name
//! is `nameAlg ‖ H_nameAlg(marshaled TPMT_PUBLIC)`.

use alloc::vec::Vec;

use crate::codec::{Reader, Writer};
use crate::constants::{MAX_DIGEST, alg, ecc_curve};
use crate::crypto::HashAlg;
use crate::rc::Rc;

/// `TPMA_OBJECT` bits.
#[allow(missing_docs)]
pub mod attr {
    pub const FIXED_TPM: u32 = 1 << 1;
    pub const ST_CLEAR: u32 = 1 << 2;
    pub const FIXED_PARENT: u32 = 1 << 4;
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
    pub const NO_DA: u32 = 1 << 10;
    pub const ENCRYPTED_DUPLICATION: u32 = 1 << 11;
    pub const RESTRICTED: u32 = 1 << 16;
    pub const DECRYPT: u32 = 1 << 17;
    pub const SIGN_ENCRYPT: u32 = 1 << 18;
    /// Every bit Part 2 defines; the rest are reserved.
    pub const DEFINED: u32 = FIXED_TPM
        | ST_CLEAR
        | FIXED_PARENT
        | SENSITIVE_DATA_ORIGIN
        | USER_WITH_AUTH
        | ADMIN_WITH_POLICY
        | NO_DA
        | ENCRYPTED_DUPLICATION
        | RESTRICTED
        | DECRYPT
        | SIGN_ENCRYPT;
}

/// Largest RSA modulus (bytes) a `TPM2B_PUBLIC_KEY_RSA` may hold.
pub const MAX_RSA_KEY_BYTES: usize = 256;
/// Largest ECC coordinate (bytes).
pub const MAX_ECC_KEY_BYTES: usize = 32;

/// `TPMT_SYM_DEF_OBJECT`: `None` for TPM_ALG_NULL, else AES with its key bits (CFB mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymDef {
    /// keyBits (128 or 256).
    pub key_bits: u16,
}

/// The type's parameters (`TPMU_PUBLIC_PARMS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Params {
    /// `TPMS_KEYEDHASH_PARMS`: the scheme (`None` = TPM_ALG_NULL, a sealed data object)
    /// as (scheme, hashAlg, kdf) raw.
    KeyedHash {
        /// TPMT_KEYEDHASH_SCHEME: scheme and details (HMAC: hashAlg; XOR: hashAlg, kdf).
        scheme: u16,
        /// The scheme's details, marshaled.
        details: Vec<u8>,
    },
    /// `TPMS_SYMCIPHER_PARMS`.
    SymCipher {
        /// The key's symmetric definition.
        sym: SymDef,
    },
    /// `TPMS_RSA_PARMS`.
    Rsa {
        /// symmetric (storage keys).
        sym: Option<SymDef>,
        /// scheme, and its hashAlg when not NULL.
        scheme: (u16, u16),
        /// keyBits.
        key_bits: u16,
        /// exponent (0 = 65537).
        exponent: u32,
    },
    /// `TPMS_ECC_PARMS`.
    Ecc {
        /// symmetric (storage keys).
        sym: Option<SymDef>,
        /// scheme, and its hashAlg when not NULL.
        scheme: (u16, u16),
        /// curveID.
        curve: u16,
        /// kdf scheme and its hashAlg.
        kdf: (u16, u16),
    },
}

/// The unique field (`TPMU_PUBLIC_ID`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unique {
    /// keyedHash / sym: a digest.
    Digest(Vec<u8>),
    /// RSA: the modulus.
    Rsa(Vec<u8>),
    /// ECC: the point.
    Ecc(Vec<u8>, Vec<u8>),
}

/// A `TPMT_PUBLIC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Public {
    /// type (`TPM_ALG_KEYEDHASH`, `TPM_ALG_SYMCIPHER`, `TPM_ALG_RSA`, `TPM_ALG_ECC`).
    pub ty: u16,
    /// nameAlg.
    pub name_alg: HashAlg,
    /// objectAttributes.
    pub attributes: u32,
    /// authPolicy.
    pub auth_policy: Vec<u8>,
    /// parameters.
    pub params: Params,
    /// unique.
    pub unique: Unique,
}

/// The position of a failure inside a TPMT_PUBLIC: the code (unnumbered).
type Res<T> = Result<T, Rc>;

fn hash_alg(id: u16) -> Res<HashAlg> {
    HashAlg::from_alg(id).ok_or(Rc::HASH)
}

/// `TPMT_SYM_DEF_OBJECT+`: AES 128/256 in CFB, or NULL.
fn read_sym(r: &mut Reader<'_>) -> Res<Option<SymDef>> {
    match r.u16()? {
        alg::NULL => Ok(None),
        alg::AES => {
            let key_bits = r.u16()?;
            if key_bits != 128 && key_bits != 256 {
                return Err(Rc::KEY_SIZE);
            }
            if r.u16()? != alg::CFB {
                return Err(Rc::MODE);
            }
            Ok(Some(SymDef { key_bits }))
        }
        _ => Err(Rc::SYMMETRIC),
    }
}

fn write_sym(w: &mut Writer, s: Option<SymDef>) {
    match s {
        None => w.u16(alg::NULL),
        Some(s) => w.u16(alg::AES).u16(s.key_bits).u16(alg::CFB),
    };
}

/// A scheme: its algorithm, then a hashAlg unless it is NULL.
fn read_scheme(r: &mut Reader<'_>, allowed: &[u16]) -> Res<(u16, u16)> {
    let scheme = r.u16()?;
    if scheme == alg::NULL {
        return Ok((alg::NULL, alg::NULL));
    }
    if !allowed.contains(&scheme) {
        return Err(Rc::SCHEME);
    }
    // RSAES has no details (TPMS_EMPTY); every other scheme names its hash
    if scheme == alg::RSAES {
        return Ok((scheme, alg::NULL));
    }
    let h = r.u16()?;
    hash_alg(h)?;
    Ok((scheme, h))
}

fn write_scheme(w: &mut Writer, s: (u16, u16)) {
    w.u16(s.0);
    if s.0 != alg::NULL && s.0 != alg::RSAES {
        w.u16(s.1);
    }
}

impl Public {
    /// Unmarshals a `TPMT_PUBLIC` (the caller numbers the error).
    pub fn read(r: &mut Reader<'_>) -> Res<Self> {
        let ty = r.u16()?;
        if !matches!(ty, alg::KEYEDHASH | alg::SYMCIPHER | alg::RSA | alg::ECC) {
            return Err(Rc::TYPE);
        }
        let name_alg = hash_alg(r.u16()?)?;
        let attributes = r.u32()?;
        if attributes & !attr::DEFINED != 0 {
            return Err(Rc::RESERVED_BITS);
        }
        let auth_policy = r.tpm2b(MAX_DIGEST)?.to_vec();
        let params = match ty {
            alg::KEYEDHASH => {
                let scheme = r.u16()?;
                let mut details = Writer::new();
                match scheme {
                    alg::NULL => {}
                    alg::HMAC => {
                        details.u16(hash_alg(r.u16()?)?.alg());
                    }
                    alg::XOR => {
                        details.u16(hash_alg(r.u16()?)?.alg());
                        let kdf = r.u16()?;
                        if kdf != alg::KDF1_SP800_108 {
                            return Err(Rc::KDF);
                        }
                        details.u16(kdf);
                    }
                    _ => return Err(Rc::VALUE),
                }
                Params::KeyedHash { scheme, details: details.0 }
            }
            alg::SYMCIPHER => Params::SymCipher { sym: read_sym(r)?.ok_or(Rc::SYMMETRIC)? },
            alg::RSA => {
                let sym = read_sym(r)?;
                let scheme = read_scheme(r, &[alg::RSASSA, alg::RSAPSS, alg::RSAES, alg::OAEP])?;
                let key_bits = r.u16()?;
                if !crate::crypto::rsa::KEY_BITS.contains(&key_bits) {
                    return Err(Rc::VALUE);
                }
                let exponent = r.u32()?;
                Params::Rsa { sym, scheme, key_bits, exponent }
            }
            _ => {
                let sym = read_sym(r)?;
                let scheme = read_scheme(r, &[alg::ECDSA, alg::ECDH, alg::ECSCHNORR])?;
                let curve = r.u16()?;
                if curve != ecc_curve::NIST_P256 {
                    return Err(Rc::CURVE);
                }
                let kdf = read_scheme(r, &[alg::KDF1_SP800_56A, alg::KDF1_SP800_108, alg::MGF1])?;
                Params::Ecc { sym, scheme, curve, kdf }
            }
        };
        let unique = match ty {
            alg::RSA => Unique::Rsa(r.tpm2b(MAX_RSA_KEY_BYTES)?.to_vec()),
            alg::ECC => {
                let x = r.tpm2b(MAX_ECC_KEY_BYTES)?.to_vec();
                let y = r.tpm2b(MAX_ECC_KEY_BYTES)?.to_vec();
                Unique::Ecc(x, y)
            }
            _ => Unique::Digest(r.tpm2b(MAX_DIGEST)?.to_vec()),
        };
        Ok(Self { ty, name_alg, attributes, auth_policy, params, unique })
    }

    /// Unmarshals a `TPM2B_PUBLIC`: its size must be exactly the TPMT_PUBLIC's.
    pub fn read_2b(r: &mut Reader<'_>) -> Res<Self> {
        let size = usize::from(r.u16()?);
        if size == 0 {
            return Err(Rc::SIZE);
        }
        let mut inner = Reader::new(r.bytes(size)?);
        let p = Self::read(&mut inner)?;
        if inner.remaining() != 0 {
            return Err(Rc::SIZE);
        }
        Ok(p)
    }

    /// The marshaled `TPMT_PUBLIC`.
    pub fn marshal(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(self.ty).u16(self.name_alg.alg()).u32(self.attributes).tpm2b(&self.auth_policy);
        match &self.params {
            Params::KeyedHash { scheme, details } => {
                w.u16(*scheme).bytes(details);
            }
            Params::SymCipher { sym } => write_sym(&mut w, Some(*sym)),
            Params::Rsa { sym, scheme, key_bits, exponent } => {
                write_sym(&mut w, *sym);
                write_scheme(&mut w, *scheme);
                w.u16(*key_bits).u32(*exponent);
            }
            Params::Ecc { sym, scheme, curve, kdf } => {
                write_sym(&mut w, *sym);
                write_scheme(&mut w, *scheme);
                w.u16(*curve);
                write_scheme(&mut w, *kdf);
            }
        }
        match &self.unique {
            Unique::Digest(d) | Unique::Rsa(d) => {
                w.tpm2b(d);
            }
            Unique::Ecc(x, y) => {
                w.tpm2b(x).tpm2b(y);
            }
        }
        w.0
    }

    /// The Name: nameAlg ‖ H_nameAlg(TPMT_PUBLIC).
    pub fn name(&self) -> Vec<u8> {
        let mut n = self.name_alg.alg().to_be_bytes().to_vec();
        n.extend_from_slice(&self.name_alg.digest(&[&self.marshal()]));
        n
    }

    /// Whether the attribute bit(s) `a` are all SET.
    pub fn has(&self, a: u32) -> bool {
        self.attributes & a == a
    }

    /// A storage parent: restricted, decrypt, not sign, with a symmetric definition.
    pub fn is_storage_parent(&self) -> bool {
        self.has(attr::RESTRICTED | attr::DECRYPT) && !self.has(attr::SIGN_ENCRYPT) && self.storage_sym().is_some()
    }

    /// The symmetric definition that protects children, if any.
    pub fn storage_sym(&self) -> Option<SymDef> {
        match &self.params {
            Params::Rsa { sym, .. } | Params::Ecc { sym, .. } => *sym,
            Params::SymCipher { sym } => Some(*sym),
            Params::KeyedHash { .. } => None,
        }
    }

    /// A sealed data object: a keyedHash with neither sign nor decrypt.
    pub fn is_sealed_data(&self) -> bool {
        self.ty == alg::KEYEDHASH && !self.has(attr::SIGN_ENCRYPT) && !self.has(attr::DECRYPT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tpm2-tools' `tpm2_createprimary -G ecc` template: ECC P-256, AES-128-CFB, restricted decrypt.
    pub(crate) fn ecc_storage() -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(alg::ECC).u16(alg::SHA256).u32(0x0003_0072).u16(0);
        w.u16(alg::AES).u16(128).u16(alg::CFB).u16(alg::NULL).u16(ecc_curve::NIST_P256).u16(alg::NULL);
        w.u16(0).u16(0);
        w.0
    }

    #[test]
    fn round_trip_and_refusals() {
        let bytes = ecc_storage();
        let p = Public::read(&mut Reader::new(&bytes)).expect("parses");
        assert_eq!(p.marshal(), bytes);
        assert!(p.is_storage_parent());
        assert_eq!(p.name().len(), 34);
        let mut bad = bytes.clone();
        bad[4] |= 0x80; // reserved attribute bit 31
        assert_eq!(Public::read(&mut Reader::new(&bad)), Err(Rc::RESERVED_BITS));
        let mut bad = bytes.clone();
        bad[2..4].copy_from_slice(&alg::SHA384.to_be_bytes());
        assert_eq!(Public::read(&mut Reader::new(&bad)), Err(Rc::HASH));
        let mut bad = bytes.clone();
        bad[18..20].copy_from_slice(&0x0004u16.to_be_bytes());
        assert_eq!(Public::read(&mut Reader::new(&bad)), Err(Rc::CURVE));
        assert_eq!(Public::read(&mut Reader::new(&bytes[..bytes.len() - 1])), Err(Rc::INSUFFICIENT));
    }
}
