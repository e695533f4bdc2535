//! Tests of HMAC and policy sessions: StartAuthSession, the command and response HMACs,
//! nonces and continueSession, the policy commands, policy unseal, session contexts.

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::{alg, cc, rh, st};
use crate::crypto::HashAlg;
use crate::testing::{command, plain, rc, with_password};
use crate::tests_objects::{load, params, primary, seal, started};

/// A session as the caller tracks it.
struct Caller {
    handle: u32,
    nonce_tpm: Vec<u8>,
    key: Vec<u8>,
}

fn start(tpm: &mut Tpm, tpm_key: u32, bind: u32, salt: &[u8], ty: u8) -> Result<Caller, u32> {
    let mut w = Writer::new();
    w.u32(tpm_key).u32(bind).tpm2b(&[0xA5; 16]).tpm2b(salt).u8(ty).u16(alg::NULL).u16(alg::SHA256);
    let r = tpm.execute(0, &plain(cc::START_AUTH_SESSION, &w.0));
    if rc(&r) != 0 {
        return Err(rc(&r));
    }
    let handle = u32::from_be_bytes([r[10], r[11], r[12], r[13]]);
    let nonce_tpm = Reader::new(&r[14..]).tpm2b(32).expect("nonceTPM").to_vec();
    Ok(Caller { handle, nonce_tpm, key: Vec::new() })
}

fn session_key(c: &mut Caller, auth_and_salt: &[u8]) {
    c.key = crate::crypto::kdf::kdfa(HashAlg::Sha256, auth_and_salt, b"ATH", &c.nonce_tpm, &[0xA5; 16], 256).to_vec();
}

/// A command authorized by the session `c` (HMAC over cpHash with `auth` in the key unless
/// `password` is given, which then goes in the hmac field); checks and rolls the nonces.
#[allow(clippy::too_many_arguments)]
fn run(
    tpm: &mut Tpm,
    c: &mut Caller,
    code: u32,
    handles: &[(u32, Vec<u8>)],
    auth: &[u8],
    password: Option<&[u8]>,
    attrs: u8,
    params: &[u8],
) -> Vec<u8> {
    let h = HashAlg::Sha256;
    let nonce_caller = [0x5C; 16];
    let mut parts: Vec<&[u8]> = Vec::new();
    let code_b = code.to_be_bytes();
    parts.push(&code_b);
    handles.iter().for_each(|(_, n)| parts.push(n));
    parts.push(params);
    let cp = h.digest(&parts);
    let mut key = c.key.clone();
    key.extend_from_slice(auth);
    let mac = match password {
        Some(p) => p.to_vec(),
        None => h.hmac(&key, &[&cp, &nonce_caller, &c.nonce_tpm, &[attrs]]),
    };
    let mut w = Writer::new();
    handles.iter().for_each(|(hd, _)| {
        w.u32(*hd);
    });
    let mut a = Writer::new();
    a.u32(c.handle).tpm2b(&nonce_caller).u8(attrs).tpm2b(&mac);
    w.u32(a.0.len() as u32).bytes(&a.0).bytes(params);
    let r = tpm.execute(0, &command(st::SESSIONS, code, &w.0));
    if rc(&r) == 0 {
        // the response HMAC
        let nh = usize::from(crate::cmd::find(code).is_some_and(|row| row.r_handle));
        let p = params_of(&r, nh);
        let mut rd = Reader::new(&r[10 + 4 * nh + 4 + p.len()..]);
        let nonce_tpm = rd.tpm2b(32).expect("nonceTPM").to_vec();
        assert_eq!(rd.u8().unwrap(), attrs);
        let got = rd.tpm2b(32).expect("hmac").to_vec();
        let rp = h.digest(&[&[0, 0, 0, 0], &code_b, &p]);
        let want =
            if password.is_some() { Vec::new() } else { h.hmac(&key, &[&rp, &nonce_tpm, &nonce_caller, &[attrs]]) };
        assert_eq!(got, want, "response HMAC");
        c.nonce_tpm = nonce_tpm;
    }
    r
}

fn params_of(r: &[u8], handles: usize) -> Vec<u8> {
    params(r, handles)
}

