//! Key structures on the wire: `TPM_KEY` / `TPM_KEY12` (Part 2 §10.2, §10.3),
//! `TPM_KEY_PARMS` / `TPM_RSA_KEY_PARMS` (§10.1), `TPM_PUBKEY` (§10.5) and the
//! encrypted private part `TPM_STORE_ASYMKEY` (§10.6).
//!
//! Fields the engine does not interpret (the raw `parms` of a non-RSA key, the
//! PCR info bytes) are kept byte-exact so digests over a structure match what
//! the caller computed.

use alloc::vec::Vec;

use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{alg, tag};
use crate::crypto::{Digest, Secret, sha1};

/// `TPM_PAYLOAD_TYPE` values (Part 2 §4.2).
pub mod pt {
    /// `TPM_PT_ASYM`: an asymmetric key's private part.
    pub const ASYM: u8 = 0x01;
    /// `TPM_PT_BIND`: bound data.
    pub const BIND: u8 = 0x02;
    /// `TPM_PT_MIGRATE`.
    pub const MIGRATE: u8 = 0x03;
    /// `TPM_PT_SEAL`: sealed data.
    pub const SEAL: u8 = 0x05;
}

/// `TPM_KEY_FLAGS` bits (Part 2 §5.10).
pub mod key_flags {
    /// `redirection`.
    pub const REDIRECTION: u32 = 0x0000_0001;
    /// `migratable`.
    pub const MIGRATABLE: u32 = 0x0000_0002;
    /// `isVolatile`.
    pub const IS_VOLATILE: u32 = 0x0000_0004;
    /// `pcrIgnoredOnRead`.
    pub const PCR_IGNORED_ON_READ: u32 = 0x0000_0008;
    /// `migrateAuthority`.
    pub const MIGRATE_AUTHORITY: u32 = 0x0000_0010;
    /// Every defined bit.
    pub const ALL: u32 = 0x0000_001F;
}

/// `TPM_STRUCT_VER` 1.1.0.0, the version `TPM_KEY` and friends carry.
pub const VER_11: [u8; 4] = [1, 1, 0, 0];

/// `TPM_KEY_PARMS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyParms {
    /// `algorithmID`.
    pub algorithm: u32,
    /// `encScheme`.
    pub enc_scheme: u16,
    /// `sigScheme`.
    pub sig_scheme: u16,
    /// `parms` bytes (a `TPM_RSA_KEY_PARMS` for RSA).
    pub parms: Vec<u8>,
}

/// `TPM_RSA_KEY_PARMS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaParms {
    /// `keyLength` in bits.
    pub key_length: u32,
    /// `numPrimes`.
    pub num_primes: u32,
    /// `exponent` (empty = 65537).
    pub exponent: Vec<u8>,
}

impl KeyParms {
    /// Parses a `TPM_KEY_PARMS`.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        Ok(Self { algorithm: r.u32()?, enc_scheme: r.u16()?, sig_scheme: r.u16()?, parms: r.sized32()?.to_vec() })
    }

    /// Encodes it.
    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.algorithm).u16(self.enc_scheme).u16(self.sig_scheme).sized32(&self.parms);
    }

    /// The RSA parameters (`TPM_BAD_KEY_PROPERTY` for other algorithms or malformed parms).
    pub fn rsa(&self) -> Result<RsaParms, Rc> {
        if self.algorithm != alg::RSA {
            return Err(Rc::BAD_KEY_PROPERTY);
        }
        let mut r = Reader::new(&self.parms);
        let key_length = r.u32().map_err(|_| Rc::BAD_KEY_PROPERTY)?;
        let num_primes = r.u32().map_err(|_| Rc::BAD_KEY_PROPERTY)?;
        let exponent = r.sized32().map_err(|_| Rc::BAD_KEY_PROPERTY)?.to_vec();
        r.finish().map_err(|_| Rc::BAD_KEY_PROPERTY)?;
        Ok(RsaParms { key_length, num_primes, exponent })
    }

    /// RSA `TPM_KEY_PARMS` with the default exponent.
    pub fn new_rsa(enc_scheme: u16, sig_scheme: u16, key_length: u32) -> Self {
        let mut p = Writer::new();
        p.u32(key_length).u32(2).u32(0);
        Self { algorithm: alg::RSA, enc_scheme, sig_scheme, parms: p.into_vec() }
    }
}

/// A `TPM_KEY` (1.1, `ver` 1.1.0.0) or `TPM_KEY12`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmKey {
    /// True for `TPM_KEY12` (PCR info is a `TPM_PCR_INFO_LONG`).
    pub key12: bool,
    /// The first four bytes as received: `ver` (TPM_KEY) or `tag ‖ fill` (TPM_KEY12).
    pub head: [u8; 4],
    /// `keyUsage`.
    pub key_usage: u16,
    /// `keyFlags`.
    pub key_flags: u32,
    /// `authDataUsage`.
    pub auth_data_usage: u8,
    /// `algorithmParms`.
    pub parms: KeyParms,
    /// `PCRInfo` bytes (empty = not PCR bound).
    pub pcr_info: Vec<u8>,
    /// `pubKey.key`: the RSA modulus.
    pub pub_key: Vec<u8>,
    /// `encData`.
    pub enc_data: Vec<u8>,
}

