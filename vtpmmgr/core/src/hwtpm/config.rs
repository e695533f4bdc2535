//! The manager's hardware-TPM options (`xen-vtpm-facts.md` §12 table; `wave2-facts.md` §1.1):
//! `owner_auth=` and `srk_auth=` (`well-known` | `hash:<40 hex>` | `text:<string>`), `tpm2=1`,
//! `srk_handle=<hex>`, and ours: `hw_seal_pcrs=<list>` (seal the root secret to the hardware
//! TPM's current PCR values; off by default). Parsing is strict: a malformed value is an error
//! (the C manager's `%hhX` parse of `hash:` reads wrong bytes, `xen-vtpm-facts.md` §11).
//! Options this module does not know are left to the caller.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sha1::{Digest as _, Sha1};
use tpm_frame::Family;
use zeroize::Zeroizing;

use super::HwError;

/// An authorization value as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum AuthValue {
    /// `well-known`: 20 zero bytes on TPM 1.2, the empty password on TPM 2.0 (the same thing to a
    /// TPM 2.0, which strips trailing zeros, `wave2-facts.md` §1.3). The default.
    #[default]
    WellKnown,
    /// `hash:<40 hex>`: these 20 bytes (TPM 1.2 secret; TPM 2.0 password).
    Hash([u8; 20]),
    /// `text:<string>`: SHA-1 of the string on TPM 1.2 (as TrouSerS and the C manager do); the
    /// string's bytes as the password on TPM 2.0 (as tpm2-tools sets one).
    Text(String),
}

impl AuthValue {
    /// Parses `well-known`, `hash:<40 hex>` or `text:<string>`.
    pub fn parse(s: &str) -> Result<Self, HwError> {
        if s == "well-known" {
            return Ok(AuthValue::WellKnown);
        }
        if let Some(hex) = s.strip_prefix("hash:") {
            let b = hex.as_bytes();
            if b.len() != 40 {
                return Err(HwError::Config(format!("hash: needs 40 hex digits, got {}", b.len())));
            }
            let mut out = [0u8; 20];
            for (i, o) in out.iter_mut().enumerate() {
                let hi = hex_digit(b[2 * i]);
                let lo = hex_digit(b[2 * i + 1]);
                match (hi, lo) {
                    (Some(h), Some(l)) => *o = (h << 4) | l,
                    _ => return Err(HwError::Config("hash: has a character that is not a hex digit".to_string())),
                }
            }
            return Ok(AuthValue::Hash(out));
        }
        if let Some(t) = s.strip_prefix("text:") {
            return Ok(AuthValue::Text(t.to_string()));
        }
        Err(HwError::Config(format!("auth value {s:?}: expected well-known, hash:<40 hex> or text:<string>")))
    }

    /// The TPM 1.2 20-byte secret.
    pub fn tpm12_secret(&self) -> Zeroizing<[u8; 20]> {
        Zeroizing::new(match self {
            AuthValue::WellKnown => [0; 20],
            AuthValue::Hash(h) => *h,
            AuthValue::Text(t) => Sha1::digest(t.as_bytes()).into(),
        })
    }