fn name_of(tpm: &mut Tpm, handle: u32) -> Vec<u8> {
    let r = tpm.execute(0, &plain(cc::READ_PUBLIC, &handle.to_be_bytes()));
    let mut rd = Reader::new(&r[10..]);
    rd.tpm2b(1024).unwrap();
    rd.tpm2b(64).unwrap().to_vec()
}

fn unseal_out(r: &[u8]) -> Vec<u8> {
    Reader::new(&params(r, 0)).tpm2b(128).unwrap().to_vec()
}

const CONTINUE: u8 = 1;

#[test]
fn hmac_session_authorizes_unseal_and_rolls_nonces() {
    let mut tpm = started(11);
    let (parent, _) = primary(&mut tpm, rh::OWNER);
    let (private, public) = seal(&mut tpm, parent, b"pw", b"hmac-secret", &[]);
    let item = load(&mut tpm, parent, &private, &public).unwrap();
    let name = name_of(&mut tpm, item);
    let mut s = start(&mut tpm, rh::NULL, rh::NULL, &[], 0).expect("StartAuthSession");
    assert_eq!(s.handle, 0x0200_0000);
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"pw", None, CONTINUE, &[]);
    assert_eq!(unseal_out(&r), b"hmac-secret");
    // the wrong authValue of a DA-protected object (noDA CLEAR): TPM_RC_AUTH_FAIL + S1
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"pX", None, CONTINUE, &[]);
    assert_eq!(rc(&r), 0x98E);
    // an old nonceTPM (a replay) fails
    let old = s.nonce_tpm.clone();
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"pw", None, CONTINUE, &[]);
    assert_eq!(rc(&r), 0);
    let mut replay = Caller { handle: s.handle, nonce_tpm: old, key: Vec::new() };
    let r = run(&mut tpm, &mut replay, cc::UNSEAL, &[(item, name.clone())], b"pw", None, CONTINUE, &[]);
    assert_eq!(rc(&r), 0x98E);
    // a wrong Name in cpHash fails
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, alloc::vec![0, 0x0b, 1])], b"pw", None, CONTINUE, &[]);
    assert_eq!(rc(&r), 0x98E);
    // reserved and unimplemented attributes
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"pw", None, 0x08, &[]);
    assert_eq!(rc(&r), 0x9A1, "TPM_RC_RESERVED_BITS + S1");
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"pw", None, 0x40 | CONTINUE, &[]);
    assert_eq!(rc(&r), 0x996, "encrypt without a session cipher: TPM_RC_SYMMETRIC + S1");
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"pw", None, 0x80 | CONTINUE, &[]);
    assert_eq!(rc(&r), 0x982, "audit: TPM_RC_ATTRIBUTES + S1");
    // without continueSession the session ends with the command
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"pw", None, 0, &[]);
    assert_eq!(rc(&r), 0);
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name)], b"pw", None, 0, &[]);
    assert_eq!(rc(&r), 0x918, "TPM_RC_REFERENCE_S0");
    assert_eq!(rc(&tpm.execute(0, &plain(cc::FLUSH_CONTEXT, &s.handle.to_be_bytes()))), 0x1CB);
}

