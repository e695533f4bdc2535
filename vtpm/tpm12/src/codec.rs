//! Big-endian TPM 1.2 wire codec over byte slices.
//!
//! [`Reader`] walks a borrowed request; every read checks the remaining length and
//! fails with [`Rc::BAD_PARAM_SIZE`] instead of panicking. [`Writer`] appends to a
//! `Vec<u8>`. This module knows only primitive encodings (u8/u16/u32/u64, fixed
//! arrays, `UINT32`-sized blobs); TPM structures are encoded where they are defined.

use alloc::vec::Vec;
use zeroize::{Zeroize, Zeroizing};

use crate::constants::rc::Rc;

/// Upper bound on any length prefix we accept inside a command: a request is at
/// most [`crate::constants::INPUT_BUFFER_SIZE`] bytes, so a larger length is malformed.
pub const MAX_SIZED_BLOB: usize = crate::constants::INPUT_BUFFER_SIZE as usize;

/// A bounds-checked big-endian reader over a borrowed byte slice.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unread tail, without consuming it.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// The whole underlying buffer.
    pub fn buffer(&self) -> &'a [u8] {
        self.buf
    }

    /// Consumes exactly `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Rc> {
        if n > self.remaining() {
            return Err(Rc::BAD_PARAM_SIZE);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Consumes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Rc> {
        let s = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Reads a `BYTE`.
    pub fn u8(&mut self) -> Result<u8, Rc> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a `TPM_BOOL` (0 or 1; anything else is `TPM_BAD_PARAMETER`).
    pub fn bool(&mut self) -> Result<bool, Rc> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Rc::BAD_PARAMETER),
        }
    }

    /// Reads a big-endian `UINT16`.
    pub fn u16(&mut self) -> Result<u16, Rc> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `UINT32`.
    pub fn u32(&mut self) -> Result<u32, Rc> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `UINT64`.
    pub fn u64(&mut self) -> Result<u64, Rc> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads a `UINT32` length followed by that many bytes.
    pub fn sized32(&mut self) -> Result<&'a [u8], Rc> {
        let n = self.u32()? as usize;
        if n > MAX_SIZED_BLOB {
            return Err(Rc::BAD_PARAM_SIZE);
        }
        self.bytes(n)
    }

    /// Reads a `UINT32` length (at most `max`) followed by that many bytes; for
    /// stored state, whose blobs may exceed a command's size.
    pub fn sized32_max(&mut self, max: usize) -> Result<&'a [u8], Rc> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(Rc::BAD_PARAM_SIZE);
        }
        self.bytes(n)
    }

    /// Reads a `UINT16` length followed by that many bytes.
    pub fn sized16(&mut self) -> Result<&'a [u8], Rc> {
        let n = self.u16()? as usize;
        self.bytes(n)
    }

    /// Succeeds only if every byte was consumed (trailing garbage is `TPM_BAD_PARAM_SIZE`).
    pub fn finish(&self) -> Result<(), Rc> {
        if self.remaining() == 0 { Ok(()) } else { Err(Rc::BAD_PARAM_SIZE) }
    }
}

/// A big-endian writer appending to a `Vec<u8>`.
///
/// A [`Writer::secret`] writer is for secret material (state images, context internals):
/// when it grows it copies into a fresh allocation and wipes the old one, it wipes its
/// buffer on drop, and [`Writer::into_zeroizing`] hands the bytes on in a `Zeroizing`.
#[derive(Clone, Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
    secret: bool,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.secret {
            self.buf.zeroize();
        }
    }
}

impl Writer {
    /// An empty writer.
    pub const fn new() -> Self {
        Self { buf: Vec::new(), secret: false }
    }

    /// An empty writer for secret material (see the type docs).
    pub const fn secret() -> Self {
        Self { buf: Vec::new(), secret: true }
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        let needed = self.buf.len().saturating_add(b.len());
        if self.secret && needed > self.buf.capacity() {
            // Grow by hand so the old allocation is wiped, not just freed.
            let mut bigger = Vec::with_capacity(needed.max(self.buf.capacity().saturating_mul(2)).max(64));
            bigger.extend_from_slice(&self.buf);
            self.buf.zeroize();
            self.buf = bigger;
        }
        self.buf.extend_from_slice(b);
        self
    }

    /// Appends a `BYTE`.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// Appends a `TPM_BOOL`.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }

