//! The authorization area of a command (Part 1 §18.6, §19; Part 3 §5.4): parsing the
//! sessions behind `authorizationSize`, checking them against the command's authorization
//! handles — password sessions (TPM_RS_PW), HMAC sessions and policy sessions — and the
//! response's session area (new nonceTPM, the response HMAC, continueSession).
//!
//! The command HMAC is `HMAC_authHash(sessionKey ‖ authValue, cpHash ‖ nonceCaller ‖
//! nonceTPM ‖ sessionAttributes)` with `cpHash = H_authHash(commandCode ‖ the handles'
//! Names ‖ parameters)`; the response HMAC is `HMAC(sessionKey ‖ authValue, rpHash ‖
//! nonceTPM' ‖ nonceCaller ‖ sessionAttributes)` with `rpHash = H(TPM_RC_SUCCESS ‖
//! commandCode ‖ parameters)`. The authValue is left out of the key for the entity a
//! session is bound to, and for a policy session unless TPM2_PolicyAuthValue was run.
//!
//! Parameter encryption (Part 1 §21.3, CFB mode): a session started with AES-CFB may carry
//! decrypt (the command's first parameter, a sized buffer, arrives encrypted) and encrypt
//! (the response's first parameter leaves encrypted), also when it authorizes nothing. The
//! key and IV are `KDFa(authHash, sessionKey ‖ authValue-if-in-the-HMAC, "CFB", nonceNewer,
//! nonceOlder, keyBits + 128)`, nonceNewer being nonceCaller for the command and the new
//! nonceTPM for the response; cpHash and rpHash cover the encrypted bytes. Audit sessions
//! and XOR obfuscation are not implemented (`TPM_RC_ATTRIBUTES`, `TPM_RC_SYMMETRIC`).

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::constants::{MAX_DIGEST, MAX_SESSIONS, ht, rh, session_attr};
use crate::crypto::{HashAlg, ct_eq};
use crate::rc::{At, Rc};
use crate::tpm::Tpm;

/// An HMAC or policy session (Part 1 §19), made by TPM2_StartAuthSession.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// A policy session (TPM_SE_POLICY or TPM_SE_TRIAL); else an HMAC session.
    pub policy: bool,
    /// A trial policy session: it computes a digest, it authorizes nothing.
    pub trial: bool,
    /// authHash.
    pub hash: HashAlg,
    /// sessionKey (empty for an unbound, unsalted session).
    pub key: Zeroizing<Vec<u8>>,
    /// nonceTPM (the last one the TPM sent).
    pub nonce_tpm: Vec<u8>,
    /// The Name of the entity the session is bound to.
    pub bind: Option<Vec<u8>>,
    /// policyDigest.
    pub policy_digest: Vec<u8>,
    /// TPM2_PolicyAuthValue ran: the HMAC includes the authValue.
    pub auth_value_needed: bool,
    /// TPM2_PolicyPassword ran: the hmac field is the authValue.
    pub password_needed: bool,
    /// TPM2_PolicyCommandCode's code.
    pub command_code: Option<u32>,
    /// pcrUpdateCounter when TPM2_PolicyPCR ran.
    pub pcr_counter: Option<u32>,
    /// Parameter encryption: AES-CFB with these key bits, or none.
    pub sym: Option<u16>,
}

impl Session {
    /// Back to the state of a new session (TPM2_PolicyRestart, or after an authorization).
    pub fn reset_policy(&mut self) {
        self.policy_digest = alloc::vec![0; self.hash.size()];
        self.auth_value_needed = false;
        self.password_needed = false;
        self.command_code = None;
        self.pcr_counter = None;
    }

