//! The manager's TPM 1.2 client over [`HardwareTpm`]: the commands the C manager sends to a TPM
//! 1.2 (`wave2-facts.md` §2; TCG TPM Main Part 3 for the layouts), written from the spec, with
//! the fixes the fact sheet asks for.
//!
//! - Sessions (Part 1 §13): OIAP and OSAP, `HMAC-SHA1(key, SHA1(ordinal ‖ params) ‖ nonceEven ‖
//!   nonceOdd ‖ continue)`, ADIP for new secrets (`secret XOR SHA1(sharedSecret ‖ nonceEven)`),
//!   and every response HMAC checked (`SHA1(rc ‖ ordinal ‖ outParams)`) before a field is used.
//!   Odd nonces come from the caller's RNG.
//! - Ownership: `TPM_ReadPubek` (checksum checked) → `TPM_CreateEndorsementKeyPair` if there is
//!   no EK → `TPM_TakeOwnership` with owner and SRK secrets RSA-OAEP(SHA-1, label "TCPA")
//!   encrypted to the EK, SRK template = storage, RSA-2048, OAEP, auth always (47 bytes).
//!   `TPM_DISABLED_CMD` from ReadPubek means "already owned" (the owner cleared readPubek).
//!   `TPM_GetCapabilityOwner` checks `owner_auth` on an owned TPM.
//! - Sealing: `TPM_Seal` under the SRK (`0x40000000`) in an OSAP session with `srk_auth`, data
//!   auth = 20 zero bytes (as the C manager), optionally bound to PCRs with a
//!   `TPM_PCR_INFO_LONG` whose digestAtRelease is the composite of the PCRs' current values; the
//!   `TPM_STORED_DATA(12)` is kept exactly as returned. `TPM_Unseal` (AUTH2: SRK and data over
//!   two OIAP sessions).
//! - Passthroughs: `TPM_GetRandom`, `TPM_PCRRead` (and `TPM_Extend`).
//!
//! Not here: `TPM_DisablePubekRead` (redundant after TakeOwnership, §2.2), the flush of other
//! software's handles at boot, AIK/quote/group commands (§2.4), transport sessions (so the
//! unsealed secret crosses the bus in clear, as with the C manager).

use alloc::vec::Vec;

use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use rsa::{BoxedUint, Oaep, RsaPublicKey};
use sha1::{Digest as _, Sha1};
use subtle::ConstantTimeEq;
use tpm_frame::{
    Family, TPM_TAG_RQU_AUTH1_COMMAND, TPM_TAG_RQU_AUTH2_COMMAND, TPM_TAG_RQU_COMMAND, TPM_TAG_RSP_COMMAND,
};
use zeroize::Zeroizing;

use super::HwError;
use super::config::PcrMask;
use super::wire::{Reader, Response, Writer, transact};
use crate::hardware::HardwareTpm;

/// TPM 1.2 ordinals used here (Part 2 §17).
pub mod ord {
    /// `TPM_ORD_OIAP`.
    pub const OIAP: u32 = 0x0A;
    /// `TPM_ORD_OSAP`.
    pub const OSAP: u32 = 0x0B;
    /// `TPM_ORD_TakeOwnership`.
    pub const TAKE_OWNERSHIP: u32 = 0x0D;
    /// `TPM_ORD_Extend`.
    pub const EXTEND: u32 = 0x14;
    /// `TPM_ORD_PcrRead`.
    pub const PCR_READ: u32 = 0x15;
    /// `TPM_ORD_Seal`.
    pub const SEAL: u32 = 0x17;
    /// `TPM_ORD_Unseal`.
    pub const UNSEAL: u32 = 0x18;
    /// `TPM_ORD_GetRandom`.
    pub const GET_RANDOM: u32 = 0x46;
    /// `TPM_ORD_OwnerClear`.
    pub const OWNER_CLEAR: u32 = 0x5B;
    /// `TPM_ORD_GetCapabilityOwner`.
    pub const GET_CAPABILITY_OWNER: u32 = 0x66;
    /// `TPM_ORD_CreateEndorsementKeyPair`.
    pub const CREATE_ENDORSEMENT_KEY_PAIR: u32 = 0x78;
    /// `TPM_ORD_ReadPubek`.
    pub const READ_PUBEK: u32 = 0x7C;
    /// `TPM_ORD_SaveState`.
    pub const SAVE_STATE: u32 = 0x98;
    /// `TPM_ORD_Startup`.
    pub const STARTUP: u32 = 0x99;
    /// `TPM_ORD_FlushSpecific`.
    pub const FLUSH_SPECIFIC: u32 = 0xBA;
}