#[test]
fn hmac_session_on_a_hierarchy_bound_and_salted() {
    let mut tpm = started(12);
    let owner = rh::OWNER.to_be_bytes().to_vec();
    let r = tpm.execute(0, &with_password(cc::HIERARCHY_CHANGE_AUTH, &[rh::OWNER], b"", &[0, 3, b'o', b'w', b'n']));
    assert_eq!(rc(&r), 0);
    let body = crate::testing::objects::create_params(b"", b"", &crate::testing::objects::ecc_storage());
    // bound to the owner hierarchy: its authValue is in the session key, not in the HMAC key
    let mut s = start(&mut tpm, rh::NULL, rh::OWNER, &[], 0).unwrap();
    session_key(&mut s, b"own");
    let r = run(&mut tpm, &mut s, cc::CREATE_PRIMARY, &[(rh::OWNER, owner.clone())], b"", None, CONTINUE, &body);
    assert_eq!(rc(&r), 0, "bound session on its own entity");
    let primary_handle = u32::from_be_bytes([r[10], r[11], r[12], r[13]]);
    // the bound session on another entity (the null hierarchy) includes that entity's (empty) auth
    let null = rh::NULL.to_be_bytes().to_vec();
    let r = run(&mut tpm, &mut s, cc::CREATE_PRIMARY, &[(rh::NULL, null)], b"", None, CONTINUE, &body);
    assert_eq!(rc(&r), 0);
    let flush = |tpm: &mut Tpm, h: u32| rc(&tpm.execute(0, &plain(cc::FLUSH_CONTEXT, &h.to_be_bytes())));
    assert_eq!(flush(&mut tpm, u32::from_be_bytes([r[10], r[11], r[12], r[13]])), 0);
    // salted with the ECC primary: the caller's ephemeral key and KDFe
    let (qx, qy) = {
        let r = tpm.execute(0, &plain(cc::READ_PUBLIC, &primary_handle.to_be_bytes()));
        let p = Reader::new(&r[10..]).tpm2b(1024).unwrap().to_vec();
        let mut rd = Reader::new(&p[p.len() - 68..]);
        (rd.tpm2b(32).unwrap().to_vec(), rd.tpm2b(32).unwrap().to_vec())
    };
    let mut de = [0u8; 32];
    de[31] = 7;
    let (ex, ey) = crate::crypto::ecc::public_point(&de).unwrap();
    let z = crate::crypto::ecc::shared_x(&de, &qx, &qy).unwrap();
    let salt = crate::cmd::session::kdfe(HashAlg::Sha256, &z, b"SECRET", &ex, &qx, 256);
    let mut point = Writer::new();
    point.tpm2b(&ex).tpm2b(&ey);
    let mut s2 = start(&mut tpm, primary_handle, rh::NULL, &point.0, 0).expect("salted session");
    session_key(&mut s2, &salt);
    let r = run(&mut tpm, &mut s2, cc::CREATE_PRIMARY, &[(rh::OWNER, owner.clone())], b"own", None, CONTINUE, &body);
    assert_eq!(rc(&r), 0, "salted session");
    // a salt without tpmKey: TPM_RC_VALUE + P2; a point off the curve
    assert_eq!(start(&mut tpm, rh::NULL, rh::NULL, &point.0, 0).err(), Some(0x2C4));
    let mut bad = Writer::new();
    bad.tpm2b(&ex).tpm2b(&ex);
    assert_eq!(start(&mut tpm, primary_handle, rh::NULL, &bad.0, 0).err(), Some(0x2E7));
    // a short nonceCaller: TPM_RC_SIZE + P1; a symmetric algorithm: not implemented
    let mut w = Writer::new();
    w.u32(rh::NULL).u32(rh::NULL).tpm2b(&[1; 8]).u16(0).u8(0).u16(alg::NULL).u16(alg::SHA256);
    assert_eq!(rc(&tpm.execute(0, &plain(cc::START_AUTH_SESSION, &w.0))), 0x1D5);
    let mut w = Writer::new();
    w.u32(rh::NULL).u32(rh::NULL).tpm2b(&[1; 16]).u16(0).u8(0).u16(alg::XOR).u16(alg::SHA256).u16(alg::SHA256);
    assert_eq!(rc(&tpm.execute(0, &plain(cc::START_AUTH_SESSION, &w.0))), 0x4D6, "XOR: TPM_RC_SYMMETRIC + P4");
    // three loaded sessions at most: TPM_RC_SESSION_MEMORY
    start(&mut tpm, rh::NULL, rh::NULL, &[], 0).unwrap();
    assert_eq!(start(&mut tpm, rh::NULL, rh::NULL, &[], 0).err(), Some(0x903));
}

fn policy_pcr_params(pcr: usize) -> Vec<u8> {
    let mut sel = [0u8; 3];
    sel[pcr / 8] |= 1 << (pcr % 8);
    let mut w = Writer::new();
    w.u16(0).u32(1).u16(alg::SHA256).u8(3).bytes(&sel);
    w.0
}

fn policy(tpm: &mut Tpm, s: u32, code: u32, params: &[u8]) -> u32 {
    let mut w = Writer::new();
    w.u32(s).bytes(params);
    rc(&tpm.execute(0, &plain(code, &w.0)))
}

fn digest(tpm: &mut Tpm, s: u32) -> Vec<u8> {
    let r = tpm.execute(0, &plain(cc::POLICY_GET_DIGEST, &s.to_be_bytes()));
    assert_eq!(rc(&r), 0);
    Reader::new(&r[10..]).tpm2b(32).unwrap().to_vec()
}

