//! Fuzz target: command parsing and execution from several starting states.
//!
//! Input: byte 0 picks the starting state (fresh and not started / started /
//! owned, with an SRK and the well-known secrets); the rest is a sequence of
//! commands, each `locality: u8, len: u16 BE, bytes[len]`. Invariants checked
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
        let unowned = fresh.save_image();
        let mut owned = from_image(&unowned);
        owned.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &[0, 1]));
        {
            let mut c = Client::new(|cmd: &[u8]| owned.execute(0, cmd), 5);
            let r = c.take_ownership(WELL_KNOWN, WELL_KNOWN).expect("take ownership");
            assert_eq!(r.rc, 0, "TakeOwnership");
        }
        [unowned, owned.save_image()]
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
        // Occasionally a power cycle instead of a command.
        if locality == 0xFF {
            tpm.init();
        } else {
            check_response(&tpm.execute(locality, cmd));
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
