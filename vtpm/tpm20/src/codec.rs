//! Big-endian TPM 2.0 wire codec over byte slices. [`Reader`] walks a borrowed command: every
//! read checks the remaining length and fails with [`Rc::INSUFFICIENT`] (the caller numbers the
//! parameter); [`Writer`] appends to a `Vec<u8>`. Sized buffers (`TPM2B_*`) have a `u16` size.

use alloc::vec::Vec;

use crate::rc::Rc;

/// A bounds-checked big-endian reader.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The bytes not yet consumed (without consuming them).
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Consumes exactly `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Rc> {
        let end = self.pos.checked_add(n).ok_or(Rc::INSUFFICIENT)?;
        let s = self.buf.get(self.pos..end).ok_or(Rc::INSUFFICIENT)?;
        self.pos = end;
        Ok(s)
    }

    /// A `u8`.
    pub fn u8(&mut self) -> Result<u8, Rc> {
        Ok(self.bytes(1)?[0])
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, Rc> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, Rc> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, Rc> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A `TPM2B`: `u16` size then that many bytes; a size above `max` is [`Rc::SIZE`].
    pub fn tpm2b(&mut self, max: usize) -> Result<&'a [u8], Rc> {
        let n = usize::from(self.u16()?);
        if n > max {
            return Err(Rc::SIZE);
        }
        self.bytes(n)
    }
}

/// A big-endian writer.
#[derive(Clone, Debug, Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// An empty writer.
    pub const fn new() -> Self {
        Self(Vec::new())
    }
    /// Appends a `u8`.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    /// Appends a `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends a `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    /// Appends a `TPM2B` (the caller keeps `b` within `u16`).
    pub fn tpm2b(&mut self, b: &[u8]) -> &mut Self {
        self.u16(u16::try_from(b.len()).unwrap_or(u16::MAX));
        self.bytes(b.get(..usize::from(u16::MAX)).unwrap_or(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let mut r = Reader::new(&[0, 3, 1, 2]);
        assert_eq!(r.tpm2b(8), Err(Rc::INSUFFICIENT));
        let mut r = Reader::new(&[0, 9, 1, 2]);
        assert_eq!(r.tpm2b(8), Err(Rc::SIZE));
        let mut r = Reader::new(&[0, 2, 1, 2]);
        assert_eq!(r.tpm2b(8), Ok(&[1u8, 2][..]));
        assert_eq!(r.u8(), Err(Rc::INSUFFICIENT));
        let mut w = Writer::new();
        w.u16(1).u32(2).tpm2b(&[7]);
        assert_eq!(w.0, [0, 1, 0, 0, 0, 2, 0, 1, 7]);
    }
}
