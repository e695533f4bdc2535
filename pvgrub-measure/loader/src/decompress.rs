//! The bzImage payload's compression, told by its magic bytes (as libxenguest's bzImage
//! loader and Linux's `arch/x86/boot/compressed` agree on), and the decoders this loader has:
//! xz (Debian's choice; LZMA2 with the x86 BCJ filter, crate `xz4rust`), gzip (`miniz_oxide`
//! for the deflate stream; the gzip header and CRC32 here) and zstd (`ruzstd`). bzip2, lzma,
//! lzo and lz4 payloads are recognised and refused by name. Linux appends the uncompressed
//! size (little-endian u32) after the compressed stream; it sizes the output, and the data
//! after the stream is otherwise ignored. Output is capped at [`MAX_KERNEL_SIZE`].

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::bzimage::ELF_MAGIC;
use crate::error::LoadError;

/// Largest decompressed kernel accepted (a Linux vmlinux is tens of MiB).
pub const MAX_KERNEL_SIZE: usize = 256 << 20;

/// A payload compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
    Bzip2,
    Lzma,
    Lzo,
    Lz4,
}

impl Compression {
    /// Its usual name.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Lzma => "lzma",
            Compression::Lzo => "lzo",
            Compression::Lz4 => "lz4",
        }
    }
}

