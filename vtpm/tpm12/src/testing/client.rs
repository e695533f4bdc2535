//! A small TPM 1.2 client for tests, the differential replay and the benchmark:
//! builds commands, runs OIAP/OSAP authorization (HMAC, ADIP) and checks the
//! response HMACs. Transport-agnostic: it drives any `FnMut(&[u8]) -> Vec<u8>`
//! (an in-process [`crate::Tpm`], a TCP connection to our server or to swtpm).
//!
//! This is a client: it follows TPM Main Part 1 §13 (OIAP/OSAP), Part 3 for
//! the command layouts, and knows nothing about the engine's internals.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::codec::{Reader, Writer};
use crate::constants::{et, key_usage, kh, ord, pid, scheme, tag};
use crate::crypto::{Digest, hmac_sha1, sha1};
use crate::rand_core::Rng;

use super::DetRng;

/// An authorization session as the client sees it.
#[derive(Clone, Debug)]
pub struct Session {
    /// `authHandle`.
    pub handle: u32,
    /// Last `nonceEven` from the TPM.
    pub nonce_even: Digest,
    /// HMAC key: the entity secret (OIAP) or the shared secret (OSAP).
    pub key: Digest,
    /// OSAP shared secret (ADIP), None for OIAP.
    pub shared_secret: Option<Digest>,
    /// Whether to ask the TPM to keep the session after the next command.
    pub keep: bool,
}

/// A decoded response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Return code.
    pub rc: u32,
    /// Everything after the 10-byte header, auth trailers removed.
    pub body: Vec<u8>,
    /// The whole response.
    pub raw: Vec<u8>,
}

/// Errors that are the client's (or the TPM's protocol) fault, not a return code.
pub type ClientError = String;

/// Sends a command, returns the response.
pub type Exec<'a> = Box<dyn FnMut(&[u8]) -> Vec<u8> + 'a>;

/// The client.
pub struct Client<'a> {
    pub(super) exec: Exec<'a>,
    pub(super) rng: DetRng,
    /// While set, every command is sent wrapped in TPM_ExecuteTransport of this session
    /// (see [`super::transport`]).
    pub transport: Option<super::transport::TransportState>,
}

/// The well-known secret (20 zero bytes) TrouSerS' `-z`/`-y` options use.
pub const WELL_KNOWN: Digest = [0; 20];

fn header(raw: &[u8]) -> Result<(u16, u32), ClientError> {
    let h = tpm_frame::Header::parse(raw).ok_or_else(|| format!("short response ({} bytes)", raw.len()))?;
    if h.param_size as usize != raw.len() {
        return Err(format!("paramSize {} != length {}", h.param_size, raw.len()));
    }
    Ok((h.tag, h.code))
}

impl<'a> Client<'a> {
    /// A client over `exec`, with nonces from a deterministic generator.
    pub fn new(exec: impl FnMut(&[u8]) -> Vec<u8> + 'a, seed: u64) -> Self {
        Self { exec: Box::new(exec), rng: DetRng::new(seed), transport: None }
    }

    /// Sends raw bytes (wrapped in TPM_ExecuteTransport while [`Client::transport`] is set;
    /// the empty command, TPM_Init in the harnesses, never is).
    pub fn raw(&mut self, cmd: &[u8]) -> Vec<u8> {
        if self.transport.is_some() && !cmd.is_empty() {
            return self.execute_transport(cmd);
        }
        (self.exec)(cmd)
    }

    /// An unauthorized command.
    pub fn rqu(&mut self, ordinal: u32, body: &[u8]) -> Result<Reply, ClientError> {
        let raw = self.raw(&super::request(tag::RQU_COMMAND, ordinal, body));
        let (t, rc) = header(&raw)?;
        if t != tag::RSP_COMMAND {
            return Err(format!("response tag {t:#x}"));
        }
        Ok(Reply { rc, body: raw[10..].to_vec(), raw })
    }

    /// A fresh nonce.
    pub fn nonce(&mut self) -> Digest {
        let mut n = [0u8; 20];
        self.rng.fill_bytes(&mut n);
        n
    }

    /// TPM_OIAP with `secret` as the entity usage secret.
    pub fn oiap(&mut self, secret: Digest) -> Result<Session, ClientError> {
        let r = self.rqu(ord::OIAP, &[])?;
        if r.rc != 0 {
            return Err(format!("OIAP rc {:#x}", r.rc));
        }
        let mut rd = Reader::new(&r.body);
        let handle = rd.u32().map_err(|e| format!("{e:?}"))?;
        let nonce_even = rd.array().map_err(|e| format!("{e:?}"))?;
        Ok(Session { handle, nonce_even, key: secret, shared_secret: None, keep: false })
    }

