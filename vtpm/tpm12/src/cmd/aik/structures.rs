//! The structures of identity creation and activation (TPM Main Part 2 §11, §12):
//! `TPM_IDENTITY_CONTENTS` (what TPM_MakeIdentity signs), `TPM_SYMMETRIC_KEY` (what
//! TPM_ActivateIdentity returns), and the two forms of the blob a privacy CA encrypts to
//! the EK: the 1.1 `TPM_ASYM_CA_CONTENTS` and the 1.2 `TPM_EK_BLOB` of type
//! `TPM_EK_TYPE_ACTIVATE` carrying a `TPM_EK_BLOB_ACTIVATE`.
//!
//! The TPM only reads the blobs; the encoders are for the client side (tests, the
//! differential replay), which builds what a privacy CA would.

use alloc::vec::Vec;
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{ord, tag};
use crate::crypto::Digest;

use super::super::keys::blob::VER_11;
use super::super::nv::PcrInfoShort;

/// `TPM_TAG_EK_BLOB_ACTIVATE` (Part 2 §3.1).
pub const TAG_EK_BLOB_ACTIVATE: u16 = 0x002B;
/// `TPM_EK_TYPE_ACTIVATE` (Part 2 §12.1): the blob is a `TPM_EK_BLOB_ACTIVATE`.
pub const EK_TYPE_ACTIVATE: u16 = 0x0001;

/// `TPM_IDENTITY_CONTENTS` (Part 2 §12.5): `ver` 1.1.0.0, `ordinal` =
/// TPM_ORD_MakeIdentity, `labelPrivCADigest`, `identityPubKey` (a `TPM_PUBKEY`).
pub fn identity_contents(label_priv_ca_digest: &Digest, identity_pub_key: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(&VER_11).u32(ord::MakeIdentity).bytes(label_priv_ca_digest).bytes(identity_pub_key);
    w.into_vec()
}

/// `TPM_SYMMETRIC_KEY` (Part 2 §11.3): `algId`, `encScheme`, `size` (UINT16), `data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymmetricKey {
    /// `algId` (`TPM_ALG_*`).
    pub alg_id: u32,
    /// `encScheme` (`TPM_ES_*`).
    pub enc_scheme: u16,
    /// `data`: the key itself (secret).
    pub data: Zeroizing<Vec<u8>>,
}

impl SymmetricKey {
    /// Parses one.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        let alg_id = r.u32()?;
        let enc_scheme = r.u16()?;
        let data = Zeroizing::new(r.sized16()?.to_vec());
        Ok(Self { alg_id, enc_scheme, data })
    }

    /// Encodes it (`size` saturates; keys are short).
    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.alg_id).u16(self.enc_scheme).sized16(&self.data);
    }
}

/// What TPM_ActivateIdentity finds after decrypting its blob with the EK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActivationBlob {
    /// `TPM_ASYM_CA_CONTENTS` (Part 2 §11.4): `sessionKey`, `idDigest`.
    AsymCaContents {
        /// `sessionKey`.
        session_key: SymmetricKey,
        /// `idDigest`: SHA-1 of the identity key's `TPM_PUBKEY`.
        id_digest: Digest,
    },
    /// `TPM_EK_BLOB` (§12.1) of type `TPM_EK_TYPE_ACTIVATE` holding a
    /// `TPM_EK_BLOB_ACTIVATE` (§12.2): `sessionKey`, `idDigest`, `pcrInfo`.
    EkBlobActivate {
        /// `sessionKey`.
        session_key: SymmetricKey,
        /// `idDigest`.
        id_digest: Digest,
        /// `pcrInfo`: the PCRs and localities the release requires.
        pcr_info: PcrInfoShort,
    },
}

