//! NV indices (Part 1 §37, Part 2 §13): `TPMS_NV_PUBLIC` with its `TPMA_NV` attributes, an
//! index's Name, the checks TPM2_NV_DefineSpace makes on a new index, and what
//! TPM2_Startup(CLEAR) does to the STCLEAR attributes. The indices live in the permanent
//! state (and so in the state image).

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::constants::MAX_DIGEST;
use crate::crypto::HashAlg;
use crate::rc::Rc;

/// `TPMA_NV` bits (Part 2 §13.4) and the `TPM_NT` field.
#[allow(missing_docs)]
pub mod attr {
    pub const PPWRITE: u32 = 1 << 0;
    pub const OWNERWRITE: u32 = 1 << 1;
    pub const AUTHWRITE: u32 = 1 << 2;
    pub const POLICYWRITE: u32 = 1 << 3;
    /// TPM_NT (bits 4..7).
    pub const TPM_NT_SHIFT: u32 = 4;
    pub const TPM_NT_MASK: u32 = 0xF << TPM_NT_SHIFT;
    pub const POLICY_DELETE: u32 = 1 << 10;
    pub const WRITELOCKED: u32 = 1 << 11;
    pub const WRITEALL: u32 = 1 << 12;
    pub const WRITEDEFINE: u32 = 1 << 13;
    pub const WRITE_STCLEAR: u32 = 1 << 14;
    pub const GLOBALLOCK: u32 = 1 << 15;
    pub const PPREAD: u32 = 1 << 16;
    pub const OWNERREAD: u32 = 1 << 17;
    pub const AUTHREAD: u32 = 1 << 18;
    pub const POLICYREAD: u32 = 1 << 19;
    pub const NO_DA: u32 = 1 << 25;
    pub const ORDERLY: u32 = 1 << 26;
    pub const CLEAR_STCLEAR: u32 = 1 << 27;
    pub const READLOCKED: u32 = 1 << 28;
    pub const WRITTEN: u32 = 1 << 29;
    pub const PLATFORMCREATE: u32 = 1 << 30;
    pub const READ_STCLEAR: u32 = 1 << 31;
    /// Reserved: bits 8, 9 and 20..24.
    pub const RESERVED: u32 = 0x0000_0300 | 0x01F0_0000;
    /// Any write authorization.
    pub const WRITE_AUTH: u32 = PPWRITE | OWNERWRITE | AUTHWRITE | POLICYWRITE;
    /// Any read authorization.
    pub const READ_AUTH: u32 = PPREAD | OWNERREAD | AUTHREAD | POLICYREAD;
}

/// `TPM_NT`: the kind of index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nt {
    /// TPM_NT_ORDINARY: data.
    Ordinary,
    /// TPM_NT_COUNTER: a 64-bit counter that only increments.
    Counter,
    /// TPM_NT_BITS: 64 bits that are only set.
    Bits,
    /// TPM_NT_EXTEND: a digest that is only extended.
    Extend,
}

impl Nt {
    /// From the attributes (`None`: PIN_PASS / PIN_FAIL, not implemented, or reserved).
    pub fn of(attributes: u32) -> Option<Self> {
        match (attributes & attr::TPM_NT_MASK) >> attr::TPM_NT_SHIFT {
            0 => Some(Self::Ordinary),
            1 => Some(Self::Counter),
            2 => Some(Self::Bits),
            4 => Some(Self::Extend),
            _ => None,
        }
    }
}

/// Largest ordinary index (bytes), and the largest NV buffer one command moves.
pub const MAX_NV_INDEX_SIZE: u16 = 2048;
/// `TPM_PT_NV_BUFFER_MAX`.
pub const MAX_NV_BUFFER: usize = 1024;
/// `TPM_PT_NV_INDEX_MAX` is [`MAX_NV_INDEX_SIZE`]; at most this many indices are defined.
pub const MAX_NV_INDICES: usize = 32;
/// All index data together may take at most this much (bytes).
pub const MAX_NV_DATA: usize = 16 * 1024;

/// A `TPMS_NV_PUBLIC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NvPublic {
    /// nvIndex.
    pub index: u32,
    /// nameAlg.
    pub name_alg: HashAlg,
    /// attributes.
    pub attributes: u32,
    /// authPolicy.
    pub auth_policy: Vec<u8>,
    /// dataSize.
    pub data_size: u16,
}