    /// The marshaled session (for its saved context).
    pub fn marshal(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        let flags = u8::from(self.policy)
            | u8::from(self.trial) << 1
            | u8::from(self.auth_value_needed) << 2
            | u8::from(self.password_needed) << 3
            | u8::from(self.bind.is_some()) << 4
            | u8::from(self.command_code.is_some()) << 5
            | u8::from(self.pcr_counter.is_some()) << 6;
        w.u8(flags).u16(self.hash.alg()).tpm2b(&self.key).tpm2b(&self.nonce_tpm);
        w.tpm2b(self.bind.as_deref().unwrap_or(&[])).tpm2b(&self.policy_digest);
        w.u32(self.command_code.unwrap_or(0)).u32(self.pcr_counter.unwrap_or(0)).u16(self.sym.unwrap_or(0));
        Zeroizing::new(w.0)
    }

    /// Unmarshals [`Session::marshal`]'s bytes.
    pub fn read(bytes: &[u8]) -> Result<Self, Rc> {
        let mut r = Reader::new(bytes);
        let flags = r.u8()?;
        let hash = HashAlg::from_alg(r.u16()?).ok_or(Rc::HASH)?;
        let key = Zeroizing::new(r.tpm2b(2 * MAX_DIGEST)?.to_vec());
        let nonce_tpm = r.tpm2b(MAX_DIGEST)?.to_vec();
        let bind = r.tpm2b(2 + MAX_DIGEST)?.to_vec();
        let policy_digest = r.tpm2b(MAX_DIGEST)?.to_vec();
        let cc = r.u32()?;
        let pcr = r.u32()?;
        let sym = r.u16()?;
        if r.remaining() != 0 || !matches!(sym, 0 | 128 | 256) {
            return Err(Rc::SIZE);
        }
        Ok(Self {
            policy: flags & 1 != 0,
            trial: flags & 2 != 0,
            hash,
            key,
            nonce_tpm,
            bind: (flags & 0x10 != 0).then_some(bind),
            policy_digest,
            auth_value_needed: flags & 4 != 0,
            password_needed: flags & 8 != 0,
            command_code: (flags & 0x20 != 0).then_some(cc),
            pcr_counter: (flags & 0x40 != 0).then_some(pcr),
            sym: (sym != 0).then_some(sym),
        })
    }
}

/// One session of the command's authorization area (`TPMS_AUTH_COMMAND`).
#[derive(Clone, Debug)]
pub struct AuthCommand<'a> {
    /// sessionHandle.
    pub handle: u32,
    /// nonceCaller.
    pub nonce: &'a [u8],
    /// sessionAttributes.
    pub attributes: u8,
    /// hmac (for a password session: the password).
    pub hmac: &'a [u8],
}

/// What a session authorizes: one of the command's authorization handles.
pub struct AuthEntity {
    /// The handle.
    pub handle: u32,
    /// Its authValue (without trailing zeros).
    pub auth: Zeroizing<Vec<u8>>,
    /// Its Name.
    pub name: Vec<u8>,
    /// Its authPolicy (empty: none).
    pub policy: Vec<u8>,
    /// The role may use the authValue (objects, USER: userWithAuth; ADMIN: not
    /// adminWithPolicy; others: always).
    pub user_with_auth: bool,
    /// A policy session may authorize it (NV indices: POLICYREAD / POLICYWRITE).
    pub policy_allowed: bool,
    /// The ADMIN role: a policy session must name the command (PolicyCommandCode).
    pub admin: bool,
}

/// The smallest session: handle, empty nonce, attributes, empty hmac.
const MIN_SESSION: u32 = 4 + 2 + 1 + 2;

