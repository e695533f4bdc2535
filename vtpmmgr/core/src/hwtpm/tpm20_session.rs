//! TPM 2.0 salted sessions with XOR parameter encryption (TPM 2.0 Library Part 1 §19.6 HMAC
//! computation, §21 parameter encryption, §11.4.10 KDFa; Part 3 §11.1 StartAuthSession), so
//! that the root secret crosses the bus encrypted: `TPM2_Create` sends it with `decrypt`, and
//! `TPM2_Unseal` returns it with `encrypt`.
//!
//! The salt (32 random bytes) is RSA-OAEP(SHA-256, label `"SECRET\0"`) encrypted to the parent
//! storage key; sessionKey = KDFa(SHA-256, salt, "ATH", nonceTPM, nonceCaller, 256). Command
//! HMAC = HMAC(sessionKey ‖ authValue, cpHash ‖ nonceCaller ‖ nonceTPM ‖ attributes) with
//! cpHash = SHA-256(commandCode ‖ name ‖ parameters); the response HMAC is checked the same
//! way over rpHash = SHA-256(0 ‖ commandCode ‖ parameters). The XOR mask of the first
//! parameter's buffer is KDFa(sessionKey ‖ authValue, "XOR", nonceNewer, nonceOlder, bits).
//! Sessions are unbound; one session per command, single-handle commands only.
//!
//! Not here: AES-CFB parameter encryption, bound sessions, audit.

use alloc::vec::Vec;

use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use rsa::{Oaep, RsaPublicKey};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::HwError;
use super::wire::Reader;

/// `TPMA_SESSION` bits.
pub const CONTINUE_SESSION: u8 = 0x01;
/// `decrypt`: the command's first parameter is encrypted.
pub const DECRYPT: u8 = 0x20;
/// `encrypt`: the response's first parameter is encrypted.
pub const ENCRYPT: u8 = 0x40;

fn hmac256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail.
    let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else { return [0; 32] };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// KDFa with SHA-256 (Part 1 §11.4.10.2): `bytes` of HMAC(key, i ‖ label ‖ 00 ‖ u ‖ v ‖ bits).
pub fn kdfa(key: &[u8], label: &[u8], u: &[u8], v: &[u8], bytes: usize) -> Zeroizing<Vec<u8>> {
    let bits = u32::try_from(bytes.saturating_mul(8)).unwrap_or(u32::MAX).to_be_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes + 32));
    let mut i: u32 = 1;
    while out.len() < bytes {
        out.extend_from_slice(&hmac256(key, &[&i.to_be_bytes(), label, &[0], u, v, &bits]));
        i = i.wrapping_add(1);
    }
    out.truncate(bytes);
    out
}

/// XORs `data` with the session's mask (Part 1 §21.2).
pub fn xor_mask(key: &[u8], newer: &[u8], older: &[u8], data: &mut [u8]) {
    let mask = kdfa(key, b"XOR", newer, older, data.len());
    for (d, m) in data.iter_mut().zip(mask.iter()) {
        *d ^= m;
    }
}

/// An open salted session as the client holds it.
pub struct SaltedSession {
    /// The session handle.
    pub handle: u32,
    /// sessionKey.
    key: Zeroizing<[u8; 32]>,
    /// The TPM's last nonce.
    nonce_tpm: Vec<u8>,
}

/// The `TPM2_StartAuthSession` parameters for a salted session to `parent_key`: the encrypted
/// salt and the caller's nonce (keep the salt to finish with [`SaltedSession::start`]).
pub struct SaltOffer {
    /// The salt (secret).
    pub salt: Zeroizing<[u8; 32]>,
    /// The salt, encrypted to the parent.
    pub encrypted_salt: Vec<u8>,
    /// nonceCaller.
    pub nonce_caller: [u8; 32],
}

impl SaltOffer {
    /// A fresh salt encrypted to `parent_key`.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R, parent_key: &RsaPublicKey) -> Result<Self, HwError> {
        let mut salt = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut salt[..]);
        let mut nonce_caller = [0u8; 32];
        rng.fill_bytes(&mut nonce_caller);
        let pad = Oaep::<Sha256>::new_with_label(&b"SECRET\0"[..]);
        let encrypted_salt = parent_key
            .encrypt(rng, pad, &salt[..])
            .map_err(|_| HwError::Malformed { command: "TPM2_StartAuthSession", what: "salt encryption failed" })?;
        Ok(Self { salt, encrypted_salt, nonce_caller })
    }
}

