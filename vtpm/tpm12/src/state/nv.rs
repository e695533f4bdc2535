//! A defined NV space (`TPM_NV_DATA_AREA`, Part 2 §19.3/§19.4).

use alloc::vec::Vec;

use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::tag;
use crate::crypto::Secret;

/// Largest NV space we store (bytes). Total NV is bounded separately.
pub const MAX_NV_SPACE: usize = 4096;

/// One NV space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NvSpace {
    /// `nvIndex`.
    pub index: u32,
    /// `pcrInfoRead` as `TPM_PCR_INFO_SHORT` wire bytes.
    pub pcr_info_read: Vec<u8>,
    /// `pcrInfoWrite` as `TPM_PCR_INFO_SHORT` wire bytes.
    pub pcr_info_write: Vec<u8>,
    /// `permission.attributes` (`TPM_NV_PER_*`).
    pub attributes: u32,
    /// `bReadSTClear` (volatile in spirit, cleared on Startup(ST_CLEAR)).
    pub read_st_clear: bool,
    /// `bWriteSTClear` (cleared on Startup(ST_CLEAR)).
    pub write_st_clear: bool,
    /// `bWriteDefine` (persistent).
    pub write_define: bool,
    /// `authValue` (`TPM_NV_DATA_SENSITIVE.authValue`).
    pub auth: Secret,
    /// The data (`dataSize` bytes; fresh spaces are 0xFF).
    pub data: Vec<u8>,
}

impl NvSpace {
    /// `TPM_NV_DATA_PUBLIC` wire structure (GetCapability(TPM_CAP_NV_INDEX)).
    pub fn encode_public(&self, w: &mut Writer) {
        w.u16(tag::NV_DATA_PUBLIC).u32(self.index);
        w.bytes(&self.pcr_info_read).bytes(&self.pcr_info_write);
        w.u16(tag::NV_ATTRIBUTES).u32(self.attributes);
        w.bool(self.read_st_clear).bool(self.write_st_clear).bool(self.write_define);
        w.u32(self.data.len() as u32);
    }

    /// Storage encoding.
    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.index).sized32(&self.pcr_info_read).sized32(&self.pcr_info_write);
        w.u32(self.attributes).bool(self.read_st_clear).bool(self.write_st_clear);
        w.bool(self.write_define).bytes(&self.auth.0).sized32(&self.data);
    }

    /// Inverse of [`NvSpace::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        Ok(Self {
            index: r.u32()?,
            pcr_info_read: r.sized32_max(64)?.to_vec(),
            pcr_info_write: r.sized32_max(64)?.to_vec(),
            attributes: r.u32()?,
            read_st_clear: r.bool()?,
            write_st_clear: r.bool()?,
            write_define: r.bool()?,
            auth: Secret(r.array()?),
            data: r.sized32_max(MAX_NV_SPACE)?.to_vec(),
        })
    }
}
