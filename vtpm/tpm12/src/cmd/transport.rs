//! Transport sessions (Part 1 §31, Part 3 §24): TPM_EstablishTransport,
//! TPM_ExecuteTransport, TPM_ReleaseTransportSigned.
//!
//! A transport session has a secret (`authData`: sent in the clear with
//! `TPM_KH_TRANSPORT`, or OAEP-encrypted to a loaded storage/legacy key as a
//! `TPM_TRANSPORT_AUTH`) that authorizes every TPM_ExecuteTransport (HMAC over
//! `SHA-1(ORD_ExecuteTransport ‖ wrappedCmdSize ‖ H1)`, H1 = SHA-1(ORDw ‖ DATAw), the
//! wrapped command's inParamDigest) and, with `TPM_TRANSPORT_ENCRYPT` and `TPM_ALG_MGF1`,
//! encrypts the wrapped command's parameter area (after its handles, before its auth
//! trailers) by XOR with MGF1(transLastNonceEven ‖ transNonceOdd ‖ "in" ‖ authData),
//! and the response's with MGF1(transNonceEven ‖ transNonceOdd ‖ "out" ‖ authData). With
//! `TPM_TRANSPORT_LOG` the session keeps a digest of TPM_TRANSPORT_LOG_IN / _OUT events
//! (wrapped commands' H1 and the public keys they name, their H2, ticks and locality),
//! which TPM_ReleaseTransportSigned signs ("TRAN"). With `TPM_TRANSPORT_EXCLUSIVE` any
//! command other than TPM_ExecuteTransport / TPM_ReleaseTransportSigned on that session
//! ends it. Check order and return codes follow libtpms (the differential replay agrees).
//!
//! Not supported: AES128 (CTR/OFB) transport encryption (`TPM_BAD_KEY_PROPERTY`; libtpms
//! has it), the FIPS flag. Sessions are volatile (not kept by TPM_SaveState).

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{alg, auth_usage, key_usage, kh, ord, rt, scheme, tag};
use crate::crypto::{Digest, Secret, hmac_sha1, mgf1_sha1, sha1};
use crate::dispatch::{Wrapped, execute_wrapped};
use crate::frame::{AUTH_IN_SIZE, AuthIn, Command, OrdinalEntry, Response, check, tags};
use crate::state::transport::{ATTR_ENCRYPT, ATTR_EXCLUSIVE, ATTR_LOG, TransportSession};

use super::keys::{authorize, check_pcrs, resolve, rsa_ops};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::EstablishTransport, establish_transport, tags::RQU_AUTH1, 1, check::ALL),
    OrdinalEntry::new(ord::ExecuteTransport, execute_transport, tags::AUTH1, 0, check::ALL),
    OrdinalEntry::new(ord::ReleaseTransportSigned, release_transport_signed, tags::AUTH1_AUTH2, 1, check::ALL),
];

/// `TPM_TAG_TRANSPORT_PUBLIC`.
const TAG_TRANSPORT_PUBLIC: u16 = 0x001E;
/// `TPM_TAG_TRANSPORT_AUTH`.
const TAG_TRANSPORT_AUTH: u16 = 0x001D;
/// `TPM_TAG_TRANSPORT_LOG_IN`.
const TAG_TRANSPORT_LOG_IN: u16 = 0x0010;
/// `TPM_TAG_TRANSPORT_LOG_OUT`.
const TAG_TRANSPORT_LOG_OUT: u16 = 0x0011;