    /// TPM_OSAP for (`entity_type`, `entity_value`) whose usage secret is `secret`.
    pub fn osap(&mut self, entity_type: u16, entity_value: u32, secret: Digest) -> Result<Session, ClientError> {
        let odd_osap = self.nonce();
        let mut w = Writer::new();
        w.u16(entity_type).u32(entity_value).bytes(&odd_osap);
        let r = self.rqu(ord::OSAP, w.as_slice())?;
        if r.rc != 0 {
            return Err(format!("OSAP rc {:#x}", r.rc));
        }
        let mut rd = Reader::new(&r.body);
        let e = |e| format!("{e:?}");
        let handle = rd.u32().map_err(e)?;
        let nonce_even: Digest = rd.array().map_err(e)?;
        let even_osap: Digest = rd.array().map_err(e)?;
        let shared = hmac_sha1(&secret, &[&even_osap, &odd_osap]);
        Ok(Session { handle, nonce_even, key: shared, shared_secret: Some(shared), keep: false })
    }

    /// ADIP: `new_auth` XOR SHA-1(sharedSecret ‖ nonceEven) for OSAP session `s`.
    pub fn adip(s: &Session, new_auth: &Digest) -> Digest {
        let pad = sha1(&[&s.shared_secret.unwrap_or_default(), &s.nonce_even]);
        let mut out = *new_auth;
        for (o, p) in out.iter_mut().zip(pad.iter()) {
            *o ^= p;
        }
        out
    }

