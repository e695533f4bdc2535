//! Test helpers: a deterministic RNG and command builders. NOT for production: the RNG is a
//! seeded SHA-256 counter generator, predictable by design so tests, fuzzing and
//! differential replays are reproducible.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};

use crate::codec::Writer;
use crate::constants::{rh, st};
use crate::crypto::HashAlg;
use crate::platform::ManualClock;
use crate::tpm::Tpm;

/// Deterministic RNG: block i = SHA-256(seed ‖ i).
#[derive(Clone, Debug)]
pub struct DetRng {
    seed: u64,
    counter: u64,
    buf: Vec<u8>,
}

impl DetRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self { seed, counter: 0, buf: Vec::new() }
    }
}

impl TryRng for DetRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        rand_core::utils::next_word_via_fill(self)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        rand_core::utils::next_word_via_fill(self)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for d in dst.iter_mut() {
            if self.buf.is_empty() {
                self.buf = HashAlg::Sha256.digest(&[&self.seed.to_be_bytes(), &self.counter.to_be_bytes()]);
                self.counter += 1;
            }
            *d = self.buf.pop().unwrap_or(0);
        }
        Ok(())
    }
}

impl TryCryptoRng for DetRng {}

/// A freshly manufactured TPM with a deterministic RNG and a manual clock at 0.
pub fn manufactured(seed: u64) -> Tpm {
    Tpm::manufacture(Box::new(DetRng::new(seed)), Box::new(ManualClock(0)))
}

/// A command frame: `tag`, `code`, then `body` (handles, authorization area, parameters).
pub fn command(tag: u16, code: u32, body: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u16(tag).u32(10 + body.len() as u32).u32(code).bytes(body);
    w.0
}

/// A TPM_ST_NO_SESSIONS command.
pub fn plain(code: u32, body: &[u8]) -> Vec<u8> {
    command(st::NO_SESSIONS, code, body)
}

/// A TPM_ST_SESSIONS command with `handles` and one password session (`password`).
pub fn with_password(code: u32, handles: &[u32], password: &[u8], params: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    handles.iter().for_each(|&h| {
        w.u32(h);
    });
    let mut auth = Writer::new();
    auth.u32(rh::PW).u16(0).u8(0).tpm2b(password);
    w.u32(auth.0.len() as u32).bytes(&auth.0).bytes(params);
    command(st::SESSIONS, code, &w.0)
}

/// The response code of a response (`u32::MAX` without a header).
pub fn rc(resp: &[u8]) -> u32 {
    resp.get(6..10).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(u32::MAX)
}

/// Templates and parameter builders for the object commands.
pub mod objects {
    use alloc::vec::Vec;

    use crate::codec::Writer;
    use crate::constants::{alg, ecc_curve};

    /// tpm2-tools' `tpm2_createprimary -G ecc` template: ECC NIST P-256 storage key,
    /// AES-128-CFB, fixedTPM fixedParent sensitiveDataOrigin userWithAuth restricted decrypt.
    pub fn ecc_storage() -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(alg::ECC).u16(alg::SHA256).u32(0x0003_0072).u16(0);
        w.u16(alg::AES).u16(128).u16(alg::CFB).u16(alg::NULL).u16(ecc_curve::NIST_P256).u16(alg::NULL);
        w.u16(0).u16(0);
        w.0
    }

    /// tpm2-tools' `tpm2_createprimary -G rsa` template (the SRK template systemd uses is
    /// the same but for the attributes' noDA): RSA 2048, AES-128-CFB, exponent 0, scheme
    /// NULL, fixedTPM fixedParent sensitiveDataOrigin userWithAuth restricted decrypt.
    pub fn rsa_storage() -> Vec<u8> {
        rsa_template(0x0003_0072, &[], Some(128), (alg::NULL, 0), 2048, &[])
    }

    /// The TCG EK Credential Profile's RSA 2048 EK template (L-1): adminWithPolicy with
    /// PolicySecret(TPM_RH_ENDORSEMENT), no userWithAuth, a 256-byte zero unique field.
    pub fn rsa_ek() -> Vec<u8> {
        const EK_POLICY: [u8; 32] = [
            0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24, 0xFD, 0x52,
            0xD7, 0x6E, 0x06, 0x52, 0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA,
        ];
        rsa_template(0x0003_00B2, &EK_POLICY, Some(128), (alg::NULL, 0), 2048, &[0u8; 256])
    }

    /// An RSA `TPMT_PUBLIC`: attributes, authPolicy, symmetric (AES-CFB key bits), scheme
    /// (alg, hash; RSAES and NULL without a hash), keyBits, exponent 0, unique.
    pub fn rsa_template(
        attributes: u32,
        policy: &[u8],
        sym: Option<u16>,
        scheme: (u16, u16),
        bits: u16,
        unique: &[u8],
    ) -> Vec<u8> {
        let mut w = Writer::new();
        w.u16(alg::RSA).u16(alg::SHA256).u32(attributes).tpm2b(policy);
        match sym {
            Some(b) => w.u16(alg::AES).u16(b).u16(alg::CFB),
            None => w.u16(alg::NULL),
        };
        w.u16(scheme.0);
        if scheme.0 != alg::NULL && scheme.0 != alg::RSAES {
            w.u16(scheme.1);
        }
        w.u16(bits).u32(0).tpm2b(unique);
        w.0
    }

    /// A sealed data object template (`tpm2_create -i`): keyedHash, scheme NULL,
    /// fixedTPM fixedParent, userWithAuth unless `policy` is given (then adminWithPolicy and
    /// that authPolicy).
    pub fn sealed(policy: &[u8]) -> Vec<u8> {
        let attrs: u32 = if policy.is_empty() { 0x0000_0052 } else { 0x0000_0012 };
        let mut w = Writer::new();
        w.u16(alg::KEYEDHASH).u16(alg::SHA256).u32(attrs).tpm2b(policy).u16(alg::NULL).u16(0);
        w.0
    }

    /// The parameters of CreatePrimary / Create: inSensitive(userAuth, data), inPublic,
    /// empty outsideInfo and creationPCR.
    pub fn create_params(user_auth: &[u8], data: &[u8], public: &[u8]) -> Vec<u8> {
        let mut s = Writer::new();
        s.tpm2b(user_auth).tpm2b(data);
        let mut w = Writer::new();
        w.tpm2b(&s.0).tpm2b(public).u16(0).u32(0);
        w.0
    }
}