/// How a wrapped ordinal's frames divide (Part 3's command tables): bytes of input
/// handles before DATAw, how many of them are keys whose public keys the log names
/// ([`KEYS_BY_RESOURCE`]: a key only if the resourceType after it says so), bytes of
/// output handles before the response's DATAw. TPM_OIAP and TPM_OSAP have nothing
/// encrypted or logged: their whole input and output count as handles.
fn layout(ordinal: u32) -> (usize, u8, usize) {
    match ordinal {
        ord::OIAP => (0, 0, 4 + 20),
        ord::OSAP => (2 + 4 + 20, 0, 4 + 20 + 20),
        ord::CertifyKey => (8, 2, 0),
        ord::LoadKey2 => (4, 1, 4),
        ord::LoadContext => (4, 0, 4),
        ord::Terminate_Handle => (4, 0, 0),
        ord::FlushSpecific | ord::SaveContext => (4, KEYS_BY_RESOURCE, 0),
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

/// [`layout`]'s marker for FlushSpecific / SaveContext.
const KEYS_BY_RESOURCE: u8 = 0xFF;

/// True if `ordinal` may be wrapped (the transport commands themselves may not).
fn wrappable(ordinal: u32) -> bool {
    !matches!(ordinal, ord::EstablishTransport | ord::ExecuteTransport | ord::ReleaseTransportSigned)
}

/// Ends the exclusive transport session, if there is one, unless `ordinal` is
/// TPM_ExecuteTransport or TPM_ReleaseTransportSigned (those end it when they name another
/// session). The dispatcher calls this for every outer command.
pub fn end_exclusive_unless(tpm: &mut Tpm, ordinal: u32) {
    if !matches!(ordinal, ord::ExecuteTransport | ord::ReleaseTransportSigned) {
        end_exclusive(tpm);
    }
}

fn end_exclusive(tpm: &mut Tpm) {
    let h = core::mem::take(&mut tpm.vol.stany_flags.transportExclusive);
    if h != 0 {
        tpm.transports.terminate(h);
    }
}

/// Ends session `handle` (and clears the exclusive flag if it was the exclusive one).
fn terminate(tpm: &mut Tpm, handle: u32) -> bool {
    if tpm.vol.stany_flags.transportExclusive == handle {
        tpm.vol.stany_flags.transportExclusive = 0;
    }
    tpm.transports.terminate(handle)
}

/// TPM_FlushSpecific(TPM_RT_TRANS).
pub fn flush(tpm: &mut Tpm, handle: u32) -> Result<(), Rc> {
    if terminate(tpm, handle) { Ok(()) } else { Err(Rc::INVALID_AUTHHANDLE) }
}

/// `TPM_CURRENT_TICKS` now, and the tick count alone.
fn current_ticks(tpm: &mut Tpm) -> (Vec<u8>, u64) {
    let mut w = Writer::new();
    super::ticks::encode_current_ticks(tpm, &mut w);
    let ticks = w.as_slice().get(2..10).and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes);
    (w.into_vec(), ticks)
}

fn log_in(digest: &mut Digest, parameters: &Digest, pub_key_hash: &Digest) {
    *digest = sha1(&[&digest[..], &TAG_TRANSPORT_LOG_IN.to_be_bytes(), parameters, pub_key_hash]);
}

fn log_out(digest: &mut Digest, current_ticks: &[u8], parameters: &Digest, locality: u32) {
    *digest =
        sha1(&[&digest[..], &TAG_TRANSPORT_LOG_OUT.to_be_bytes(), current_ticks, parameters, &locality.to_be_bytes()]);
}

/// The response trailer of a transport session: `transNonceEven ‖ continue ‖ transAuth`.
fn trailer(auth: &Secret, out_digest: &Digest, nonce_even: &Digest, nonce_odd: &Digest, cont: bool) -> Vec<u8> {
    let mac = hmac_sha1(&auth.0, &[out_digest, nonce_even, nonce_odd, &[u8::from(cont)]]);
    [&nonce_even[..], &[u8::from(cont)], &mac].concat()
}

/// Checks a transport trailer's HMAC over `in_digest` (`TPM_AUTH2FAIL`, as libtpms).
fn check_trans_auth(s: &TransportSession, a: &AuthIn, in_digest: &Digest) -> Result<(), Rc> {
    let mac = hmac_sha1(&s.auth.0, &[in_digest, &s.nonce_even, &a.nonce_odd, &[u8::from(a.continue_session)]]);
    if Secret(mac).ct_eq(&a.auth) { Ok(()) } else { Err(Rc::AUTH2FAIL) }
}

/// The transport trailer `index` of `cmd` (the dispatcher parsed it as an auth trailer).
fn trans_trailer(cmd: &mut Command<'_>, index: usize) -> Result<AuthIn, Rc> {
    cmd.transport_index = Some(index);
    cmd.auth.get(index).and_then(|a| a.clone()).ok_or(Rc::BADTAG)
}

/// TPM_EstablishTransport (Part 3 §24.1): `encHandle, transPublic, secretSize, secret` in;
/// `transHandle, locality, currentTicks, transNonceEven` out.
pub fn establish_transport(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let enc_handle = cmd.params.u32()?;
    let public_start = cmd.params.remaining();
    if cmd.params.u16()? != TAG_TRANSPORT_PUBLIC {
        return Err(Rc::INVALID_STRUCTURE);
    }
    let attributes = cmd.params.u32()?;
    let alg_id = cmd.params.u32()?;
    let enc_scheme = cmd.params.u16()?;
    let public_len = public_start - cmd.params.remaining();
    let secret = cmd.params.sized32()?;
    cmd.params.finish()?;
    let transport_public = cmd.param_bytes().get(..public_len).unwrap_or(&[]);
    let auth = if enc_handle == kh::TRANSPORT {
        if cmd.auth_count() != 0 {
            return Err(Rc::BADTAG);
        }
        if attributes & ATTR_ENCRYPT != 0 {
            return Err(Rc::BAD_SCHEME);
        }
        let a: Digest = secret.try_into().map_err(|_| Rc::BAD_PARAM_SIZE)?;
        Secret(a)
    } else {
        let key = resolve(tpm, enc_handle)?;
        check_pcrs(tpm, &key, cmd.locality)?;
        if !matches!(key.public.key_usage, key_usage::STORAGE | key_usage::LEGACY) {
            return Err(Rc::INVALID_KEYUSAGE);
        }
        if cmd.auth_count() == 0 && key.public.auth_data_usage != auth_usage::NEVER {
            return Err(Rc::AUTHFAIL);
        }
        authorize(tpm, cmd, 0, &key, false)?;
        let plain = rsa_ops::oaep_decrypt(&key.rsa, tpm.rng.as_mut(), secret)?;
        let mut r = Reader::new(&plain);
        if r.u16()? != TAG_TRANSPORT_AUTH {
            return Err(Rc::INVALID_STRUCTURE);
        }
        Secret(r.array()?)
    };
    if attributes & ATTR_ENCRYPT != 0 {
        match alg_id {
            alg::MGF1 if enc_scheme == scheme::ES_NONE => {}
            alg::MGF1 => return Err(Rc::INAPPROPRIATE_ENC),
            _ => return Err(Rc::BAD_KEY_PROPERTY),
        }
    }
    let nonce_even = tpm.nonce();
    let session = TransportSession { handle: 0, attributes, alg_id, enc_scheme, auth, nonce_even, digest: [0; 20] };
    let handle = tpm.transports.insert(session).ok_or(Rc::RESOURCES)?;
    let (ticks, _) = current_ticks(tpm);
    let locality = u32::from(cmd.locality);
    if attributes & ATTR_LOG != 0 {
        let o = ord::EstablishTransport.to_be_bytes();
        let l1 = sha1(&[&o, transport_public, &(secret.len() as u32).to_be_bytes(), secret]);
        let l2 = sha1(&[&Rc::SUCCESS.0.to_be_bytes(), &o, &locality.to_be_bytes(), &ticks, &nonce_even]);
        if let Some(s) = tpm.transports.get_mut(handle) {
            log_in(&mut s.digest, &l1, &[0; 20]);
            log_out(&mut s.digest, &ticks, &l2, locality);
        }
    }
    if attributes & ATTR_EXCLUSIVE != 0 {
        tpm.vol.stany_flags.transportExclusive = handle;
    }
    resp.handles.u32(handle);
    resp.params.u32(locality).bytes(&ticks).bytes(&nonce_even);
    Ok(())
}

/// TPM_ExecuteTransport (Part 3 §24.2): `wrappedCmdSize, wrappedCmd` in, the transport
/// session's trailer; `currentTicks (UINT64), locality, wrappedRspSize, wrappedRsp` out.
/// A failing wrapped command is a successful TPM_ExecuteTransport carrying its error.
pub fn execute_transport(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let wrapped = cmd.params.sized32()?;
    cmd.params.finish()?;
    let a = trans_trailer(cmd, 0)?;
    if tpm.vol.stany_flags.transportExclusive != 0 && tpm.vol.stany_flags.transportExclusive != a.handle {
        end_exclusive(tpm);
    }
    let session = tpm.transports.get(a.handle).cloned().ok_or(Rc::INVALID_AUTHHANDLE)?;
    let r = execute_in(tpm, cmd, resp, &session, &a, wrapped);
    if matches!(&r, Err(rc) if *rc != Rc::DEFEND_LOCK_RUNNING) {
        terminate(tpm, a.handle);
    }
    r
}

fn execute_in(
    tpm: &mut Tpm,
    cmd: &mut Command<'_>,
    resp: &mut Response,
    session: &TransportSession,
    a: &AuthIn,
    wrapped: &[u8],
) -> Result<(), Rc> {
    // 2–3: parse the wrapped frame; DATAw is after its handles and before its trailers.
    let mut r = Reader::new(wrapped);
    let (w_tag, w_size, ordw) = (r.u16()?, r.u32()?, r.u32()?);
    if usize::try_from(w_size).ok() != Some(wrapped.len()) {
        return Err(Rc::BAD_PARAM_SIZE);
    }
    if crate::dispatch::lookup(ordw, tpm.options.maintcmds).is_none_or(|e| e.flags.contains(crate::frame::flags::STUB))
    {
        return Err(Rc::BAD_ORDINAL);
    }
    let (in_handles, mut keys, out_handles) = layout(ordw);
    let e1 = 10 + in_handles;
    let auth_len = match w_tag {
        tag::RQU_AUTH1_COMMAND => AUTH_IN_SIZE,
        tag::RQU_AUTH2_COMMAND => 2 * AUTH_IN_SIZE,
        _ => 0,
    };
    let len1 = wrapped.len().checked_sub(e1 + auth_len).ok_or(Rc::BAD_PARAM_SIZE)?;
    // 4–5: decrypt DATAw.
    let mut plain = zeroize::Zeroizing::new(wrapped.to_vec());
    if session.has(ATTR_ENCRYPT) && len1 != 0 {
        let pad = mgf1_sha1(&[&session.nonce_even, &a.nonce_odd, b"in", &session.auth.0], len1);
        for (b, p) in plain[e1..e1 + len1].iter_mut().zip(pad.iter()) {
            *b ^= p;
        }
    }
    if keys == KEYS_BY_RESOURCE {
        let resource =
            plain.get(14..18).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).ok_or(Rc::BAD_PARAM_SIZE)?;
        keys = u8::from(resource == rt::KEY);
    }
    // 6–7: H1 and the transport authorization.
    let ordw_be = ordw.to_be_bytes();
    let h1 = sha1(&[&ordw_be, &plain[e1..e1 + len1]]);
    let in_digest = sha1(&[&ord::ExecuteTransport.to_be_bytes(), &(wrapped.len() as u32).to_be_bytes(), &h1]);
    check_trans_auth(session, a, &in_digest)?;
    // 9: the transport commands cannot be wrapped.
    if !wrappable(ordw) {
        return Err(Rc::NO_WRAP_TRANSPORT);
    }
    // 10: log the input, with the public keys of the key handles.
    let mut digest = session.digest;
    if session.has(ATTR_LOG) {
        let handle_at = |i: usize| -> Result<u32, Rc> {
            plain
                .get(10 + 4 * i..14 + 4 * i)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or(Rc::BAD_PARAM_SIZE)
        };
        let mut key_digests = Vec::new();
        for i in 0..usize::from(keys) {
            key_digests.push(pubkey_digest(tpm, handle_at(i)?)?);
        }
        let pub_key_hash = match key_digests.as_slice() {
            [] => [0; 20],
            [k] => sha1(&[k]),
            [k1, k2, ..] => sha1(&[k1, k2]),
        };
        log_in(&mut digest, &h1, &pub_key_hash);
    }
    // 11: run it.
    let rsp = execute_wrapped(tpm, cmd.locality, &plain, Wrapped { encrypted: session.has(ATTR_ENCRYPT) });
    drop(plain);
    // The outer response (header, ticks, locality, size, the wrapped response, trailer) must
    // fit the I/O buffer too: a wrapped response that fills it alone is TPM_SIZE (found by
    // fuzzing: GetRandom(4074) wrapped gave 4155 bytes).
    if 10 + 8 + 4 + 4 + rsp.len() + 41 > crate::constants::INPUT_BUFFER_SIZE as usize {
        return Err(Rc::SIZE);
    }
    let (ticks_struct, ticks) = current_ticks(tpm);
    // 13–14: S2 and H2.
    let mut rr = Reader::new(&rsp);
    let (r_tag, _r_size, rcw) = (rr.u16()?, rr.u32()?, rr.u32()?);
    let (s2, len2) = if rcw == 0 {
        let s2 = 10 + out_handles;
        let trailers = match r_tag {
            tag::RSP_AUTH1_COMMAND => 41,
            tag::RSP_AUTH2_COMMAND => 82,
            _ => 0,
        };
        (s2, rsp.len().checked_sub(s2 + trailers).ok_or(Rc::BAD_PARAM_SIZE)?)
    } else {
        (10, 0)
    };
    let h2 = sha1(&[&rcw.to_be_bytes(), &ordw_be, &rsp[s2..s2 + len2]]);
    // 15: the response authorization.
    let nonce_even = tpm.nonce();
    let locality = u32::from(cmd.locality);
    let out_digest = sha1(&[
        &Rc::SUCCESS.0.to_be_bytes(),
        &ord::ExecuteTransport.to_be_bytes(),
        &ticks.to_be_bytes(),
        &locality.to_be_bytes(),
        &(rsp.len() as u32).to_be_bytes(),
        &h2,
    ]);
    // 16: log the output.
    if session.has(ATTR_LOG) {
        log_out(&mut digest, &ticks_struct, &h2, locality);
    }
    // 17–18: encrypt S2.
    let mut out = rsp;
    if session.has(ATTR_ENCRYPT) && len2 != 0 {
        let pad = mgf1_sha1(&[&nonce_even, &a.nonce_odd, b"out", &session.auth.0], len2);
        for (b, p) in out[s2..s2 + len2].iter_mut().zip(pad.iter()) {
            *b ^= p;
        }
    }
    // 19–21: a wrapped command may have ended the session (e.g. FlushSpecific of it).
    let cont = match tpm.transports.get_mut(a.handle) {
        Some(s) => {
            s.nonce_even = nonce_even;
            s.digest = digest;
            a.continue_session
        }
        None => false,
    };
    resp.params.u64(ticks).u32(locality).sized32(&out);
    cmd.transport_trailer = Some(trailer(&session.auth, &out_digest, &nonce_even, &a.nonce_odd, cont));
    cmd.audit_digests = Some((h1, h2));
    if !cont {
        terminate(tpm, a.handle);
    }
    Ok(())
}