/// TPM 1.2 return codes the client tells apart (Part 2 §16).
pub mod rc {
    /// `TPM_AUTHFAIL`.
    pub const AUTHFAIL: u32 = 1;
    /// `TPM_DISABLED_CMD`.
    pub const DISABLED_CMD: u32 = 8;
    /// `TPM_NOSRK`.
    pub const NOSRK: u32 = 18;
    /// `TPM_WRONGPCRVAL`.
    pub const WRONGPCRVAL: u32 = 24;
    /// `TPM_NO_ENDORSEMENT`.
    pub const NO_ENDORSEMENT: u32 = 35;
    /// `TPM_DEACTIVATED`.
    pub const DEACTIVATED: u32 = 6;
    /// `TPM_DISABLED`.
    pub const DISABLED: u32 = 7;
    /// `TPM_INVALID_POSTINIT`.
    pub const INVALID_POSTINIT: u32 = 38;
}

/// `TPM_KH_SRK`.
pub const KH_SRK: u32 = 0x4000_0000;
/// `TPM_ET_KEYHANDLE` (the entity type the C manager opens its SRK OSAP with).
const ET_KEYHANDLE: u16 = 0x0001;
/// `TPM_RT_AUTH`.
const RT_AUTH: u32 = 2;
/// `TPM_PID_OWNER`.
const PID_OWNER: u16 = 5;
/// `TPM_TAG_PCR_INFO_LONG`.
const TAG_PCR_INFO_LONG: u16 = 0x0006;
/// All five localities (`localityAtRelease`).
const ALL_LOCALITIES: u8 = 0x1F;
/// The data auth of the sealed root (20 zero bytes, as the C manager).
const DATA_AUTH: [u8; 20] = [0; 20];

/// A 20-byte secret, wiped on drop.
pub type Secret = Zeroizing<[u8; 20]>;

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail.
    let Ok(mut m) = <Hmac<Sha1> as KeyInit>::new_from_slice(key) else { return [0; 20] };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// `TPM_PCR_COMPOSITE` digest of `values` (one per selected PCR, ascending): SHA-1(select ‖
/// valueSize ‖ values) (Part 2 §8.1).
pub fn pcr_composite(mask: PcrMask, values: &[[u8; 20]]) -> [u8; 20] {
    let mut w = Writer::new();
    w.u16(3).bytes(&mask.select_bytes()).u32(u32::try_from(values.len() * 20).unwrap_or(u32::MAX));
    for v in values {
        w.bytes(v);
    }
    sha1(&[w.as_slice()])
}

/// An authorization session (OIAP or OSAP) as the client holds it.
pub struct Session {
    /// `authHandle`.
    pub handle: u32,
    /// The TPM's last `nonceEven`.
    pub nonce_even: [u8; 20],
    /// The HMAC key: the entity's secret (OIAP) or the shared secret (OSAP).
    pub key: Secret,
    /// Ask the TPM to keep the session after the next command.
    pub keep: bool,
}

/// What `TPM_ReadPubek` said.
#[derive(Debug)]
pub enum Pubek {
    /// The EK (the TPM has no owner).
    Available(RsaPublicKey),
    /// `TPM_DISABLED_CMD`: the TPM has an owner.
    Owned,
    /// `TPM_NO_ENDORSEMENT`: no EK yet.
    NoEndorsement,
}

/// A TPM 1.2 client over `tpm`, with nonces (and OAEP seeds) from `rng`.
pub struct Tpm12<'a, T: HardwareTpm, R: CryptoRng + ?Sized> {
    tpm: &'a mut T,
    rng: &'a mut R,
}

