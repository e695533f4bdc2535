//! Fuzz target: command parsing and execution from several starting states.
//!
//! Input: byte 0 picks the starting state (fresh and not started / started /
//! owned, with an SRK and the well-known secrets); the rest is a sequence of
//! steps, each `kind: u8, len: u16 BE, bytes[len]`. kind 0..=4: a raw command
//! at that locality; 0xFF: TPM_Init; 0xFE / 0xFD: `bytes` = ordinal u32 ‖
//! handles and parameters, sent with one / two OIAP sessions keyed with the
//! well-known secret and correct HMACs, so the fuzzer gets past authorization
//! into the handlers; 0xFC: `entityType u16 ‖ entityValue u32`: open an OSAP session
//! (well-known secret) kept by the harness; 0xFB: `index u8 ‖ ordinal u32 ‖ handles ‖
//! params` sent through kept OSAP session `index` (continued); 0xFA: `index u8`:
//! SaveContext of kept session `index` (the blob is kept); 0xF9: `index u8`: LoadContext of
//! kept blob `index`; 0xF8: `index u8 ‖ entity u8 ‖ secret u8`: ChangeAuthOwner (owner or
//! SRK by `entity`'s low bit) through kept session `index` to a 20-byte secret of `secret`;
//! starting state 3 is state 2 with one owner OSAP session already saved in a context
//! blob; starting state 4 is state 2 with an AIK (made once by TPM_MakeIdentity) loaded;
//! 0xF7: `bytes` = idKeyParams of a TPM_MakeIdentity (SRK OIAP + owner OSAP sessions,
//! well-known secrets, identityAuth well-known); 0xF6: `bytes` = the plaintext of an
//! activation blob, every run of 20 bytes 0xD1 replaced by the loaded AIK's TPM_PUBKEY
//! digest, encrypted to the EK and sent by TPM_ActivateIdentity for the AIK (the SRK
//! without one), so mutations reach the blob parser; 0xF5: `attributes u8 ‖ command`: the
//! raw command sent wrapped in TPM_ExecuteTransport (correct transport HMAC, MGF1
//! encryption when asked) of the kept transport session, established first if there is none
//! (well-known secret; in the clear, or encrypted to the SRK when the attributes ask for
//! encryption; a session that fails is dropped); other kinds: a raw command at
//! locality `kind`. Invariants checked
//! after every command: the response has a valid header, paramSize equals its
//! length, error responses are exactly 10 bytes, the response fits 4096
//! bytes; at the end the state image round-trips.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tpm12::constants::{ord, tag};
use tpm12::testing::client::{Client, Session, WELL_KNOWN};
use tpm12::testing::{DetRng, request};
use tpm12::platform::ManualClock;
use tpm12::state::{PermanentState, SavedState, image};
use tpm12::{Tpm, TpmOptions};

fn opts() -> TpmOptions {
    TpmOptions { ek_bits: 2048, ..TpmOptions::default() }
}

fn from_image(img: &[u8]) -> Tpm {
    Tpm::from_image(img, Box::new(DetRng::new(9)), Box::new(ManualClock(1000)), opts()).expect("image")
}

type Snapshot = (PermanentState, Option<SavedState>);

/// Decoded starting states (unowned, owned), built once.
fn snapshots() -> &'static [Snapshot; 2] {
    static SNAPS: OnceLock<[Snapshot; 2]> = OnceLock::new();
    SNAPS.get_or_init(|| {
        let [a, b] = images();
        [image::decode(a).expect("unowned"), image::decode(b).expect("owned")]
    })
}

fn from_snapshot(s: &Snapshot) -> Tpm {
    Tpm::from_state(s.0.clone(), s.1.clone(), Box::new(DetRng::new(9)), Box::new(ManualClock(1000)), opts())
}

/// The EK of every starting state, generated once.
fn ek() -> &'static tpm12::crypto::RsaKey {
    static EK: OnceLock<tpm12::crypto::RsaKey> = OnceLock::new();
    EK.get_or_init(|| tpm12::crypto::RsaKey::generate(&mut DetRng::new(0xE4), 2048).expect("EK"))
}

