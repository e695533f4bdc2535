//! Fuzz target: the TPM 2.0 engine (`tpm20`), command parsing and execution from several
//! starting states, and its state image parser.
//!
//! Input: byte 0 picks the starting state (0 fresh, not started; 1 started; 2 started, PCRs
//! extended, Shutdown(STATE) and _TPM_Init done, so Startup(STATE) resumes; 3 started with
//! objects and sessions: an ECC storage primary at 0x80000000, a sealed data object with
//! the empty authValue at 0x80000001, the primary's persistent copy at 0x81000001, an HMAC
//! session 0x02000000 and a policy session 0x03000001); the rest is a
//! sequence of steps `kind u8, len u16 BE, bytes[len]`. kind 0..=4: a raw command at that
//! locality; 0xFF: _TPM_Init; 0xFE: `bytes` = command code u32 ‖ one handle ‖ parameters,
//! sent with a password session (the empty password), so mutations get past authorization
//! into the handlers; 0xFD: the engine is saved to an image and restored from it; 0xFC:
//! `bytes` go to the image decoder (what decodes must re-encode to the same bytes); other
//! kinds: a raw command at locality `kind`.
//!
//! Invariants after every command: a valid header, paramSize equal to the length, error
//! responses exactly 10 bytes, at most 4088 bytes, a success echoes the command's tag;
//! PCR_Extend, PCR_Read and GetRandom never set the permanent-change flag. At the end the
//! state image round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpm20::constants::cc;
use tpm20::state::image;
use tpm20::testing::objects::{create_params, ecc_storage, sealed};
use tpm20::testing::{DetRng, manufactured, plain, with_password};
use tpm20::{ManualClock, Tpm};

fn check(cmd: &[u8], resp: &[u8]) {
    assert!(resp.len() >= 10 && resp.len() <= 4088, "response length {}", resp.len());
    let size = u32::from_be_bytes([resp[2], resp[3], resp[4], resp[5]]) as usize;
    assert_eq!(size, resp.len(), "paramSize");
    let rc = u32::from_be_bytes([resp[6], resp[7], resp[8], resp[9]]);
    let tag = u16::from_be_bytes([resp[0], resp[1]]);
    if rc != 0 {
        assert_eq!(resp.len(), 10, "error responses are 10 bytes");
        assert!(tag == 0x8001 || tag == 0x00C4, "error tag {tag:#x}");
    } else {
        assert_eq!(cmd.get(..2), Some(&resp[..2]), "a success echoes the tag");
    }
}

fn run(tpm: &mut Tpm, locality: u8, cmd: &[u8]) {
    let before = tpm.state_changed();
    let resp = tpm.execute(locality, cmd);
    check(cmd, &resp);
    let code = cmd.get(6..10).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if matches!(code, Some(cc::PCR_EXTEND | cc::PCR_READ | cc::GET_RANDOM)) {
        assert_eq!(tpm.state_changed(), before, "PCR_Extend/PCR_Read/GetRandom changed permanent state");
    }
}

fn restore(tpm: &mut Tpm, seed: u64) {
    let img = tpm.save_image();
    *tpm = Tpm::from_image(&img, Box::new(DetRng::new(seed)), Box::new(ManualClock(0))).expect("own image");
}

/// Starting state 3: objects and sessions loaded.
fn with_objects(tpm: &mut Tpm) {
    run(tpm, 0, &with_password(cc::CREATE_PRIMARY, &[0x4000_0001], b"", &create_params(b"", b"", &ecc_storage())));
    let r = tpm.execute(0, &with_password(cc::CREATE, &[0x8000_0000], b"", &create_params(b"", b"fuzz", &sealed(&[]))));
    check(&[0x80, 0x02], &r);
    // outPrivate and outPublic, then Load
    let params = r.get(14..).unwrap_or(&[]);
    let n = params.get(..2).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let private = params.get(..2 + n).unwrap_or(&[]);
    let rest = params.get(2 + n..).unwrap_or(&[]);
    let m = rest.get(..2).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let mut body = private.to_vec();
    body.extend_from_slice(rest.get(..2 + m).unwrap_or(&[]));
    run(tpm, 0, &with_password(cc::LOAD, &[0x8000_0000], b"", &body));
    run(tpm, 0, &with_password(cc::EVICT_CONTROL, &[0x4000_0001, 0x8000_0000], b"", &0x8100_0001u32.to_be_bytes()));
    for ty in [0u8, 1] {
        let mut w = vec![0x40, 0, 0, 7, 0x40, 0, 0, 7, 0, 16];
        w.extend_from_slice(&[0xA5; 16]);
        w.extend_from_slice(&[0, 0, ty, 0, 0x10, 0, 0x0B]);
        run(tpm, 0, &plain(cc::START_AUTH_SESSION, &w));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&start, mut rest)) = data.split_first() else { return };
    let mut tpm = manufactured(1);
    if start % 4 >= 1 {
        run(&mut tpm, 0, &plain(cc::STARTUP, &[0, 0]));
    }
    if start % 4 == 3 {
        with_objects(&mut tpm);
    }
    if start % 4 == 2 {
        let mut body = vec![0, 0, 0, 1, 0, 0x0B];
        body.extend_from_slice(&[0x11; 32]);
        run(&mut tpm, 0, &with_password(cc::PCR_EXTEND, &[3], b"", &body));
        run(&mut tpm, 0, &plain(cc::SHUTDOWN, &[0, 1]));
        tpm.init();
    }
    let mut seed = 2;
    while rest.len() >= 3 {
        let kind = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let bytes = &rest[3..3 + len];
        rest = &rest[3 + len..];
        match kind {
            0xFF => tpm.init(),
            0xFE if bytes.len() >= 8 => {
                let code = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                let handle = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
                run(&mut tpm, 0, &with_password(code, &[handle], b"", &bytes[8..]));
            }
            0xFD => {
                seed += 1;
                restore(&mut tpm, seed);
            }
            0xFC => {
                if let Ok((perm, saved)) = image::decode(bytes) {
                    assert_eq!(&image::encode(&perm, saved.as_ref())[..], bytes, "image round trip");
                }
            }
            locality => run(&mut tpm, locality, bytes),
        }
    }
    let img = tpm.save_image();
    let (perm, saved) = image::decode(&img).expect("own image decodes");
    assert_eq!(&perm, tpm.perm());
    assert_eq!(saved.as_ref(), tpm.saved());
});