impl TpmKey {
    /// Parses either structure: a leading `TPM_TAG_KEY12` selects `TPM_KEY12`,
    /// otherwise `ver` must be 1.1.x.x (`TPM_BAD_VERSION`).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        let head: [u8; 4] = r.array()?;
        let key12 = if u16::from_be_bytes([head[0], head[1]]) == tag::KEY12 {
            if head[2..] != [0, 0] {
                return Err(Rc::INVALID_STRUCTURE);
            }
            true
        } else if head[..2] == VER_11[..2] {
            false
        } else {
            return Err(Rc::BAD_VERSION);
        };
        Ok(Self {
            key12,
            head,
            key_usage: r.u16()?,
            key_flags: r.u32()?,
            auth_data_usage: r.u8()?,
            parms: KeyParms::decode(r)?,
            pcr_info: r.sized32()?.to_vec(),
            pub_key: r.sized32()?.to_vec(),
            enc_data: r.sized32()?.to_vec(),
        })
    }

    /// Parses a whole buffer (trailing bytes are `TPM_BAD_PARAM_SIZE`).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Rc> {
        let mut r = Reader::new(b);
        let k = Self::decode(&mut r)?;
        r.finish()?;
        Ok(k)
    }

    fn encode_public(&self, w: &mut Writer) {
        w.bytes(&self.head);
        w.u16(self.key_usage).u32(self.key_flags).u8(self.auth_data_usage);
        self.parms.encode(w);
        w.sized32(&self.pcr_info).sized32(&self.pub_key);
    }

    /// The full structure.
    pub fn encode(&self, w: &mut Writer) {
        self.encode_public(w);
        w.sized32(&self.enc_data);
    }

    /// The full structure as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_vec()
    }

    /// `pubDataDigest`: SHA-1 of the structure without `encSize` and `encData`.
    pub fn pub_data_digest(&self) -> Digest {
        let mut w = Writer::new();
        self.encode_public(&mut w);
        sha1(&[w.as_slice()])
    }

    /// `TPM_PUBKEY`: `algorithmParms ‖ pubKey`.
    pub fn encode_pubkey(&self, w: &mut Writer) {
        self.parms.encode(w);
        w.sized32(&self.pub_key);
    }

    /// True if `keyFlags.migratable`.
    pub fn migratable(&self) -> bool {
        self.key_flags & key_flags::MIGRATABLE != 0
    }

    /// True if `keyFlags.isVolatile` (not kept across TPM_SaveState).
    pub fn is_volatile(&self) -> bool {
        self.key_flags & key_flags::IS_VOLATILE != 0
    }

    /// The same key without `encData` (what the TPM stores for a loaded key).
    pub fn without_enc_data(&self) -> Self {
        Self { enc_data: Vec::new(), ..self.clone() }
    }
}

/// `TPM_STORE_ASYMKEY`: the private part of a wrapped key.
pub struct StoreAsymkey {
    /// `usageAuth`.
    pub usage_auth: Secret,
    /// `migrationAuth` (tpmProof for non-migratable keys).
    pub migration_auth: Secret,
    /// `pubDataDigest`.
    pub pub_data_digest: Digest,
    /// `privKey.key`: the prime p, big-endian.
    pub prime: zeroize::Zeroizing<Vec<u8>>,
}

impl StoreAsymkey {
    /// Encodes it (`payload` = `TPM_PT_ASYM`); the result holds secrets.
    pub fn encode(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.u8(pt::ASYM).bytes(&self.usage_auth.0).bytes(&self.migration_auth.0).bytes(&self.pub_data_digest);
        w.sized32(&self.prime);
        zeroize::Zeroizing::new(w.into_vec())
    }

    /// Parses a decrypted blob; anything malformed is `TPM_DECRYPT_ERROR`
    /// (the caller could not have produced it with our key).
    pub fn decode(b: &[u8]) -> Result<Self, Rc> {
        let mut r = Reader::new(b);
        let payload = r.u8().map_err(|_| Rc::DECRYPT_ERROR)?;
        if payload != pt::ASYM {
            return Err(Rc::DECRYPT_ERROR);
        }
        let usage_auth = Secret(r.array().map_err(|_| Rc::DECRYPT_ERROR)?);
        let migration_auth = Secret(r.array().map_err(|_| Rc::DECRYPT_ERROR)?);
        let pub_data_digest = r.array().map_err(|_| Rc::DECRYPT_ERROR)?;
        let prime = zeroize::Zeroizing::new(r.sized32().map_err(|_| Rc::DECRYPT_ERROR)?.to_vec());
        r.finish().map_err(|_| Rc::DECRYPT_ERROR)?;
        Ok(Self { usage_auth, migration_auth, pub_data_digest, prime })
    }
}
