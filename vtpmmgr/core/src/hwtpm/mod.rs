//! The manager's client for the machine's TPM, TPM 1.2 or TPM 2.0, over [`HardwareTpm`]:
//! [`HwClient`] is the one seam the manager calls — protect the manager's root secret
//! ([`HwClient::unseal_or_create_root`]), and the passthroughs the vtpms need
//! ([`HwClient::get_random`], [`HwClient::pcr_read_sha1`], and for an admin vtpm
//! [`HwClient::pcr_extend_sha1`]).
//!
//! - `tpm12`: OIAP/OSAP, TakeOwnership, ReadPubek, Seal/Unseal under the SRK, GetRandom, PCRRead.
//! - `tpm20`: Startup, CreatePrimary (or `srk_handle`), Create/Load/Unseal of a sealed data
//!   object kept on the manager's disk, FlushContext, GetRandom, PCR_Read (SHA-1), PolicyPCR.
//! - `config`: the options (`owner_auth`, `srk_auth`, `tpm2=1`, `srk_handle`, `hw_seal_pcrs`).
//! - `blob`: the sealed root as it is stored on the manager's disk.
//! - `tpm20_session`: salted TPM 2.0 sessions with XOR parameter encryption for the secret.
//! - `wire`, `error`: the response checks and the error values.
//!
//! Not here: where on the disk the blob lives (the storage crate), the image's TIS wiring, AIK
//! and quote commands, TPM 1.2 transport sessions (the secret crosses a TPM 1.2 bus in clear).

use alloc::vec::Vec;

use rand_core::CryptoRng;
use tpm_frame::Family;
use zeroize::Zeroizing;

use crate::hardware::HardwareTpm;

pub mod blob;
pub mod config;
mod error;
#[cfg(test)]
pub(crate) mod testing;
pub mod tpm12;
pub mod tpm20;
pub mod tpm20_session;
pub mod wire;

pub use blob::RootBlob;
pub use config::{AuthValue, HwConfig, PcrMask};
pub use error::HwError;
pub use tpm12::Tpm12;
pub use tpm20::Tpm20;

/// The size of the manager's root secret.
pub const ROOT_SECRET_LEN: usize = 32;

/// The manager's root secret (wiped on drop; `Debug` does not print it).
#[derive(Clone, PartialEq, Eq)]
pub struct RootSecret(Zeroizing<[u8; ROOT_SECRET_LEN]>);

impl RootSecret {
    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8; ROOT_SECRET_LEN] {
        &self.0
    }
    /// A secret from its bytes (the administrator-key mode's unwrap).
    pub(crate) fn from_array(b: [u8; ROOT_SECRET_LEN]) -> Self {
        Self(Zeroizing::new(b))
    }
    fn from_slice(b: &[u8]) -> Result<Self, HwError> {
        let a: [u8; ROOT_SECRET_LEN] =
            b.try_into().map_err(|_| HwError::BadBlob("unsealed secret has the wrong size"))?;
        Ok(Self(Zeroizing::new(a)))
    }
}

impl core::fmt::Debug for RootSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RootSecret(..)")
    }
}

/// The manager's hardware-TPM client: one family, chosen by `tpm2=1` or by the transport.
pub struct HwClient<'a, T: HardwareTpm, R: CryptoRng + ?Sized> {
    tpm: &'a mut T,
    rng: &'a mut R,
    config: &'a HwConfig,
    family: Family,
}

