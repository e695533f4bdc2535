//! A key the TPM holds internally (SRK, owner-evict keys, loaded keys): the
//! TCG public structure as bytes plus the secrets, in our storage encoding.
//!
//! The key module (`cmd::keys`) parses `public_blob` (a `TPM_KEY` or `TPM_KEY12`
//! with an empty `encData`) for usage, flags and PCR binding; this type only
//! carries it, so state stays independent of how keys are interpreted.

use alloc::vec::Vec;

use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::crypto::{RsaKey, Secret};

/// An internally held key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// `TPM_KEY`/`TPM_KEY12` wire bytes with `encSize` = 0.
    pub public_blob: Vec<u8>,
    /// The RSA key pair.
    pub rsa: RsaKey,
    /// `usageAuth`.
    pub usage_auth: Secret,
    /// `migrationAuth`.
    pub migration_auth: Secret,
}

impl KeyRecord {
    /// Storage encoding.
    pub fn encode(&self, w: &mut Writer) {
        w.sized32(&self.public_blob);
        self.rsa.encode(w);
        w.bytes(&self.usage_auth.0).bytes(&self.migration_auth.0);
    }

    /// Inverse of [`KeyRecord::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        Ok(Self {
            public_blob: r.sized32_max(1 << 16)?.to_vec(),
            rsa: RsaKey::decode(r)?,
            usage_auth: Secret(r.array()?),
            migration_auth: Secret(r.array()?),
        })
    }
}