impl SaltedSession {
    /// The session the TPM opened (`handle`, `nonce_tpm`) for `offer`.
    pub fn start(handle: u32, nonce_tpm: &[u8], offer: &SaltOffer) -> Self {
        let k = kdfa(&offer.salt[..], b"ATH", nonce_tpm, &offer.nonce_caller, 32);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&k);
        Self { handle, key, nonce_tpm: nonce_tpm.to_vec() }
    }

    fn key_with(&self, auth_value: &[u8]) -> Zeroizing<Vec<u8>> {
        let mut k = Zeroizing::new(self.key.to_vec());
        k.extend_from_slice(auth_value);
        k
    }

    /// The command's session entry (handle ‖ nonce ‖ attributes ‖ hmac) for `code` on the entity named
    /// `name` with `auth_value`, `params` already in final form (encrypted when `attrs` has
    /// [`DECRYPT`]: see [`Self::encrypt_command`]), with the command's fresh `nonce_caller`.
    pub fn command_area(
        &self,
        code: u32,
        name: &[u8],
        params: &[u8],
        auth_value: &[u8],
        attrs: u8,
        nonce_caller: &[u8; 32],
    ) -> Vec<u8> {
        let cp: [u8; 32] = {
            let mut h = Sha256::new();
            h.update(code.to_be_bytes());
            h.update(name);
            h.update(params);
            h.finalize().into()
        };
        let mac = hmac256(&self.key_with(auth_value), &[&cp, nonce_caller, &self.nonce_tpm, &[attrs]]);
        let mut a = Vec::new();
        a.extend_from_slice(&self.handle.to_be_bytes());
        a.extend_from_slice(&32u16.to_be_bytes());
        a.extend_from_slice(nonce_caller);
        a.push(attrs);
        a.extend_from_slice(&32u16.to_be_bytes());
        a.extend_from_slice(&mac);
        a
    }

    /// Encrypts the buffer of the first parameter (a `TPM2B` at the start of `params`) for a
    /// command whose nonceCaller is `nonce_caller`.
    pub fn encrypt_command(
        &self,
        params: &mut [u8],
        auth_value: &[u8],
        nonce_caller: &[u8; 32],
        command: &'static str,
    ) -> Result<(), HwError> {
        let n = first_tpm2b_len(params, command)?;
        let buf = params.get_mut(2..2 + n).ok_or(HwError::Malformed { command, what: "first parameter" })?;
        xor_mask(&self.key_with(auth_value), nonce_caller, &self.nonce_tpm, buf);
        Ok(())
    }

    /// Checks the response's session area (`nonceTPM ‖ attributes ‖ hmac`) for `code` over
    /// `params`, then decrypts the first response parameter in place if it was `encrypt`ed.
    /// `allow_empty_hmac`: a policy session that needs no auth value answers with no HMAC.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_response(
        &mut self,
        code: u32,
        params: &mut [u8],
        session_area: &[u8],
        auth_value: &[u8],
        nonce_caller: &[u8; 32],
        allow_empty_hmac: bool,
        command: &'static str,
    ) -> Result<(), HwError> {
        let mut r = Reader::new(session_area, command);
        let nonce_tpm = r.sized16()?.to_vec();
        let attrs = r.u8()?;
        let mac = r.sized16()?;
        if r.remaining() != 0 {
            return Err(HwError::Malformed { command, what: "trailing bytes after the session" });
        }
        let key = self.key_with(auth_value);
        if !(allow_empty_hmac && mac.is_empty()) {
            let rp: [u8; 32] = {
                let mut h = Sha256::new();
                h.update(0u32.to_be_bytes());
                h.update(code.to_be_bytes());
                h.update(&*params);
                h.finalize().into()
            };
            let want = hmac256(&key, &[&rp, &nonce_tpm, nonce_caller, &[attrs]]);
            if !bool::from(want[..].ct_eq(mac)) {
                return Err(HwError::ResponseAuth { command });
            }
        }
        if attrs & ENCRYPT != 0 {
            let n = first_tpm2b_len(params, command)?;
            let buf = params.get_mut(2..2 + n).ok_or(HwError::Malformed { command, what: "first parameter" })?;
            xor_mask(&key, &nonce_tpm, nonce_caller, buf);
        }
        self.nonce_tpm = nonce_tpm;
        Ok(())
    }
}

fn first_tpm2b_len(params: &[u8], command: &'static str) -> Result<usize, HwError> {
    let mut r = Reader::new(params, command);
    let n = usize::from(r.u16()?);
    if r.remaining() < n {
        return Err(HwError::Malformed { command, what: "first parameter runs past the end" });
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdfa_shape() {
        let a = kdfa(b"k", b"XOR", b"u", b"v", 70);
        assert_eq!(a.len(), 70);
        // the first block is HMAC(k, 00000001 ‖ "XOR" ‖ 00 ‖ u ‖ v ‖ bits(560))
        let b = hmac256(b"k", &[&[0, 0, 0, 1], b"XOR", &[0], b"u", b"v", &560u32.to_be_bytes()]);
        assert_eq!(a[..32], b);
        // a different length changes every byte's derivation (bits are part of the input)
        assert_ne!(kdfa(b"k", b"XOR", b"u", b"v", 32)[..], a[..32]);
        let mut d = [1u8, 2, 3];
        xor_mask(b"k", b"n", b"o", &mut d);
        xor_mask(b"k", b"n", b"o", &mut d);
        assert_eq!(d, [1, 2, 3]);
    }

    #[test]
    fn response_checks() {
        let offer = SaltOffer { salt: Zeroizing::new([1; 32]), encrypted_salt: Vec::new(), nonce_caller: [2; 32] };
        let mut s = SaltedSession::start(0x0200_0000, &[3; 32], &offer);
        // a forged response HMAC
        let mut area = alloc::vec![0, 32];
        area.extend_from_slice(&[4; 32]);
        area.push(ENCRYPT);
        area.extend_from_slice(&[0, 32]);
        area.extend_from_slice(&[0; 32]);
        let mut params = [0u8, 1, 9];
        assert_eq!(
            s.finish_response(0x15E, &mut params, &area, &[], &[5; 32], false, "TPM2_Unseal"),
            Err(HwError::ResponseAuth { command: "TPM2_Unseal" })
        );
        // truncated areas and parameters
        assert!(s.finish_response(0x15E, &mut params, &area[..10], &[], &[5; 32], false, "X").is_err());
        let mut short = [0u8, 5, 1];
        let mut empty_mac = alloc::vec![0, 0, ENCRYPT, 0, 0];
        assert!(s.finish_response(0x15E, &mut short, &empty_mac, &[], &[5; 32], true, "X").is_err());
        empty_mac.push(0);
        assert!(s.finish_response(0x15E, &mut params, &empty_mac, &[], &[5; 32], true, "X").is_err());
    }
}