    /// The TPM 2.0 password (trailing zeros removed, as the TPM compares it).
    pub fn tpm20_password(&self) -> Zeroizing<Vec<u8>> {
        let mut v = match self {
            AuthValue::WellKnown => Vec::new(),
            AuthValue::Hash(h) => h.to_vec(),
            AuthValue::Text(t) => t.as_bytes().to_vec(),
        };
        while v.last() == Some(&0) {
            v.pop();
        }
        Zeroizing::new(v)
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A set of PCRs 0–23 (bit *i* = PCR *i*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PcrMask(pub u32);

impl PcrMask {
    /// Parses `0,2,4-7` (PCR numbers 0–23).
    pub fn parse(s: &str) -> Result<Self, HwError> {
        let mut m = 0u32;
        for part in s.split(',') {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (pcr_number(a)?, pcr_number(b)?),
                None => (pcr_number(part)?, pcr_number(part)?),
            };
            if a > b {
                return Err(HwError::Config(format!("PCR range {part:?} runs backwards")));
            }
            for i in a..=b {
                m |= 1 << i;
            }
        }
        Ok(PcrMask(m))
    }
    /// No PCR selected.
    pub fn is_empty(self) -> bool {
        self.0 & 0x00FF_FFFF == 0
    }
    /// The PCR numbers, ascending.
    pub fn indices(self) -> impl Iterator<Item = u32> {
        (0..24).filter(move |i| self.0 & (1 << i) != 0)
    }
    /// The 3 select bytes (PCR 0–7, 8–15, 16–23), as TPM 1.2 and TPM 2.0 selections write them.
    pub fn select_bytes(self) -> [u8; 3] {
        let b = self.0.to_le_bytes();
        [b[0], b[1], b[2]]
    }
}

fn pcr_number(s: &str) -> Result<u32, HwError> {
    match s.trim().parse::<u32>() {
        Ok(n) if n < 24 => Ok(n),
        _ => Err(HwError::Config(format!("{s:?} is not a PCR number 0-23"))),
    }
}

/// The hardware-TPM part of the manager's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HwConfig {
    /// `owner_auth=`: TPM 1.2 owner secret (set at first boot; checked on an owned TPM). TPM 2.0:
    /// the owner hierarchy's password for CreatePrimary.
    pub owner_auth: AuthValue,
    /// `srk_auth=`: TPM 1.2 SRK secret (set at first boot, used for Seal/Unseal). TPM 2.0: the
    /// password of the `srk_handle` key (our primary always has the empty one).
    pub srk_auth: AuthValue,
    /// `tpm2=1` → `Some(Tpm20)`; `None` → ask the transport ([`crate::HardwareTpm::family`]).
    pub family: Option<Family>,
    /// `srk_handle=<hex>`: TPM 2.0 only, an existing storage key (e.g. a persistent SRK at
    /// `0x81000001`) to seal under instead of a primary made under the owner hierarchy.
    pub srk_handle: Option<u32>,
    /// `hw_seal_pcrs=<list>`: seal the root secret to these hardware PCRs' current values (TPM
    /// 1.2 `TPM_PCR_INFO_LONG`; TPM 2.0 `TPM2_PolicyPCR` over the SHA-1 bank). Empty = off.
    pub seal_pcrs: PcrMask,
}

impl HwConfig {
    /// Applies one `key=value` option; returns `Ok(false)` for an option that is not ours.
    pub fn apply(&mut self, opt: &str) -> Result<bool, HwError> {
        let Some((k, v)) = opt.split_once('=') else { return Ok(false) };
        match k {
            "owner_auth" => self.owner_auth = AuthValue::parse(v)?,
            "srk_auth" => self.srk_auth = AuthValue::parse(v)?,
            "tpm2" if v == "1" => self.family = Some(Family::Tpm20),
            "tpm2" => return Err(HwError::Config(format!("tpm2={v}: only tpm2=1 is known"))),
            "srk_handle" => {
                let hex = v.strip_prefix("0x").unwrap_or(v);
                let h = u32::from_str_radix(hex, 16)
                    .map_err(|_| HwError::Config(format!("srk_handle={v}: not a hex handle")))?;
                self.srk_handle = Some(h);
            }
            "hw_seal_pcrs" => self.seal_pcrs = PcrMask::parse(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_values() {
        assert_eq!(AuthValue::parse("well-known").unwrap(), AuthValue::WellKnown);
        let h = AuthValue::parse("hash:000102030405060708090a0b0c0d0e0f10111213").unwrap();
        assert_eq!(h, AuthValue::Hash(core::array::from_fn(|i| i as u8)));
        assert!(AuthValue::parse("hash:00").is_err());
        assert!(AuthValue::parse("hash:zz0102030405060708090a0b0c0d0e0f10111213").is_err());
        assert!(AuthValue::parse("plain").is_err());
        // SHA-1("abc")
        assert_eq!(AuthValue::parse("text:abc").unwrap().tpm12_secret()[..4], [0xa9, 0x99, 0x3e, 0x36]);
        assert_eq!(*AuthValue::parse("text:abc").unwrap().tpm20_password(), b"abc".to_vec());
        assert!(AuthValue::WellKnown.tpm20_password().is_empty());
        assert_eq!(*AuthValue::WellKnown.tpm12_secret(), [0; 20]);
    }

    #[test]
    fn options() {
        let mut c = HwConfig::default();
        assert!(c.apply("tpm2=1").unwrap());
        assert!(c.apply("srk_handle=81000001").unwrap());
        assert!(c.apply("hw_seal_pcrs=0,2,4-7").unwrap());
        assert!(!c.apply("tpmlocality=2").unwrap());
        assert!(!c.apply("noequals").unwrap());
        assert_eq!(c.family, Some(Family::Tpm20));
        assert_eq!(c.srk_handle, Some(0x8100_0001));
        assert_eq!(c.seal_pcrs, PcrMask(0b1111_0101));
        assert_eq!(c.seal_pcrs.select_bytes(), [0xF5, 0, 0]);
        assert!(c.apply("tpm2=2").is_err());
        assert!(c.apply("srk_handle=xyz").is_err());
        assert!(c.apply("hw_seal_pcrs=24").is_err());
        assert!(c.apply("hw_seal_pcrs=7-3").is_err());
        assert!(PcrMask::default().is_empty());
    }
}
