//! The manager's TPM 2.0 client over [`HardwareTpm`] (TPM 2.0 Library Part 3 for the
//! commands, Part 2 for the structures; `wave2-facts.md` §1 for what the C manager sends).
//!
//! - `TPM2_Startup(SU_CLEAR)`; `TPM_RC_INITIALIZE` (firmware already started it) is fine.
//! - The parent: `TPM2_CreatePrimary` under `TPM_RH_OWNER` with the usual RSA-2048 storage-key
//!   template (the C manager's, §1.3), which gives the same key on every boot until the owner
//!   seed changes; or, with `srk_handle=`, that existing key.
//! - The root secret: `TPM2_Create` of a sealed data object (`TPM_ALG_KEYEDHASH`, scheme NULL,
//!   `fixedTPM | fixedParent | noDA`, plus `userWithAuth` unless PCR-bound) holding the secret;
//!   its `TPM2B_PRIVATE ‖ TPM2B_PUBLIC` go to the manager's disk (the C manager keeps its key
//!   blobs in RAM only and so cannot persist, §1.6). Later boots: `TPM2_Load` then
//!   `TPM2_Unseal`, then `TPM2_FlushContext` of everything this client loaded.
//! - Optional PCR binding (off by default): the object's authPolicy is the `TPM2_PolicyPCR`
//!   digest over the SHA-1 bank's current values of the chosen PCRs; unsealing runs a policy
//!   session (`TPM2_StartAuthSession(TPM_SE_POLICY)`, `TPM2_PolicyPCR`) first.
//! - Passthroughs: `TPM2_GetRandom` (one call, request capped at 8178 bytes as the C manager,
//!   §3.4), `TPM2_PCR_Read` of the SHA-1 bank, one PCR per call (and `TPM2_PCR_Extend`).
//!
//! Sessions: the root secret's two commands run in a **salted session** (`tpm20_session`):
//! `TPM2_Create` with `decrypt` (the secret goes in encrypted), `TPM2_Unseal` with `encrypt`
//! (it comes back encrypted), both HMAC-authorized and the response HMAC checked; with PCR
//! binding, the policy session itself is salted. The salt is encrypted to the parent's RSA key,
//! read with `TPM2_ReadPublic`; its name is kept in the root blob and compared on later boots,
//! so a forged public key cannot collect the salt after the first boot. Everything else
//! (CreatePrimary, Load, FlushContext, PCR and random commands) uses **password sessions**
//! (`TPM_RS_PW`), as the C manager: those carry no secret but the owner/srk passwords, which
//! cross the bus in clear when they are not empty. A parent that is not an RSA key usable with
//! OAEP-SHA-256 (e.g. an ECC `srk_handle`) falls back to password/unsalted policy sessions,
//! and then the root secret crosses the bus in clear.

use alloc::vec::Vec;

use rand_core::CryptoRng;
use rsa::{BoxedUint, RsaPublicKey};
use sha2::{Digest as _, Sha256};
use tpm_frame::{Family, TPM_ST_NO_SESSIONS, TPM_ST_SESSIONS};
use zeroize::Zeroizing;

use super::HwError;
use super::config::PcrMask;
use super::tpm20_session::{self as session, SaltOffer, SaltedSession};
use super::wire::{Reader, Writer, transact};
use crate::hardware::HardwareTpm;

/// TPM 2.0 command codes used here (Part 2 §6.5).
pub mod cc {
    /// `TPM_CC_CreatePrimary`.
    pub const CREATE_PRIMARY: u32 = 0x131;
    /// `TPM_CC_Startup`.
    pub const STARTUP: u32 = 0x144;
    /// `TPM_CC_Create`.
    pub const CREATE: u32 = 0x153;
    /// `TPM_CC_Load`.
    pub const LOAD: u32 = 0x157;
    /// `TPM_CC_Unseal`.
    pub const UNSEAL: u32 = 0x15E;
    /// `TPM_CC_FlushContext`.
    pub const FLUSH_CONTEXT: u32 = 0x165;
    /// `TPM_CC_StartAuthSession`.
    pub const START_AUTH_SESSION: u32 = 0x176;
    /// `TPM_CC_ReadPublic`.
    pub const READ_PUBLIC: u32 = 0x173;
    /// `TPM_CC_GetRandom`.
    pub const GET_RANDOM: u32 = 0x17B;
    /// `TPM_CC_PCR_Read`.
    pub const PCR_READ: u32 = 0x17E;
    /// `TPM_CC_PolicyPCR`.
    pub const POLICY_PCR: u32 = 0x17F;
    /// `TPM_CC_PCR_Extend`.
    pub const PCR_EXTEND: u32 = 0x182;
}

