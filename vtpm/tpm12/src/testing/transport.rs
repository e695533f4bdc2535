//! The client side of TPM 1.2 transport sessions (Part 1 §31, Part 3 §24), written from
//! the specification as a TSS would: TPM_EstablishTransport (plain secret or encrypted to a
//! key), every command then wrapped in TPM_ExecuteTransport (transport HMAC, MGF1
//! encryption of the parameter areas, the response checked and decrypted), the log digest
//! recomputed as a verifier would, and TPM_ReleaseTransportSigned.
//!
//! While [`Client::transport`] is set, [`Client::raw`] wraps every command, so all the
//! client's helpers (OIAP/OSAP, keys, sealing...) run through the session unchanged.

use alloc::format;
use alloc::vec::Vec;

use crate::codec::{Reader, Writer};
use crate::constants::{kh, ord, rt, tag};
use crate::crypto::{Digest, hmac_sha1, mgf1_sha1, sha1};

use super::client::{Client, ClientError, Reply, Session};

/// `TPM_TRANSPORT_ENCRYPT`.
pub const ENCRYPT: u32 = 1;
/// `TPM_TRANSPORT_LOG`.
pub const LOG: u32 = 2;
/// `TPM_TRANSPORT_EXCLUSIVE`.
pub const EXCLUSIVE: u32 = 4;

/// A transport session as the client sees it.
#[derive(Clone, Debug)]
pub struct TransportState {
    /// `transHandle`.
    pub handle: u32,
    /// The session secret.
    pub auth: Digest,
    /// `transAttributes`.
    pub attributes: u32,
    /// The last `transNonceEven`.
    pub nonce_even: Digest,
    /// `tickRate ‖ tickNonce` from TPM_EstablishTransport (the log's TPM_CURRENT_TICKS).
    pub tick_tail: Vec<u8>,
    /// The transport log digest as the client computes it.
    pub log: Digest,
    /// Public keys (moduli) of key handles, for the log's pubKeyHash.
    pub pubkeys: Vec<(u32, Vec<u8>)>,
    /// Whether to keep the session (continueTransSession) on the next command.
    pub keep: bool,
    /// The last TPM_ExecuteTransport response (outer frame) and any protocol error.
    pub last_outer: Vec<u8>,
    /// A protocol error in the last wrapped exchange (bad transAuth, bad framing).
    pub error: Option<ClientError>,
}

/// Bytes of input handles, key handles among them, bytes of output handles of a wrapped
/// ordinal (Part 3's command tables; OIAP/OSAP: nothing is encrypted or logged).
pub fn wrapped_layout(ordinal: u32) -> (usize, u8, usize) {
    match ordinal {
        ord::OIAP => (0, 0, 24),
        ord::OSAP => (26, 0, 44),
        ord::CertifyKey => (8, 2, 0),
        ord::LoadKey2 => (4, 1, 4),
        ord::LoadContext => (4, 0, 4),
        ord::Terminate_Handle => (4, 0, 0),
        ord::FlushSpecific | ord::SaveContext => (4, 0xFF, 0),
        ord::OwnerReadInternalPub => (0, 1, 0),
        ord::ActivateIdentity
        | ord::EstablishTransport
        | ord::ChangeAuth
        | ord::CreateWrapKey
        | ord::EvictKey
        | ord::GetAuditDigestSigned
        | ord::GetPubKey
        | ord::LoadKey
        | ord::Quote
        | ord::Quote2
        | ord::Seal
        | ord::Sign
        | ord::TickStampBlob
        | ord::UnBind
        | ord::Unseal => (4, 1, 0),
        _ => (0, 0, 0),
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).and_then(|x| x.try_into().ok()).map(u32::from_be_bytes)
}

fn xor(data: &mut [u8], pad: &[u8]) {
    for (d, p) in data.iter_mut().zip(pad) {
        *d ^= p;
    }
}

impl TransportState {
    fn log_in(&mut self, parameters: &Digest, pub_key_hash: &Digest) {
        self.log = sha1(&[&self.log, &[0, 0x10], parameters, pub_key_hash]);
    }

    fn log_out(&mut self, current_ticks: &[u8], parameters: &Digest, locality: u32) {
        self.log = sha1(&[&self.log, &[0, 0x11], current_ticks, parameters, &locality.to_be_bytes()]);
    }