#[test]
fn policy_pcr_seal_and_unseal() {
    let mut tpm = started(13);
    let (parent, _) = primary(&mut tpm, rh::OWNER);
    // a trial session computes the policy
    let trial = start(&mut tpm, rh::NULL, rh::NULL, &[], 3).unwrap();
    assert_eq!(trial.handle >> 24, 0x03);
    assert_eq!(digest(&mut tpm, trial.handle), [0u8; 32]);
    assert_eq!(policy(&mut tpm, trial.handle, cc::POLICY_PCR, &policy_pcr_params(7)), 0);
    let want = digest(&mut tpm, trial.handle);
    // Part 1: policyDigest' = H(0…0 ‖ TPM_CC_PolicyPCR ‖ pcrs ‖ H(PCR 7 = zeros))
    let sel = &policy_pcr_params(7)[2..];
    let pcr_digest = HashAlg::Sha256.digest(&[&[0u8; 32]]);
    assert_eq!(want, HashAlg::Sha256.digest(&[&[0u8; 32], &cc::POLICY_PCR.to_be_bytes(), sel, &pcr_digest]));
    assert_eq!(policy(&mut tpm, trial.handle, cc::POLICY_RESTART, &[]), 0);
    assert_eq!(digest(&mut tpm, trial.handle), [0u8; 32]);

    let (private, public) = seal(&mut tpm, parent, b"", b"pcr-bound", &want);
    let item = load(&mut tpm, parent, &private, &public).unwrap();
    let name = name_of(&mut tpm, item);
    let mut s = start(&mut tpm, rh::NULL, rh::NULL, &[], 1).unwrap();
    assert_eq!(policy(&mut tpm, s.handle, cc::POLICY_PCR, &policy_pcr_params(7)), 0);
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"", None, CONTINUE, &[]);
    assert_eq!(unseal_out(&r), b"pcr-bound");
    // the policy was used: it starts anew, so the next unseal needs PolicyPCR again
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"", None, CONTINUE, &[]);
    assert_eq!(rc(&r), 0x99D, "TPM_RC_POLICY_FAIL + S1");
    // a PCR changed between PolicyPCR and the use: TPM_RC_PCR_CHANGED
    assert_eq!(policy(&mut tpm, s.handle, cc::POLICY_PCR, &policy_pcr_params(7)), 0);
    let mut ext = Writer::new();
    ext.u32(1).u16(alg::SHA256).bytes(&[3; 32]);
    assert_eq!(rc(&tpm.execute(0, &with_password(cc::PCR_EXTEND, &[7], b"", &ext.0))), 0);
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"", None, CONTINUE, &[]);
    assert_eq!(rc(&r), 0x128);
    // after the extend the policy no longer matches: TPM_RC_POLICY_FAIL
    assert_eq!(policy(&mut tpm, s.handle, cc::POLICY_RESTART, &[]), 0);
    assert_eq!(policy(&mut tpm, s.handle, cc::POLICY_PCR, &policy_pcr_params(7)), 0);
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"", None, CONTINUE, &[]);
    assert_eq!(rc(&r), 0x99D);
    // a pcrDigest that does not match the PCRs: TPM_RC_VALUE + P1
    let mut p = policy_pcr_params(7);
    p.splice(0..2, [0, 32].into_iter().chain([9u8; 32]));
    assert_eq!(policy(&mut tpm, s.handle, cc::POLICY_PCR, &p), 0x1C4);
    // a policy command on an HMAC session or a missing one
    let h = start(&mut tpm, rh::NULL, rh::NULL, &[], 0).unwrap();
    assert_eq!(policy(&mut tpm, h.handle, cc::POLICY_PCR, &policy_pcr_params(7)), 0x184);
    assert_eq!(policy(&mut tpm, 0x0300_0007, cc::POLICY_PCR, &policy_pcr_params(7)), 0x910);
    // a password session cannot stand in for the policy
    assert_eq!(crate::tests_objects::unseal(&mut tpm, item, b""), Err(0x12F));
}