/// TPM 2.0 response codes the client tells apart (Part 2 §6.6), in their base form (see
/// [`rc_base`]).
pub mod rc {
    /// `TPM_RC_INITIALIZE`: TPM2_Startup was already run.
    pub const INITIALIZE: u32 = 0x100;
    /// `TPM_RC_RETRY` (warning).
    pub const RETRY: u32 = 0x922;
    /// `TPM_RC_YIELDED` (warning).
    pub const YIELDED: u32 = 0x908;
    /// `TPM_RC_TESTING` (warning).
    pub const TESTING: u32 = 0x90A;
    /// `TPM_RC_HANDLE` (format 1).
    pub const HANDLE: u32 = 0x08B;
    /// `TPM_RC_AUTH_FAIL` (format 1).
    pub const AUTH_FAIL: u32 = 0x08E;
    /// `TPM_RC_POLICY_FAIL` (format 1).
    pub const POLICY_FAIL: u32 = 0x09D;
    /// `TPM_RC_INTEGRITY` (format 1).
    pub const INTEGRITY: u32 = 0x09F;
    /// `TPM_RC_BAD_AUTH` (format 1).
    pub const BAD_AUTH: u32 = 0x0A2;
}

/// A response code without its handle/session/parameter number: format-1 codes (bit 7 set)
/// keep only `0x80 | error number`.
pub fn rc_base(rc: u32) -> u32 {
    if rc & 0x80 != 0 { 0x80 | (rc & 0x3F) } else { rc }
}

/// `TPM_RH_OWNER`.
pub const RH_OWNER: u32 = 0x4000_0001;
/// `TPM_RH_NULL`.
const RH_NULL: u32 = 0x4000_0007;
/// `TPM_RS_PW`.
const RS_PW: u32 = 0x4000_0009;
/// `TPM_ALG_SHA1`, `TPM_ALG_SHA256`, `TPM_ALG_NULL`, `TPM_ALG_RSA`, `TPM_ALG_KEYEDHASH`,
/// `TPM_ALG_AES`, `TPM_ALG_CFB`.
const ALG_SHA1: u16 = 0x0004;
const ALG_SHA256: u16 = 0x000B;
const ALG_NULL: u16 = 0x0010;
const ALG_RSA: u16 = 0x0001;
const ALG_KEYEDHASH: u16 = 0x0008;
const ALG_AES: u16 = 0x0006;
const ALG_CFB: u16 = 0x0043;
/// `TPM_SE_HMAC`, `TPM_SE_POLICY`.
const SE_HMAC: u8 = 0x00;
const SE_POLICY: u8 = 0x01;
/// `TPM_ALG_XOR`, `TPM_ALG_OAEP`.
const ALG_XOR: u16 = 0x000A;
const ALG_OAEP: u16 = 0x0017;
/// TPMA_OBJECT bits.
const FIXED_TPM: u32 = 1 << 1;
const FIXED_PARENT: u32 = 1 << 4;
const USER_WITH_AUTH: u32 = 1 << 6;
const NO_DA: u32 = 1 << 10;
/// How often a command is resent when the TPM answers RETRY/YIELDED/TESTING.
const RETRIES: usize = 32;
/// The largest `TPM2_GetRandom` request sent (the C manager's cap, `wave2-facts.md` §3.4).
pub const GET_RANDOM_CAP: u32 = 8178;

/// One authorization of a command.
pub enum Auth<'p> {
    /// A password session (`TPM_RS_PW`) with this password.
    Password(&'p [u8]),
    /// An unsalted policy session whose policy needs no HMAC; closed by the TPM when the
    /// command succeeds.
    Policy(u32),
    /// A salted session (HMAC or policy), see [`session`].
    Salted {
        /// The session.
        session: &'p mut SaltedSession,
        /// The name of the entity it authorizes (the command's first handle).
        name: &'p [u8],
        /// That entity's authValue.
        auth_value: &'p [u8],
        /// `TPMA_SESSION` (continueSession, decrypt, encrypt).
        attrs: u8,
        /// A policy session without PolicyAuthValue answers with an empty HMAC.
        empty_hmac_ok: bool,
    },
}

/// The storage key the root is sealed under, as the client knows it.
pub struct Parent {
    /// Its handle (transient primary or `srk_handle`).
    pub handle: u32,
    /// Its password.
    pub password: Zeroizing<Vec<u8>>,
    /// Its name (nameAlg ‖ digest of its public area), from `TPM2_ReadPublic`.
    pub name: Vec<u8>,
    /// Its RSA public key, for salting sessions; `None` for other keys.
    pub key: Option<RsaPublicKey>,
}

/// A checked response: the returned handles and the parameter area.
#[derive(Debug)]
pub struct Reply {
    /// Handles before the parameters.
    pub handles: Vec<u32>,
    /// The parameters (without the session area).
    pub params: Zeroizing<Vec<u8>>,
}

/// The sealed data object as `TPM2_Create` returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedObject {
    /// `TPM2B_PRIVATE` (with its size).
    pub private: Vec<u8>,
    /// `TPM2B_PUBLIC` (with its size).
    pub public: Vec<u8>,
}

impl SealedObject {
    /// `TPM2B_PRIVATE ‖ TPM2B_PUBLIC`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.private.clone();
        v.extend_from_slice(&self.public);
        v
    }
    /// Splits stored bytes back into the two `TPM2B`s; nothing may follow.
    pub fn decode(b: &[u8]) -> Result<Self, HwError> {
        let bad = |_| HwError::BadBlob("TPM 2.0 object truncated");
        let mut r = Reader::new(b, "sealed object");
        let private = r.sized16().map_err(bad)?;
        let public = r.sized16().map_err(bad)?;
        if r.remaining() != 0 || private.is_empty() || public.is_empty() {
            return Err(HwError::BadBlob("TPM 2.0 object malformed"));
        }
        let mut p = Writer::new();
        p.sized16(private);
        let mut q = Writer::new();
        q.sized16(public);
        Ok(Self { private: p.0, public: q.0 })
    }
}

