//! Fuzz target: the manager's disk formats and protocol codec never panic on any bytes, and
//! what decodes re-encodes to the same bytes. Byte 0 picks the decoder:
//! - 0: the root record payload (`vtpmmgr_core::root_record::RootRecord::decode`);
//! - 1: the sealed root area (`hw_blob_area::decode`; version 2 re-encodes to its bytes, a
//!   version 1 area re-encodes as version 2 with the same protection and blob);
//! - 2: a vtpm request (`proto::decode_request`) and the vtpm's reply decoders;
//! - 3: the administrator-key wrapped root (`admin_key::WrappedRoot::decode`), which
//!   re-encodes to its bytes;
//! - 4: a management request (`mgmt::decode`: a 4-byte ordinal, then the parameters), which
//!   re-encodes to its frame, the management reply decoders, and the backup and export blob
//!   decoders (`migration::open_backup`, `open_export`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpmmgr_core::admin_key::WrappedRoot;
use vtpmmgr_core::hw_blob_area;
use vtpmmgr_core::mgmt;
use vtpmmgr_core::proto;
use vtpmmgr_core::root_record::RootRecord;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 5 {
        0 => {
            if let Ok(r) = RootRecord::decode(rest) {
                assert_eq!(&r.encode()[..], rest, "a decoded root re-encodes to its bytes");
            }
        }
        1 => {
            // the area as it is on the disk: 7 sectors, zero-padded
            let mut area = rest.to_vec();
            area.resize(hw_blob_area::AREA_SECTORS as usize * 512, 0);
            if let Ok(a) = hw_blob_area::decode(&area) {
                let again = hw_blob_area::encode(a.protection, &a.blob).expect("fits");
                if area[8..10] == hw_blob_area::AREA_VERSION.to_be_bytes() {
                    assert_eq!(again, area, "a decoded area re-encodes");
                } else {
                    assert_eq!(hw_blob_area::decode(&again), Ok(a), "a version 1 area re-encodes as version 2");
                }
            }
        }
        3 => {
            if let Ok(w) = WrappedRoot::decode(rest) {
                assert_eq!(w.encode(), rest, "a decoded wrapped root re-encodes");
            }
        }
        4 => {
            if rest.len() >= 4 {
                let ordinal = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
                match mgmt::decode(ordinal, &rest[4..]) {
                    Ok(mgmt::MgmtRequest::Unknown(_)) => {}
                    Ok(r) => assert_eq!(&mgmt::encode(&r)[6..], rest, "a decoded request re-encodes"),
                    Err(rc) => assert_ne!(rc, 0),
                }
            }
            let _ = mgmt::decode_vtpm_list(rest);
            let _ = mgmt::decode_manager_key(rest);
            let _ = mgmt::decode_blob(rest);
            let _ = mgmt::decode_uuid(rest);
            // the migration blobs: any bytes are refused or open, never a panic
            let _ = vtpmmgr_core::migration::open_backup(&[7; 32], [1; 16], rest);
            let _ = vtpmmgr_core::migration::open_export(&[9; 32], rest);
        }
        _ => {
            match proto::decode_request(rest) {
                Ok(proto::Request::SaveHashKey(b)) => assert_eq!(*proto::save_hash_key(&b), rest),
                Ok(proto::Request::LoadHashKey) => assert_eq!(proto::load_hash_key(), rest),
                Ok(proto::Request::GetRandom { bytes }) => assert_eq!(proto::get_random(bytes), rest),
                Ok(_) => {}
                Err(reply) => assert!(tpm_frame::is_consistent(&reply) && tpm_frame::return_code(&reply) != Some(0)),
            }
            let _ = proto::decode_load_hash_key_reply(rest);
            let _ = proto::decode_get_random_reply(rest);
        }
    }
});
