//! Transport sessions through the client's transport ([`crate::testing::transport`],
//! written from the spec): plain and key-encrypted secrets, MGF1 encryption of wrapped
//! commands, authorized commands inside, the log digest the client recomputes signed by
//! TPM_ReleaseTransportSigned, exclusive sessions, refusals, and audit of wrapped commands.

use alloc::vec::Vec;

use super::owned::{KEY_AUTH, OWNER, SRK, client, load_new_key, owned, public, template};
use super::{be32s, rqu};
use crate::cmd::keys::rsa_ops::verify_sha1;
use crate::codec::{Reader, Writer};
use crate::constants::{cap, key_usage, kh, ord, rt, scheme, tag};
use crate::crypto::{Digest, sha1};
use crate::testing::client::Client;
use crate::testing::request;
use crate::testing::transport::{ENCRYPT, EXCLUSIVE, LOG};
use crate::{Rc, Tpm};

const SECRET: Digest = [0x5E; 20];

/// The modulus in a TPM_PUBKEY.
fn pubkey_modulus(b: &[u8]) -> Vec<u8> {
    let mut r = Reader::new(b);
    r.bytes(8).unwrap();
    r.sized32().unwrap();
    r.sized32().unwrap().to_vec()
}

fn srk_modulus(c: &mut Client<'_>) -> Vec<u8> {
    let mut s = c.oiap(OWNER).unwrap();
    let r = c.auth(ord::OwnerReadInternalPub, &[], &kh::SRK.to_be_bytes(), &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, 0);
    pubkey_modulus(&r.body)
}

fn signing_key(c: &mut Client<'_>) -> (u32, Vec<u8>) {
    let (h, blob) =
        load_new_key(c, &template(key_usage::SIGNING, 1, scheme::SS_RSASSAPKCS1V15_SHA1, 2048, 0, false, &[]));
    (h, super::owned::modulus_of_key(&blob))
}

/// Seal and unseal through whatever the client is doing (plain or wrapped).
fn seal_round_trip(c: &mut Client<'_>, data: &[u8]) {
    let r = c.seal(kh::SRK, SRK, [7; 20], data).unwrap();
    assert_eq!(r.rc, 0, "Seal");
    let u = c.unseal(kh::SRK, SRK, [7; 20], &r.body).unwrap();
    assert_eq!(u.rc, 0, "Unseal");
    assert_eq!(u.body[4..], *data);
}

fn tran_digest(anti_replay: &Digest, log: &Digest) -> Digest {
    let mut w = Writer::new();
    w.u16(5).bytes(b"TRAN").bytes(anti_replay).sized32(log);
    sha1(&[w.as_slice()])
}

fn prop(t: &mut Tpm, p: u32) -> u32 {
    let (rc, b) = rqu(t, ord::GetCapability, &be32s(&[cap::PROPERTY, 4, p]));
    assert_eq!(rc, 0);
    u32::from_be_bytes(b[4..8].try_into().unwrap())
}