impl NvPublic {
    /// Unmarshals a `TPMS_NV_PUBLIC` (the caller numbers the error): `TPM_RC_HASH`,
    /// `TPM_RC_RESERVED_BITS`, `TPM_RC_VALUE` for a handle that is no NV index.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, Rc> {
        let index = r.u32()?;
        if (index >> 24) as u8 != crate::constants::ht::NV_INDEX {
            return Err(Rc::VALUE);
        }
        let name_alg = HashAlg::from_alg(r.u16()?).ok_or(Rc::HASH)?;
        let attributes = r.u32()?;
        if attributes & attr::RESERVED != 0 {
            return Err(Rc::RESERVED_BITS);
        }
        let auth_policy = r.tpm2b(MAX_DIGEST)?.to_vec();
        let data_size = r.u16()?;
        Ok(Self { index, name_alg, attributes, auth_policy, data_size })
    }

    /// Unmarshals a `TPM2B_NV_PUBLIC` whose size must be exactly its content's.
    pub fn read_2b(r: &mut Reader<'_>) -> Result<Self, Rc> {
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

    /// The marshaled `TPMS_NV_PUBLIC`.
    pub fn marshal(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(self.index).u16(self.name_alg.alg()).u32(self.attributes).tpm2b(&self.auth_policy).u16(self.data_size);
        w.0
    }

    /// The Name: nameAlg ‖ H_nameAlg(TPMS_NV_PUBLIC).
    pub fn name(&self) -> Vec<u8> {
        let mut n = self.name_alg.alg().to_be_bytes().to_vec();
        n.extend_from_slice(&self.name_alg.digest(&[&self.marshal()]));
        n
    }

    /// Whether every bit of `a` is SET.
    pub fn has(&self, a: u32) -> bool {
        self.attributes & a == a
    }

    /// The index kind (checked at definition).
    pub fn nt(&self) -> Nt {
        Nt::of(self.attributes).unwrap_or(Nt::Ordinary)
    }

    /// The attribute and size checks of TPM2_NV_DefineSpace on `publicInfo` (Part 3
    /// §31.3.1, in the reference implementation's order) for an index defined with
    /// `platform` (TPM_RH_PLATFORM) or owner authorization; the codes are numbered (the
    /// authHandle is handle 1, publicInfo parameter 2).
    pub fn check_new(&self, platform: bool) -> Result<(), Rc> {
        let a = self.attributes;
        let has = |b: u32| a & b != 0;
        let p2 = |rc: Rc| Err(rc.param(2));
        let Some(nt) = Nt::of(a) else { return p2(Rc::ATTRIBUTES) };
        let size_ok = match nt {
            Nt::Ordinary => self.data_size <= MAX_NV_INDEX_SIZE,
            Nt::Extend => usize::from(self.data_size) == self.name_alg.size(),
            Nt::Counter | Nt::Bits => self.data_size == 8,
        };
        if !size_ok {
            return p2(Rc::SIZE);
        }
        // a counter never goes back, so it is never made unwritten again
        if nt == Nt::Counter && has(attr::CLEAR_STCLEAR) {
            return p2(Rc::ATTRIBUTES);
        }
        if has(attr::WRITTEN | attr::WRITELOCKED | attr::READLOCKED) {
            return p2(Rc::ATTRIBUTES);
        }
        if a & attr::READ_AUTH == 0 || a & attr::WRITE_AUTH == 0 {
            return p2(Rc::ATTRIBUTES);
        }
        if has(attr::CLEAR_STCLEAR) && has(attr::WRITEDEFINE) {
            return p2(Rc::ATTRIBUTES);
        }
        // the creator must be able to delete it
        if has(attr::PLATFORMCREATE) != platform {
            return Err(Rc::ATTRIBUTES.handle(1));
        }
        if has(attr::POLICY_DELETE) && !platform {
            return p2(Rc::ATTRIBUTES);
        }
        if has(attr::WRITEALL) && usize::from(self.data_size) > MAX_NV_BUFFER {
            return p2(Rc::SIZE);
        }
        Ok(())
    }
}

/// A defined NV index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NvIndex {
    /// Its public area (the attributes carry WRITTEN and the locks).
    pub public: NvPublic,
    /// Its authValue (without trailing zeros).
    pub auth: Zeroizing<Vec<u8>>,
    /// Its data (dataSize bytes; 0xFF until written).
    pub data: Zeroizing<Vec<u8>>,
}