/// Splits the authorization area off `params` (the command after its handles); returns
/// the sessions and leaves `params` on the parameters.
pub fn parse<'a>(params: &mut Reader<'a>) -> Result<Vec<AuthCommand<'a>>, Rc> {
    let size = params.u32().map_err(|_| Rc::AUTHSIZE)?;
    if size < MIN_SESSION {
        // smaller than one session: as the reference, TPM_RC_SIZE
        return Err(Rc::SIZE);
    }
    if size as usize > params.remaining() {
        return Err(Rc::AUTHSIZE);
    }
    let mut area = Reader::new(params.bytes(size as usize).map_err(|_| Rc::AUTHSIZE)?);
    let mut sessions = Vec::new();
    while area.remaining() > 0 {
        let n = sessions.len() as u32 + 1;
        if sessions.len() == MAX_SESSIONS {
            return Err(Rc::AUTHSIZE);
        }
        let handle = area.u32().map_err(|_| Rc::AUTHSIZE)?;
        let nonce = area.tpm2b(MAX_DIGEST).map_err(|e| if e == Rc::SIZE { e } else { Rc::AUTHSIZE }).s(n)?;
        let attributes = area.u8().map_err(|_| Rc::AUTHSIZE)?;
        let hmac = area.tpm2b(MAX_DIGEST).map_err(|e| if e == Rc::SIZE { e } else { Rc::AUTHSIZE }).s(n)?;
        sessions.push(AuthCommand { handle, nonce, attributes, hmac });
    }
    Ok(sessions)
}

/// What the response of one session needs: its HMAC key (`None`: no HMAC, a password
/// session or PolicyPassword), whether it is an HMAC/policy session, and its parameter
/// encryption (key material, AES key bits, the nonces of the command).
pub struct Pending {
    key: Option<Zeroizing<Vec<u8>>>,
    loaded: bool,
    enc_key: Zeroizing<Vec<u8>>,
    sym: Option<u16>,
    hash: HashAlg,
    nonce_tpm: Vec<u8>,
}

impl Pending {
    fn password() -> Self {
        Self {
            key: None,
            loaded: false,
            enc_key: Zeroizing::new(Vec::new()),
            sym: None,
            hash: HashAlg::Sha256,
            nonce_tpm: Vec::new(),
        }
    }
}

/// AES-CFB over `data` with the key and IV of `KDFa(hash, key, "CFB", newer, older)`.
fn crypt(hash: HashAlg, key: &[u8], bits: u16, newer: &[u8], older: &[u8], data: &mut [u8], encrypt: bool) {
    let k = crate::crypto::kdf::kdfa(hash, key, b"CFB", newer, older, u32::from(bits) + 128);
    let n = usize::from(bits / 8);
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&k[n..n + 16]);
    // the key size comes from a checked session (128 or 256 bits)
    let _ = if encrypt {
        crate::crypto::cfb::encrypt(&k[..n], &iv, data)
    } else {
        crate::crypto::cfb::decrypt(&k[..n], &iv, data)
    };
}

/// The data bytes of the first sized buffer of `params`, if it holds one.
fn first_buffer(params: &mut [u8]) -> Option<&mut [u8]> {
    let n = usize::from(u16::from_be_bytes([*params.first()?, *params.get(1)?]));
    params.get_mut(2..2 + n)
}

/// Decrypts the command's first parameter for the session with decrypt SET, if any;
/// `TPM_RC_SIZE` if the parameter area does not start with a whole sized buffer.
pub fn decrypt_params(sessions: &[AuthCommand<'_>], pending: &[Pending], params: &mut [u8]) -> Result<(), Rc> {
    for (s, p) in sessions.iter().zip(pending) {
        if s.attributes & session_attr::DECRYPT != 0
            && let Some(bits) = p.sym
        {
            let data = first_buffer(params).ok_or(Rc::SIZE)?;
            crypt(p.hash, &p.enc_key, bits, s.nonce, &p.nonce_tpm, data, false);
        }
    }
    Ok(())
}

/// The command's bytes an HMAC covers.
pub struct CommandHash<'a> {
    /// commandCode.
    pub code: u32,
    /// The Names of every handle of the handle area.
    pub names: Vec<Vec<u8>>,
    /// The parameter area.
    pub params: &'a [u8],
}

fn cp_hash(h: HashAlg, c: &CommandHash<'_>) -> Vec<u8> {
    let code = c.code.to_be_bytes();
    let mut parts: Vec<&[u8]> = alloc::vec![&code];
    c.names.iter().for_each(|n| parts.push(n));
    parts.push(c.params);
    h.digest(&parts)
}