#[test]
fn logged_and_encrypted_sessions_sign_the_log_a_client_recomputes() {
    for (attributes, with_key) in [(LOG, false), (LOG | ENCRYPT, true), (LOG | ENCRYPT, false)] {
        let mut t = owned();
        let mut c = client(&mut t);
        let srk = srk_modulus(&mut c);
        let (sig_key, sig_mod) = signing_key(&mut c);
        let r = if with_key {
            c.establish_transport_with_key(kh::SRK, SRK, &srk, attributes, SECRET).unwrap()
        } else {
            c.establish_transport(attributes, SECRET).unwrap()
        };
        if attributes & ENCRYPT != 0 && !with_key {
            assert_eq!(r.rc, Rc::BAD_SCHEME.0, "a secret in the clear cannot encrypt");
            continue;
        }
        assert_eq!(r.rc, 0, "EstablishTransport {attributes:#x}");
        let tr = c.transport.as_mut().unwrap();
        assert_eq!(tr.handle >> 24, 3);
        tr.pubkeys.push((kh::SRK, srk.clone()));
        // Unauthorized, one- and two-session commands through the session.
        let r = c.rqu(ord::GetRandom, &be32s(&[16])).unwrap();
        assert_eq!((r.rc, r.body.len()), (0, 20));
        assert!(c.transport.as_ref().unwrap().error.is_none());
        seal_round_trip(&mut c, b"through the transport");
        if attributes & ENCRYPT != 0 {
            // The wrapped Unseal response crossed the wire encrypted.
            let outer = &c.transport.as_ref().unwrap().last_outer;
            assert!(!outer.windows(21).any(|w| w == b"through the transport"));
        }
        // Key creation and loading (output handle) inside; the log names the SRK's key.
        let r = super::owned::create_key(
            &mut c,
            kh::SRK,
            SRK,
            &template(key_usage::SIGNING, 1, scheme::SS_RSASSAPKCS1V15_SHA1, 2048, 0, false, &[]),
        );
        assert_eq!(r.rc, 0);
        let (h, l) = c.load_key2(kh::SRK, SRK, &r.body).unwrap();
        assert_eq!(l.rc, 0);
        assert_ne!(h, 0);
        let (rc, err) = {
            let r = c.rqu(ord::PcrRead, &be32s(&[99])).unwrap();
            (r.rc, c.transport.as_ref().unwrap().error.clone())
        };
        assert_eq!((rc, err), (Rc::BADINDEX.0, None), "a failing wrapped command is carried");
        // Release, signed by the signing key (AUTH2) or auth-never key (AUTH1 refused here).
        let (r, log) = c.release_transport_signed(sig_key, Some(KEY_AUTH), [9; 20]).unwrap();
        assert_eq!(r.rc, 0, "ReleaseTransportSigned");
        let mut rd = Reader::new(&r.body);
        rd.bytes(4 + 32).unwrap();
        let sig = rd.sized32().unwrap();
        assert!(verify_sha1(&public(&sig_mod), &tran_digest(&[9; 20], &log), sig), "{attributes:#x}");
        // The session is gone.
        drop(c);
        assert_eq!(prop(&mut t, cap::PROP_TRANSESS), 3);
    }
}

fn prop_of(c: &mut Client<'_>, p: u32) -> u32 {
    let r = c.rqu(ord::GetCapability, &be32s(&[cap::PROPERTY, 4, p])).unwrap();
    u32::from_be_bytes(r.body[4..8].try_into().unwrap())
}

fn rc_of(r: &[u8]) -> u32 {
    crate::testing::response_rc(r)
}

fn et_raw(handle: u32, wrapped: &[u8]) -> Vec<u8> {
    let mut b = Writer::new();
    b.sized32(wrapped).u32(handle).bytes(&[1; 20]).u8(1).bytes(&[0; 20]);
    request(tag::RQU_AUTH1_COMMAND, ord::ExecuteTransport, b.as_slice())
}

