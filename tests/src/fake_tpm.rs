//! A tiny TPM 1.2 stand-in for transport tests: it answers correct TPM 1.2 frames for
//! GetCapability (TIS timeouts 0x115, durations 0x120, version 0x1A), Extend, PCRRead,
//! GetRandom and Startup, and TPM_BAD_ORDINAL for everything else. PCR values are real SHA-1
//! chains so round trips can be checked. It is not the engine (vtpm/tpm12); it exists so the
//! drivers can be tested on their own.

use sha1::{Digest, Sha1};

/// Ordinals used here (TPM Main Part 2 §17).
pub const TPM_ORD_EXTEND: u32 = 0x14;
/// `TPM_ORD_PcrRead`.
pub const TPM_ORD_PCR_READ: u32 = 0x15;
/// `TPM_ORD_GetRandom`.
pub const TPM_ORD_GET_RANDOM: u32 = 0x46;
/// `TPM_ORD_GetCapability`.
pub const TPM_ORD_GET_CAPABILITY: u32 = 0x65;
/// `TPM_ORD_Startup`.
pub const TPM_ORD_STARTUP: u32 = 0x99;

/// The fake.
pub struct FakeTpm {
    pcrs: [[u8; 20]; 24],
    rng: u64,
    /// Every command seen: (locality, ordinal).
    pub log: Vec<(u8, u32)>,
}

impl Default for FakeTpm {
    fn default() -> Self {
        Self::new()
    }
}

fn be32(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(o..o + 4)?.try_into().ok()?))
}

fn reply(rc: u32, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x00, 0xC4];
    v.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(&rc.to_be_bytes());
    v.extend_from_slice(body);
    v
}

impl FakeTpm {
    /// A fresh fake with zeroed PCRs.
    pub fn new() -> Self {
        FakeTpm { pcrs: [[0; 20]; 24], rng: 0x1234_5678, log: vec![] }
    }

    /// Executes one command (the same shape as `tpm12::Tpm::execute`).
    pub fn execute(&mut self, locality: u8, cmd: &[u8]) -> Vec<u8> {
        let (Some(size), Some(ord)) = (be32(cmd, 2), be32(cmd, 6)) else { return reply(3, &[]) };
        if size as usize != cmd.len() {
            return reply(3, &[]);
        }
        self.log.push((locality, ord));
        match ord {
            TPM_ORD_GET_CAPABILITY => {
                let (Some(cap), Some(sub_size)) = (be32(cmd, 10), be32(cmd, 14)) else { return reply(3, &[]) };
                let sub = if sub_size == 4 { be32(cmd, 18) } else { None };
                let data: Vec<u32> = match (cap, sub) {
                    (5, Some(0x115)) => vec![750_000, 2_000_000, 750_000, 750_000],
                    (5, Some(0x120)) => vec![3_000_000, 3_000_000, 600_000_000],
                    (0x1A, _) => {
                        let body = [0x00, 0x30, 1, 2, 0, 7, 0, 2, 3, b'E', b'T', b'H', b'Z', 0, 0];
                        let mut r = (body.len() as u32).to_be_bytes().to_vec();
                        r.extend_from_slice(&body);
                        return reply(0, &r);
                    }
                    _ => return reply(3, &[]),
                };
                let mut r = ((data.len() * 4) as u32).to_be_bytes().to_vec();
                for d in data {
                    r.extend_from_slice(&d.to_be_bytes());
                }
                reply(0, &r)
            }
            TPM_ORD_EXTEND => {
                let Some(n) = be32(cmd, 10).filter(|n| *n < 24) else { return reply(2, &[]) };
                let Some(digest) = cmd.get(14..34) else { return reply(3, &[]) };
                let mut h = Sha1::new();
                h.update(self.pcrs[n as usize]);
                h.update(digest);
                self.pcrs[n as usize] = h.finalize().into();
                reply(0, &self.pcrs[n as usize])
            }
            TPM_ORD_PCR_READ => {
                let Some(n) = be32(cmd, 10).filter(|n| *n < 24) else { return reply(2, &[]) };
                reply(0, &self.pcrs[n as usize])
            }
            TPM_ORD_GET_RANDOM => {
                let n = be32(cmd, 10).unwrap_or(0).min(128);
                let mut r = n.to_be_bytes().to_vec();
                for _ in 0..n {
                    self.rng = self.rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    r.push((self.rng >> 33) as u8);
                }
                reply(0, &r)
            }
            TPM_ORD_STARTUP => reply(38, &[]),
            _ => reply(10, &[]),
        }
    }
}

/// The fake has no permanent state: nothing ever changes.
impl vtpm::Engine for FakeTpm {
    fn execute(&mut self, locality: u8, cmd: &[u8]) -> Vec<u8> {
        FakeTpm::execute(self, locality, cmd)
    }
    fn take_image_if_changed(&mut self) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        None
    }
    fn take_changed(&mut self) -> bool {
        false
    }
    /// A power cycle: the PCRs are zero again.
    fn platform_reset(&mut self, _: &vtpm::options::VtpmOptions) -> String {
        self.pcrs = [[0; 20]; 24];
        String::from("FakeTpm reset")
    }
}

impl FakeTpm {
    /// A PCR value.
    pub fn pcr(&self, n: usize) -> [u8; 20] {
        self.pcrs[n]
    }
}

/// `TPM_GetCapability(TPM_CAP_PROPERTY, subcap)` as Linux builds it.
pub fn get_capability_prop(subcap: u32) -> Vec<u8> {
    let mut v = vec![0x00, 0xC1, 0, 0, 0, 22, 0, 0, 0, 0x65, 0, 0, 0, 5, 0, 0, 0, 4];
    v.extend_from_slice(&subcap.to_be_bytes());
    v
}

/// `TPM_Extend(pcr, digest)` (34 bytes, as pvgrub sends it).
pub fn extend(pcr: u32, digest: &[u8; 20]) -> Vec<u8> {
    let mut v = vec![0x00, 0xC1, 0, 0, 0, 34, 0, 0, 0, 0x14];
    v.extend_from_slice(&pcr.to_be_bytes());
    v.extend_from_slice(digest);
    v
}

/// `TPM_PCRRead(pcr)`.
pub fn pcr_read(pcr: u32) -> Vec<u8> {
    let mut v = vec![0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15];
    v.extend_from_slice(&pcr.to_be_bytes());
    v
}

/// SHA-1 of the previous value and a digest (what Extend computes).
pub fn extend_value(old: &[u8; 20], digest: &[u8; 20]) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(old);
    h.update(digest);
    h.finalize().into()
}