/// An AIK made by TPM_MakeIdentity in the owned state, once: (wrapped TPM_KEY12, SHA-1 of
/// its TPM_PUBKEY).
fn aik() -> &'static (Vec<u8>, [u8; 20]) {
    static AIK: OnceLock<(Vec<u8>, [u8; 20])> = OnceLock::new();
    AIK.get_or_init(|| {
        let mut t = from_snapshot(&snapshots()[1]);
        t.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &[0, 1]));
        let mut template = tpm12::codec::Writer::new();
        tpm12::testing::client::identity_template(&mut template);
        let r = Client::new(|cmd: &[u8]| t.execute(0, cmd), 13)
            .make_identity(WELL_KNOWN, WELL_KNOWN, WELL_KNOWN, &[0; 20], template.as_slice())
            .expect("MakeIdentity");
        assert_eq!(r.rc, 0, "MakeIdentity");
        let key = tpm12::cmd::keys::blob::TpmKey::decode(&mut tpm12::codec::Reader::new(&r.body)).expect("idKey");
        let mut pubkey = tpm12::codec::Writer::new();
        key.encode_pubkey(&mut pubkey);
        (key.to_bytes(), tpm12::crypto::sha1(&[pubkey.as_slice()]))
    })
}

/// Images of the starting states, built once.
fn images() -> &'static [Vec<u8>; 2] {
    static IMAGES: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let mut fresh = tpm12::testing::tpm_with_ek(ek().clone(), 3, opts());
        let unowned = fresh.save_image().to_vec();
        let mut owned = from_image(&unowned);
        owned.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &[0, 1]));
        {
            let mut c = Client::new(|cmd: &[u8]| owned.execute(0, cmd), 5);
            let r = c.take_ownership(WELL_KNOWN, WELL_KNOWN).expect("take ownership");
            assert_eq!(r.rc, 0, "TakeOwnership");
        }
        [unowned, owned.save_image().to_vec()]
    })
}

fn check_response(r: &[u8]) {
    assert!(r.len() >= 10, "short response");
    assert!(r.len() <= 4096, "oversized response {}", r.len());
    let size = u32::from_be_bytes([r[2], r[3], r[4], r[5]]) as usize;
    assert_eq!(size, r.len(), "paramSize");
    let t = u16::from_be_bytes([r[0], r[1]]);
    assert!((0xC4..=0xC6).contains(&t), "response tag {t:#x}");
    let rc = u32::from_be_bytes([r[6], r[7], r[8], r[9]]);
    if rc != 0 {
        assert_eq!(r.len(), 10, "error response with a body");
    }
}