#[test]
fn refusals() {
    let mut t = owned();
    let mut c = client(&mut t);
    // TPM_KH_TRANSPORT: RQU only, no encryption, a 20-byte secret.
    let public = [&[0u8, 0x1E][..], &be32s(&[0, 7]), &[0, 1]].concat();
    let body = |secret: &[u8]| [&be32s(&[kh::TRANSPORT])[..], &public, &be32s(&[secret.len() as u32]), secret].concat();
    assert_eq!(c.rqu(ord::EstablishTransport, &body(&[1; 19])).unwrap().rc, Rc::BAD_PARAM_SIZE.0);
    let mut bad_tag = body(&[1; 20]);
    bad_tag[5] = 0x1F;
    assert_eq!(c.rqu(ord::EstablishTransport, &bad_tag).unwrap().rc, Rc::INVALID_STRUCTURE.0);
    let mut s = c.oiap(SRK).unwrap();
    let r = c.auth(ord::EstablishTransport, &[kh::TRANSPORT], &body(&[1; 20])[4..], &mut [&mut s], 1).unwrap();
    assert_eq!(r.rc, Rc::BADTAG.0);
    // A signing key cannot carry the secret.
    let (sig_key, _) = signing_key(&mut c);
    let mut s = c.oiap(KEY_AUTH).unwrap();
    let r = c.auth(ord::EstablishTransport, &[sig_key], &body(&[1; 20])[4..], &mut [&mut s], 1).unwrap();
    assert_eq!(r.rc, Rc::INVALID_KEYUSAGE.0);
    // Table full.
    let mut handles = Vec::new();
    for _ in 0..3 {
        assert_eq!(c.establish_transport(0, SECRET).unwrap().rc, 0);
        handles.push(c.transport.take().unwrap());
    }
    assert_eq!(c.establish_transport(0, SECRET).unwrap().rc, Rc::RESOURCES.0);
    // A wrong transAuth ends the session (TPM_AUTH2FAIL).
    let victim = handles.pop().unwrap();
    let r = c.raw(&et_raw(victim.handle, &request(tag::RQU_COMMAND, ord::GetRandom, &be32s(&[4]))));
    assert_eq!(crate::testing::response_rc(&r), Rc::AUTH2FAIL.0);
    let r = c.raw(&et_raw(victim.handle, &request(tag::RQU_COMMAND, ord::GetRandom, &be32s(&[4]))));
    assert_eq!(crate::testing::response_rc(&r), Rc::INVALID_AUTHHANDLE.0);
    // The transport commands cannot be wrapped; unknown ordinals are refused.
    c.transport = handles.pop();
    let r = rc_of(&c.raw(&request(tag::RQU_COMMAND, ord::EstablishTransport, &body(&[1; 20]))));
    assert_eq!(r, Rc::NO_WRAP_TRANSPORT.0);
    assert!(c.transport.as_ref().unwrap().error.is_some(), "the outer command failed");
    c.transport = handles.pop();
    assert_eq!(rc_of(&c.raw(&request(tag::RQU_COMMAND, 0x1234, &[]))), Rc::BAD_ORDINAL.0);
    // Both failures ended their sessions; the table has room again.
    c.transport = None;
    assert_eq!(prop_of(&mut c, cap::PROP_TRANSESS), 3);
    // Release of a session without LOG: TPM_BAD_MODE, and the session ends.
    assert_eq!(c.establish_transport(0, SECRET).unwrap().rc, 0);
    let h = c.transport.as_ref().unwrap().handle;
    let (r, _) = c.release_transport_signed(sig_key, Some(KEY_AUTH), [0; 20]).unwrap();
    assert_eq!(r.rc, Rc::BAD_MODE.0);
    drop(c);
    let (rc, b) = rqu(&mut t, ord::GetCapability, &be32s(&[cap::HANDLE, 4, rt::TRANS]));
    assert_eq!(rc, 0);
    assert!(!b[6..].chunks(4).any(|x| x == h.to_be_bytes()));
}

#[test]
fn exclusive_sessions_end_on_any_other_command_and_flush() {
    let mut t = owned();
    let mut c = client(&mut t);
    assert_eq!(c.establish_transport(EXCLUSIVE, SECRET).unwrap().rc, 0);
    assert_eq!(c.rqu(ord::GetRandom, &be32s(&[4])).unwrap().rc, 0, "inside: fine");
    let tr = c.transport.take().unwrap();
    assert_eq!(c.rqu(ord::GetRandom, &be32s(&[4])).unwrap().rc, 0, "outside: ends the exclusive session");
    c.transport = Some(tr);
    let r = rc_of(&c.raw(&request(tag::RQU_COMMAND, ord::GetRandom, &be32s(&[4]))));
    assert_eq!(r, Rc::INVALID_AUTHHANDLE.0);
    // A non-exclusive session survives outside commands; FlushSpecific(TPM_RT_TRANS) ends it.
    c.transport = None;
    assert_eq!(c.establish_transport(0, SECRET).unwrap().rc, 0);
    let tr = c.transport.take().unwrap();
    assert_eq!(c.rqu(ord::GetRandom, &be32s(&[4])).unwrap().rc, 0);
    c.transport = Some(tr.clone());
    assert_eq!(c.rqu(ord::GetRandom, &be32s(&[4])).unwrap().rc, 0);
    let tr = c.transport.take().unwrap();
    assert_eq!(c.rqu(ord::FlushSpecific, &be32s(&[tr.handle, rt::TRANS])).unwrap().rc, 0);
    assert_eq!(c.rqu(ord::FlushSpecific, &be32s(&[tr.handle, rt::TRANS])).unwrap().rc, Rc::INVALID_AUTHHANDLE.0);
}