impl<'a, T: HardwareTpm, R: CryptoRng + ?Sized> HwClient<'a, T, R>
where
    T::Error: core::fmt::Debug,
{
    /// A client for `tpm` with `config`; nonces, OAEP seeds and half of each new root secret
    /// come from `rng` (the other half from the TPM's own RNG).
    pub fn new(tpm: &'a mut T, rng: &'a mut R, config: &'a HwConfig) -> Result<Self, HwError> {
        let family = config.family.unwrap_or_else(|| tpm.family());
        if family == Family::Tpm12 && config.srk_handle.is_some() {
            return Err(HwError::Config("srk_handle= is for TPM 2.0 (tpm2=1)".into()));
        }
        Ok(Self { tpm, rng, config, family })
    }

    /// The family this client speaks.
    pub fn family(&self) -> Family {
        self.family
    }

    fn tpm12(&mut self) -> Tpm12<'_, T, R> {
        Tpm12::new(self.tpm, self.rng)
    }

    fn tpm20(&mut self) -> Tpm20<'_, T, R> {
        Tpm20::new(self.tpm, self.rng)
    }

    /// Starts the TPM if firmware has not (already started is fine).
    pub fn startup(&mut self) -> Result<(), HwError> {
        match self.family {
            Family::Tpm12 => self.tpm12().startup(),
            Family::Tpm20 => self.tpm20().startup(),
        }
    }

    /// The boot decision. With no stored blob (first boot): TPM 1.2 — take ownership if the
    /// TPM has none (`owner_auth`, `srk_auth` become its secrets), else check `owner_auth`;
    /// TPM 2.0 — the primary storage key (or `srk_handle`). Then a fresh root secret is sealed
    /// (to the `hw_seal_pcrs` PCRs if set), unsealed once to prove it works, and returned with
    /// the blob to store. With a stored blob (later boots): it is unsealed; any refusal is an
    /// error (never a fresh secret in its place).
    pub fn unseal_or_create_root(&mut self, stored: Option<&[u8]>) -> Result<(RootSecret, Option<Vec<u8>>), HwError> {
        self.startup()?;
        let stored = stored.map(RootBlob::decode).transpose()?;
        if let Some(b) = &stored
            && b.family != self.family
        {
            return Err(HwError::BadBlob("sealed by the other TPM family"));
        }
        match self.family {
            Family::Tpm12 => self.root12(stored),
            Family::Tpm20 => self.root20(stored),
        }
    }

    fn fresh_secret(&mut self) -> Result<RootSecret, HwError> {
        let mut s = Zeroizing::new([0u8; ROOT_SECRET_LEN]);
        self.rng.fill_bytes(&mut s[..]);
        let mut got = 0;
        // XOR in the TPM's randomness too: the secret is as good as the better of the two.
        for _ in 0..8 {
            if got == ROOT_SECRET_LEN {
                break;
            }
            let b = self.get_random((ROOT_SECRET_LEN - got) as u32)?;
            for (d, x) in s[got..].iter_mut().zip(b.iter()) {
                *d ^= x;
            }
            got += b.len().min(ROOT_SECRET_LEN - got);
        }
        if got < ROOT_SECRET_LEN {
            return Err(HwError::Malformed { command: "GetRandom", what: "the TPM keeps returning too few bytes" });
        }
        Ok(RootSecret(s))
    }

    fn pcr_values(&mut self, mask: PcrMask) -> Result<Vec<[u8; 20]>, HwError> {
        mask.indices().map(|i| self.pcr_read_sha1(i)).collect()
    }

    fn root12(&mut self, stored: Option<RootBlob>) -> Result<(RootSecret, Option<Vec<u8>>), HwError> {
        let srk = self.config.srk_auth.tpm12_secret();
        if let Some(b) = stored {
            let s = self.tpm12().unseal(&srk, &b.payload)?;
            return Ok((RootSecret::from_slice(&s)?, None));
        }
        let owner = self.config.owner_auth.tpm12_secret();
        match self.tpm12().read_pubek()? {
            tpm12::Pubek::Available(ek) => self.tpm12().take_ownership(&ek, &owner, &srk)?,
            tpm12::Pubek::NoEndorsement => {
                let ek = self.tpm12().create_endorsement_key()?;
                self.tpm12().take_ownership(&ek, &owner, &srk)?;
            }
            tpm12::Pubek::Owned => self.tpm12().check_owner_auth(&owner)?,
        }
        let secret = self.fresh_secret()?;
        let mask = self.config.seal_pcrs;
        let pcrs = if mask.is_empty() {
            None
        } else {
            let v = self.pcr_values(mask)?;
            Some((mask, tpm12::pcr_composite(mask, &v)))
        };
        let payload = self.tpm12().seal(&srk, secret.as_bytes(), pcrs)?;
        let back = self.tpm12().unseal(&srk, &payload)?;
        if back[..] != secret.as_bytes()[..] {
            return Err(HwError::Malformed {
                command: "TPM_Unseal",
                what: "unsealed secret differs from the sealed one",
            });
        }
        let _ = self.tpm12().save_state();
        let blob = RootBlob { family: Family::Tpm12, pcrs: mask, parent_name: Vec::new(), payload };
        Ok((secret, Some(blob.encode())))
    }

    fn root20(&mut self, stored: Option<RootBlob>) -> Result<(RootSecret, Option<Vec<u8>>), HwError> {
        let (handle, password, ours) = match self.config.srk_handle {
            Some(h) => (h, self.config.srk_auth.tpm20_password(), false),
            None => {
                let pw = self.config.owner_auth.tpm20_password();
                (self.tpm20().create_primary(&pw)?, Zeroizing::new(Vec::new()), true)
            }
        };
        let r = match self.tpm20().parent(handle, &password) {
            Ok(parent) => self.root20_under(&parent, stored),
            Err(e) => Err(e),
        };
        if ours {
            let f = self.tpm20().flush(handle);
            if r.is_ok() {
                f?;
            }
        }
        r
    }

    fn root20_under(
        &mut self,
        parent: &tpm20::Parent,
        stored: Option<RootBlob>,
    ) -> Result<(RootSecret, Option<Vec<u8>>), HwError> {
        if let Some(b) = stored {
            if b.parent_name != parent.name {
                return Err(HwError::ParentChanged);
            }
            let obj = tpm20::SealedObject::decode(&b.payload)?;
            let pcrs = (!b.pcrs.is_empty()).then_some(b.pcrs);
            let s = self.load_unseal20(parent, &obj, pcrs)?;
            return Ok((RootSecret::from_slice(&s)?, None));
        }
        let secret = self.fresh_secret()?;
        let mask = self.config.seal_pcrs;
        let (pcrs, policy) = if mask.is_empty() {
            (None, None)
        } else {
            let v = self.pcr_values(mask)?;
            (Some(mask), Some(tpm20::policy_pcr_digest(mask, &v)))
        };
        let obj = self.tpm20().create_sealed(parent, secret.as_bytes(), policy)?;
        let back = self.load_unseal20(parent, &obj, pcrs)?;
        if back[..] != secret.as_bytes()[..] {
            return Err(HwError::Malformed {
                command: "TPM2_Unseal",
                what: "unsealed secret differs from the sealed one",
            });
        }
        let blob =
            RootBlob { family: Family::Tpm20, pcrs: mask, parent_name: parent.name.clone(), payload: obj.encode() };
        Ok((secret, Some(blob.encode())))
    }

    fn load_unseal20(
        &mut self,
        parent: &tpm20::Parent,
        obj: &tpm20::SealedObject,
        pcrs: Option<PcrMask>,
    ) -> Result<Zeroizing<Vec<u8>>, HwError> {
        let (item, name) = self.tpm20().load(parent, obj)?;
        let r = self.tpm20().unseal(item, &name, parent, pcrs);
        let f = self.tpm20().flush(item);
        let s = r?;
        f?;
        Ok(s)
    }

    /// The TPM's random bytes, at most `n` (TPM 1.2 `TPM_GetRandom`; TPM 2.0 `TPM2_GetRandom`,
    /// request capped at 8178, usually answered with ≤ 64). Never more than asked.
    pub fn get_random(&mut self, n: u32) -> Result<Vec<u8>, HwError> {
        match self.family {
            Family::Tpm12 => self.tpm12().get_random(n),
            Family::Tpm20 => self.tpm20().get_random(n),
        }
    }

    /// Extends PCR `index` with `digest` and returns its new SHA-1 value (TPM 1.2
    /// `TPM_Extend`; TPM 2.0 `TPM2_PCR_Extend` of the SHA-1 bank, then `TPM2_PCR_Read`).
    pub fn pcr_extend_sha1(&mut self, index: u32, digest: &[u8; 20]) -> Result<[u8; 20], HwError> {
        match self.family {
            Family::Tpm12 => self.tpm12().extend(index, digest),
            Family::Tpm20 => {
                self.tpm20().pcr_extend_sha1(index, digest)?;
                self.tpm20().pcr_read_sha1(index)
            }
        }
    }

    /// PCR `index`'s SHA-1 value (TPM 1.2 `TPM_PCRRead`; TPM 2.0 `TPM2_PCR_Read`, SHA-1 bank).
    pub fn pcr_read_sha1(&mut self, index: u32) -> Result<[u8; 20], HwError> {
        match self.family {
            Family::Tpm12 => self.tpm12().pcr_read(index),
            Family::Tpm20 => self.tpm20().pcr_read_sha1(index),
        }
    }
}
