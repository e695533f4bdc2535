//! The Linux/x86 boot protocol's bzImage (Documentation/arch/x86/boot.rst): the setup
//! header at 0x1f1 (`setup_sects`, the "HdrS" magic at 0x202, the protocol version at 0x206),
//! and for protocol 2.08 and later the compressed payload at `(setup_sects + 1) × 512 +
//! payload_offset`, `payload_length` bytes long (0x248, 0x24c). libxenguest's bzImage loader
//! needed the same (2.08 at least). A kernel file that already is an ELF is taken as is.

use alloc::format;

use crate::error::LoadError;

/// What the kernel file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFile<'a> {
    /// A bzImage: its boot protocol version and its (compressed) payload.
    BzImage { protocol: u16, payload: &'a [u8] },
    /// A plain ELF (vmlinux).
    Elf(&'a [u8]),
}

/// ELF magic.
pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Parses the kernel file.
pub fn parse(file: &[u8]) -> Result<KernelFile<'_>, LoadError> {
    if file.starts_with(ELF_MAGIC) {
        return Ok(KernelFile::Elf(file));
    }
    if file.len() < 0x250 {
        return Err(LoadError::BadBzImage(format!("{} bytes is too short for a setup header", file.len())));
    }
    if &file[0x202..0x206] != b"HdrS" {
        return Err(LoadError::BadBzImage("no \"HdrS\" setup header magic at 0x202".into()));
    }
    let protocol = le16(file, 0x206);
    if protocol < 0x0208 {
        return Err(LoadError::BadBzImage(format!(
            "boot protocol {}.{:02} is older than 2.08 (no payload fields)",
            protocol >> 8,
            protocol & 0xff
        )));
    }
    let setup_sects = match file[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let payload_offset = le32(file, 0x248) as usize;
    let payload_length = le32(file, 0x24c) as usize;
    let start = (setup_sects + 1) * 512 + payload_offset;
    let end = start.checked_add(payload_length);
    match end {
        Some(end) if end <= file.len() && payload_length > 0 => {
            Ok(KernelFile::BzImage { protocol, payload: &file[start..end] })
        }
        _ => Err(LoadError::BadBzImage(format!(
            "payload at {start}, {payload_length} bytes, is not inside the {}-byte file",
            file.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn header(setup_sects: u8, protocol: u16, offset: u32, len: u32, total: usize) -> Vec<u8> {
        let mut f = vec![0u8; total];
        f[0x1f1] = setup_sects;
        f[0x202..0x206].copy_from_slice(b"HdrS");
        f[0x206..0x208].copy_from_slice(&protocol.to_le_bytes());
        f[0x248..0x24c].copy_from_slice(&offset.to_le_bytes());
        f[0x24c..0x250].copy_from_slice(&len.to_le_bytes());
        f
    }

    #[test]
    fn payload_position() {
        let mut f = header(0, 0x020f, 16, 4, 5 * 512 + 20);
        f[5 * 512 + 16..5 * 512 + 20].copy_from_slice(b"PAYL");
        // setup_sects 0 means 4.
        assert_eq!(parse(&f), Ok(KernelFile::BzImage { protocol: 0x020f, payload: b"PAYL" }));
        assert_eq!(parse(b"\x7fELF rest"), Ok(KernelFile::Elf(b"\x7fELF rest")));
    }

    #[test]
    fn refusals() {
        assert!(matches!(parse(&header(4, 0x0207, 0, 4, 4096)), Err(LoadError::BadBzImage(m)) if m.contains("2.07")));
        assert!(matches!(parse(&header(4, 0x020f, 0, 0, 4096)), Err(LoadError::BadBzImage(_))));
        assert!(matches!(parse(&header(4, 0x020f, 100, 4000, 4096)), Err(LoadError::BadBzImage(_))));
        assert!(matches!(parse(&header(4, 0x020f, u32::MAX, u32::MAX, 4096)), Err(LoadError::BadBzImage(_))));
        assert!(matches!(parse(&[0u8; 100]), Err(LoadError::BadBzImage(_))));
        assert!(matches!(parse(&[0u8; 4096]), Err(LoadError::BadBzImage(m)) if m.contains("HdrS")));
    }
}