    /// An authorized command: `handles` then `params`, one trailer per session.
    /// Verifies the response HMACs and updates the sessions' nonces. `out_handles`
    /// is the number of output handles (excluded from the outParamDigest).
    pub fn auth(
        &mut self,
        ordinal: u32,
        handles: &[u32],
        params: &[u8],
        sessions: &mut [&mut Session],
        out_handles: usize,
    ) -> Result<Reply, ClientError> {
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
            let mac = hmac_sha1(&s.key, &[&digest, &s.nonce_even, &odd, &cont]);
            body.u32(s.handle).bytes(&odd).bytes(&cont).bytes(&mac);
            odds.push(odd);
        }
        let t = if sessions.len() == 2 { tag::RQU_AUTH2_COMMAND } else { tag::RQU_AUTH1_COMMAND };
        let raw = self.raw(&super::request(t, ordinal, body.as_slice()));
        let (rt, rc) = header(&raw)?;
        if rc != 0 {
            // Error responses: we answer with the matching RSP_AUTHn tag, libtpms
            // with RSP_COMMAND; both are accepted here (the caller sees `raw`).
            if rt != t + 3 && rt != tag::RSP_COMMAND {
                return Err(format!("error response tag {rt:#x} for request tag {t:#x}"));
            }
            return Ok(Reply { rc, body: raw[10..].to_vec(), raw });
        }
        if rt != t + 3 {
            return Err(format!("response tag {rt:#x} for request tag {t:#x}"));
        }
        let trailer = 41 * sessions.len();
        if raw.len() < 10 + trailer + 4 * out_handles {
            return Err("response shorter than its auth trailers".into());
        }
        let end = raw.len() - trailer;
        let out_params = &raw[10 + 4 * out_handles..end];
        let out_digest = sha1(&[&rc.to_be_bytes(), &ordinal.to_be_bytes(), out_params]);
        for (i, s) in sessions.iter_mut().enumerate() {
            let tr = &raw[end + 41 * i..end + 41 * (i + 1)];
            let even: Digest = tr[..20].try_into().map_err(|_| "trailer")?;
            let cont = tr[20];
            let mac = hmac_sha1(&s.key, &[&out_digest, &even, &odds[i], &[cont]]);
            if mac[..] != tr[21..41] {
                return Err(format!("response HMAC of session {i} does not verify"));
            }
            s.nonce_even = even;
        }
        Ok(Reply { rc, body: raw[10..end].to_vec(), raw })
    }

    /// TPM_ReadPubek: the EK modulus.
    pub fn read_pubek(&mut self) -> Result<Vec<u8>, ClientError> {
        let n = self.nonce();
        let r = self.rqu(ord::ReadPubek, &n)?;
        if r.rc != 0 {
            return Err(format!("ReadPubek rc {:#x}", r.rc));
        }
        let mut rd = Reader::new(&r.body);
        let e = |e| format!("{e:?}");
        rd.bytes(8).map_err(e)?;
        let parms = rd.sized32().map_err(e)?;
        let _ = parms;
        Ok(rd.sized32().map_err(e)?.to_vec())
    }

    /// TPM_TakeOwnership with the given owner and SRK secrets; returns the SRK `TPM_KEY`.
    pub fn take_ownership(&mut self, owner: Digest, srk: Digest) -> Result<Reply, ClientError> {
        use rsa::{BoxedUint, Oaep, RsaPublicKey};
        let modulus = self.read_pubek()?;
        let bits = (modulus.len() * 8) as u32;
        let n = BoxedUint::from_be_slice(&modulus, bits).map_err(|e| format!("{e:?}"))?;
        let ek = RsaPublicKey::new(n, BoxedUint::from(65537u64)).map_err(|e| format!("{e:?}"))?;
        let mut enc = |secret: &Digest| -> Result<Vec<u8>, ClientError> {
            let pad = Oaep::<sha1::Sha1>::new_with_label(&b"TCPA"[..]);
            ek.encrypt(&mut self.rng, pad, secret).map_err(|e| format!("{e:?}"))
        };
        let enc_owner = enc(&owner)?;
        let enc_srk = enc(&srk)?;
        let mut p = Writer::new();
        p.u16(pid::OWNER).sized32(&enc_owner).sized32(&enc_srk);
        srk_template(&mut p);
        let mut s = self.oiap(owner)?;
        self.auth(ord::TakeOwnership, &[], p.as_slice(), &mut [&mut s], 0)
    }

    /// TPM_CreateWrapKey under `parent` (secret `parent_auth`): a 2048-bit key of
    /// `usage` with usage secret `key_auth`. Returns the wrapped `TPM_KEY12`.
    pub fn create_wrap_key(
        &mut self,
        parent: u32,
        parent_auth: Digest,
        usage: u16,
        key_auth: Digest,
    ) -> Result<Reply, ClientError> {
        let (etype, evalue) = if parent == kh::SRK { (et::SRK, kh::SRK) } else { (et::KEYHANDLE, parent) };
        let mut s = self.osap(etype, evalue, parent_auth)?;
        let usage_enc = Self::adip(&s, &key_auth);
        let mut p = Writer::new();
        // dataMigrationAuth is XORed with SHA-1(sharedSecret ‖ nonceOdd); a
        // non-migratable key ignores it, so any value works: send zeros.
        p.bytes(&usage_enc).bytes(&[0; 20]);
        key12_template(&mut p, usage);
        self.auth(ord::CreateWrapKey, &[parent], p.as_slice(), &mut [&mut s], 0)
    }

    /// TPM_LoadKey2: returns the handle.
    pub fn load_key2(&mut self, parent: u32, parent_auth: Digest, blob: &[u8]) -> Result<(u32, Reply), ClientError> {
        let mut s = self.oiap(parent_auth)?;
        let r = self.auth(ord::LoadKey2, &[parent], blob, &mut [&mut s], 1)?;
        let h = if r.rc == 0 && r.body.len() >= 4 {
            u32::from_be_bytes([r.body[0], r.body[1], r.body[2], r.body[3]])
        } else {
            0
        };
        Ok((h, r))
    }

    /// TPM_Sign of a 20-byte digest.
    pub fn sign(&mut self, key: u32, key_auth: Digest, digest: &Digest) -> Result<Reply, ClientError> {
        let mut s = self.oiap(key_auth)?;
        let mut p = Writer::new();
        p.sized32(digest);
        self.auth(ord::Sign, &[key], p.as_slice(), &mut [&mut s], 0)
    }

    /// TPM_Seal under `key` (no PCR binding): returns the `TPM_STORED_DATA`.
    pub fn seal(&mut self, key: u32, key_auth: Digest, data_auth: Digest, data: &[u8]) -> Result<Reply, ClientError> {
        let (etype, evalue) = if key == kh::SRK { (et::SRK, kh::SRK) } else { (et::KEYHANDLE, key) };
        let mut s = self.osap(etype, evalue, key_auth)?;
        let enc = Self::adip(&s, &data_auth);
        let mut p = Writer::new();
        p.bytes(&enc).u32(0).sized32(data);
        self.auth(ord::Seal, &[key], p.as_slice(), &mut [&mut s], 0)
    }

    /// TPM_Unseal.
    pub fn unseal(&mut self, key: u32, key_auth: Digest, data_auth: Digest, blob: &[u8]) -> Result<Reply, ClientError> {
        let mut s1 = self.oiap(key_auth)?;
        let mut s2 = self.oiap(data_auth)?;
        self.auth(ord::Unseal, &[key], blob, &mut [&mut s1, &mut s2], 0)
    }
}