fn check_password(s: &AuthCommand<'_>, n: u32, auth: &[u8]) -> Result<(), Rc> {
    if !s.nonce.is_empty() {
        return Err(Rc::NONCE.session(n));
    }
    if s.attributes & 0x18 != 0 {
        return Err(Rc::RESERVED_BITS.session(n));
    }
    if s.attributes & !session_attr::CONTINUE_SESSION != 0 {
        return Err(Rc::ATTRIBUTES.session(n));
    }
    // Authorization values are compared without trailing zeros (Part 1 §19.6.4).
    if !ct_eq(crate::cmd::hierarchy::trim(s.hmac), auth) {
        // TPM_RC_BAD_AUTH; the dispatcher makes it TPM_RC_AUTH_FAIL for lockoutAuth.
        return Err(Rc::BAD_AUTH.session(n));
    }
    Ok(())
}

/// Checks the sessions against the command's authorization entities (in handle order:
/// session i authorizes entity i); returns what the response needs.
pub fn check(
    tpm: &mut Tpm,
    sessions: &[AuthCommand<'_>],
    entities: &[AuthEntity],
    cmd: &CommandHash<'_>,
) -> Result<Vec<Pending>, Rc> {
    if sessions.len() < entities.len() {
        return Err(Rc::AUTH_MISSING);
    }
    let mut out = Vec::with_capacity(sessions.len());
    for (i, s) in sessions.iter().enumerate() {
        let n = i as u32 + 1;
        let entity = entities.get(i);
        if s.handle == rh::PW {
            // A password session only authorizes a handle.
            let Some(e) = entity else { return Err(Rc::HANDLE.session(n)) };
            if !e.user_with_auth {
                return Err(Rc::AUTH_UNAVAILABLE);
            }
            check_password(s, n, &e.auth)?;
            out.push(Pending::password());
            continue;
        }
        if !matches!((s.handle >> 24) as u8, ht::HMAC_SESSION | ht::POLICY_SESSION) {
            return Err(Rc::HANDLE.session(n));
        }
        let Some(sess) = tpm.sessions.get(&s.handle) else { return Err(Rc(Rc::REFERENCE_S0.0 + i as u32)) };
        if s.attributes & 0x18 != 0 {
            return Err(Rc::RESERVED_BITS.session(n));
        }
        let crypt_bits = session_attr::DECRYPT | session_attr::ENCRYPT;
        if s.attributes & !(session_attr::CONTINUE_SESSION | crypt_bits) != 0 {
            // audit, auditExclusive, auditReset: not implemented
            return Err(Rc::ATTRIBUTES.session(n));
        }
        if s.attributes & crypt_bits != 0 && sess.sym.is_none() {
            return Err(Rc::SYMMETRIC.session(n));
        }
        let decrypting = s.attributes & session_attr::DECRYPT != 0;
        let encrypting = s.attributes & session_attr::ENCRYPT != 0;
        let others = |bit: u8| sessions.iter().filter(|x| x.attributes & bit != 0).count() > 1;
        if decrypting && (!crate::cmd::first_param_encryptable(cmd.code) || others(session_attr::DECRYPT)) {
            return Err(Rc::ATTRIBUTES.session(n));
        }
        if encrypting && (!crate::cmd::first_response_encryptable(cmd.code) || others(session_attr::ENCRYPT)) {
            return Err(Rc::ATTRIBUTES.session(n));
        }
        if s.nonce.len() < 16 || s.nonce.len() > sess.hash.size() {
            return Err(Rc::NONCE.session(n));
        }
        let include_auth = match entity {
            // not an authorization: an HMAC session for parameter encryption only
            None if sess.policy || !(decrypting || encrypting) => return Err(Rc::ATTRIBUTES.session(n)),
            None => false,
            Some(e) if sess.policy => {
                if sess.trial {
                    return Err(Rc::ATTRIBUTES.session(n));
                }
                if !e.policy_allowed {
                    return Err(Rc::AUTH_UNAVAILABLE);
                }
                if e.policy.is_empty() || !ct_eq(&sess.policy_digest, &e.policy) {
                    return Err(Rc::POLICY_FAIL.session(n));
                }
                if sess.command_code.is_some_and(|c| c != cmd.code) || (e.admin && sess.command_code.is_none()) {
                    return Err(Rc::POLICY_CC.session(n));
                }
                let counter = tpm.vol.as_ref().map(|v| v.pcr_update_counter);
                if sess.pcr_counter.is_some() && sess.pcr_counter != counter {
                    return Err(Rc::PCR_CHANGED);
                }
                if sess.password_needed {
                    check_password(&AuthCommand { nonce: &[], attributes: 0, ..s.clone() }, n, &e.auth)?;
                    out.push(Pending {
                        key: None,
                        loaded: true,
                        enc_key: sess.key.clone(),
                        sym: sess.sym,
                        hash: sess.hash,
                        nonce_tpm: sess.nonce_tpm.clone(),
                    });
                    continue;
                }
                sess.auth_value_needed
            }
            Some(e) => {
                if !e.user_with_auth {
                    return Err(Rc::AUTH_UNAVAILABLE);
                }
                sess.bind.as_deref() != Some(e.name.as_slice())
            }
        };
        let mut key = Zeroizing::new(sess.key.to_vec());
        if include_auth && let Some(e) = entity {
            key.extend_from_slice(&e.auth);
        }
        let want = sess.hash.hmac(&key, &[&cp_hash(sess.hash, cmd), s.nonce, &sess.nonce_tpm, &[s.attributes]]);
        if !ct_eq(&want, s.hmac) {
            return Err(Rc::BAD_AUTH.session(n));
        }
        out.push(Pending {
            enc_key: key.clone(),
            key: Some(key),
            loaded: true,
            sym: sess.sym,
            hash: sess.hash,
            nonce_tpm: sess.nonce_tpm.clone(),
        });
    }
    Ok(out)
}

/// The response's session area: for a password session an empty nonce, continueSession
/// SET, an empty hmac; for an HMAC or policy session a new nonceTPM and the response HMAC
/// over `params` — whose first sized buffer is first encrypted for a session with encrypt
/// SET. A session without continueSession ends; a policy session that authorized the
/// command starts its policy anew.
pub fn response(
    tpm: &mut Tpm,
    sessions: &[AuthCommand<'_>],
    pending: &[Pending],
    code: u32,
    params: &mut [u8],
) -> Writer {
    // the new nonces first: the response encryption uses them
    let nonces: Vec<Vec<u8>> = pending
        .iter()
        .map(|p| {
            let mut nonce = alloc::vec![0u8; if p.loaded { p.nonce_tpm.len() } else { 0 }];
            tpm.random(&mut nonce);
            nonce
        })
        .collect();
    for ((s, p), nonce) in sessions.iter().zip(pending).zip(&nonces) {
        if s.attributes & session_attr::ENCRYPT != 0
            && let (Some(bits), Some(data)) = (p.sym, first_buffer(params))
        {
            crypt(p.hash, &p.enc_key, bits, nonce, s.nonce, data, true);
        }
    }
    let mut w = Writer::new();
    for ((s, p), nonce) in sessions.iter().zip(pending).zip(nonces) {
        if !p.loaded {
            w.u16(0).u8(session_attr::CONTINUE_SESSION).u16(0);
            continue;
        }
        let hash = p.hash;
        let continued = s.attributes & session_attr::CONTINUE_SESSION != 0;
        let rp = hash.digest(&[&0u32.to_be_bytes(), &code.to_be_bytes(), params]);
        let mac = p.key.as_ref().map(|k| hash.hmac(k, &[&rp, &nonce, s.nonce, &[s.attributes]])).unwrap_or_default();
        w.tpm2b(&nonce).u8(s.attributes).tpm2b(&mac);
        if continued {
            if let Some(sess) = tpm.sessions.get_mut(&s.handle) {
                sess.nonce_tpm = nonce;
                if sess.policy {
                    sess.reset_policy();
                }
            }
        } else {
            tpm.sessions.remove(&s.handle);
        }
    }
    w
}