/// Sends `ordinal ‖ handles ‖ params` with `n` OIAP sessions (well-known secret).
fn authorized(tpm: &mut Tpm, bytes: &[u8], n: usize) {
    let ordinal = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let rest = &bytes[4..];
    let handles = tpm12::dispatch::lookup(ordinal, false).map_or(0, |e| usize::from(e.handles) * 4).min(rest.len() / 4 * 4);
    let hs: Vec<u32> = rest[..handles].chunks(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
    let params = &rest[handles..];
    let mut last = Vec::new();
    {
        let mut c = Client::new(
            |cmd: &[u8]| {
                let r = tpm.execute(0, cmd);
                last = r.clone();
                r
            },
            7,
        );
        let (Ok(mut s1), Ok(mut s2)) = (c.oiap(WELL_KNOWN), c.oiap(WELL_KNOWN)) else { return };
        let _ = if n == 1 {
            c.auth(ordinal, &hs, params, &mut [&mut s1], 0)
        } else {
            c.auth(ordinal, &hs, params, &mut [&mut s1, &mut s2], 0)
        };
    }
    check_response(&last);
}

/// What the harness keeps between steps: OSAP sessions it opened, context blobs, the
/// handle of the loaded AIK.
#[derive(Default)]
struct Kept {
    sessions: Vec<Session>,
    blobs: Vec<Vec<u8>>,
    aik: Option<u32>,
    transport: Option<tpm12::testing::transport::TransportState>,
}

const MAX_KEPT: usize = 8;

/// Runs `f` with a client over `tpm` and checks the last response.
fn with_client<R>(tpm: &mut Tpm, f: impl FnOnce(&mut Client<'_>) -> R) -> R {
    let mut last = Vec::new();
    let r = {
        let mut c = Client::new(
            |cmd: &[u8]| {
                let r = tpm.execute(0, cmd);
                last = r.clone();
                r
            },
            11,
        );
        f(&mut c)
    };
    if !last.is_empty() {
        check_response(&last);
    }
    r
}

fn osap(tpm: &mut Tpm, kept: &mut Kept, bytes: &[u8]) {
    if bytes.len() < 6 || kept.sessions.len() >= MAX_KEPT {
        return;
    }
    let et = u16::from_be_bytes([bytes[0], bytes[1]]);
    let ev = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
    if let Ok(mut s) = with_client(tpm, |c| c.osap(et, ev, WELL_KNOWN)) {
        s.keep = true;
        kept.sessions.push(s);
    }
}

fn through_osap(tpm: &mut Tpm, kept: &mut Kept, bytes: &[u8]) {
    let Some((&i, rest)) = bytes.split_first() else { return };
    if rest.len() < 4 || kept.sessions.is_empty() {
        return;
    }
    let n = kept.sessions.len();
    let s = &mut kept.sessions[usize::from(i) % n];
    let ordinal = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let rest = &rest[4..];
    let handles = tpm12::dispatch::lookup(ordinal, false).map_or(0, |e| usize::from(e.handles) * 4).min(rest.len() / 4 * 4);
    let hs: Vec<u32> = rest[..handles].chunks(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
    let _ = with_client(tpm, |c| c.auth(ordinal, &hs, &rest[handles..], &mut [s], 0));
}

fn save_context(tpm: &mut Tpm, kept: &mut Kept, bytes: &[u8]) {
    let (Some(&i), false) = (bytes.first(), kept.sessions.is_empty()) else { return };
    let h = kept.sessions[usize::from(i) % kept.sessions.len()].handle;
    let body = [&h.to_be_bytes()[..], &2u32.to_be_bytes(), &[0u8; 16]].concat();
    if let Ok(r) = with_client(tpm, |c| c.rqu(ord::SaveContext, &body)) {
        if r.rc == 0 && r.body.len() > 4 && kept.blobs.len() < MAX_KEPT {
            kept.blobs.push(r.body[4..].to_vec());
        }
    }
}

fn load_context(tpm: &mut Tpm, kept: &mut Kept, bytes: &[u8]) {
    let (Some(&i), false) = (bytes.first(), kept.blobs.is_empty()) else { return };
    let blob = &kept.blobs[usize::from(i) % kept.blobs.len()];
    if blob.len() < 10 {
        return;
    }
    let h = u32::from_be_bytes([blob[6], blob[7], blob[8], blob[9]]);
    let body = [&h.to_be_bytes()[..], &[1], &(blob.len() as u32).to_be_bytes(), blob].concat();
    let _ = with_client(tpm, |c| c.rqu(ord::LoadContext, &body));
}

fn change_auth_owner(tpm: &mut Tpm, kept: &mut Kept, bytes: &[u8]) {
    if bytes.len() < 3 || kept.sessions.is_empty() {
        return;
    }
    let n = kept.sessions.len();
    let s = &mut kept.sessions[usize::from(bytes[0]) % n];
    let entity: u16 = if bytes[1] & 1 == 0 { 0x0002 } else { 0x0004 };
    let q = [&4u16.to_be_bytes()[..], &Client::adip(s, &[bytes[2]; 20]), &entity.to_be_bytes()].concat();
    let _ = with_client(tpm, |c| c.auth(ord::ChangeAuthOwner, &[], &q, &mut [s], 0));
}

fn through_transport(tpm: &mut Tpm, kept: &mut Kept, bytes: &[u8]) {
    let Some((&attrs, cmd)) = bytes.split_first() else { return };
    let state = kept.transport.take();
    kept.transport = with_client(tpm, |c| {
        c.transport = state;
        if c.transport.is_none() {
            let attrs = u32::from(attrs & 7);
            if attrs & tpm12::testing::transport::ENCRYPT != 0 {
                let Ok(mut o) = c.oiap(WELL_KNOWN) else { return None };
                let r = c.auth(ord::OwnerReadInternalPub, &[], &0x4000_0000u32.to_be_bytes(), &mut [&mut o], 0);
                let Some(pk) = r.ok().filter(|r| r.rc == 0 && r.body.len() > 16) else { return None };
                let modulus = pk.body[16..].to_vec();
                let _ = c.establish_transport_with_key(0x4000_0000, WELL_KNOWN, &modulus, attrs, WELL_KNOWN);
            } else {
                let _ = c.establish_transport(attrs, WELL_KNOWN);
            }
        }
        if c.transport.is_some() && cmd.len() >= 10 {
            let _ = c.raw(cmd);
        }
        c.transport.take().filter(|t| t.error.is_none())
    });
}

fn make_identity(tpm: &mut Tpm, bytes: &[u8]) {
    let _ = with_client(tpm, |c| c.make_identity(WELL_KNOWN, WELL_KNOWN, WELL_KNOWN, &[0x1D; 20], bytes));
}

fn activate_identity(tpm: &mut Tpm, kept: &Kept, bytes: &[u8]) {
    let (_, digest) = aik();
    let mut plain = bytes[..bytes.len().min(214)].to_vec();
    let mut i = 0;
    while i + 20 <= plain.len() {
        if plain[i..i + 20] == [0xD1; 20] {
            plain[i..i + 20].copy_from_slice(digest);
            i += 20;
        } else {
            i += 1;
        }
    }
    let h = kept.aik.unwrap_or(0x4000_0000);
    let _ = with_client(tpm, |c| {
        let blob = c.encrypt_to_ek(&ek().modulus(), &plain)?;
        c.activate_identity(h, WELL_KNOWN, WELL_KNOWN, &blob)
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&start, mut rest)) = data.split_first() else { return };
    let snaps = snapshots();
    let mut kept = Kept::default();
    let mut tpm = match start % 5 {
        0 => from_snapshot(&snaps[0]),
        1 => {
            let mut t = from_snapshot(&snaps[0]);
            t.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &[0, 1]));
            t
        }
        2 => {
            let mut t = from_snapshot(&snaps[1]);
            t.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &[0, 1]));
            t
        }
        3 => {
            let mut t = from_snapshot(&snaps[1]);
            t.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &[0, 1]));
            osap(&mut t, &mut kept, &[0, 2, 0x40, 0, 0, 1]);
            save_context(&mut t, &mut kept, &[0]);
            t
        }
        _ => {
            let mut t = from_snapshot(&snaps[1]);
            t.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &[0, 1]));
            let (blob, _) = aik();
            let loaded = with_client(&mut t, |c| c.load_key2(0x4000_0000, WELL_KNOWN, blob));
            kept.aik = loaded.ok().filter(|(_, r)| r.rc == 0).map(|(h, _)| h);
            t
        }
    };
    let mut steps = 0;
    while rest.len() >= 3 && steps < 64 {
        let locality = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        rest = &rest[3..];
        let cmd = &rest[..len.min(rest.len())];
        rest = &rest[cmd.len()..];
        match locality {
            0xFF => tpm.init(),
            0xFC => osap(&mut tpm, &mut kept, cmd),
            0xFB => through_osap(&mut tpm, &mut kept, cmd),
            0xFA => save_context(&mut tpm, &mut kept, cmd),
            0xF9 => load_context(&mut tpm, &mut kept, cmd),
            0xF8 => change_auth_owner(&mut tpm, &mut kept, cmd),
            0xF7 => make_identity(&mut tpm, cmd),
            0xF6 => activate_identity(&mut tpm, &kept, cmd),
            0xF5 => through_transport(&mut tpm, &mut kept, cmd),
            0xFE | 0xFD if cmd.len() >= 4 => authorized(&mut tpm, cmd, if locality == 0xFE { 1 } else { 2 }),
            _ => check_response(&tpm.execute(locality, cmd)),
        }
        steps += 1;
    }
    // When the commands changed persistent state, the image must round-trip.
    if tpm.state_changed() {
        let img = tpm.save_image();
        let (perm, saved) = image::decode(&img).expect("round trip");
        assert_eq!(&perm, tpm.perm(), "image round trip");
        assert_eq!(saved.as_ref(), tpm.saved(), "saved state round trip");
    }
});
