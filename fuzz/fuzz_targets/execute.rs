//! Fuzz target: command parsing and execution from several starting states.
//!
//! Input: byte 0 picks the starting state (fresh and not started / started /
//! owned, with an SRK and the well-known secrets); the rest is a sequence of
//! steps, each `kind: u8, len: u16 BE, bytes[len]`. kind 0..=4: a raw command
//! at that locality; 0xFF: TPM_Init; 0xFE / 0xFD: `bytes` = ordinal u32 ‖
//! handles and parameters, sent with one / two OIAP sessions keyed with the
//! well-known secret and correct HMACs, so the fuzzer gets past authorization
//! into the handlers; other kinds: a raw command at locality `kind`. Invariants checked
//! after every command: the response has a valid header, paramSize equals its
//! length, error responses are exactly 10 bytes, the response fits 4096
//! bytes; at the end the state image round-trips.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tpm12::constants::{ord, tag};
use tpm12::testing::client::{Client, WELL_KNOWN};
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

/// Images of the starting states, built once.
fn images() -> &'static [Vec<u8>; 2] {
    static IMAGES: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let ek = tpm12::crypto::RsaKey::generate(&mut DetRng::new(0xE4), 2048).expect("EK");
        let mut fresh = tpm12::testing::tpm_with_ek(ek, 3, opts());
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

fuzz_target!(|data: &[u8]| {
    let Some((&start, mut rest)) = data.split_first() else { return };
    let snaps = snapshots();
    let mut tpm = match start % 3 {
        0 => from_snapshot(&snaps[0]),
        1 => {
            let mut t = from_snapshot(&snaps[0]);
            t.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &[0, 1]));
            t
        }
        _ => {
            let mut t = from_snapshot(&snaps[1]);
            t.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &[0, 1]));
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
            0xFE | 0xFD if cmd.len() >= 4 => authorized(&mut tpm, cmd, if locality == 0xFE { 1 } else { 2 }),
            _ => check_response(&tpm.execute(locality, cmd)),
        }
        steps += 1;
    }
    // When the commands changed persistent state, the image must round-trip.
    if tpm.state_changed() {
        let img = tpm.save_image();
        let (perm, saved) = image::decode(&img).expect("round trip");
        assert_eq!(perm, tpm.perm, "image round trip");
        assert_eq!(saved, tpm.saved, "saved state round trip");
    }
});
