//! The sealed root as the manager keeps it on its disk: what the hardware TPM returned when it
//! sealed the root secret, with a small header saying which family sealed it and to which PCRs.
//!
//! Layout (big-endian): magic `"VMRS"` ‖ version `01` ‖ family (`01` TPM 1.2, `02` TPM 2.0) ‖
//! PCR mask u32 (bit *i* = PCR *i*; 0 = not PCR-bound) ‖ u16 length ‖ parent name (TPM 2.0: the
//! name of the storage key it was sealed under, checked on later boots before a session is
//! salted to that key; empty on TPM 1.2) ‖ u32 length ‖ payload, where the payload
//! is the TPM 1.2 `TPM_STORED_DATA12` exactly as `TPM_Seal` returned it (the C manager rebuilds
//! it from parts and so breaks when its software PCR digest differs, `wave2-facts.md` §2.3), or
//! the TPM 2.0 `TPM2B_PRIVATE ‖ TPM2B_PUBLIC` of the sealed data object as `TPM2_Create`
//! returned them (the C manager keeps them only in RAM, §1.6, which is why it cannot persist).
//! This module does not decide where on the disk the blob lives.

use alloc::vec::Vec;

use tpm_frame::Family;

use super::HwError;
use super::config::PcrMask;
use super::wire::{Reader, Writer};

const MAGIC: &[u8; 4] = b"VMRS";
const VERSION: u8 = 1;

/// A decoded root blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootBlob {
    /// Which family sealed it.
    pub family: Family,
    /// The PCRs it is bound to (empty: none).
    pub pcrs: PcrMask,
    /// The name of the TPM 2.0 parent (empty for TPM 1.2).
    pub parent_name: Vec<u8>,
    /// The TPM's sealed object (see the module docs).
    pub payload: Vec<u8>,
}

impl RootBlob {
    /// The bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let fam = match self.family {
            Family::Tpm12 => 1,
            Family::Tpm20 => 2,
        };
        w.bytes(MAGIC).u8(VERSION).u8(fam).u32(self.pcrs.0).sized16(&self.parent_name).sized32(&self.payload);
        w.0
    }

    /// Decodes stored bytes; trailing bytes after the payload are refused.
    pub fn decode(b: &[u8]) -> Result<Self, HwError> {
        let bad = |_| HwError::BadBlob("truncated");
        let mut r = Reader::new(b, "root blob");
        if r.bytes(4).map_err(bad)? != MAGIC {
            return Err(HwError::BadBlob("bad magic (not a sealed root)"));
        }
        if r.u8().map_err(bad)? != VERSION {
            return Err(HwError::BadBlob("unknown version"));
        }
        let family = match r.u8().map_err(bad)? {
            1 => Family::Tpm12,
            2 => Family::Tpm20,
            _ => return Err(HwError::BadBlob("unknown TPM family")),
        };
        let pcrs = PcrMask(r.u32().map_err(bad)?);
        if pcrs.0 >> 24 != 0 {
            return Err(HwError::BadBlob("PCR mask names PCRs above 23"));
        }
        let parent_name = r.sized16().map_err(bad)?.to_vec();
        let payload = r.sized32().map_err(bad)?.to_vec();
        if r.remaining() != 0 {
            return Err(HwError::BadBlob("trailing bytes"));
        }
        Ok(RootBlob { family, pcrs, parent_name, payload })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let b = RootBlob {
            family: Family::Tpm20,
            pcrs: PcrMask(0x10000),
            parent_name: alloc::vec![0, 0xB],
            payload: alloc::vec![1, 2, 3],
        };
        let e = b.encode();
        assert_eq!(e, [b'V', b'M', b'R', b'S', 1, 2, 0, 1, 0, 0, 0, 2, 0, 0xB, 0, 0, 0, 3, 1, 2, 3]);
        assert_eq!(RootBlob::decode(&e).unwrap(), b);
        for n in 0..e.len() {
            assert!(RootBlob::decode(&e[..n]).is_err(), "prefix {n}");
        }
        let mut x = e.clone();
        x.push(0);
        assert_eq!(RootBlob::decode(&x), Err(HwError::BadBlob("trailing bytes")));
        let mut x = e.clone();
        x[5] = 3;
        assert_eq!(RootBlob::decode(&x), Err(HwError::BadBlob("unknown TPM family")));
        let mut x = e.clone();
        x[0] = b'X';
        assert!(RootBlob::decode(&x).is_err());
        let mut x = e;
        x[6] = 1;
        assert!(RootBlob::decode(&x).is_err());
    }
}