/// `TPML_PCR_SELECTION` with one `TPMS_PCR_SELECTION` for the SHA-1 bank.
fn sha1_selection(w: &mut Writer, mask: PcrMask) {
    w.u32(1).u16(ALG_SHA1).u8(3).bytes(&mask.select_bytes());
}

/// The authPolicy of an object bound by `TPM2_PolicyPCR` to the SHA-1 bank's `values` (one per
/// PCR in `mask`, ascending): `SHA-256(0³² ‖ TPM_CC_PolicyPCR ‖ pcrs ‖ SHA-256(values))`
/// (Part 3 §23.7).
pub fn policy_pcr_digest(mask: PcrMask, values: &[[u8; 20]]) -> [u8; 32] {
    let mut pcr_digest = Sha256::new();
    for v in values {
        pcr_digest.update(v);
    }
    let pcr_digest: [u8; 32] = pcr_digest.finalize().into();
    let mut sel = Writer::new();
    sha1_selection(&mut sel, mask);
    let mut h = Sha256::new();
    h.update([0u8; 32]);
    h.update(cc::POLICY_PCR.to_be_bytes());
    h.update(sel.as_slice());
    h.update(pcr_digest);
    h.finalize().into()
}

/// A TPM 2.0 client over `tpm`, with nonces from `rng`.
pub struct Tpm20<'a, T: HardwareTpm, R: CryptoRng + ?Sized> {
    tpm: &'a mut T,
    rng: &'a mut R,
}