    fn pubkey_hash(&self, cmd: &[u8], keys: u8) -> Result<Digest, ClientError> {
        let mut ds = Vec::new();
        for i in 0..usize::from(keys) {
            let h = u32_at(cmd, 10 + 4 * i).ok_or("short wrapped command")?;
            let (_, m) = self.pubkeys.iter().find(|(k, _)| *k == h).ok_or(format!("no public key for {h:#x}"))?;
            ds.push(sha1(&[&(m.len() as u32).to_be_bytes(), m]));
        }
        Ok(match ds.as_slice() {
            [] => [0; 20],
            [a] => sha1(&[a]),
            [a, b, ..] => sha1(&[a, b]),
        })
    }
}

impl Client<'_> {
    /// TPM_EstablishTransport with `TPM_KH_TRANSPORT` (the secret in the clear, RQU);
    /// on success the client's commands go through the session.
    pub fn establish_transport(&mut self, attributes: u32, secret: Digest) -> Result<Reply, ClientError> {
        let mut p = Writer::new();
        p.u32(kh::TRANSPORT);
        let public_start = p.len();
        p.u16(0x001E).u32(attributes).u32(crate::constants::alg::MGF1).u16(crate::constants::scheme::ES_NONE);
        let public = p.as_slice()[public_start..].to_vec();
        p.sized32(&secret);
        let r = self.rqu(ord::EstablishTransport, p.as_slice())?;
        self.started_transport(&r, attributes, secret, &public, &secret)?;
        Ok(r)
    }

    /// TPM_EstablishTransport with the secret OAEP-encrypted (as a TPM_TRANSPORT_AUTH) to
    /// the loaded key `key` (modulus `modulus`), authorized by OIAP with `key_auth`.
    pub fn establish_transport_with_key(
        &mut self,
        key: u32,
        key_auth: Digest,
        modulus: &[u8],
        attributes: u32,
        secret: Digest,
    ) -> Result<Reply, ClientError> {
        use rsa::{BoxedUint, Oaep, RsaPublicKey};
        let bits = (modulus.len() * 8) as u32;
        let n = BoxedUint::from_be_slice(modulus, bits).map_err(|e| format!("{e:?}"))?;
        let pk = RsaPublicKey::new(n, BoxedUint::from(65537u64)).map_err(|e| format!("{e:?}"))?;
        let plain = [&[0u8, 0x1D][..], &secret].concat();
        let enc = pk
            .encrypt(&mut self.rng, Oaep::<sha1::Sha1>::new_with_label(&b"TCPA"[..]), &plain)
            .map_err(|e| format!("{e:?}"))?;
        let mut p = Writer::new();
        p.u16(0x001E).u32(attributes).u32(crate::constants::alg::MGF1).u16(crate::constants::scheme::ES_NONE);
        let public = p.as_slice().to_vec();
        p.sized32(&enc);
        let mut s = self.oiap(key_auth)?;
        let r = self.auth(ord::EstablishTransport, &[key], p.as_slice(), &mut [&mut s], 1)?;
        self.started_transport(&r, attributes, secret, &public, &enc)?;
        Ok(r)
    }

    fn started_transport(
        &mut self,
        r: &Reply,
        attributes: u32,
        auth: Digest,
        public: &[u8],
        secret_field: &[u8],
    ) -> Result<(), ClientError> {
        if r.rc != 0 {
            return Ok(());
        }
        let mut rd = Reader::new(&r.body);
        let e = |e| format!("{e:?}");
        let handle = rd.u32().map_err(e)?;
        let locality = rd.u32().map_err(e)?;
        let ticks = rd.bytes(32).map_err(e)?.to_vec();
        let nonce_even: Digest = rd.array().map_err(e)?;
        let mut t = TransportState {
            handle,
            auth,
            attributes,
            nonce_even,
            tick_tail: ticks[10..].to_vec(),
            log: [0; 20],
            pubkeys: Vec::new(),
            keep: true,
            last_outer: Vec::new(),
            error: None,
        };
        if attributes & LOG != 0 {
            let o = ord::EstablishTransport.to_be_bytes();
            let l1 = sha1(&[&o, public, &(secret_field.len() as u32).to_be_bytes(), secret_field]);
            t.log_in(&l1, &[0; 20]);
            let l2 = sha1(&[&[0; 4], &o, &locality.to_be_bytes(), &ticks, &nonce_even]);
            t.log_out(&ticks, &l2, locality);
        }
        self.transport = Some(t);
        Ok(())
    }

    /// Wraps `cmd` in TPM_ExecuteTransport and returns the wrapped response (decrypted),
    /// or the outer response when TPM_ExecuteTransport itself fails. A protocol error
    /// (transAuth does not verify, bad framing) is kept in `transport.error` and the
    /// outer response returned.
    pub(super) fn execute_transport(&mut self, cmd: &[u8]) -> Vec<u8> {
        let Some(mut t) = self.transport.take() else {
            return (self.exec)(cmd);
        };
        let out = self.wrap(&mut t, cmd);
        let rsp = match out {
            Ok(rsp) => {
                t.error = None;
                rsp
            }
            Err(e) => {
                t.error = Some(e);
                t.last_outer.clone()
            }
        };
        self.transport = Some(t);
        rsp
    }

    fn wrap(&mut self, t: &mut TransportState, cmd: &[u8]) -> Result<Vec<u8>, ClientError> {
        let ordw = u32_at(cmd, 6).ok_or("short command")?;
        let (in_h, mut keys, out_h) = wrapped_layout(ordw);
        let auth_len = match u16::from_be_bytes([cmd[0], cmd[1]]) {
            tag::RQU_AUTH1_COMMAND => 45,
            tag::RQU_AUTH2_COMMAND => 90,
            _ => 0,
        };
        let e1 = 10 + in_h;
        let len1 = cmd.len().checked_sub(e1 + auth_len).ok_or("wrapped command shorter than its layout")?;
        if keys == 0xFF {
            keys = u8::from(u32_at(cmd, 14) == Some(rt::KEY));
        }
        let h1 = sha1(&[&ordw.to_be_bytes(), &cmd[e1..e1 + len1]]);
        let mut wrapped = cmd.to_vec();
        let odd = self.nonce();
        if t.attributes & ENCRYPT != 0 && len1 != 0 {
            let pad = mgf1_sha1(&[&t.nonce_even, &odd, b"in", &t.auth], len1);
            xor(&mut wrapped[e1..e1 + len1], &pad);
        }
        let in_digest = sha1(&[&ord::ExecuteTransport.to_be_bytes(), &(wrapped.len() as u32).to_be_bytes(), &h1]);
        let cont = [u8::from(t.keep)];
        let mac = hmac_sha1(&t.auth, &[&in_digest, &t.nonce_even, &odd, &cont]);
        let mut body = Writer::new();
        body.sized32(&wrapped).u32(t.handle).bytes(&odd).bytes(&cont).bytes(&mac);
        let outer = (self.exec)(&super::request(tag::RQU_AUTH1_COMMAND, ord::ExecuteTransport, body.as_slice()));
        t.last_outer = outer.clone();
        let rc = u32_at(&outer, 6).ok_or("short ExecuteTransport response")?;
        if rc != 0 {
            return Err(format!("ExecuteTransport rc {rc:#x}"));
        }
        let end = outer.len().checked_sub(41).ok_or("no transport trailer")?;
        let params = &outer[10..end];
        let mut rd = Reader::new(params);
        let e = |e| format!("{e:?}");
        let ticks = rd.u64().map_err(e)?;
        let locality = rd.u32().map_err(e)?;
        let mut rsp = rd.sized32().map_err(e)?.to_vec();
        rd.finish().map_err(e)?;
        let even: Digest = outer[end..end + 20].try_into().map_err(|_| "trailer")?;
        let rcont = outer[end + 20];
        // S2 and H2, after decrypting.
        let rcw = u32_at(&rsp, 6).ok_or("short wrapped response")?;
        let (s2, len2) = if rcw == 0 {
            let trailers = match u16::from_be_bytes([rsp[0], rsp[1]]) {
                tag::RSP_AUTH1_COMMAND => 41,
                tag::RSP_AUTH2_COMMAND => 82,
                _ => 0,
            };
            (10 + out_h, rsp.len().checked_sub(10 + out_h + trailers).ok_or("wrapped response too short")?)
        } else {
            (10, 0)
        };
        if t.attributes & ENCRYPT != 0 && len2 != 0 {
            let pad = mgf1_sha1(&[&even, &odd, b"out", &t.auth], len2);
            xor(&mut rsp[s2..s2 + len2], &pad);
        }
        let h2 = sha1(&[&rcw.to_be_bytes(), &ordw.to_be_bytes(), &rsp[s2..s2 + len2]]);
        let out_digest = sha1(&[
            &[0; 4],
            &ord::ExecuteTransport.to_be_bytes(),
            &ticks.to_be_bytes(),
            &locality.to_be_bytes(),
            &(rsp.len() as u32).to_be_bytes(),
            &h2,
        ]);
        let want = hmac_sha1(&t.auth, &[&out_digest, &even, &odd, &[rcont]]);
        if want[..] != outer[end + 21..end + 41] {
            return Err("transAuth of the response does not verify".into());
        }
        t.nonce_even = even;
        if t.attributes & LOG != 0 {
            let pkh = t.pubkey_hash(cmd, keys)?;
            t.log_in(&h1, &pkh);
            let ct = [&[0u8, 0x14][..], &ticks.to_be_bytes(), &t.tick_tail].concat();
            t.log_out(&ct, &h2, locality);
        }
        Ok(rsp)
    }

    /// TPM_ReleaseTransportSigned of the current session with `key` (AUTH2 with an OIAP
    /// session of `key_auth`, or AUTH1 when `key_auth` is None) and `anti_replay`. Ends the
    /// client's use of the session. Returns the reply and the log digest the client
    /// expects the signature to cover (TPM_SIGN_INFO "TRAN" data).
    pub fn release_transport_signed(
        &mut self,
        key: u32,
        key_auth: Option<Digest>,
        anti_replay: Digest,
    ) -> Result<(Reply, Digest), ClientError> {
        let mut t = self.transport.take().ok_or("no transport session")?;
        let mut key_session: Option<Session> = match key_auth {
            Some(a) => Some(self.oiap(a)?),
            None => None,
        };
        let params = anti_replay;
        let in_digest = sha1(&[&ord::ReleaseTransportSigned.to_be_bytes(), &params]);
        let mut body = Writer::new();
        body.u32(key).bytes(&params);
        let mut odd_key = [0u8; 20];
        if let Some(s) = &key_session {
            odd_key = self.nonce();
            let mac = hmac_sha1(&s.key, &[&in_digest, &s.nonce_even, &odd_key, &[0]]);
            body.u32(s.handle).bytes(&odd_key).u8(0).bytes(&mac);
        }
        let odd = self.nonce();
        let mac = hmac_sha1(&t.auth, &[&in_digest, &t.nonce_even, &odd, &[0]]);
        body.u32(t.handle).bytes(&odd).u8(0).bytes(&mac);
        let rtag = if key_session.is_some() { tag::RQU_AUTH2_COMMAND } else { tag::RQU_AUTH1_COMMAND };
        let raw = (self.exec)(&super::request(rtag, ord::ReleaseTransportSigned, body.as_slice()));
        let rc = u32_at(&raw, 6).ok_or("short response")?;
        if rc != 0 {
            return Ok((Reply { rc, body: raw.get(10..).unwrap_or(&[]).to_vec(), raw }, t.log));
        }
        let n = if key_session.is_some() { 2 } else { 1 };
        let end = raw.len().checked_sub(41 * n).ok_or("short response")?;
        let params_out = &raw[10..end];
        let out_digest = sha1(&[&[0; 4], &ord::ReleaseTransportSigned.to_be_bytes(), params_out]);
        if let Some(s) = key_session.as_mut() {
            let tr = &raw[end..end + 41];
            let want = hmac_sha1(&s.key, &[&out_digest, &tr[..20], &odd_key, &[tr[20]]]);
            if want[..] != tr[21..] {
                return Err("key session HMAC of the response does not verify".into());
            }
        }
        let tr = &raw[end + 41 * (n - 1)..];
        let want = hmac_sha1(&t.auth, &[&out_digest, &tr[..20], &odd, &[tr[20]]]);
        if want[..] != tr[21..41] {
            return Err("transAuth of the response does not verify".into());
        }
        let mut rd = Reader::new(params_out);
        let e = |e| format!("{e:?}");
        let locality = rd.u32().map_err(e)?;
        let ticks = rd.bytes(32).map_err(e)?.to_vec();
        t.log_out(&ticks, &in_digest, locality);
        Ok((Reply { rc, body: params_out.to_vec(), raw }, t.log))
    }
}