#[test]
fn policy_password_auth_value_and_command_code() {
    let mut tpm = started(14);
    let (parent, _) = primary(&mut tpm, rh::OWNER);
    let trial = start(&mut tpm, rh::NULL, rh::NULL, &[], 3).unwrap();
    assert_eq!(policy(&mut tpm, trial.handle, cc::POLICY_AUTH_VALUE, &[]), 0);
    let auth_value_policy = digest(&mut tpm, trial.handle);
    // the well-known PolicyAuthValue digest (SHA-256)
    let known = [
        0x8f, 0xcd, 0x21, 0x69, 0xab, 0x92, 0x69, 0x4e, 0x0c, 0x63, 0x3f, 0x1a, 0xb7, 0x72, 0x84, 0x2b, 0x82, 0x41,
        0xbb, 0xc2, 0x02, 0x88, 0x98, 0x1f, 0xc7, 0xac, 0x1e, 0xdd, 0xc1, 0xfd, 0xdb, 0x0e,
    ];
    assert_eq!(auth_value_policy, known);
    assert_eq!(policy(&mut tpm, trial.handle, cc::POLICY_RESTART, &[]), 0);
    assert_eq!(policy(&mut tpm, trial.handle, cc::POLICY_PASSWORD, &[]), 0);
    assert_eq!(digest(&mut tpm, trial.handle), known, "PolicyPassword extends as PolicyAuthValue");

    let (private, public) = seal(&mut tpm, parent, b"sekrit", b"pw-policy", &known);
    let item = load(&mut tpm, parent, &private, &public).unwrap();
    let name = name_of(&mut tpm, item);
    // PolicyPassword: the authValue in clear
    let mut s = start(&mut tpm, rh::NULL, rh::NULL, &[], 1).unwrap();
    assert_eq!(policy(&mut tpm, s.handle, cc::POLICY_PASSWORD, &[]), 0);
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"", Some(b"sekrit"), CONTINUE, &[]);
    assert_eq!(unseal_out(&r), b"pw-policy");
    assert_eq!(policy(&mut tpm, s.handle, cc::POLICY_PASSWORD, &[]), 0);
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"", Some(b"wrong"), CONTINUE, &[]);
    assert_eq!(rc(&r), 0x98E);
    // PolicyAuthValue: the authValue in the HMAC key
    assert_eq!(policy(&mut tpm, s.handle, cc::POLICY_RESTART, &[]), 0);
    assert_eq!(policy(&mut tpm, s.handle, cc::POLICY_AUTH_VALUE, &[]), 0);
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"sekrit", None, CONTINUE, &[]);
    assert_eq!(unseal_out(&r), b"pw-policy");
    // PolicyCommandCode: the digest and the lock
    let trial2 = start(&mut tpm, rh::NULL, rh::NULL, &[], 3).unwrap();
    assert_eq!(policy(&mut tpm, trial2.handle, cc::POLICY_COMMAND_CODE, &cc::UNSEAL.to_be_bytes()), 0);
    let d = digest(&mut tpm, trial2.handle);
    assert_eq!(
        d,
        HashAlg::Sha256.digest(&[&[0u8; 32], &cc::POLICY_COMMAND_CODE.to_be_bytes(), &cc::UNSEAL.to_be_bytes()])
    );
    assert_eq!(policy(&mut tpm, trial2.handle, cc::POLICY_COMMAND_CODE, &cc::LOAD.to_be_bytes()), 0x1C4);
    assert_eq!(policy(&mut tpm, trial2.handle, cc::POLICY_COMMAND_CODE, &0x0000_0999u32.to_be_bytes()), 0x1E4);
    let (private2, public2) = seal(&mut tpm, parent, b"", b"cc-locked", &d);
    let item2 = load(&mut tpm, parent, &private2, &public2).unwrap();
    let name2 = name_of(&mut tpm, item2);
    assert_eq!(policy(&mut tpm, s.handle, cc::POLICY_RESTART, &[]), 0);
    assert_eq!(policy(&mut tpm, s.handle, cc::POLICY_COMMAND_CODE, &cc::UNSEAL.to_be_bytes()), 0);
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item2, name2)], b"", None, CONTINUE, &[]);
    assert_eq!(unseal_out(&r), b"cc-locked");
}