impl<'a, T: HardwareTpm, R: CryptoRng + ?Sized> Tpm20<'a, T, R>
where
    T::Error: core::fmt::Debug,
{
    /// A client.
    pub fn new(tpm: &'a mut T, rng: &'a mut R) -> Self {
        Self { tpm, rng }
    }

    /// Sends one command (`handles`, then the session area if `auths` is not empty, then
    /// `params`) and returns the response code with the parsed reply (`None` when rc ≠ 0).
    /// Salted sessions encrypt the first command parameter (`decrypt`), and have their
    /// response HMAC checked and the first response parameter decrypted (`encrypt`).
    pub fn command(
        &mut self,
        name: &'static str,
        code: u32,
        handles: &[u32],
        auths: &mut [Auth<'_>],
        params: &[u8],
        out_handles: usize,
    ) -> Result<(u32, Option<Reply>), HwError> {
        let mut params = Zeroizing::new(params.to_vec());
        let mut nonces = Vec::new();
        for a in auths.iter() {
            let mut nonce = [0u8; 32];
            self.rng.fill_bytes(&mut nonce);
            if let Auth::Salted { session, auth_value, attrs, .. } = a
                && attrs & session::DECRYPT != 0
            {
                session.encrypt_command(&mut params, auth_value, &nonce, name)?;
            }
            nonces.push(nonce);
        }
        let mut body = Writer::new();
        for h in handles {
            body.u32(*h);
        }
        if !auths.is_empty() {
            let mut area = Writer::new();
            for (a, nonce) in auths.iter().zip(nonces.iter()) {
                match a {
                    Auth::Password(pw) => area.u32(RS_PW).u16(0).u8(1).sized16(pw),
                    Auth::Policy(h) => area.u32(*h).sized16(nonce).u8(0).u16(0),
                    Auth::Salted { session, name: entity, auth_value, attrs, .. } => {
                        area.bytes(&session.command_area(code, entity, &params, auth_value, *attrs, nonce))
                    }
                };
            }
            body.sized32(area.as_slice());
        }
        body.bytes(&params);
        let tag = if auths.is_empty() { TPM_ST_NO_SESSIONS } else { TPM_ST_SESSIONS };
        let frame = Zeroizing::new(tpm_frame::command(tag, code, body.as_slice()));
        let mut r = transact(self.tpm, Family::Tpm20, name, &frame)?;
        // TPM_RC_RETRY / TPM_RC_YIELDED / TPM_RC_TESTING: the TPM asks for the same command again
        // (Part 2 §6.6.3); bounded.
        for _ in 0..RETRIES {
            if !matches!(r.rc, rc::RETRY | rc::YIELDED | rc::TESTING) {
                break;
            }
            r = transact(self.tpm, Family::Tpm20, name, &frame)?;
        }
        if r.rc != 0 {
            return Ok((r.rc, None));
        }
        if r.tag != tag {
            return Err(HwError::Malformed { command: name, what: "response tag does not match the request's" });
        }
        let body = Zeroizing::new(r.body);
        let mut rd = Reader::new(&body, name);
        let mut hs = Vec::new();
        for _ in 0..out_handles {
            hs.push(rd.u32()?);
        }
        if auths.is_empty() {
            let p = rd.bytes(rd.remaining())?;
            return Ok((0, Some(Reply { handles: hs, params: Zeroizing::new(p.to_vec()) })));
        }
        let mut out = Zeroizing::new(rd.sized32()?.to_vec());
        // the session area: one (nonce, attributes, hmac) per session
        for (a, nonce) in auths.iter_mut().zip(nonces.iter()) {
            let from = rd.position();
            rd.sized16()?;
            rd.u8()?;
            rd.sized16()?;
            let entry = body.get(from..rd.position()).unwrap_or_default();
            if let Auth::Salted { session, auth_value, empty_hmac_ok, .. } = a {
                session.finish_response(code, &mut out, entry, auth_value, nonce, *empty_hmac_ok, name)?;
            }
        }
        if rd.remaining() != 0 {
            return Err(HwError::Malformed { command: name, what: "trailing bytes after the sessions" });
        }
        Ok((0, Some(Reply { handles: hs, params: out })))
    }

    /// [`Self::command`] that must succeed.
    fn ok(
        &mut self,
        name: &'static str,
        code: u32,
        handles: &[u32],
        auths: &mut [Auth<'_>],
        params: &[u8],
        out_handles: usize,
    ) -> Result<Reply, HwError> {
        match self.command(name, code, handles, auths, params, out_handles)? {
            (_, Some(r)) => Ok(r),
            (rc, None) => Err(HwError::Tpm { command: name, rc }),
        }
    }

    /// `TPM2_Startup(SU_CLEAR)`; already started is fine.
    pub fn startup(&mut self) -> Result<(), HwError> {
        match self.command("TPM2_Startup", cc::STARTUP, &[], &mut [], &[0, 0], 0)?.0 {
            0 | rc::INITIALIZE => Ok(()),
            rc => Err(HwError::Tpm { command: "TPM2_Startup", rc }),
        }
    }

    /// `TPM2_FlushContext(handle)`.
    pub fn flush(&mut self, handle: u32) -> Result<(), HwError> {
        self.ok("TPM2_FlushContext", cc::FLUSH_CONTEXT, &[], &mut [], &handle.to_be_bytes(), 0).map(|_| ())
    }

    /// `TPM2_CreatePrimary` of the RSA-2048 storage key under the owner hierarchy (password
    /// `owner_pw`): its transient handle.
    pub fn create_primary(&mut self, owner_pw: &[u8]) -> Result<u32, HwError> {
        let mut p = Writer::new();
        p.u16(4).u16(0).u16(0); // inSensitive: empty userAuth, empty data
        let mut public = Writer::new();
        // fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | decrypt
        public.u16(ALG_RSA).u16(ALG_SHA256).u32(0x0003_0072).u16(0);
        public.u16(ALG_AES).u16(128).u16(ALG_CFB).u16(ALG_NULL).u16(2048).u32(0).u16(0);
        p.sized16(public.as_slice()).u16(0).u32(0);
        let (rc, r) = self.command(
            "TPM2_CreatePrimary",
            cc::CREATE_PRIMARY,
            &[RH_OWNER],
            &mut [Auth::Password(owner_pw)],
            p.as_slice(),
            1,
        )?;
        match (rc_base(rc), r) {
            (_, Some(r)) => r
                .handles
                .first()
                .copied()
                .ok_or(HwError::Malformed { command: "TPM2_CreatePrimary", what: "no handle" }),
            (rc::AUTH_FAIL | rc::BAD_AUTH, None) => Err(HwError::WrongOwnerAuth),
            (_, None) => Err(HwError::Tpm { command: "TPM2_CreatePrimary", rc }),
        }
    }

    /// `TPM2_ReadPublic(handle)`: the key's name, and its RSA public key when it is an RSA
    /// key whose salt encryption we can do (OAEP with SHA-256: nameAlg SHA-256, scheme NULL or
    /// OAEP-SHA-256).
    pub fn read_public(&mut self, handle: u32) -> Result<(Option<RsaPublicKey>, Vec<u8>), HwError> {
        const C: &str = "TPM2_ReadPublic";
        let r = self.ok(C, cc::READ_PUBLIC, &[handle], &mut [], &[], 0)?;
        let mut rd = Reader::new(&r.params, C);
        let public = rd.sized16()?;
        let name = rd.sized16()?.to_vec();
        let _qualified = rd.sized16()?;
        if rd.remaining() != 0 || name.is_empty() {
            return Err(HwError::Malformed { command: C, what: "trailing bytes or empty name" });
        }
        let mut p = Reader::new(public, C);
        let ty = p.u16()?;
        let name_alg = p.u16()?;
        let _attrs = p.u32()?;
        let _policy = p.sized16()?;
        if ty != ALG_RSA {
            return Ok((None, name));
        }
        if p.u16()? != ALG_NULL {
            p.u16()?;
            p.u16()?;
        }
        let scheme = p.u16()?;
        let scheme_hash = if scheme != ALG_NULL { Some(p.u16()?) } else { None };
        let _bits = p.u16()?;
        let exponent = p.u32()?;
        let modulus = p.sized16()?;
        let usable =
            name_alg == ALG_SHA256 && (scheme == ALG_NULL || (scheme == ALG_OAEP && scheme_hash == Some(ALG_SHA256)));
        if !usable || !(128..=512).contains(&modulus.len()) {
            return Ok((None, name));
        }
        let e = if exponent == 0 { 65537 } else { u64::from(exponent) };
        let bits = u32::try_from(modulus.len() * 8).unwrap_or(0);
        let n =
            BoxedUint::from_be_slice(modulus, bits).map_err(|_| HwError::Malformed { command: C, what: "modulus" })?;
        let key = RsaPublicKey::new(n, BoxedUint::from(e))
            .map_err(|_| HwError::Malformed { command: C, what: "not a valid RSA public key" })?;
        Ok((Some(key), name))
    }

    /// The parent at `handle` with `password`: its name and public key read from the TPM.
    pub fn parent(&mut self, handle: u32, password: &[u8]) -> Result<Parent, HwError> {
        let (key, name) = self.read_public(handle)?;
        Ok(Parent { handle, password: Zeroizing::new(password.to_vec()), name, key })
    }

    /// `TPM2_StartAuthSession` of `session_type` (HMAC or POLICY), SHA-256, salted to the
    /// parent's key, XOR parameter encryption. `None` when the parent has no usable RSA key.
    fn salted_session(&mut self, parent: &Parent, session_type: u8) -> Result<Option<SaltedSession>, HwError> {
        let Some(key) = &parent.key else { return Ok(None) };
        let offer = SaltOffer::new(self.rng, key)?;
        let mut p = Writer::new();
        p.sized16(&offer.nonce_caller).sized16(&offer.encrypted_salt).u8(session_type);
        p.u16(ALG_XOR).u16(ALG_SHA256).u16(ALG_SHA256);
        const C: &str = "TPM2_StartAuthSession";
        let r = self.ok(C, cc::START_AUTH_SESSION, &[parent.handle, RH_NULL], &mut [], p.as_slice(), 1)?;
        let h = *r.handles.first().ok_or(HwError::Malformed { command: C, what: "no handle" })?;
        let mut rd = Reader::new(&r.params, C);
        let nonce_tpm = rd.sized16()?;
        if rd.remaining() != 0 || nonce_tpm.len() < 16 {
            let _ = self.flush(h);
            return Err(HwError::Malformed { command: C, what: "bad nonceTPM" });
        }
        Ok(Some(SaltedSession::start(h, nonce_tpm, &offer)))
    }

    /// `TPM2_Create` of a sealed data object holding `secret` under `parent`, bound to
    /// `policy` if given. The secret travels encrypted (salted session, `decrypt`) when the
    /// parent is an RSA key.
    pub fn create_sealed(
        &mut self,
        parent: &Parent,
        secret: &[u8],
        policy: Option<[u8; 32]>,
    ) -> Result<SealedObject, HwError> {
        let mut sens = Writer::new();
        sens.u16(0).sized16(secret);
        let mut public = Writer::new();
        let attrs = FIXED_TPM | FIXED_PARENT | NO_DA | if policy.is_some() { 0 } else { USER_WITH_AUTH };
        public.u16(ALG_KEYEDHASH).u16(ALG_SHA256).u32(attrs).sized16(policy.as_ref().map_or(&[][..], |p| &p[..]));
        public.u16(ALG_NULL).u16(0);
        let mut p = Writer::new();
        p.sized16(sens.as_slice()).sized16(public.as_slice()).u16(0).u32(0);
        let p = Zeroizing::new(p.0);
        let mut session = self.salted_session(parent, SE_HMAC)?;
        let res = match session.as_mut() {
            Some(s) => {
                let auth = Auth::Salted {
                    session: s,
                    name: &parent.name,
                    auth_value: &parent.password,
                    attrs: session::DECRYPT,
                    empty_hmac_ok: false,
                };
                self.command("TPM2_Create", cc::CREATE, &[parent.handle], &mut [auth], &p, 0)
            }
            None => self.command(
                "TPM2_Create",
                cc::CREATE,
                &[parent.handle],
                &mut [Auth::Password(&parent.password)],
                &p,
                0,
            ),
        };
        let r = match res {
            Ok((_, Some(r))) => r,
            other => {
                if let Some(s) = &session {
                    let _ = self.flush(s.handle);
                }
                let (rc, _) = other?;
                return Err(match rc_base(rc) {
                    rc::AUTH_FAIL | rc::BAD_AUTH => HwError::WrongSrkAuth,
                    _ => HwError::Tpm { command: "TPM2_Create", rc },
                });
            }
        };
        let mut rd = Reader::new(&r.params, "TPM2_Create");
        let private = rd.sized16()?;
        let public = rd.sized16()?;
        if private.is_empty() || public.is_empty() {
            return Err(HwError::Malformed { command: "TPM2_Create", what: "empty object" });
        }
        let (mut a, mut b) = (Writer::new(), Writer::new());
        a.sized16(private);
        b.sized16(public);
        Ok(SealedObject { private: a.0, public: b.0 })
    }

    /// `TPM2_Load` of `obj` under `parent`: its transient handle and name.
    pub fn load(&mut self, parent: &Parent, obj: &SealedObject) -> Result<(u32, Vec<u8>), HwError> {
        let mut p = Writer::new();
        p.bytes(&obj.private).bytes(&obj.public);
        let (rc, r) = self.command(
            "TPM2_Load",
            cc::LOAD,
            &[parent.handle],
            &mut [Auth::Password(&parent.password)],
            p.as_slice(),
            1,
        )?;
        match (rc_base(rc), r) {
            (_, Some(r)) => {
                let h =
                    r.handles.first().copied().ok_or(HwError::Malformed { command: "TPM2_Load", what: "no handle" })?;
                let mut rd = Reader::new(&r.params, "TPM2_Load");
                let name = rd.sized16()?.to_vec();
                if rd.remaining() != 0 || name.is_empty() {
                    let _ = self.flush(h);
                    return Err(HwError::Malformed { command: "TPM2_Load", what: "bad name" });
                }
                Ok((h, name))
            }
            (rc::AUTH_FAIL | rc::BAD_AUTH, None) => Err(HwError::WrongSrkAuth),
            // another parent (the owner seed changed, another TPM) or a corrupt blob
            (_, None) => Err(HwError::DoesNotUnseal { rc }),
        }
    }

    /// `TPM2_Unseal` of the loaded object `item` (named `item_name`, empty authValue); with
    /// `pcrs`, through a policy session satisfied by `TPM2_PolicyPCR` over the SHA-1 bank's
    /// current values. The session is salted to `parent` and the secret comes back encrypted
    /// (`encrypt`) when the parent is an RSA key; otherwise a password or unsalted policy
    /// session is used.
    pub fn unseal(
        &mut self,
        item: u32,
        item_name: &[u8],
        parent: &Parent,
        pcrs: Option<PcrMask>,
    ) -> Result<Zeroizing<Vec<u8>>, HwError> {
        let ty = if pcrs.is_some() { SE_POLICY } else { SE_HMAC };
        let mut salted = self.salted_session(parent, ty)?;
        let mut plain_policy = None;
        if let Some(mask) = pcrs {
            let h = match &salted {
                Some(s) => s.handle,
                None => {
                    let h = self.unsalted_policy_session()?;
                    plain_policy = Some(h);
                    h
                }
            };
            if let Err(e) = self.policy_pcr(h, mask) {
                let _ = self.flush(h);
                return Err(e);
            }
        }
        let session_handle = salted.as_ref().map(|s| s.handle).or(plain_policy);
        let res = match (salted.as_mut(), plain_policy) {
            (Some(s), _) => {
                let auth = Auth::Salted {
                    session: s,
                    name: item_name,
                    auth_value: &[],
                    attrs: session::ENCRYPT,
                    empty_hmac_ok: pcrs.is_some(),
                };
                self.command("TPM2_Unseal", cc::UNSEAL, &[item], &mut [auth], &[], 0)
            }
            (None, Some(h)) => self.command("TPM2_Unseal", cc::UNSEAL, &[item], &mut [Auth::Policy(h)], &[], 0),
            (None, None) => self.command("TPM2_Unseal", cc::UNSEAL, &[item], &mut [Auth::Password(&[])], &[], 0),
        };
        let r = match res {
            Ok((_, Some(r))) => r,
            other => {
                if let Some(h) = session_handle {
                    let _ = self.flush(h);
                }
                let (rc, _) = other?;
                return Err(match rc_base(rc) {
                    rc::POLICY_FAIL => HwError::PcrMismatch { rc },
                    rc::AUTH_FAIL | rc::BAD_AUTH => HwError::WrongSrkAuth,
                    _ => HwError::DoesNotUnseal { rc },
                });
            }
        };
        let mut rd = Reader::new(&r.params, "TPM2_Unseal");
        let data = Zeroizing::new(rd.sized16()?.to_vec());
        if rd.remaining() != 0 {
            return Err(HwError::Malformed { command: "TPM2_Unseal", what: "trailing bytes" });
        }
        Ok(data)
    }

    /// `TPM2_StartAuthSession(TPM_SE_POLICY, SHA-256)`, unsalted and unbound.
    fn unsalted_policy_session(&mut self) -> Result<u32, HwError> {
        let mut nonce = [0u8; 32];
        self.rng.fill_bytes(&mut nonce);
        let mut p = Writer::new();
        p.sized16(&nonce).u16(0).u8(SE_POLICY).u16(ALG_NULL).u16(ALG_SHA256);
        let r =
            self.ok("TPM2_StartAuthSession", cc::START_AUTH_SESSION, &[RH_NULL, RH_NULL], &mut [], p.as_slice(), 1)?;
        r.handles.first().copied().ok_or(HwError::Malformed { command: "TPM2_StartAuthSession", what: "no handle" })
    }

    /// `TPM2_PolicyPCR(session, mask)` over the SHA-1 bank, the TPM computing the digest.
    fn policy_pcr(&mut self, session: u32, mask: PcrMask) -> Result<(), HwError> {
        let mut p = Writer::new();
        p.u16(0);
        sha1_selection(&mut p, mask);
        self.ok("TPM2_PolicyPCR", cc::POLICY_PCR, &[session], &mut [], p.as_slice(), 0).map(|_| ())
    }

    /// `TPM2_GetRandom(min(n, 8178))`: the bytes the TPM returned (often fewer than asked).
    pub fn get_random(&mut self, n: u32) -> Result<Vec<u8>, HwError> {
        let want = u16::try_from(n.min(GET_RANDOM_CAP)).unwrap_or(u16::MAX);
        let r = self.ok("TPM2_GetRandom", cc::GET_RANDOM, &[], &mut [], &want.to_be_bytes(), 0)?;
        let mut rd = Reader::new(&r.params, "TPM2_GetRandom");
        let b = rd.sized16()?;
        if b.len() > usize::from(want) || rd.remaining() != 0 {
            return Err(HwError::Malformed { command: "TPM2_GetRandom", what: "more bytes than asked for" });
        }
        Ok(b.to_vec())
    }

    /// `TPM2_PCR_Read` of PCR `index` (0–23) in the SHA-1 bank.
    pub fn pcr_read_sha1(&mut self, index: u32) -> Result<[u8; 20], HwError> {
        if index >= 24 {
            return Err(HwError::Config(alloc::format!("PCR {index} is not 0-23")));
        }
        let mask = PcrMask(1 << index);
        let mut p = Writer::new();
        sha1_selection(&mut p, mask);
        let r = self.ok("TPM2_PCR_Read", cc::PCR_READ, &[], &mut [], p.as_slice(), 0)?;
        let mut rd = Reader::new(&r.params, "TPM2_PCR_Read");
        let _update_counter = rd.u32()?;
        let nsel = rd.u32()?;
        let mut selected = false;
        for _ in 0..nsel {
            let alg = rd.u16()?;
            let size = rd.u8()?;
            let bits = rd.bytes(usize::from(size))?;
            let byte = bits.get((index / 8) as usize).copied().unwrap_or(0);
            if alg == ALG_SHA1 && byte & (1 << (index % 8)) != 0 {
                selected = true;
            }
        }
        let ndig = rd.u32()?;
        if !selected || ndig == 0 {
            return Err(HwError::NoSha1Bank);
        }
        if ndig != 1 {
            return Err(HwError::Malformed { command: "TPM2_PCR_Read", what: "more digests than PCRs asked for" });
        }
        let d = rd.sized16()?;
        if rd.remaining() != 0 {
            return Err(HwError::Malformed { command: "TPM2_PCR_Read", what: "trailing bytes" });
        }
        d.try_into().map_err(|_| HwError::Malformed { command: "TPM2_PCR_Read", what: "not a 20-byte digest" })
    }

    /// `TPM2_PCR_Extend` of PCR `index` in the SHA-1 bank (empty PCR password).
    pub fn pcr_extend_sha1(&mut self, index: u32, digest: &[u8; 20]) -> Result<(), HwError> {
        let mut p = Writer::new();
        p.u32(1).u16(ALG_SHA1).bytes(digest);
        self.ok("TPM2_PCR_Extend", cc::PCR_EXTEND, &[index], &mut [Auth::Password(&[])], p.as_slice(), 0).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hwtpm::testing::{Scripted, ZeroRng};

    /// A parent without an RSA key: password sessions.
    fn keyless() -> Parent {
        Parent { handle: 0x8000_0000, password: Zeroizing::new(Vec::new()), name: alloc::vec![0, 0xB], key: None }
    }

    fn resp(tag: u16, rc: u32, body: &[u8]) -> Vec<u8> {
        tpm_frame::command(tag, rc, body)
    }

    #[test]
    fn rc_bases() {
        assert_eq!(rc_base(0x98E), rc::AUTH_FAIL); // session 1
        assert_eq!(rc_base(0x9A2), rc::BAD_AUTH);
        assert_eq!(rc_base(0x99D), rc::POLICY_FAIL); // what libtpms answers a failed PolicyPCR unseal
        assert_eq!(rc_base(0x1DF), rc::INTEGRITY); // parameter 1
        assert_eq!(rc_base(0x100), rc::INITIALIZE);
    }

    #[test]
    fn create_primary_bytes_match_the_c_manager() {
        // wave2-facts §1.3: 67 bytes
        // handle, parameterSize 0, one session: empty nonce, continueSession, empty hmac
        let r = resp(TPM_ST_SESSIONS, 0, &[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
        let mut t = Scripted::new(Family::Tpm20, &[&r]);
        let h = Tpm20::new(&mut t, &mut ZeroRng).create_primary(&[]).unwrap();
        assert_eq!(h, 0x8000_0000);
        let want: &[u8] = &[
            0x80, 0x02, 0, 0, 0, 0x43, 0, 0, 0x01, 0x31, 0x40, 0, 0, 1, 0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 1, 0, 0, 0, 4,
            0, 0, 0, 0, 0, 0x1A, 0, 1, 0, 0x0B, 0, 3, 0, 0x72, 0, 0, 0, 6, 0, 0x80, 0, 0x43, 0, 0x10, 8, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(t.sent[0], want);
    }

    #[test]
    fn getrandom_and_pcr_read_bytes() {
        let r = resp(TPM_ST_NO_SESSIONS, 0, &[0, 2, 7, 8]);
        let mut t = Scripted::new(Family::Tpm20, &[&r]);
        assert_eq!(Tpm20::new(&mut t, &mut ZeroRng).get_random(100_000).unwrap(), [7, 8]);
        // capped at 8178 = 0x1FF2
        assert_eq!(t.sent[0], [0x80, 1, 0, 0, 0, 0x0C, 0, 0, 1, 0x7B, 0x1F, 0xF2]);
        let mut body = alloc::vec![0, 0, 0, 5, 0, 0, 0, 1, 0, 4, 3, 0, 0, 1, 0, 0, 0, 1, 0, 20];
        body.extend_from_slice(&[0xAB; 20]);
        let r = resp(TPM_ST_NO_SESSIONS, 0, &body);
        let mut t = Scripted::new(Family::Tpm20, &[&r]);
        assert_eq!(Tpm20::new(&mut t, &mut ZeroRng).pcr_read_sha1(16).unwrap(), [0xAB; 20]);
        // the C manager's bytes (§1.3): count 1, SHA-1, 3 select bytes, one bit
        assert_eq!(t.sent[0], [0x80, 1, 0, 0, 0, 0x14, 0, 0, 1, 0x7E, 0, 0, 0, 1, 0, 4, 3, 0, 0, 1]);
    }

    #[test]
    fn malformed_answers_are_errors() {
        // no SHA-1 bank: empty selection, no digests
        let r = resp(TPM_ST_NO_SESSIONS, 0, &[0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut t = Scripted::new(Family::Tpm20, &[&r]);
        assert_eq!(Tpm20::new(&mut t, &mut ZeroRng).pcr_read_sha1(0), Err(HwError::NoSha1Bank));
        // digest of 19 bytes
        let mut body = alloc::vec![0, 0, 0, 5, 0, 0, 0, 1, 0, 4, 3, 1, 0, 0, 0, 0, 0, 1, 0, 19];
        body.extend_from_slice(&[0; 19]);
        let r = resp(TPM_ST_NO_SESSIONS, 0, &body);
        let mut t = Scripted::new(Family::Tpm20, &[&r]);
        assert!(matches!(Tpm20::new(&mut t, &mut ZeroRng).pcr_read_sha1(0), Err(HwError::Malformed { .. })));
        // GetRandom: TPM2B longer than the frame; more than asked
        let r = resp(TPM_ST_NO_SESSIONS, 0, &[0, 9, 1]);
        let mut t = Scripted::new(Family::Tpm20, &[&r]);
        assert!(matches!(Tpm20::new(&mut t, &mut ZeroRng).get_random(9), Err(HwError::Malformed { .. })));
        let r = resp(TPM_ST_NO_SESSIONS, 0, &[0, 2, 1, 2]);
        let mut t = Scripted::new(Family::Tpm20, &[&r]);
        assert!(matches!(Tpm20::new(&mut t, &mut ZeroRng).get_random(1), Err(HwError::Malformed { .. })));
        // a TPM 1.2 answering a TPM 2.0 command
        let r = tpm_frame::error_response(30);
        let mut t = Scripted::new(Family::Tpm20, &[&r]);
        assert_eq!(
            Tpm20::new(&mut t, &mut ZeroRng).startup(),
            Err(HwError::WrongFamily { expected: Family::Tpm20, tag: 0x00C4 })
        );
        // CreatePrimary: a session response without the parameterSize
        let r = resp(TPM_ST_SESSIONS, 0, &[0x80, 0, 0, 0, 0, 0]);
        let mut t = Scripted::new(Family::Tpm20, &[&r]);
        assert!(matches!(Tpm20::new(&mut t, &mut ZeroRng).create_primary(&[]), Err(HwError::Malformed { .. })));
        // wrong owner password
        let r = resp(TPM_ST_NO_SESSIONS, 0x9A2, &[]);
        let mut t = Scripted::new(Family::Tpm20, &[&r]);
        assert_eq!(Tpm20::new(&mut t, &mut ZeroRng).create_primary(b"x"), Err(HwError::WrongOwnerAuth));
        // Unseal with trailing bytes after its session area
        let r = resp(TPM_ST_SESSIONS, 0, &[0, 0, 0, 3, 0, 1, 5, 0, 0, 1, 0, 0, 9]);
        let mut t = Scripted::new(Family::Tpm20, &[&r]);
        assert!(matches!(
            Tpm20::new(&mut t, &mut ZeroRng).unseal(0x8000_0001, &[0, 4], &keyless(), None),
            Err(HwError::Malformed { .. })
        ));
        let r = resp(TPM_ST_SESSIONS, 0, &[0, 0, 0, 3, 0, 1, 5, 0, 0, 1, 0, 0]);
        let mut t = Scripted::new(Family::Tpm20, &[&r]);
        assert_eq!(*Tpm20::new(&mut t, &mut ZeroRng).unseal(0x8000_0001, &[0, 4], &keyless(), None).unwrap(), [5]);
    }

    #[test]
    fn sealed_object_codec() {
        let o = SealedObject { private: alloc::vec![0, 2, 1, 2], public: alloc::vec![0, 1, 9] };
        assert_eq!(SealedObject::decode(&o.encode()).unwrap(), o);
        assert!(SealedObject::decode(&[0, 2, 1]).is_err());
        assert!(SealedObject::decode(&[0, 0, 0, 0]).is_err());
        assert!(SealedObject::decode(&[0, 1, 1, 0, 1, 1, 0]).is_err());
    }
}
