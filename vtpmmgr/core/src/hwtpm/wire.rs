//! The byte-level half of the hardware-TPM client, shared by the TPM 1.2 and TPM 2.0 sides:
//! a big-endian [`Writer`], a bounds-checked [`Reader`] whose every failure is
//! [`HwError::Malformed`], and [`transact`], which sends one command over a [`HardwareTpm`] and
//! checks the response header (length ≥ 10, `paramSize` = length, a tag of the expected family)
//! before anyone reads a field. Headers, tags and return-code positions come from `tpm-frame`.

use alloc::format;
use alloc::vec::Vec;

use tpm_frame::{Family, HEADER_LEN, Header};

use super::HwError;
use crate::hardware::HardwareTpm;

/// Builds a command body, big-endian.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// An empty body.
    pub fn new() -> Self {
        Self(Vec::new())
    }
    /// One byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    /// A big-endian u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A big-endian u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    /// A u16 size then the bytes (a TPM 2.0 `TPM2B`). Callers pass at most a few KiB; a longer
    /// slice is cut at `u16::MAX` in the size and the TPM refuses the frame.
    pub fn sized16(&mut self, b: &[u8]) -> &mut Self {
        self.u16(u16::try_from(b.len()).unwrap_or(u16::MAX)).bytes(b)
    }
    /// A u32 size then the bytes (TPM 1.2 `…Size ‖ …`).
    pub fn sized32(&mut self, b: &[u8]) -> &mut Self {
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX)).bytes(b)
    }
    /// The bytes so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

/// Reads a response, every read bounds-checked.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    command: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, naming `command` in its errors.
    pub fn new(buf: &'a [u8], command: &'static str) -> Self {
        Self { buf, pos: 0, command }
    }
    fn short(&self, what: &'static str) -> HwError {
        HwError::Malformed { command: self.command, what }
    }
    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], HwError> {
        let end = self.pos.checked_add(n).ok_or(self.short("size overflow"))?;
        let s = self.buf.get(self.pos..end).ok_or(self.short("field runs past the end"))?;
        self.pos = end;
        Ok(s)
    }
    /// A fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], HwError> {
        let s = self.bytes(N)?;
        s.try_into().map_err(|_| self.short("field runs past the end"))
    }
    /// One byte.
    pub fn u8(&mut self) -> Result<u8, HwError> {
        Ok(self.array::<1>()?[0])
    }
    /// A big-endian u16.
    pub fn u16(&mut self) -> Result<u16, HwError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    /// A big-endian u32.
    pub fn u32(&mut self) -> Result<u32, HwError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// A u16 size then that many bytes (`TPM2B`).
    pub fn sized16(&mut self) -> Result<&'a [u8], HwError> {
        let n = self.u16()?;
        self.bytes(usize::from(n))
    }
    /// A u32 size then that many bytes.
    pub fn sized32(&mut self) -> Result<&'a [u8], HwError> {
        let n = self.u32()?;
        self.bytes(usize::try_from(n).map_err(|_| self.short("size overflow"))?)
    }
    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }
}

/// A response whose header was checked: its tag, return code and the bytes after the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The response tag.
    pub tag: u16,
    /// The return code.
    pub rc: u32,
    /// Everything after the 10-byte header.
    pub body: Vec<u8>,
}

/// Checks a raw response frame: header present, `paramSize` equal to the length, a tag of
/// `family`. The return code is not judged here.
pub fn check_response(raw: &[u8], family: Family, command: &'static str) -> Result<Response, HwError> {
    let h = Header::parse(raw).ok_or(HwError::Malformed { command, what: "shorter than a response header" })?;
    if Family::of_tag(h.tag) != Some(family) {
        return Err(HwError::WrongFamily { expected: family, tag: h.tag });
    }
    if usize::try_from(h.param_size).ok() != Some(raw.len()) {
        return Err(HwError::Malformed { command, what: "paramSize is not the response's length" });
    }
    Ok(Response { tag: h.tag, rc: h.code, body: raw.get(HEADER_LEN..).unwrap_or_default().to_vec() })
}

/// Sends one command frame and checks the response header (see [`check_response`]).
pub fn transact<T: HardwareTpm>(
    tpm: &mut T,
    family: Family,
    command: &'static str,
    frame: &[u8],
) -> Result<Response, HwError>
where
    T::Error: core::fmt::Debug,
{
    let raw = tpm.transmit(frame).map_err(|e| HwError::Transport(format!("{command}: {e:?}")))?;
    check_response(&raw, family, command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_bounds() {
        let mut r = Reader::new(&[0, 2, 7, 8, 0, 5, 1], "X");
        assert_eq!(r.sized16().unwrap(), &[7, 8]);
        assert_eq!(r.sized16(), Err(HwError::Malformed { command: "X", what: "field runs past the end" }));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff], "X");
        assert!(r.sized32().is_err());
        assert!(Reader::new(&[1], "X").u16().is_err());
    }

    #[test]
    fn response_checks() {
        let ok = [0, 0xC4, 0, 0, 0, 12, 0, 0, 0, 0, 9, 9];
        let r = check_response(&ok, Family::Tpm12, "X").unwrap();
        assert_eq!((r.tag, r.rc, r.body.as_slice()), (0xC4, 0, &[9u8, 9][..]));
        assert_eq!(
            check_response(&ok, Family::Tpm20, "X"),
            Err(HwError::WrongFamily { expected: Family::Tpm20, tag: 0xC4 })
        );
        assert!(matches!(check_response(&ok[..11], Family::Tpm12, "X"), Err(HwError::Malformed { .. })));
        assert!(matches!(check_response(&ok[..9], Family::Tpm12, "X"), Err(HwError::Malformed { .. })));
        assert!(matches!(
            check_response(&[0x12, 0x34, 0, 0, 0, 10, 0, 0, 0, 0], Family::Tpm12, "X"),
            Err(HwError::WrongFamily { .. })
        ));
    }
}
