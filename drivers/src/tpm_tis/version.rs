//! Asking a hardware TPM who it is, for the manager's boot log: TPM 1.2
//! `GetCapability(TPM_CAP_VERSION_VAL)` (TPM_CAP_VERSION_INFO: version, specLevel, errataRev,
//! vendor) and TPM 2.0 `GetCapability(TPM_CAP_TPM_PROPERTIES)` (family "2.0", manufacturer,
//! firmware version).

use alloc::vec::Vec;

use super::{Tis, TisError, TpmFamily};
use crate::hv::{Clock, Mmio};
use tpm_frame::{TPM_ST_NO_SESSIONS, TPM_SUCCESS, TPM_TAG_RQU_COMMAND};

/// What the chip reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TpmVersion {
    /// 1.2 or 2.0.
    pub family: TpmFamily,
    /// TPM 1.2: major, minor, revMajor, revMinor. TPM 2.0: the family indicator bytes
    /// ("2.0\0").
    pub version: [u8; 4],
    /// Vendor / manufacturer id (4 ASCII bytes, e.g. "IBM ").
    pub manufacturer: [u8; 4],
    /// TPM 1.2: specLevel << 16 | errataRev. TPM 2.0: TPM_PT_FIRMWARE_VERSION_1.
    pub detail: u32,
}

impl core::fmt::Display for TpmVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Vendor ids are padded with spaces or NULs ("IBM\0"): padding is dropped, other bytes shown as '?'.
        let m: Vec<char> = self
            .manufacturer
            .iter()
            .filter(|&&b| b != 0)
            .map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '?' })
            .collect();
        let m: alloc::string::String = m.into_iter().collect();
        match self.family {
            TpmFamily::Tpm12 => write!(
                f,
                "TPM 1.2 version {}.{}.{}.{} specLevel {} errataRev {} manufacturer {}",
                self.version[0],
                self.version[1],
                self.version[2],
                self.version[3],
                self.detail >> 16,
                self.detail & 0xFF,
                m.trim_end()
            ),
            TpmFamily::Tpm20 => write!(f, "TPM 2.0 manufacturer {} firmware {:#010x}", m.trim_end(), self.detail),
        }
    }
}

fn be32(b: &[u8], o: usize) -> Option<u32> {
    let s = b.get(o..o + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads the chip's version.
pub fn read_version<M: Mmio, C: Clock + ?Sized>(tis: &mut Tis<M>, clock: &mut C) -> Result<TpmVersion, TisError> {
    match tis.info().family {
        TpmFamily::Tpm12 => {
            // TPM_GetCapability(TPM_CAP_VERSION_VAL, no subcap)
            let cmd = tpm_frame::command(TPM_TAG_RQU_COMMAND, 0x65, &[0, 0, 0, 0x1A, 0, 0, 0, 0]);
            let r = tis.transmit(clock, &cmd)?;
            if tpm_frame::return_code(&r) != Some(TPM_SUCCESS) {
                return Err(TisError::BadResponse);
            }
            // respSize(4) | tag(2) 0x0030 | version(4) | specLevel(2) | errataRev(1) | vendor(4)
            let b = r.get(14..14 + 13).ok_or(TisError::BadResponse)?;
            Ok(TpmVersion {
                family: TpmFamily::Tpm12,
                version: [b[2], b[3], b[4], b[5]],
                manufacturer: [b[9], b[10], b[11], b[12]],
                detail: u32::from(u16::from_be_bytes([b[6], b[7]])) << 16 | u32::from(b[8]),
            })
        }
        TpmFamily::Tpm20 => {
            // TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES, TPM_PT_FAMILY_INDICATOR, 16)
            let cmd = tpm_frame::command(TPM_ST_NO_SESSIONS, 0x17A, &[0, 0, 0, 6, 0, 0, 0x01, 0x00, 0, 0, 0, 16]);
            let r = tis.transmit(clock, &cmd)?;
            if tpm_frame::return_code(&r) != Some(TPM_SUCCESS) {
                return Err(TisError::BadResponse);
            }
            // moreData(1) | capability(4) | count(4) | count × {property(4), value(4)}
            let count = be32(&r, 15).ok_or(TisError::BadResponse)? as usize;
            let mut v = TpmVersion { family: TpmFamily::Tpm20, version: [0; 4], manufacturer: [0; 4], detail: 0 };
            for i in 0..count.min(64) {
                let (Some(p), Some(val)) = (be32(&r, 19 + 8 * i), be32(&r, 23 + 8 * i)) else { break };
                match p {
                    0x100 => v.version = val.to_be_bytes(),
                    0x105 => v.manufacturer = val.to_be_bytes(),
                    0x10B => v.detail = val,
                    _ => {}
                }
            }
            Ok(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn the_frames_are_the_ones_the_chips_expect() {
        assert_eq!(
            tpm_frame::command(TPM_TAG_RQU_COMMAND, 0x65, &[0, 0, 0, 0x1A, 0, 0, 0, 0]),
            [0x00, 0xC1, 0, 0, 0, 18, 0, 0, 0, 0x65, 0, 0, 0, 0x1A, 0, 0, 0, 0]
        );
        assert_eq!(
            tpm_frame::command(TPM_ST_NO_SESSIONS, 0x17A, &[0, 0, 0, 6, 0, 0, 0x01, 0x00, 0, 0, 0, 16]),
            [0x80, 0x01, 0, 0, 0, 22, 0, 0, 0x01, 0x7A, 0, 0, 0, 6, 0, 0, 0x01, 0x00, 0, 0, 0, 16]
        );
    }

    #[test]
    fn display_drops_vendor_padding() {
        let v = TpmVersion { family: TpmFamily::Tpm20, version: [0; 4], manufacturer: *b"IBM\0", detail: 0x2019_1023 };
        assert_eq!(v.to_string(), "TPM 2.0 manufacturer IBM firmware 0x20191023");
        let v = TpmVersion {
            family: TpmFamily::Tpm12,
            version: [1, 2, 18, 158],
            manufacturer: *b"IB\x01 ",
            detail: 2 << 16 | 3,
        };
        assert_eq!(v.to_string(), "TPM 1.2 version 1.2.18.158 specLevel 2 errataRev 3 manufacturer IB?");
    }
}
