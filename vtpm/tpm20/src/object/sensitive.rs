//! `TPMT_SENSITIVE` (Part 2 §12.3.2.4): an object's secret half — authValue, seedValue (the
//! obfuscation value, or a storage parent's seed for its children) and the sensitive value
//! (sealed data, an HMAC or symmetric key, an ECC private scalar) — and
//! `TPMS_SENSITIVE_CREATE`, what TPM2_Create / TPM2_CreatePrimary are given.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::constants::{MAX_DIGEST, MAX_SENSITIVE_DATA};
use crate::rc::Rc;

/// Largest sensitive value kept (an RSA prime would be 128; sealed data is at most 128).
pub const MAX_SENSITIVE_VALUE: usize = 128;

/// A `TPMT_SENSITIVE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sensitive {
    /// sensitiveType (the public area's type).
    pub ty: u16,
    /// authValue (without trailing zeros).
    pub auth: Zeroizing<Vec<u8>>,
    /// seedValue.
    pub seed: Zeroizing<Vec<u8>>,
    /// sensitive.
    pub value: Zeroizing<Vec<u8>>,
}

impl Sensitive {
    /// The marshaled `TPMT_SENSITIVE`.
    pub fn marshal(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.u16(self.ty).tpm2b(&self.auth).tpm2b(&self.seed).tpm2b(&self.value);
        Zeroizing::new(w.0)
    }

    /// Unmarshals a `TPMT_SENSITIVE` that must fill `bytes` exactly.
    pub fn read(bytes: &[u8]) -> Result<Self, Rc> {
        let mut r = Reader::new(bytes);
        let ty = r.u16()?;
        let auth = Zeroizing::new(r.tpm2b(MAX_DIGEST)?.to_vec());
        let seed = Zeroizing::new(r.tpm2b(MAX_DIGEST)?.to_vec());
        let value = Zeroizing::new(r.tpm2b(MAX_SENSITIVE_VALUE)?.to_vec());
        if r.remaining() != 0 {
            return Err(Rc::SIZE);
        }
        Ok(Self { ty, auth, seed, value })
    }
}

/// A `TPM2B_SENSITIVE_CREATE`: userAuth and data.
pub struct SensitiveCreate {
    /// userAuth (as given; trailing zeros are trimmed when stored).
    pub user_auth: Zeroizing<Vec<u8>>,
    /// data.
    pub data: Zeroizing<Vec<u8>>,
}

impl SensitiveCreate {
    /// Unmarshals a `TPM2B_SENSITIVE_CREATE` (its size must match its content).
    pub fn read(r: &mut Reader<'_>) -> Result<Self, Rc> {
        let size = usize::from(r.u16()?);
        let mut inner = Reader::new(r.bytes(size)?);
        let user_auth = Zeroizing::new(inner.tpm2b(MAX_DIGEST)?.to_vec());
        let data = Zeroizing::new(inner.tpm2b(MAX_SENSITIVE_DATA)?.to_vec());
        if inner.remaining() != 0 || size == 0 {
            return Err(Rc::SIZE);
        }
        Ok(Self { user_auth, data })
    }
}