/// SHA-1 of the `TPM_STORE_PUBKEY` (keyLength ‖ key) of a loaded key (the EK and SRK
/// included), for the transport log's pubKeyHash; `TPM_INVALID_KEYHANDLE` if not loaded.
fn pubkey_digest(tpm: &Tpm, handle: u32) -> Result<Digest, Rc> {
    let modulus = if handle == kh::EK {
        tpm.perm.data.endorsement_key.as_ref().map(|k| k.modulus()).ok_or(Rc::INVALID_KEYHANDLE)?
    } else {
        resolve(tpm, handle)?.public.pub_key
    };
    Ok(sha1(&[&(modulus.len() as u32).to_be_bytes(), &modulus]))
}

/// TPM_ReleaseTransportSigned (Part 3 §24.3): `keyHandle, antiReplay` in (AUTH2: the key's
/// session then the transport's; AUTH1: the transport's, the key auth-never);
/// `locality, currentTicks, sigSize, signature` out. Signs SHA-1 of `TPM_SIGN_INFO
/// { "TRAN", antiReplay, transDigest }` after a last TPM_TRANSPORT_LOG_OUT; the session
/// ends whatever happens.
pub fn release_transport_signed(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let key_handle = cmd.params.u32()?;
    let anti_replay: Digest = cmd.params.array()?;
    cmd.params.finish()?;
    let index = cmd.auth_count().saturating_sub(1);
    let a = trans_trailer(cmd, index)?;
    if tpm.vol.stany_flags.transportExclusive != 0 && tpm.vol.stany_flags.transportExclusive != a.handle {
        end_exclusive(tpm);
    }
    let session = tpm.transports.get(a.handle).cloned().ok_or(Rc::INVALID_AUTHHANDLE)?;
    let r = release_in(tpm, cmd, resp, &session, &a, key_handle, &anti_replay);
    if !matches!(&r, Err(rc) if *rc == Rc::DEFEND_LOCK_RUNNING) {
        terminate(tpm, a.handle);
    }
    r
}