/// Tells the compression from the payload's first bytes.
pub fn detect(payload: &[u8]) -> Option<Compression> {
    let m = |magic: &[u8]| payload.starts_with(magic);
    Some(if m(ELF_MAGIC) {
        Compression::None
    } else if m(&[0x1f, 0x8b]) || m(&[0x1f, 0x9e]) {
        Compression::Gzip
    } else if m(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if m(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if m(b"BZh") {
        Compression::Bzip2
    } else if m(&[0x5d, 0x00, 0x00]) {
        Compression::Lzma
    } else if m(&[0x89, b'L', b'Z', b'O']) {
        Compression::Lzo
    } else if m(&[0x02, 0x21, 0x4c, 0x18]) {
        Compression::Lz4
    } else {
        return None;
    })
}

/// The size Linux appends after the stream, if it is plausible.
fn appended_size(payload: &[u8]) -> Option<usize> {
    let n = payload.len();
    if n < 8 {
        return None;
    }
    let size = u32::from_le_bytes([payload[n - 4], payload[n - 3], payload[n - 2], payload[n - 1]]) as usize;
    (size > 0 && size <= MAX_KERNEL_SIZE).then_some(size)
}

/// Decompresses a payload into the kernel ELF.
pub fn decompress(payload: &[u8]) -> Result<(Compression, Vec<u8>), LoadError> {
    let Some(kind) = detect(payload) else {
        let head: String = payload.iter().take(6).map(|b| format!("{b:02x} ")).collect();
        return Err(LoadError::BadBzImage(format!("payload starts {}— no known compression magic", head)));
    };
    let out = match kind {
        Compression::None => payload.to_vec(),
        Compression::Gzip => gunzip(payload)?,
        Compression::Xz => unxz(payload)?,
        Compression::Zstd => unzstd(payload)?,
        other => return Err(LoadError::UnsupportedCompression(other.name())),
    };
    Ok((kind, out))
}

fn too_large() -> LoadError {
    LoadError::Decompress(format!("decompressed kernel is larger than {MAX_KERNEL_SIZE} bytes"))
}

fn crc32(bytes: &[u8]) -> u32 {
    crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(bytes)
}

/// gzip (RFC 1952): header, deflate stream, CRC32 and ISIZE (possibly followed by Linux's size).
fn gunzip(p: &[u8]) -> Result<Vec<u8>, LoadError> {
    let bad = |m: &str| LoadError::Decompress(format!("gzip: {m}"));
    if p.len() < 18 || p[1] != 0x8b || p[2] != 8 {
        return Err(bad("not a deflate gzip stream"));
    }
    let flags = p[3];
    let mut pos = 10usize;
    if flags & 0x04 != 0 {
        let xlen = usize::from(u16::from_le_bytes([p[pos], *p.get(pos + 1).ok_or_else(|| bad("truncated"))?]));
        pos += 2 + xlen;
    }
    for bit in [0x08u8, 0x10] {
        if flags & bit != 0 {
            let z = p.get(pos..).and_then(|r| r.iter().position(|&b| b == 0)).ok_or_else(|| bad("truncated name"))?;
            pos += z + 1;
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
    }
    let body = p.get(pos..).ok_or_else(|| bad("truncated header"))?;
    let out = miniz_oxide::inflate::decompress_to_vec_with_limit(body, MAX_KERNEL_SIZE).map_err(|e| {
        if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput {
            too_large()
        } else {
            bad("corrupt deflate data")
        }
    })?;
    // The trailer is at the end, or 4 bytes before it when Linux appended its size.
    let n = p.len();
    let tail = |end: usize| u32::from_le_bytes([p[end - 8], p[end - 7], p[end - 6], p[end - 5]]);
    let crc = crc32(&out);
    if tail(n) == crc || tail(n - 4) == crc { Ok(out) } else { Err(bad("CRC32 mismatch")) }
}

/// Grows `out` (zero-filled) by at least `min(len, 16 MiB)`, up to [`MAX_KERNEL_SIZE`], without
/// aborting when memory runs out.
fn grow(out: &mut Vec<u8>) -> Result<(), LoadError> {
    if out.len() >= MAX_KERNEL_SIZE {
        return Err(too_large());
    }
    let new_len = (out.len() + out.len().clamp(1 << 20, 16 << 20)).min(MAX_KERNEL_SIZE);
    out.try_reserve_exact(new_len - out.len())
        .map_err(|_| LoadError::Decompress(format!("out of memory for a {new_len}-byte kernel")))?;
    out.resize(new_len, 0);
    Ok(())
}

/// The first output buffer: Linux's appended size, but never more than the input could
/// plausibly expand to (a hostile size costs nothing until the data is really there).
fn first_buffer(p: &[u8]) -> Result<Vec<u8>, LoadError> {
    let len = appended_size(p).unwrap_or(0).min(p.len().saturating_mul(16)).max(1 << 16);
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|_| LoadError::Decompress(format!("out of memory for {len} bytes")))?;
    out.resize(len, 0);
    Ok(out)
}

fn unxz(p: &[u8]) -> Result<Vec<u8>, LoadError> {
    let mut out = first_buffer(p)?;
    let mut dec = alloc::boxed::Box::new(xz4rust::XzDecoder::with_alloc_dict_size(1 << 16, 64 << 20));
    let (mut inp, mut done) = (0usize, 0usize);
    loop {
        if done == out.len() {
            grow(&mut out)?;
        }
        let r = dec.decode(&p[inp..], &mut out[done..]).map_err(|e| LoadError::Decompress(format!("xz: {e:?}")))?;
        inp += r.input_consumed();
        done += r.output_produced();
        if r.is_end_of_stream() {
            out.truncate(done);
            return Ok(out);
        }
        if !r.made_progress() && done < out.len() {
            return Err(LoadError::Decompress("xz: stream is truncated".into()));
        }
    }
}

fn unzstd(p: &[u8]) -> Result<Vec<u8>, LoadError> {
    use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
    let err = |e: &dyn core::fmt::Display| LoadError::Decompress(format!("zstd: {e}"));
    let mut dec = FrameDecoder::new();
    let mut input = p;
    dec.init(&mut input).map_err(|e| err(&e))?;
    let mut out: Vec<u8> = Vec::new();
    while !dec.is_finished() {
        let before = input.len();
        dec.decode_blocks(&mut input, BlockDecodingStrategy::UptoBytes(1 << 20)).map_err(|e| err(&e))?;
        if let Some(chunk) = dec.collect() {
            if out.len() + chunk.len() > MAX_KERNEL_SIZE {
                return Err(too_large());
            }
            out.try_reserve(chunk.len())
                .map_err(|_| LoadError::Decompress(format!("out of memory for a {}-byte kernel", out.len())))?;
            out.extend_from_slice(&chunk);
        }
        if input.len() == before && !dec.is_finished() {
            return Err(LoadError::Decompress("zstd: stream is truncated".into()));
        }
    }
    if let Some(chunk) = dec.collect() {
        if out.len() + chunk.len() > MAX_KERNEL_SIZE {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn a_hostile_appended_size_does_not_size_the_buffer() {
        let mut p = vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0, 1];
        p.extend_from_slice(&[0x11; 40]);
        p.extend_from_slice(&(200u32 << 20).to_le_bytes());
        assert_eq!(appended_size(&p), Some(200 << 20));
        assert_eq!(first_buffer(&p).unwrap().len(), 1 << 16);
        let big = vec![0u8; 1 << 20];
        let mut q = big.clone();
        q.extend_from_slice(&(3u32 << 20).to_le_bytes());
        assert_eq!(first_buffer(&q).unwrap().len(), 3 << 20);
    }

    #[test]
    fn magic_detection() {
        assert_eq!(detect(b"BZh91AY"), Some(Compression::Bzip2));
        assert_eq!(detect(&[0x5d, 0, 0, 0x80]), Some(Compression::Lzma));
        assert_eq!(detect(&[0x02, 0x21, 0x4c, 0x18, 0]), Some(Compression::Lz4));
        assert_eq!(detect(b"\x89LZO\0"), Some(Compression::Lzo));
        assert_eq!(detect(b"hello"), None);
        for (bytes, name) in [(&b"BZh91AYxxxxxxxxxx"[..], "bzip2"), (&[0x02, 0x21, 0x4c, 0x18, 1, 2, 3, 4][..], "lz4")]
        {
            assert_eq!(decompress(bytes), Err(LoadError::UnsupportedCompression(name)));
        }
        assert!(matches!(decompress(b"garbage!"), Err(LoadError::BadBzImage(_))));
    }

    #[test]
    fn damaged_streams_are_errors() {
        let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        gz.extend_from_slice(&[0xff; 40]);
        assert!(matches!(decompress(&gz), Err(LoadError::Decompress(_))));
        let mut xz = vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0, 1];
        xz.extend_from_slice(&[0x55; 40]);
        assert!(matches!(decompress(&xz), Err(LoadError::Decompress(_))));
        let mut zs = vec![0x28, 0xb5, 0x2f, 0xfd];
        zs.extend_from_slice(&[0x99; 40]);
        assert!(matches!(decompress(&zs), Err(LoadError::Decompress(_))));
    }
}