    /// Appends a big-endian `UINT16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian `UINT32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a big-endian `UINT64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends a `UINT32` length (saturating: callers never write > 4 GiB) then the bytes.
    pub fn sized32(&mut self, b: &[u8]) -> &mut Self {
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.bytes(b)
    }

    /// Appends a `UINT16` length then the bytes; the caller guarantees `b.len() <= 0xFFFF`.
    pub fn sized16(&mut self, b: &[u8]) -> &mut Self {
        self.u16(u16::try_from(b.len()).unwrap_or(u16::MAX));
        self.bytes(b)
    }

    /// Bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Number of bytes written.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True if nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The written bytes, wiped when dropped.
    pub fn into_zeroizing(mut self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(core::mem::take(&mut self.buf))
    }

    /// The written bytes (for a [`Writer::secret`] writer, prefer [`Writer::into_zeroizing`]).
    pub fn into_vec(mut self) -> Vec<u8> {
        core::mem::take(&mut self.buf)
    }
}

/// A parsed request header (Part 3 §1: tag, paramSize, ordinal); the layout itself is
/// [`tpm_frame::Header`], the one TPM frame codec of the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    /// `TPM_TAG_RQU_*`.
    pub tag: u16,
    /// Total command length including this header.
    pub param_size: u32,
    /// `TPM_COMMAND_CODE`.
    pub ordinal: u32,
}

/// Size of a request/response header ([`tpm_frame::HEADER_LEN`]).
pub const HEADER_SIZE: usize = tpm_frame::HEADER_LEN;

impl RequestHeader {
    /// Parses the 10-byte header and checks `paramSize` against the buffer length.
    pub fn parse(cmd: &[u8]) -> Result<Self, Rc> {
        let h = tpm_frame::Header::parse(cmd).ok_or(Rc::BAD_PARAM_SIZE)?;
        if !tpm_frame::is_consistent(cmd) {
            return Err(Rc::BAD_PARAM_SIZE);
        }
        Ok(Self { tag: h.tag, param_size: h.param_size, ordinal: h.code })
    }
}

/// Builds a response: `paramSize` is computed from the body, so it is always right.
pub fn build_response(tag: u16, rc: Rc, body: &[u8]) -> Vec<u8> {
    let total = u32::try_from(HEADER_SIZE + body.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(HEADER_SIZE + body.len());
    out.extend_from_slice(&tpm_frame::Header { tag, param_size: total, code: rc.0 }.encode());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_checks_every_length() {
        let mut r = Reader::new(&[0, 1, 2]);
        assert_eq!(r.u16(), Ok(1));
        assert_eq!(r.u16(), Err(Rc::BAD_PARAM_SIZE));
        assert_eq!(r.u8(), Ok(2));
        assert_eq!(r.u8(), Err(Rc::BAD_PARAM_SIZE));
        assert!(r.finish().is_ok());
    }

    #[test]
    fn sized_blob_longer_than_buffer_is_an_error() {
        let mut r = Reader::new(&[0, 0, 0, 9, 1, 2]);
        assert_eq!(r.sized32(), Err(Rc::BAD_PARAM_SIZE));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.sized32(), Err(Rc::BAD_PARAM_SIZE));
    }

    #[test]
    fn bool_rejects_other_values() {
        assert_eq!(Reader::new(&[2]).bool(), Err(Rc::BAD_PARAMETER));
        assert_eq!(Reader::new(&[1]).bool(), Ok(true));
    }

    #[test]
    fn header_param_size_must_match() {
        let cmd = [0, 0xc1, 0, 0, 0, 10, 0, 0, 0, 0x46];
        assert_eq!(RequestHeader::parse(&cmd), Ok(RequestHeader { tag: 0xc1, param_size: 10, ordinal: 0x46 }));
        assert_eq!(RequestHeader::parse(&cmd[..9]), Err(Rc::BAD_PARAM_SIZE));
        let mut long = cmd.to_vec();
        long.push(0);
        assert_eq!(RequestHeader::parse(&long), Err(Rc::BAD_PARAM_SIZE));
    }

    #[test]
    fn response_size_is_fixed_up() {
        let r = build_response(0xc4, Rc::SUCCESS, &[1, 2, 3]);
        assert_eq!(r, [0, 0xc4, 0, 0, 0, 13, 0, 0, 0, 0, 1, 2, 3]);
    }
}