fn release_in(
    tpm: &mut Tpm,
    cmd: &mut Command<'_>,
    resp: &mut Response,
    session: &TransportSession,
    a: &AuthIn,
    key_handle: u32,
    anti_replay: &Digest,
) -> Result<(), Rc> {
    let key = resolve(tpm, key_handle)?;
    check_pcrs(tpm, &key, cmd.locality)?;
    if !matches!(key.public.parms.sig_scheme, scheme::SS_RSASSAPKCS1V15_SHA1 | scheme::SS_RSASSAPKCS1V15_INFO) {
        return Err(Rc::INAPPROPRIATE_SIG);
    }
    let key_session = cmd.auth_count() == 2;
    if !key_session && key.public.auth_data_usage != auth_usage::NEVER {
        return Err(Rc::AUTHFAIL);
    }
    if key.public.key_usage != key_usage::SIGNING {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    if key_session {
        authorize(tpm, cmd, 0, &key, false)?;
    }
    let in_digest = cmd.in_param_digest();
    check_trans_auth(session, a, &in_digest)?;
    if !session.has(ATTR_LOG) {
        return Err(Rc::BAD_MODE);
    }
    let (ticks, _) = current_ticks(tpm);
    let locality = u32::from(cmd.locality);
    let mut digest = session.digest;
    log_out(&mut digest, &ticks, &in_digest, locality);
    let mut info = Writer::new();
    info.u16(tag::SIGNINFO).bytes(b"TRAN").bytes(anti_replay).sized32(&digest);
    let sig = rsa_ops::sign_sha1(&key.rsa, tpm.rng.as_mut(), &sha1(&[info.as_slice()]))?;
    resp.params.u32(locality).bytes(&ticks).sized32(&sig);
    let nonce_even = tpm.nonce();
    let out_digest = resp.out_param_digest(Rc::SUCCESS, cmd.ordinal);
    cmd.transport_trailer = Some(trailer(&session.auth, &out_digest, &nonce_even, &a.nonce_odd, false));
    Ok(())
}
