//! What pv-grub measured, in its order (fact sheet §9, `grub:kexec.c` `tpm_hash2pcr`): three
//! TPM 1.2 `TPM_Extend`s at locality 0: PCR 4 ← SHA-1 of the kernel file as read from disk
//! (the bzImage, before any decompression), PCR 5 ← SHA-1 of the command line (its bytes, no
//! NUL), PCR 5 ← SHA-1 of the initrd (of zero bytes when there is none). [`predict`] gives the
//! PCR values a verifier should expect from PCRs that start at zero (TPM 1.2 PCRs 4 and 5
//! after TPM_Startup(ST_CLEAR)): `PCR = SHA-1(PCR ‖ digest)` per extend.

use sha1::{Digest, Sha1};

/// A SHA-1 digest (a TPM 1.2 PCR value).
pub type Sha1Digest = [u8; 20];

/// `TPM_ORD_Extend`.
pub const TPM_ORD_EXTEND: u32 = 0x0000_0014;
/// `TPM_TAG_RQU_COMMAND`.
pub const TPM_TAG_RQU_COMMAND: u16 = 0x00c1;
/// Size of a `TPM_Extend` request.
pub const EXTEND_COMMAND_LEN: usize = 34;

/// One extend of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measurement {
    pub pcr: u32,
    pub digest: Sha1Digest,
    /// "kernel", "cmdline" or "initrd".
    pub what: &'static str,
}

/// SHA-1 of `bytes`.
pub fn sha1(bytes: &[u8]) -> Sha1Digest {
    Sha1::digest(bytes).into()
}

/// The three extends, in pv-grub's order.
pub fn plan(kernel_file: &[u8], cmdline: &[u8], initrd: Option<&[u8]>) -> [Measurement; 3] {
    [
        Measurement { pcr: 4, digest: sha1(kernel_file), what: "kernel" },
        Measurement { pcr: 5, digest: sha1(cmdline), what: "cmdline" },
        Measurement { pcr: 5, digest: sha1(initrd.unwrap_or(&[])), what: "initrd" },
    ]
}

/// The `TPM_Extend` request for one measurement:
/// `00 C1 | 00 00 00 22 | 00 00 00 14 | PCR (u32 BE) | digest[20]`.
pub fn extend_command(m: &Measurement) -> [u8; EXTEND_COMMAND_LEN] {
    let mut c = [0u8; EXTEND_COMMAND_LEN];
    c[0..2].copy_from_slice(&TPM_TAG_RQU_COMMAND.to_be_bytes());
    c[2..6].copy_from_slice(&(EXTEND_COMMAND_LEN as u32).to_be_bytes());
    c[6..10].copy_from_slice(&TPM_ORD_EXTEND.to_be_bytes());
    c[10..14].copy_from_slice(&m.pcr.to_be_bytes());
    c[14..34].copy_from_slice(&m.digest);
    c
}

/// TPM 1.2 extend: `SHA-1(pcr ‖ digest)`.
pub fn extend(pcr: &Sha1Digest, digest: &Sha1Digest) -> Sha1Digest {
    let mut h = Sha1::new();
    h.update(pcr);
    h.update(digest);
    h.finalize().into()
}

/// The PCR values after the plan, from zeroed PCRs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prediction {
    pub pcr4: Sha1Digest,
    pub pcr5: Sha1Digest,
    pub plan: [Measurement; 3],
}

/// Predicts PCR 4 and PCR 5.
pub fn predict(kernel_file: &[u8], cmdline: &[u8], initrd: Option<&[u8]>) -> Prediction {
    let plan = plan(kernel_file, cmdline, initrd);
    let mut pcr4 = [0u8; 20];
    let mut pcr5 = [0u8; 20];
    for m in &plan {
        let pcr = if m.pcr == 4 { &mut pcr4 } else { &mut pcr5 };
        *pcr = extend(pcr, &m.digest);
    }
    Prediction { pcr4, pcr5, plan }
}

/// Lowercase hex.
pub fn hex(d: &[u8]) -> alloc::string::String {
    d.iter().map(|b| alloc::format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // SHA-1("") and SHA-1("abc") (FIPS 180 examples).
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(&sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        let p = predict(b"abc", b"", None);
        let mut buf = [0u8; 40];
        buf[20..].copy_from_slice(&sha1(b"abc"));
        assert_eq!(p.pcr4, sha1(&buf));
        let mut pcr5 = [0u8; 20];
        pcr5 = extend(&pcr5, &sha1(b""));
        pcr5 = extend(&pcr5, &sha1(b""));
        assert_eq!(p.pcr5, pcr5);
        assert_ne!(predict(b"abc", b"x", None).pcr5, p.pcr5);
        assert_ne!(predict(b"abc", b"", Some(b"i")).pcr5, p.pcr5);
    }

    #[test]
    fn extend_bytes() {
        let m = Measurement { pcr: 5, digest: [0xab; 20], what: "cmdline" };
        let c = extend_command(&m);
        assert_eq!(c[..14], [0x00, 0xc1, 0, 0, 0, 0x22, 0, 0, 0, 0x14, 0, 0, 0, 5]);
        assert_eq!(c[14..], [0xab; 20]);
    }
}
