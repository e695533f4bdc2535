//! State image round trips and corruption handling.

use super::*;
use crate::crypto::Secret;
use crate::state::image::{self, ImageError};
use crate::state::{Counter, KeyRecord, NvSpace, SavedState, StClearData, StClearFlags};

fn rich_state(t: &mut Tpm) {
    let d = &mut t.perm.data;
    d.owner_installed = true;
    d.owner_auth = Secret([9; 20]);
    d.counters.push(Counter { handle: 1, label: *b"abcd", value: 7, auth: Secret([1; 20]) });
    d.nv.push(NvSpace {
        index: 0x1234,
        pcr_info_read: vec![0, 3, 0, 0, 0, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        pcr_info_write: vec![0, 3, 0, 0, 0, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        attributes: 0x4,
        read_st_clear: false,
        write_st_clear: true,
        write_define: false,
        auth: Secret([3; 20]),
        data: vec![0xff; 100],
    });
    let ek = d.endorsement_key.clone().unwrap();
    d.srk = Some(KeyRecord {
        public_blob: vec![1, 2, 3],
        rsa: ek,
        usage_auth: Secret([4; 20]),
        migration_auth: Secret([5; 20]),
    });
    t.saved = Some(SavedState {
        stclear_flags: StClearFlags { physicalPresence: true, ..Default::default() },
        stclear_data: StClearData { count_id: Some(1), ..Default::default() },
        keys: vec![1],
        sessions: vec![2, 3],
    });
}

#[test]
fn image_round_trip() {
    let mut t = fresh();
    rich_state(&mut t);
    let img = t.save_image();
    let (perm, saved) = image::decode(&img).unwrap();
    assert_eq!(perm, t.perm);
    assert_eq!(saved, t.saved);
    // Re-encoding is byte-identical.
    assert_eq!(image::encode(&perm, saved.as_ref()), img);
}

#[test]
fn fresh_tpm_must_be_saved() {
    let mut t = fresh();
    assert!(t.state_changed());
    let _ = t.save_image();
    assert!(!t.state_changed());
    // Reading PCRs / extending does not touch permanent state.
    let _ = rqu(&mut t, ord::Startup, &st::CLEAR.to_be_bytes());
    let _ = rqu(&mut t, ord::Extend, &[0; 24]);
    assert!(!t.state_changed());
}

#[test]
fn corrupt_images_are_refused() {
    let mut t = fresh();
    rich_state(&mut t);
    let img = t.save_image();
    assert_eq!(image::decode(&img[..img.len() - 1]).unwrap_err(), ImageError::BadChecksum);
    assert_eq!(image::decode(&[]).unwrap_err(), ImageError::BadMagic);
    let mut bad = img.clone();
    bad[20] ^= 1;
    assert_eq!(image::decode(&bad).unwrap_err(), ImageError::BadChecksum);
    let mut v2 = img.clone();
    v2[9] = image::VERSION as u8 + 1;
    assert_eq!(image::decode(&v2).unwrap_err(), ImageError::UnsupportedVersion(image::VERSION + 1));
    v2[9] = 0;
    assert_eq!(image::decode(&v2).unwrap_err(), ImageError::UnsupportedVersion(0));
    // Every truncation fails cleanly.
    for n in 0..img.len() {
        assert!(image::decode(&img[..n]).is_err());
    }
}

/// L5: the embedder asks for an image only when something changed, and can drop the flag
/// without encoding one (no persistence): no copy of the secrets is built for nothing.
#[test]
fn image_if_changed_and_clear_changed() {
    let mut t = fresh();
    let img = t.image_if_changed().expect("a fresh TPM must be saved");
    assert!(!t.state_changed());
    assert!(t.image_if_changed().is_none());
    assert_eq!(image::decode(&img).unwrap().0, t.perm);
    t.mark_state_changed();
    t.clear_changed();
    assert!(!t.state_changed());
    assert!(t.image_if_changed().is_none());
}

/// A secret writer grows by copying and wiping; its output equals a plain writer's.
#[test]
fn secret_writer_writes_what_a_plain_one_does() {
    use crate::codec::Writer;
    let (mut a, mut b) = (Writer::new(), Writer::secret());
    for i in 0..1000u32 {
        a.u32(i).bytes(&[i as u8; 7]);
        b.u32(i).bytes(&[i as u8; 7]);
    }
    assert_eq!(a.as_slice(), b.as_slice());
    assert_eq!(a.into_vec(), *b.into_zeroizing());
}
