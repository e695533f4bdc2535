//! PCR binding of keys and sealed data: `TPM_PCR_INFO` (Part 2 §8.3, used by
//! `TPM_KEY` and `TPM_STORED_DATA`) and `TPM_PCR_INFO_LONG` (§8.4, used by
//! `TPM_KEY12` and `TPM_STORED_DATA12`).
//!
//! The TPM fills in the creation fields ([`PcrInfo::set_creation`]) and checks
//! the release fields before any use ([`PcrInfo::check_release`]).

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{loc, tag};
use crate::crypto::Digest;

use super::super::pcr::{PcrSelection, locality_bit};

/// A parsed PCR info structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PcrInfo {
    /// `TPM_PCR_INFO`.
    Short {
        /// `pcrSelection`.
        selection: PcrSelection,
        /// `digestAtRelease`.
        digest_at_release: Digest,
        /// `digestAtCreation`.
        digest_at_creation: Digest,
    },
    /// `TPM_PCR_INFO_LONG`.
    Long {
        /// `localityAtCreation`.
        locality_at_creation: u8,
        /// `localityAtRelease`.
        locality_at_release: u8,
        /// `creationPCRSelection`.
        creation_selection: PcrSelection,
        /// `releasePCRSelection`.
        release_selection: PcrSelection,
        /// `digestAtCreation`.
        digest_at_creation: Digest,
        /// `digestAtRelease`.
        digest_at_release: Digest,
    },
}

fn bad(_: Rc) -> Rc {
    Rc::INVALID_PCR_INFO
}

impl PcrInfo {
    /// True if `b` starts with the `TPM_TAG_PCR_INFO_LONG` tag.
    pub fn is_long(b: &[u8]) -> bool {
        b.len() >= 2 && u16::from_be_bytes([b[0], b[1]]) == tag::PCR_INFO_LONG
    }

    /// Parses a whole buffer as `TPM_PCR_INFO` (`long` = false) or
    /// `TPM_PCR_INFO_LONG`; malformed input is `TPM_INVALID_PCR_INFO`.
    pub fn decode(b: &[u8], long: bool) -> Result<Self, Rc> {
        let mut r = Reader::new(b);
        let info = if long {
            if r.u16().map_err(bad)? != tag::PCR_INFO_LONG {
                return Err(Rc::INVALID_PCR_INFO);
            }
            let locality_at_creation = r.u8().map_err(bad)?;
            let locality_at_release = r.u8().map_err(bad)?;
            if locality_at_release == 0 || locality_at_release & !loc::ALL != 0 {
                return Err(Rc::INVALID_PCR_INFO);
            }
            Self::Long {
                locality_at_creation,
                locality_at_release,
                creation_selection: PcrSelection::decode(&mut r).map_err(bad)?,
                release_selection: PcrSelection::decode(&mut r).map_err(bad)?,
                digest_at_creation: r.array().map_err(bad)?,
                digest_at_release: r.array().map_err(bad)?,
            }
        } else {
            Self::Short {
                selection: PcrSelection::decode(&mut r).map_err(bad)?,
                digest_at_release: r.array().map_err(bad)?,
                digest_at_creation: r.array().map_err(bad)?,
            }
        };
        r.finish().map_err(bad)?;
        Ok(info)
    }

    /// Encodes it.
    pub fn encode(&self, w: &mut Writer) {
        match self {
            Self::Short { selection, digest_at_release, digest_at_creation } => {
                selection.encode(w);
                w.bytes(digest_at_release).bytes(digest_at_creation);
            }
            Self::Long {
                locality_at_creation,
                locality_at_release,
                creation_selection,
                release_selection,
                digest_at_creation,
                digest_at_release,
            } => {
                w.u16(tag::PCR_INFO_LONG).u8(*locality_at_creation).u8(*locality_at_release);
                creation_selection.encode(w);
                release_selection.encode(w);
                w.bytes(digest_at_creation).bytes(digest_at_release);
            }
        }
    }

    /// Encoded bytes.
    pub fn to_bytes(&self) -> alloc::vec::Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_vec()
    }

    /// Sets `digestAtCreation` (and `localityAtCreation`) from the current PCRs
    /// and the command's locality.
    pub fn set_creation(&mut self, tpm: &Tpm, locality: u8) {
        let pcrs = &tpm.vol.stclear_data.pcrs;
        match self {
            Self::Short { selection, digest_at_creation, .. } => {
                *digest_at_creation = selection.composite_hash(pcrs);
            }
            Self::Long { locality_at_creation, creation_selection, digest_at_creation, .. } => {
                *locality_at_creation = locality_bit(locality);
                *digest_at_creation = creation_selection.composite_hash(pcrs);
            }
        }
    }

    /// Checks the release conditions: `TPM_BAD_LOCALITY`, `TPM_WRONGPCRVAL`.
    pub fn check_release(&self, tpm: &Tpm, locality: u8) -> Result<(), Rc> {
        let pcrs = &tpm.vol.stclear_data.pcrs;
        let (selection, digest) = match self {
            Self::Short { selection, digest_at_release, .. } => (selection, digest_at_release),
            Self::Long { locality_at_release, release_selection, digest_at_release, .. } => {
                if locality_at_release & locality_bit(locality) == 0 {
                    return Err(Rc::BAD_LOCALITY);
                }
                (release_selection, digest_at_release)
            }
        };
        if !selection.is_empty() && selection.composite_hash(pcrs) != *digest {
            return Err(Rc::WRONGPCRVAL);
        }
        Ok(())
    }
}

/// Checks the PCR info bytes of a key or blob (empty = unbound).
pub fn check_release_bytes(tpm: &Tpm, pcr_info: &[u8], long: bool, locality: u8) -> Result<(), Rc> {
    if pcr_info.is_empty() {
        return Ok(());
    }
    PcrInfo::decode(pcr_info, long)?.check_release(tpm, locality)
}