#[test]
fn session_contexts_save_load_replay_and_reset() {
    let mut tpm = started(15);
    let (parent, _) = primary(&mut tpm, rh::OWNER);
    let (private, public) = seal(&mut tpm, parent, b"pw", b"ctx", &[]);
    let item = load(&mut tpm, parent, &private, &public).unwrap();
    let name = name_of(&mut tpm, item);
    let mut s = start(&mut tpm, rh::NULL, rh::NULL, &[], 0).unwrap();
    let save = |tpm: &mut Tpm, h: u32| {
        let r = tpm.execute(0, &plain(cc::CONTEXT_SAVE, &h.to_be_bytes()));
        assert_eq!(rc(&r), 0);
        r[10..].to_vec()
    };
    let ctx = save(&mut tpm, s.handle);
    // saved: not loaded, still active (listed, counted)
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"pw", None, CONTINUE, &[]);
    assert_eq!(rc(&r), 0x918);
    let mut w = Writer::new();
    w.u32(crate::constants::cap::HANDLES).u32(0x0200_0000).u32(8);
    let caps = tpm.execute(0, &plain(cc::GET_CAPABILITY, &w.0));
    assert_eq!(caps[15..23], [0, 0, 0, 1, 2, 0, 0, 0]);
    // tampered: TPM_RC_INTEGRITY + P1
    let mut bad = ctx.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert_eq!(rc(&tpm.execute(0, &plain(cc::CONTEXT_LOAD, &bad))), 0x1DF);
    let r = tpm.execute(0, &plain(cc::CONTEXT_LOAD, &ctx));
    assert_eq!(rc(&r), 0);
    assert_eq!(r[10..14], s.handle.to_be_bytes(), "a session keeps its handle");
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(item, name.clone())], b"pw", None, CONTINUE, &[]);
    assert_eq!(unseal_out(&r), b"ctx");
    // a context loads once: a replay is refused
    assert_eq!(rc(&tpm.execute(0, &plain(cc::CONTEXT_LOAD, &ctx))), 0x1CB);
    // after a TPM Reset the context fails its integrity check
    let ctx2 = save(&mut tpm, s.handle);
    tpm.init();
    assert_eq!(rc(&tpm.execute(0, &plain(cc::STARTUP, &[0, 0]))), 0);
    assert_eq!(rc(&tpm.execute(0, &plain(cc::CONTEXT_LOAD, &ctx2))), 0x1DF);
}

/// KDFa(…, "CFB", newer, older) → AES-128 key and IV, then CFB.
fn cfb(key: &[u8], newer: &[u8], older: &[u8], data: &mut [u8], encrypt: bool) {
    let k = crate::crypto::kdf::kdfa(HashAlg::Sha256, key, b"CFB", newer, older, 256);
    let iv: [u8; 16] = k[16..32].try_into().unwrap();
    if encrypt {
        crate::crypto::cfb::encrypt(&k[..16], &iv, data).unwrap();
    } else {
        crate::crypto::cfb::decrypt(&k[..16], &iv, data).unwrap();
    }
}