impl Client<'_> {
    /// TPM_MakeIdentity with an SRK session (OIAP) and an owner session (OSAP, whose
    /// shared secret encrypts `identity_auth`); `template` is `idKeyParams`. The reply
    /// body is `idKey ‖ identityBindingSize ‖ identityBinding`.
    pub fn make_identity(
        &mut self,
        owner: Digest,
        srk: Digest,
        identity_auth: Digest,
        label_priv_ca_digest: &Digest,
        template: &[u8],
    ) -> Result<Reply, ClientError> {
        let mut s_srk = self.oiap(srk)?;
        let mut s_owner = self.osap(et::OWNER, kh::OWNER, owner)?;
        let mut p = Writer::new();
        p.bytes(&Self::adip(&s_owner, &identity_auth)).bytes(label_priv_ca_digest).bytes(template);
        self.auth(ord::MakeIdentity, &[], p.as_slice(), &mut [&mut s_srk, &mut s_owner], 0)
    }

    /// TPM_ActivateIdentity of `blob` for the loaded identity key `id_key` (AUTH2: the
    /// key's session then the owner's, both OIAP). The reply body is the `TPM_SYMMETRIC_KEY`.
    pub fn activate_identity(
        &mut self,
        id_key: u32,
        id_auth: Digest,
        owner: Digest,
        blob: &[u8],
    ) -> Result<Reply, ClientError> {
        let mut s_key = self.oiap(id_auth)?;
        let mut s_owner = self.oiap(owner)?;
        let mut p = Writer::new();
        p.sized32(blob);
        self.auth(ord::ActivateIdentity, &[id_key], p.as_slice(), &mut [&mut s_key, &mut s_owner], 0)
    }

    /// What a privacy CA does with its answer: RSAES-OAEP ("TCPA") to the EK `ek_modulus`.
    pub fn encrypt_to_ek(&mut self, ek_modulus: &[u8], plain: &[u8]) -> Result<Vec<u8>, ClientError> {
        use rsa::{BoxedUint, Oaep, RsaPublicKey};
        let bits = (ek_modulus.len() * 8) as u32;
        let n = BoxedUint::from_be_slice(ek_modulus, bits).map_err(|e| format!("{e:?}"))?;
        let ek = RsaPublicKey::new(n, BoxedUint::from(65537u64)).map_err(|e| format!("{e:?}"))?;
        let pad = Oaep::<sha1::Sha1>::new_with_label(&b"TCPA"[..]);
        ek.encrypt(&mut self.rng, pad, plain).map_err(|e| format!("{e:?}"))
    }
}

/// `TPM_KEY12` template of an identity key as TPM_MakeIdentity wants it: RSA 2048,
/// `TPM_ES_NONE`, `TPM_SS_RSASSAPKCS1v15_SHA1`, not migratable, auth always.
pub fn identity_template(w: &mut Writer) {
    w.u16(tag::KEY12).u16(0).u16(key_usage::IDENTITY).u32(0).u8(1);
    rsa_parms(w, scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_SHA1);
    w.u32(0).u32(0).u32(0);
}

/// `TPM_KEY` (1.1) SRK template as TrouSerS sends it: storage, 2048-bit RSA,
/// OAEP, auth always.
pub fn srk_template(w: &mut Writer) {
    w.bytes(&[1, 1, 0, 0]).u16(key_usage::STORAGE).u32(0).u8(1);
    rsa_parms(w, scheme::ES_RSAESOAEP_SHA1_MGF1, scheme::SS_NONE);
    w.u32(0).u32(0).u32(0);
}

/// `TPM_KEY12` template for CreateWrapKey.
pub fn key12_template(w: &mut Writer, usage: u16) {
    let (es, ss) = match usage {
        key_usage::SIGNING => (scheme::ES_NONE, scheme::SS_RSASSAPKCS1V15_SHA1),
        key_usage::BIND => (scheme::ES_RSAESOAEP_SHA1_MGF1, scheme::SS_NONE),
        _ => (scheme::ES_RSAESOAEP_SHA1_MGF1, scheme::SS_NONE),
    };
    w.u16(tag::KEY12).u16(0).u16(usage).u32(0).u8(1);
    rsa_parms(w, es, ss);
    w.u32(0).u32(0).u32(0);
}

fn rsa_parms(w: &mut Writer, es: u16, ss: u16) {
    w.u32(crate::constants::alg::RSA).u16(es).u16(ss).u32(12).u32(2048).u32(2).u32(0);
}