/// TPM2_Startup(CLEAR) (TPM Reset or Restart; `reset`: a TPM Reset): READLOCKED is
/// cleared; an index that is not a counter becomes unwritten when CLEAR_STCLEAR is SET, or
/// ORDERLY on a TPM Reset; then WRITELOCKED is cleared unless the index is written and
/// WRITEDEFINE (a WriteLock of a WRITEDEFINE index lasts until the index is undefined).
/// The global lock (TPM2_NV_GlobalWriteLock) ends with it. Whether anything changed.
pub fn startup_clear(indices: &mut alloc::collections::BTreeMap<u32, NvIndex>, reset: bool) -> bool {
    let mut changed = false;
    for nv in indices.values_mut() {
        let before = nv.public.attributes;
        let counter = nv.public.nt() == Nt::Counter;
        let a = &mut nv.public.attributes;
        *a &= !attr::READLOCKED;
        if !counter && (*a & attr::CLEAR_STCLEAR != 0 || (*a & attr::ORDERLY != 0 && reset)) {
            *a &= !attr::WRITTEN;
        }
        if *a & attr::WRITTEN == 0 || *a & attr::WRITEDEFINE == 0 {
            *a &= !attr::WRITELOCKED;
        }
        changed |= *a != before;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordinary(a: u32, size: u16) -> NvPublic {
        NvPublic {
            index: 0x0150_0001,
            name_alg: HashAlg::Sha256,
            attributes: a,
            auth_policy: Vec::new(),
            data_size: size,
        }
    }

    #[test]
    fn marshal_name_and_definition_checks() {
        let p = ordinary(attr::AUTHWRITE | attr::AUTHREAD, 32);
        let bytes = p.marshal();
        assert_eq!(bytes.len(), 4 + 2 + 4 + 2 + 2);
        assert_eq!(NvPublic::read(&mut Reader::new(&bytes)), Ok(p.clone()));
        assert_eq!(p.name().len(), 34);
        assert_eq!(p.check_new(false), Ok(()));
        let p2 = |rc: Rc| Err(rc.param(2));
        assert_eq!(ordinary(attr::AUTHWRITE, 32).check_new(false), p2(Rc::ATTRIBUTES));
        assert_eq!(ordinary(attr::AUTHWRITE | attr::AUTHREAD | attr::WRITTEN, 32).check_new(false), p2(Rc::ATTRIBUTES));
        assert_eq!(ordinary(attr::AUTHWRITE | attr::AUTHREAD, 4096).check_new(false), p2(Rc::SIZE));
        assert_eq!(ordinary(attr::AUTHWRITE | attr::AUTHREAD | 1 << 4, 4).check_new(false), p2(Rc::SIZE));
        assert_eq!(ordinary(attr::AUTHWRITE | attr::AUTHREAD | 4 << 4, 32).check_new(false), Ok(()));
        assert_eq!(ordinary(attr::AUTHWRITE | attr::AUTHREAD | 8 << 4, 32).check_new(false), p2(Rc::ATTRIBUTES));
        assert_eq!(ordinary(attr::AUTHWRITE | attr::AUTHREAD, 32).check_new(true), Err(Rc::ATTRIBUTES.handle(1)));
        let mut bad = bytes.clone();
        bad[0] = 0x81;
        assert_eq!(NvPublic::read(&mut Reader::new(&bad)), Err(Rc::VALUE));
        let mut bad = bytes;
        bad[8] |= 0x01; // bit 8
        assert_eq!(NvPublic::read(&mut Reader::new(&bad)), Err(Rc::RESERVED_BITS));
    }

    #[test]
    fn startup_clears_the_stclear_attributes() {
        let a = attr::AUTHWRITE | attr::AUTHREAD;
        let mut m = alloc::collections::BTreeMap::new();
        let mk = |attributes: u32| NvIndex {
            public: ordinary(attributes, 8),
            auth: Zeroizing::new(Vec::new()),
            data: Zeroizing::new(alloc::vec![0; 8]),
        };
        m.insert(1, mk(a | attr::WRITE_STCLEAR | attr::WRITELOCKED | attr::READLOCKED | attr::WRITTEN));
        m.insert(2, mk(a | attr::WRITEDEFINE | attr::WRITELOCKED | attr::CLEAR_STCLEAR | attr::WRITTEN));
        m.insert(3, mk(a | attr::WRITEDEFINE | attr::WRITELOCKED | attr::WRITTEN));
        m.insert(4, mk(a | attr::ORDERLY | attr::WRITTEN));
        assert!(startup_clear(&mut m, false));
        assert_eq!(m[&1].public.attributes, a | attr::WRITE_STCLEAR | attr::WRITTEN);
        // unwritten by CLEAR_STCLEAR, so the WRITEDEFINE lock goes too
        assert_eq!(m[&2].public.attributes, a | attr::WRITEDEFINE | attr::CLEAR_STCLEAR);
        assert_eq!(m[&3].public.attributes, a | attr::WRITEDEFINE | attr::WRITELOCKED | attr::WRITTEN);
        assert_eq!(m[&4].public.attributes, a | attr::ORDERLY | attr::WRITTEN, "kept on a Restart");
        assert!(!startup_clear(&mut m, false));
        assert!(startup_clear(&mut m, true));
        assert_eq!(m[&4].public.attributes, a | attr::ORDERLY, "unwritten on a TPM Reset");
    }
}