#[test]
fn parameter_encryption_with_a_bound_aes_cfb_session() {
    let mut tpm = started(16);
    let (parent, _) = primary(&mut tpm, rh::OWNER);
    // an HMAC session bound to the parent (empty auth) with AES-128-CFB: sessionKey non-empty
    let mut w = Writer::new();
    w.u32(rh::NULL).u32(parent).tpm2b(&[0xA5; 16]).u16(0).u8(0).u16(alg::AES).u16(128).u16(alg::CFB).u16(alg::SHA256);
    let r = tpm.execute(0, &plain(cc::START_AUTH_SESSION, &w.0));
    assert_eq!(rc(&r), 0);
    let handle = u32::from_be_bytes([r[10], r[11], r[12], r[13]]);
    let mut nonce_tpm = Reader::new(&r[14..]).tpm2b(32).unwrap().to_vec();
    let key = crate::crypto::kdf::kdfa(HashAlg::Sha256, b"", b"ATH", &nonce_tpm, &[0xA5; 16], 256).to_vec();
    let parent_name = name_of(&mut tpm, parent);
    // Create with decrypt: inSensitive's bytes encrypted (the HMAC covers the ciphertext)
    let nonce_caller = [0x33u8; 16];
    let mut params =
        crate::testing::objects::create_params(b"", b"encrypted in transit", &crate::testing::objects::sealed(&[]));
    let n = usize::from(u16::from_be_bytes([params[0], params[1]]));
    cfb(&key, &nonce_caller, &nonce_tpm, &mut params[2..2 + n], true);
    let attrs = 0x20 | 0x40 | CONTINUE; // decrypt, encrypt, continueSession
    let cp = HashAlg::Sha256.digest(&[&cc::CREATE.to_be_bytes(), &parent_name, &params]);
    // bound to the parent: its (empty) authValue is left out either way
    let mac = HashAlg::Sha256.hmac(&key, &[&cp, &nonce_caller, &nonce_tpm, &[attrs]]);
    let mut body = Writer::new();
    let mut a = Writer::new();
    a.u32(handle).tpm2b(&nonce_caller).u8(attrs).tpm2b(&mac);
    body.u32(parent).u32(a.0.len() as u32).bytes(&a.0).bytes(&params);
    let r = tpm.execute(0, &command(st::SESSIONS, cc::CREATE, &body.0));
    assert_eq!(rc(&r), 0, "Create with decrypt and encrypt");
    let mut p = params_of(&r, 0);
    let new_nonce = Reader::new(&r[14 + p.len()..]).tpm2b(32).unwrap().to_vec();
    // outPrivate comes back encrypted under the new nonceTPM
    let n = usize::from(u16::from_be_bytes([p[0], p[1]]));
    cfb(&key, &new_nonce, &nonce_caller, &mut p[2..2 + n], false);
    nonce_tpm = new_nonce;
    let mut rd = Reader::new(&p);
    let private = rd.tpm2b(1024).unwrap().to_vec();
    let public = rd.tpm2b(1024).unwrap().to_vec();
    let item = load(&mut tpm, parent, &private, &public).expect("the decrypted outPrivate loads");
    // Unseal through a password session plus the AES session for encrypt only
    let item_name = name_of(&mut tpm, item);
    let cp = HashAlg::Sha256.digest(&[&cc::UNSEAL.to_be_bytes(), &item_name]);
    let enc_attrs = 0x40 | CONTINUE;
    let mac = HashAlg::Sha256.hmac(&key, &[&cp, &nonce_caller, &nonce_tpm, &[enc_attrs]]);
    let mut a = Writer::new();
    a.u32(rh::PW).u16(0).u8(0).u16(0);
    a.u32(handle).tpm2b(&nonce_caller).u8(enc_attrs).tpm2b(&mac);
    let mut body = Writer::new();
    body.u32(item).u32(a.0.len() as u32).bytes(&a.0);
    let r = tpm.execute(0, &command(st::SESSIONS, cc::UNSEAL, &body.0));
    assert_eq!(rc(&r), 0, "Unseal with an encrypt session");
    let mut p = params_of(&r, 0);
    assert_ne!(&p[2..], b"encrypted in transit", "outData is encrypted");
    // the password session's 5 bytes, then the AES session's nonce
    let new_nonce = Reader::new(&r[14 + p.len() + 5..]).tpm2b(32).unwrap().to_vec();
    cfb(&key, &new_nonce, &nonce_caller, &mut p[2..], false);
    assert_eq!(&p[2..], b"encrypted in transit");
    // decrypt on a command whose first parameter is not a sized buffer: TPM_RC_ATTRIBUTES + S2
    let mac = HashAlg::Sha256.hmac(&key, &[&cp, &nonce_caller, &new_nonce, &[0x20 | CONTINUE]]);
    let mut a = Writer::new();
    a.u32(rh::PW).u16(0).u8(0).u16(0);
    a.u32(handle).tpm2b(&nonce_caller).u8(0x20 | CONTINUE).tpm2b(&mac);
    let mut body = Writer::new();
    body.u32(item).u32(a.0.len() as u32).bytes(&a.0);
    assert_eq!(rc(&tpm.execute(0, &command(st::SESSIONS, cc::UNSEAL, &body.0))), 0xA82);
}