impl ActivationBlob {
    /// Parses a decrypted blob (Part 3 §15.2 action 6): a leading `TPM_TAG_EK_BLOB`
    /// selects the 1.2 form, anything else is read as a `TPM_ASYM_CA_CONTENTS` (which has
    /// no tag). An `ekType` other than ACTIVATE is `TPM_BAD_TYPE`, a wrong inner tag
    /// `TPM_INVALID_STRUCTURE`, a short structure `TPM_BAD_PARAM_SIZE`. Bytes after the
    /// structure are ignored, as libtpms does (the OAEP padding already authenticates the
    /// length).
    pub fn decode(plain: &[u8]) -> Result<Self, Rc> {
        let mut r = Reader::new(plain);
        if plain.len() >= 2 && u16::from_be_bytes([plain[0], plain[1]]) == tag::EK_BLOB {
            r.u16()?;
            let ek_type = r.u16()?;
            let inner = r.sized32()?;
            if ek_type != EK_TYPE_ACTIVATE {
                return Err(Rc::BAD_TYPE);
            }
            let mut a = Reader::new(inner);
            if a.u16()? != TAG_EK_BLOB_ACTIVATE {
                return Err(Rc::INVALID_STRUCTURE);
            }
            let session_key = SymmetricKey::decode(&mut a)?;
            let id_digest = a.array()?;
            let pcr_info = PcrInfoShort::decode(&mut a)?;
            Ok(Self::EkBlobActivate { session_key, id_digest, pcr_info })
        } else {
            let session_key = SymmetricKey::decode(&mut r)?;
            let id_digest = r.array()?;
            Ok(Self::AsymCaContents { session_key, id_digest })
        }
    }

    /// Encodes it as a privacy CA would before encrypting it to the EK.
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::secret();
        match self {
            Self::AsymCaContents { session_key, id_digest } => {
                session_key.encode(&mut w);
                w.bytes(id_digest);
            }
            Self::EkBlobActivate { session_key, id_digest, pcr_info } => {
                let mut inner = Writer::secret();
                inner.u16(TAG_EK_BLOB_ACTIVATE);
                session_key.encode(&mut inner);
                inner.bytes(id_digest);
                pcr_info.encode(&mut inner);
                w.u16(tag::EK_BLOB).u16(EK_TYPE_ACTIVATE).sized32(inner.as_slice());
            }
        }
        w.into_zeroizing()
    }

    /// The session key it carries.
    pub fn session_key(&self) -> &SymmetricKey {
        match self {
            Self::AsymCaContents { session_key, .. } | Self::EkBlobActivate { session_key, .. } => session_key,
        }
    }

    /// The identity-key digest it is bound to.
    pub fn id_digest(&self) -> &Digest {
        match self {
            Self::AsymCaContents { id_digest, .. } | Self::EkBlobActivate { id_digest, .. } => id_digest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::pcr::PcrSelection;

    fn key() -> SymmetricKey {
        SymmetricKey {
            alg_id: crate::constants::alg::AES128,
            enc_scheme: 0xFF,
            data: Zeroizing::new(alloc::vec![7; 16]),
        }
    }

    #[test]
    fn both_forms_round_trip() {
        let a = ActivationBlob::AsymCaContents { session_key: key(), id_digest: [3; 20] };
        assert_eq!(ActivationBlob::decode(&a.encode()), Ok(a));
        let pcr_info = PcrInfoShort {
            selection: PcrSelection { select: alloc::vec![1, 0, 0] },
            locality_at_release: 0x1F,
            digest_at_release: [9; 20],
        };
        let b = ActivationBlob::EkBlobActivate { session_key: key(), id_digest: [4; 20], pcr_info };
        assert_eq!(ActivationBlob::decode(&b.encode()), Ok(b));
    }

    #[test]
    fn malformed_blobs_are_errors() {
        assert_eq!(ActivationBlob::decode(&[]), Err(Rc::BAD_PARAM_SIZE));
        assert_eq!(ActivationBlob::decode(&[0, 0x0C, 0, 2, 0, 0, 0, 0]), Err(Rc::BAD_TYPE));
        assert_eq!(ActivationBlob::decode(&[0, 0x0C, 0, 1, 0, 0, 0, 2, 0, 0x2C]), Err(Rc::INVALID_STRUCTURE));
        assert_eq!(ActivationBlob::decode(&[0, 0x0C, 0, 1, 0, 0, 0, 2, 0, 0x2B]), Err(Rc::BAD_PARAM_SIZE));
        let mut v = ActivationBlob::AsymCaContents { session_key: key(), id_digest: [3; 20] }.encode().to_vec();
        v.truncate(v.len() - 1);
        assert_eq!(ActivationBlob::decode(&v), Err(Rc::BAD_PARAM_SIZE));
    }

    #[test]
    fn identity_contents_layout() {
        let c = identity_contents(&[5; 20], &[1, 2]);
        assert_eq!(c[..8], [1, 1, 0, 0, 0, 0, 0, 0x79]);
        assert_eq!(c[8..28], [5; 20]);
        assert_eq!(c[28..], [1, 2]);
    }
}