impl<'a, T: HardwareTpm, R: CryptoRng + ?Sized> Tpm12<'a, T, R>
where
    T::Error: core::fmt::Debug,
{
    /// A client.
    pub fn new(tpm: &'a mut T, rng: &'a mut R) -> Self {
        Self { tpm, rng }
    }

    fn nonce(&mut self) -> [u8; 20] {
        let mut n = [0u8; 20];
        self.rng.fill_bytes(&mut n);
        n
    }

    /// An unauthorized command; the response's tag family and length are checked, not its rc.
    pub fn rqu(&mut self, name: &'static str, ordinal: u32, body: &[u8]) -> Result<Response, HwError> {
        let frame = tpm_frame::command(TPM_TAG_RQU_COMMAND, ordinal, body);
        let r = transact(self.tpm, Family::Tpm12, name, &frame)?;
        if r.rc == 0 && r.tag != TPM_TAG_RSP_COMMAND {
            return Err(HwError::Malformed { command: name, what: "unexpected response tag" });
        }
        Ok(r)
    }

    /// An unauthorized command that must succeed: its response body.
    fn rqu_ok(&mut self, name: &'static str, ordinal: u32, body: &[u8]) -> Result<Vec<u8>, HwError> {
        let r = self.rqu(name, ordinal, body)?;
        if r.rc != 0 {
            return Err(rc_error(name, r.rc));
        }
        Ok(r.body)
    }

    /// `TPM_Startup(ST_CLEAR)`; `TPM_INVALID_POSTINIT` (already started, the usual case after
    /// firmware) is fine.
    pub fn startup(&mut self) -> Result<(), HwError> {
        let r = self.rqu("TPM_Startup", ord::STARTUP, &[0, 1])?;
        match r.rc {
            0 | rc::INVALID_POSTINIT => Ok(()),
            rc => Err(HwError::Tpm { command: "TPM_Startup", rc }),
        }
    }

    /// `TPM_SaveState`.
    pub fn save_state(&mut self) -> Result<(), HwError> {
        self.rqu_ok("TPM_SaveState", ord::SAVE_STATE, &[]).map(|_| ())
    }

    /// `TPM_OIAP` for an entity whose secret is `secret`.
    pub fn oiap(&mut self, secret: &[u8; 20]) -> Result<Session, HwError> {
        let b = self.rqu_ok("TPM_OIAP", ord::OIAP, &[])?;
        let mut r = Reader::new(&b, "TPM_OIAP");
        let handle = r.u32()?;
        let nonce_even = r.array()?;
        Ok(Session { handle, nonce_even, key: Zeroizing::new(*secret), keep: false })
    }

    /// `TPM_OSAP` for (`entity_type`, `entity_value`) whose secret is `secret`; the session's key
    /// is the shared secret `HMAC(secret, nonceEvenOSAP ‖ nonceOddOSAP)`.
    pub fn osap(&mut self, entity_type: u16, entity_value: u32, secret: &[u8; 20]) -> Result<Session, HwError> {
        let odd = self.nonce();
        let mut w = Writer::new();
        w.u16(entity_type).u32(entity_value).bytes(&odd);
        let b = self.rqu_ok("TPM_OSAP", ord::OSAP, w.as_slice())?;
        let mut r = Reader::new(&b, "TPM_OSAP");
        let handle = r.u32()?;
        let nonce_even = r.array()?;
        let even_osap: [u8; 20] = r.array()?;
        let shared = Zeroizing::new(hmac_sha1(secret, &[&even_osap, &odd]));
        Ok(Session { handle, nonce_even, key: shared, keep: false })
    }

    /// ADIP: `new_secret XOR SHA-1(sharedSecret ‖ nonceEven)` for OSAP session `s`.
    pub fn adip(s: &Session, new_secret: &[u8; 20]) -> [u8; 20] {
        let pad = sha1(&[&s.key[..], &s.nonce_even]);
        core::array::from_fn(|i| new_secret[i] ^ pad[i])
    }

    /// `TPM_FlushSpecific(handle, TPM_RT_AUTH)`, errors ignored (the session may be gone).
    pub fn flush_session(&mut self, handle: u32) {
        let mut w = Writer::new();
        w.u32(handle).u32(RT_AUTH);
        let _ = self.rqu("TPM_FlushSpecific", ord::FLUSH_SPECIFIC, w.as_slice());
    }

    /// An authorized command: `handles` then `params`, one auth trailer per session (one or
    /// two). On success the response HMACs are verified and the sessions' nonces updated; the
    /// returned body has the trailers removed. `out_handles` is the number of returned handles
    /// (not covered by the HMAC). An error response is returned as it is (its rc set).
    pub fn auth(
        &mut self,
        name: &'static str,
        ordinal: u32,
        handles: &[u32],
        params: &[u8],
        sessions: &mut [&mut Session],
        out_handles: usize,
    ) -> Result<Response, HwError> {
        let digest = sha1(&[&ordinal.to_be_bytes(), params]);
        let mut body = Writer::new();
        for h in handles {
            body.u32(*h);
        }
        body.bytes(params);
        let mut odds = Vec::new();
        for s in sessions.iter() {
            let odd = self.nonce();
            let cont = [u8::from(s.keep)];
            let mac = hmac_sha1(&s.key[..], &[&digest, &s.nonce_even, &odd, &cont]);
            body.u32(s.handle).bytes(&odd).bytes(&cont).bytes(&mac);
            odds.push(odd);
        }
        let tag = if sessions.len() == 2 { TPM_TAG_RQU_AUTH2_COMMAND } else { TPM_TAG_RQU_AUTH1_COMMAND };
        let frame = tpm_frame::command(tag, ordinal, body.as_slice());
        let r = transact(self.tpm, Family::Tpm12, name, &frame)?;
        if r.rc != 0 {
            return Ok(r);
        }
        if r.tag != tag + 3 {
            return Err(HwError::Malformed { command: name, what: "response tag does not match the request's" });
        }
        let trailer = 41 * sessions.len();
        let end = r
            .body
            .len()
            .checked_sub(trailer)
            .ok_or(HwError::Malformed { command: name, what: "shorter than its auth trailers" })?;
        let out_params =
            r.body.get(4 * out_handles..end).ok_or(HwError::Malformed { command: name, what: "missing handles" })?;
        let out_digest = sha1(&[&0u32.to_be_bytes(), &ordinal.to_be_bytes(), out_params]);
        for (i, s) in sessions.iter_mut().enumerate() {
            let tr = r
                .body
                .get(end + 41 * i..end + 41 * (i + 1))
                .ok_or(HwError::Malformed { command: name, what: "short auth trailer" })?;
            let mut rd = Reader::new(tr, name);
            let even: [u8; 20] = rd.array()?;
            let cont = rd.u8()?;
            let mac: [u8; 20] = rd.array()?;
            let want = hmac_sha1(&s.key[..], &[&out_digest, &even, &odds[i], &[cont]]);
            if !bool::from(want.ct_eq(&mac)) {
                return Err(HwError::ResponseAuth { command: name });
            }
            s.nonce_even = even;
        }
        let mut body = r.body;
        body.truncate(end);
        Ok(Response { tag: r.tag, rc: 0, body })
    }

    /// `TPM_ReadPubek` with a fresh antiReplay; the checksum is verified.
    pub fn read_pubek(&mut self) -> Result<Pubek, HwError> {
        let anti = self.nonce();
        let r = self.rqu("TPM_ReadPubek", ord::READ_PUBEK, &anti)?;
        match r.rc {
            0 => Ok(Pubek::Available(parse_pubek(&r.body, &anti, "TPM_ReadPubek")?)),
            rc::DISABLED_CMD => Ok(Pubek::Owned),
            rc::NO_ENDORSEMENT => Ok(Pubek::NoEndorsement),
            rc => Err(rc_error("TPM_ReadPubek", rc)),
        }
    }

    /// `TPM_CreateEndorsementKeyPair` (RSA-2048, OAEP-SHA1, as the C manager); checksum verified.
    pub fn create_endorsement_key(&mut self) -> Result<RsaPublicKey, HwError> {
        let anti = self.nonce();
        let mut w = Writer::new();
        w.bytes(&anti);
        rsa_key_parms(&mut w);
        let b = self.rqu_ok("TPM_CreateEndorsementKeyPair", ord::CREATE_ENDORSEMENT_KEY_PAIR, w.as_slice())?;
        parse_pubek(&b, &anti, "TPM_CreateEndorsementKeyPair")
    }

    /// `TPM_TakeOwnership` with `owner` and `srk` as the new secrets, encrypted to `ek`.
    pub fn take_ownership(&mut self, ek: &RsaPublicKey, owner: &[u8; 20], srk: &[u8; 20]) -> Result<(), HwError> {
        let mut enc = |secret: &[u8; 20]| -> Result<Vec<u8>, HwError> {
            let pad = Oaep::<Sha1>::new_with_label(&b"TCPA"[..]);
            ek.encrypt(&mut *self.rng, pad, secret).map_err(|_| HwError::BadEndorsementKey("OAEP encryption failed"))
        };
        let enc_owner = enc(owner)?;
        let enc_srk = enc(srk)?;
        let mut p = Writer::new();
        p.u16(PID_OWNER).sized32(&enc_owner).sized32(&enc_srk);
        // srkParams: TPM_KEY (1.1): ver 1.1.0.0, usage STORAGE, flags 0, authDataUsage ALWAYS,
        // RSA/OAEP/2048 parms, no PCR info, no public key, no encData.
        p.bytes(&[1, 1, 0, 0]).u16(0x0011).u32(0).u8(1);
        rsa_key_parms(&mut p);
        p.u32(0).u32(0).u32(0);
        let mut s = self.oiap(owner)?;
        let r = self.auth("TPM_TakeOwnership", ord::TAKE_OWNERSHIP, &[], p.as_slice(), &mut [&mut s], 0)?;
        if r.rc != 0 {
            self.flush_session(s.handle);
            return Err(rc_error("TPM_TakeOwnership", r.rc));
        }
        Ok(())
    }

    /// Checks `owner` against the TPM's owner secret (`TPM_GetCapabilityOwner`, read-only).
    pub fn check_owner_auth(&mut self, owner: &[u8; 20]) -> Result<(), HwError> {
        let mut s = self.oiap(owner)?;
        let r = self.auth("TPM_GetCapabilityOwner", ord::GET_CAPABILITY_OWNER, &[], &[], &mut [&mut s], 0)?;
        match r.rc {
            0 => Ok(()),
            rc => {
                self.flush_session(s.handle);
                Err(if rc == rc::AUTHFAIL {
                    HwError::WrongOwnerAuth
                } else {
                    HwError::Tpm { command: "TPM_GetCapabilityOwner", rc }
                })
            }
        }
    }

    /// `TPM_OwnerClear`: removes the owner and the SRK (everything sealed under it is lost).
    /// The manager never calls it; it is here for operators' tools and tests.
    pub fn owner_clear(&mut self, owner: &[u8; 20]) -> Result<(), HwError> {
        let mut s = self.oiap(owner)?;
        let r = self.auth("TPM_OwnerClear", ord::OWNER_CLEAR, &[], &[], &mut [&mut s], 0)?;
        match r.rc {
            0 => Ok(()),
            rc::AUTHFAIL => Err(HwError::WrongOwnerAuth),
            rc => Err(HwError::Tpm { command: "TPM_OwnerClear", rc }),
        }
    }

    /// `TPM_Seal` of `data` under the SRK (secret `srk`), optionally bound to the PCRs in
    /// `pcrs` at `digest_at_release`. Returns the `TPM_STORED_DATA(12)`.
    pub fn seal(&mut self, srk: &[u8; 20], data: &[u8], pcrs: Option<(PcrMask, [u8; 20])>) -> Result<Vec<u8>, HwError> {
        let mut s = self.osap(ET_KEYHANDLE, KH_SRK, srk)?;
        let enc_auth = Self::adip(&s, &DATA_AUTH);
        let mut p = Writer::new();
        p.bytes(&enc_auth);
        match pcrs {
            None => {
                p.u32(0);
            }
            Some((mask, at_release)) => {
                let sel = mask.select_bytes();
                let mut info = Writer::new();
                // digestAtCreation and localityAtCreation are the TPM's to fill in.
                info.u16(TAG_PCR_INFO_LONG).u8(ALL_LOCALITIES).u8(ALL_LOCALITIES);
                info.u16(3).bytes(&sel).u16(3).bytes(&sel).bytes(&[0; 20]).bytes(&at_release);
                p.sized32(info.as_slice());
            }
        }
        p.sized32(data);
        let r = self.auth("TPM_Seal", ord::SEAL, &[KH_SRK], p.as_slice(), &mut [&mut s], 0)?;
        match r.rc {
            0 => Ok(r.body),
            rc => {
                self.flush_session(s.handle);
                Err(match rc {
                    rc::AUTHFAIL => HwError::WrongSrkAuth,
                    rc::NOSRK => HwError::NotOwned,
                    rc => rc_error("TPM_Seal", rc),
                })
            }
        }
    }

    /// `TPM_Unseal` of a `TPM_STORED_DATA(12)` under the SRK (secret `srk`).
    pub fn unseal(&mut self, srk: &[u8; 20], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, HwError> {
        let mut key = self.oiap(srk)?;
        let mut data = match self.oiap(&DATA_AUTH) {
            Ok(d) => d,
            Err(e) => {
                self.flush_session(key.handle);
                return Err(e);
            }
        };
        let r = self.auth("TPM_Unseal", ord::UNSEAL, &[KH_SRK], blob, &mut [&mut key, &mut data], 0);
        let r = match r {
            Ok(r) if r.rc == 0 => r,
            other => {
                self.flush_session(key.handle);
                self.flush_session(data.handle);
                let r = other?;
                return Err(match r.rc {
                    rc::AUTHFAIL => HwError::WrongSrkAuth,
                    rc::NOSRK => HwError::NotOwned,
                    rc::WRONGPCRVAL => HwError::PcrMismatch { rc: r.rc },
                    rc::DISABLED | rc::DEACTIVATED => HwError::Disabled { rc: r.rc },
                    rc => HwError::DoesNotUnseal { rc },
                });
            }
        };
        let body = Zeroizing::new(r.body);
        let mut rd = Reader::new(&body, "TPM_Unseal");
        let secret = Zeroizing::new(rd.sized32()?.to_vec());
        if rd.remaining() != 0 {
            return Err(HwError::Malformed { command: "TPM_Unseal", what: "trailing bytes" });
        }
        Ok(secret)
    }

    /// `TPM_GetRandom(n)`: the bytes the TPM returned (at most `n`; a TPM may return fewer).
    pub fn get_random(&mut self, n: u32) -> Result<Vec<u8>, HwError> {
        let b = self.rqu_ok("TPM_GetRandom", ord::GET_RANDOM, &n.to_be_bytes())?;
        let mut r = Reader::new(&b, "TPM_GetRandom");
        let bytes = r.sized32()?;
        if bytes.len() > n as usize || r.remaining() != 0 {
            return Err(HwError::Malformed { command: "TPM_GetRandom", what: "more bytes than asked for" });
        }
        Ok(bytes.to_vec())
    }

    /// `TPM_PCRRead(index)`.
    pub fn pcr_read(&mut self, index: u32) -> Result<[u8; 20], HwError> {
        let b = self.rqu_ok("TPM_PCRRead", ord::PCR_READ, &index.to_be_bytes())?;
        exactly_20(&b, "TPM_PCRRead")
    }

    /// `TPM_Extend(index, digest)`: the new value.
    pub fn extend(&mut self, index: u32, digest: &[u8; 20]) -> Result<[u8; 20], HwError> {
        let mut w = Writer::new();
        w.u32(index).bytes(digest);
        let b = self.rqu_ok("TPM_Extend", ord::EXTEND, w.as_slice())?;
        exactly_20(&b, "TPM_Extend")
    }
}

/// The error for an unexpected `rc` of `command`: disabled/deactivated TPMs named as such.
fn rc_error(command: &'static str, rc: u32) -> HwError {
    match rc {
        rc::DISABLED | rc::DEACTIVATED => HwError::Disabled { rc },
        rc => HwError::Tpm { command, rc },
    }
}

fn exactly_20(b: &[u8], command: &'static str) -> Result<[u8; 20], HwError> {
    b.try_into().map_err(|_| HwError::Malformed { command, what: "not a 20-byte digest" })
}

/// `TPM_KEY_PARMS` for RSA-2048, OAEP-SHA1-MGF1, no signature scheme, 2 primes, default exponent.
fn rsa_key_parms(w: &mut Writer) {
    w.u32(1).u16(3).u16(1).u32(12).u32(2048).u32(2).u32(0);
}

/// Parses `TPM_PUBKEY ‖ checksum` and checks `checksum = SHA-1(TPM_PUBKEY ‖ antiReplay)`.
fn parse_pubek(b: &[u8], anti: &[u8; 20], command: &'static str) -> Result<RsaPublicKey, HwError> {
    let mut r = Reader::new(b, command);
    let alg = r.u32()?;
    let _enc_scheme = r.u16()?;
    let _sig_scheme = r.u16()?;
    let parms = r.sized32()?;
    let modulus = r.sized32()?;
    let pubkey_len = r.position();
    let checksum: [u8; 20] = r.array()?;
    if r.remaining() != 0 {
        return Err(HwError::Malformed { command, what: "trailing bytes" });
    }
    let pubkey = b.get(..pubkey_len).ok_or(HwError::Malformed { command, what: "short" })?;
    if !bool::from(sha1(&[pubkey, anti]).ct_eq(&checksum)) {
        return Err(HwError::BadEndorsementKey("checksum does not match"));
    }
    if alg != 1 {
        return Err(HwError::BadEndorsementKey("not an RSA key"));
    }
    let mut pr = Reader::new(parms, command);
    let _key_bits = pr.u32()?;
    let _primes = pr.u32()?;
    let exp = pr.sized32()?;
    let e = if exp.is_empty() {
        BoxedUint::from(65537u64)
    } else if exp.len() <= 8 {
        let mut v = [0u8; 8];
        v[8 - exp.len()..].copy_from_slice(exp);
        BoxedUint::from(u64::from_be_bytes(v))
    } else {
        return Err(HwError::BadEndorsementKey("exponent longer than 64 bits"));
    };
    if modulus.len() < 128 || modulus.len() > 512 {
        return Err(HwError::BadEndorsementKey("modulus size out of range"));
    }
    let bits = u32::try_from(modulus.len() * 8).unwrap_or(0);
    let n = BoxedUint::from_be_slice(modulus, bits).map_err(|_| HwError::BadEndorsementKey("bad modulus"))?;
    RsaPublicKey::new(n, e).map_err(|_| HwError::BadEndorsementKey("not a valid RSA public key"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hwtpm::testing::{Scripted, ZeroRng};

    #[test]
    fn composite_of_pcr_0_zero() {
        // SHA-1(00 03 01 00 00 | 00 00 00 14 | 20 zero bytes): the well-known composite of PCR 0 = 0
        let c = pcr_composite(PcrMask(1), &[[0; 20]]);
        let mut w = Writer::new();
        w.bytes(&[0, 3, 1, 0, 0, 0, 0, 0, 20]).bytes(&[0; 20]);
        assert_eq!(c, sha1(&[w.as_slice()]));
    }

    #[test]
    fn malformed_answers_are_errors() {
        let mut rng = ZeroRng;
        // short response
        let mut t = Scripted::new(Family::Tpm12, &[&[0, 0xC4, 0, 0]]);
        assert!(matches!(Tpm12::new(&mut t, &mut rng).get_random(8), Err(HwError::Malformed { .. })));
        // a TPM 2.0 answering
        let mut t = Scripted::new(Family::Tpm12, &[&[0x80, 1, 0, 0, 0, 10, 0, 0, 0, 0x1E]]);
        assert!(matches!(Tpm12::new(&mut t, &mut rng).pcr_read(0), Err(HwError::WrongFamily { .. })));
        // GetRandom claiming more bytes than it carries / than asked
        let mut t = Scripted::new(Family::Tpm12, &[&[0, 0xC4, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 9, 1, 2]]);
        assert!(matches!(Tpm12::new(&mut t, &mut rng).get_random(8), Err(HwError::Malformed { .. })));
        let mut t = Scripted::new(Family::Tpm12, &[&[0, 0xC4, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2]]);
        assert!(matches!(Tpm12::new(&mut t, &mut rng).get_random(1), Err(HwError::Malformed { .. })));
        let mut t = Scripted::new(Family::Tpm12, &[&[0, 0xC4, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2]]);
        assert_eq!(Tpm12::new(&mut t, &mut rng).get_random(2).unwrap(), [1, 2]);
        // PCRRead with 19 bytes
        let mut f = alloc::vec![0, 0xC4, 0, 0, 0, 29, 0, 0, 0, 0];
        f.extend_from_slice(&[0; 19]);
        let mut t = Scripted::new(Family::Tpm12, &[&f]);
        assert!(matches!(Tpm12::new(&mut t, &mut rng).pcr_read(0), Err(HwError::Malformed { .. })));
        // an error rc
        let mut t = Scripted::new(Family::Tpm12, &[&[0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 2]]);
        assert_eq!(Tpm12::new(&mut t, &mut rng).pcr_read(99), Err(HwError::Tpm { command: "TPM_PCRRead", rc: 2 }));
        // the transport failing
        let mut t = Scripted::new(Family::Tpm12, &[]);
        assert!(matches!(Tpm12::new(&mut t, &mut rng).pcr_read(0), Err(HwError::Transport(_))));
    }

    #[test]
    fn pubek_checksum_and_shape() {
        let mut rng = ZeroRng;
        let anti = [0u8; 20]; // ZeroRng's nonce
        let mut pk = Writer::new();
        pk.u32(1).u16(3).u16(1);
        let mut parms = Writer::new();
        parms.u32(2048).u32(2).u32(0);
        pk.sized32(parms.as_slice());
        let mut m = alloc::vec![0xC5u8; 256];
        m[255] = 0x01;
        pk.sized32(&m);
        let good = sha1(&[pk.as_slice(), &anti]);
        let frame = |sum: &[u8; 20]| {
            let mut body = pk.0.clone();
            body.extend_from_slice(sum);
            tpm_frame::command(TPM_TAG_RSP_COMMAND, 0, &body)
        };
        let ok = frame(&good);
        let mut t = Scripted::new(Family::Tpm12, &[&ok]);
        assert!(matches!(Tpm12::new(&mut t, &mut rng).read_pubek(), Ok(Pubek::Available(_))));
        let bad = frame(&[1; 20]);
        let mut t = Scripted::new(Family::Tpm12, &[&bad]);
        assert_eq!(
            Tpm12::new(&mut t, &mut rng).read_pubek().unwrap_err(),
            HwError::BadEndorsementKey("checksum does not match")
        );
        let mut t = Scripted::new(Family::Tpm12, &[&ok[..ok.len() - 1]]);
        assert!(Tpm12::new(&mut t, &mut rng).read_pubek().is_err());
        let owned = tpm_frame::error_response(rc::DISABLED_CMD);
        let mut t = Scripted::new(Family::Tpm12, &[&owned]);
        assert!(matches!(Tpm12::new(&mut t, &mut rng).read_pubek(), Ok(Pubek::Owned)));
    }

    #[test]
    fn response_hmac_is_checked() {
        let mut rng = ZeroRng;
        // OIAP answer, then a GetCapabilityOwner answer whose HMAC is garbage
        let mut oiap = alloc::vec![0, 0, 0, 7];
        oiap.extend_from_slice(&[3; 20]);
        let oiap = tpm_frame::command(TPM_TAG_RSP_COMMAND, 0, &oiap);
        let mut body = alloc::vec![0u8; 12];
        body.extend_from_slice(&[4; 20]);
        body.push(0);
        body.extend_from_slice(&[9; 20]);
        let resp = tpm_frame::command(tpm_frame::TPM_TAG_RSP_AUTH1_COMMAND, 0, &body);
        let mut t = Scripted::new(Family::Tpm12, &[&oiap, &resp]);
        assert_eq!(
            Tpm12::new(&mut t, &mut rng).check_owner_auth(&[0; 20]),
            Err(HwError::ResponseAuth { command: "TPM_GetCapabilityOwner" })
        );
        // the same with a correct HMAC passes
        let out_digest = sha1(&[&0u32.to_be_bytes(), &ord::GET_CAPABILITY_OWNER.to_be_bytes(), &[0u8; 12]]);
        let mac = hmac_sha1(&[0; 20], &[&out_digest, &[4; 20], &[0; 20], &[0]]);
        let mut body = alloc::vec![0u8; 12];
        body.extend_from_slice(&[4; 20]);
        body.push(0);
        body.extend_from_slice(&mac);
        let resp = tpm_frame::command(tpm_frame::TPM_TAG_RSP_AUTH1_COMMAND, 0, &body);
        let mut t = Scripted::new(Family::Tpm12, &[&oiap, &resp]);
        assert_eq!(Tpm12::new(&mut t, &mut rng).check_owner_auth(&[0; 20]), Ok(()));
        // a short authorized response
        let resp = tpm_frame::command(tpm_frame::TPM_TAG_RSP_AUTH1_COMMAND, 0, &[0; 30]);
        let mut t = Scripted::new(Family::Tpm12, &[&oiap, &resp]);
        assert!(matches!(Tpm12::new(&mut t, &mut rng).check_owner_auth(&[0; 20]), Err(HwError::Malformed { .. })));
    }
}