#[test]
fn hmac_session_salted_with_an_rsa_primary() {
    let mut tpm = started(13);
    let (srk, public) = crate::tests_rsa::rsa_primary(&mut tpm, rh::OWNER, &crate::testing::objects::rsa_storage());
    let n = &public[public.len() - 256..];
    let key = crate::crypto::rsa::public_key(n, 0).unwrap();
    let salt = [0x42u8; 32];
    let mut i = 0u8;
    let mut rng = |b: &mut [u8]| {
        b.iter_mut().for_each(|x| {
            i = i.wrapping_add(1);
            *x = i
        })
    };
    let pad = crate::crypto::rsa::Padding::Oaep(HashAlg::Sha256);
    let secret = crate::crypto::rsa::encrypt(&key, pad, b"SECRET\0", &salt, &mut rng).unwrap();
    let mut s = start(&mut tpm, srk, rh::NULL, &secret, 0).expect("RSA-salted session");
    session_key(&mut s, &salt);
    let (private, public) = seal(&mut tpm, srk, b"", b"rsa-salted", &[]);
    let h = load(&mut tpm, srk, &private, &public).expect("loads under the RSA SRK");
    let name = name_of(&mut tpm, h);
    let r = run(&mut tpm, &mut s, cc::UNSEAL, &[(h, name)], b"", None, CONTINUE, &[]);
    assert_eq!(unseal_out(&r), b"rsa-salted");
    // another label (no terminating zero) does not decrypt: TPM_RC_VALUE + P2
    let secret = crate::crypto::rsa::encrypt(&key, pad, b"SECRET", &salt, &mut rng).unwrap();
    assert_eq!(start(&mut tpm, srk, rh::NULL, &secret, 0).err(), Some(0x2C4));
    // a short encryptedSalt: TPM_RC_VALUE + P2 (as libtpms)
    assert_eq!(start(&mut tpm, srk, rh::NULL, &secret[1..], 0).err(), Some(0x2C4));
}

#[test]
fn nv_change_auth_needs_a_policy_session() {
    use crate::nv::attr;
    let mut tpm = started(15);
    let index = crate::tests_nv::INDEX;
    let trial = start(&mut tpm, rh::NULL, rh::NULL, &[], 3).unwrap();
    assert_eq!(policy(&mut tpm, trial.handle, cc::POLICY_COMMAND_CODE, &cc::NV_CHANGE_AUTH.to_be_bytes()), 0);
    let admin_policy = digest(&mut tpm, trial.handle);
    let mut p = Writer::new();
    p.u32(index).u16(alg::SHA256).u32(attr::AUTHWRITE | attr::AUTHREAD).tpm2b(&admin_policy).u16(4);
    let mut w = Writer::new();
    w.tpm2b(b"old").tpm2b(&p.0);
    assert_eq!(rc(&tpm.execute(0, &with_password(cc::NV_DEFINE_SPACE, &[rh::OWNER], b"", &w.0))), 0);
    let name = {
        let r = tpm.execute(0, &plain(cc::NV_READ_PUBLIC, &index.to_be_bytes()));
        let mut rd = Reader::new(&r[10..]);
        rd.tpm2b(256).unwrap();
        rd.tpm2b(64).unwrap().to_vec()
    };
    // the ADMIN role: a password is not available
    let r = tpm.execute(0, &with_password(cc::NV_CHANGE_AUTH, &[index], b"old", &[0, 3, b'n', b'e', b'w']));
    assert_eq!(rc(&r), 0x12F, "TPM_RC_AUTH_UNAVAILABLE");
    // a policy session for NV_Read: POLICYREAD is CLEAR
    let mut s = start(&mut tpm, rh::NULL, rh::NULL, &[], 1).unwrap();
    assert_eq!(policy(&mut tpm, s.handle, cc::POLICY_COMMAND_CODE, &cc::NV_CHANGE_AUTH.to_be_bytes()), 0);
    let r = run(
        &mut tpm,
        &mut s,
        cc::NV_READ,
        &[(index, name.clone()), (index, name.clone())],
        b"",
        None,
        CONTINUE,
        &[0, 4, 0, 0],
    );
    assert_eq!(rc(&r), 0x12F);
    // the policy session with PolicyCommandCode(NV_ChangeAuth)
    let r = run(&mut tpm, &mut s, cc::NV_CHANGE_AUTH, &[(index, name)], b"", None, CONTINUE, &[0, 3, b'n', b'e', b'w']);
    assert_eq!(rc(&r), 0, "NV_ChangeAuth {r:02x?}");
    let mut w = Writer::new();
    w.tpm2b(b"data").u16(0);
    assert_eq!(rc(&tpm.execute(0, &with_password(cc::NV_WRITE, &[index, index], b"new", &w.0))), 0);
    assert_eq!(rc(&tpm.execute(0, &with_password(cc::NV_WRITE, &[index, index], b"old", &w.0))), 0x98E);
}