#[test]
fn wrapped_commands_are_audited_by_ordinal_when_encrypted() {
    let mut t = owned();
    let mut c = client(&mut t);
    let srk = srk_modulus(&mut c);
    let mut o = c.oiap(OWNER).unwrap();
    let r = c.auth(ord::SetOrdinalAuditStatus, &[], &[0, 0, 0, 0x46, 1], &mut [&mut o], 0).unwrap();
    assert_eq!(r.rc, 0, "audit GetRandom");
    drop(c);
    t.init();
    assert_eq!(rqu(&mut t, ord::Startup, &[0, 1]).0, 0);
    let mut c = client(&mut t);
    assert_eq!(c.establish_transport_with_key(kh::SRK, SRK, &srk, ENCRYPT, SECRET).unwrap().rc, 0);
    assert_eq!(c.rqu(ord::GetRandom, &be32s(&[8])).unwrap().rc, 0);
    c.transport = None;
    drop(c);
    let (rc, b) = rqu(&mut t, ord::GetAuditDigest, &be32s(&[0]));
    assert_eq!(rc, 0);
    let counter = u32::from_be_bytes(b[6..10].try_into().unwrap());
    let cv = [&[0u8, 0x0E][..], &[0; 4], &counter.to_be_bytes()].concat();
    let o = ord::GetRandom.to_be_bytes();
    let d = sha1(&[&[0; 20], &[0, 0x12], &sha1(&[&o]), &cv]);
    let d = sha1(&[&d, &[0, 0x13], &sha1(&[&[0; 4], &o]), &cv]);
    assert_eq!(b[10..30], d, "in: SHA-1(ordinal), out: SHA-1(TPM_SUCCESS ‖ ordinal)");
}

#[test]
fn capabilities_report_transport() {
    let mut t = owned();
    assert_eq!(prop(&mut t, cap::PROP_MAX_TRANSESS), 3);
    let mut c = client(&mut t);
    assert_eq!(c.establish_transport(0, SECRET).unwrap().rc, 0);
    let h = c.transport.take().unwrap().handle;
    drop(c);
    assert_eq!(prop(&mut t, cap::PROP_TRANSESS), 2);
    let (_, b) = rqu(&mut t, ord::GetCapability, &be32s(&[cap::HANDLE, 4, rt::TRANS]));
    assert_eq!(b[4..], [&[0u8, 1][..], &h.to_be_bytes()].concat());
    let (_, b) =
        rqu(&mut t, ord::GetCapability, &be32s(&[cap::PID, 2]).iter().copied().chain([0, 7]).collect::<Vec<_>>());
    assert_eq!(b[4..], [1]);
    // Sessions are volatile: TPM_Init ends them.
    t.init();
    assert_eq!(rqu(&mut t, ord::Startup, &[0, 1]).0, 0);
    assert_eq!(prop(&mut t, cap::PROP_TRANSESS), 3);
}

/// Fuzzing regression: a wrapped response that fills the I/O buffer alone does not fit
/// TPM_ExecuteTransport's answer: TPM_SIZE, never a response beyond 4088 bytes.
#[test]
fn wrapped_response_too_large_for_the_buffer() {
    let mut t = owned();
    let mut c = client(&mut t);
    assert_eq!(c.establish_transport(0, SECRET).unwrap().rc, 0);
    let r = c.raw(&request(tag::RQU_COMMAND, ord::GetRandom, &be32s(&[4074])));
    assert_eq!(rc_of(&r), Rc::SIZE.0);
    assert!(r.len() <= 4088);
    c.transport = None;
    assert_eq!(c.establish_transport(0, SECRET).unwrap().rc, 0);
    let r = c.rqu(ord::GetRandom, &be32s(&[3000])).unwrap();
    assert_eq!((r.rc, r.body.len()), (0, 3004));
}
