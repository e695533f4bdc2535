//! Header, tag, ordinal and gating checks.

use super::*;
use crate::Rc;
use crate::constants::INPUT_BUFFER_SIZE;
use crate::frame::error_response;

#[test]
fn short_and_inconsistent_headers() {
    let mut t = started();
    for cmd in [&[][..], &[0], &[0, 0xc1], &[0, 0xc1, 0, 0, 0, 10, 0, 0, 0]] {
        let r = t.execute(0, cmd);
        assert_eq!(response_rc(&r), Rc::BAD_PARAM_SIZE.0);
        assert_eq!(r.len(), 10);
    }
    // paramSize says 11, buffer has 10.
    let r = t.execute(0, &[0, 0xc1, 0, 0, 0, 11, 0, 0, 0, 0x46]);
    assert_eq!(response_rc(&r), Rc::BAD_PARAM_SIZE.0);
}

#[test]
fn oversized_command_is_refused() {
    let mut t = started();
    let big = vec![0u8; INPUT_BUFFER_SIZE as usize + 1 - 10];
    let r = t.execute(0, &request(tag::RQU_COMMAND, ord::Extend, &big));
    assert_eq!(response_rc(&r), Rc::SIZE.0);
}

#[test]
fn error_tags_match_request_tags() {
    assert_eq!(error_response(0xC1, Rc::FAIL)[..2], [0, 0xC4]);
    assert_eq!(error_response(0xC2, Rc::FAIL)[..2], [0, 0xC5]);
    assert_eq!(error_response(0xC3, Rc::FAIL)[..2], [0, 0xC6]);
    assert_eq!(error_response(0x1234, Rc::FAIL)[..2], [0, 0xC4]);
    let mut t = started();
    let r = t.execute(0, &request(0x00C2, 0xFFFF, &[0; 45]));
    check_shape(&r, tag::RSP_AUTH1_COMMAND);
    assert_eq!(response_rc(&r), Rc::BAD_ORDINAL.0);
    let r = t.execute(0, &request(0x00C3, 0xFFFF, &[0; 90]));
    check_shape(&r, tag::RSP_AUTH2_COMMAND);
}

#[test]
fn bad_tag() {
    let mut t = started();
    let r = t.execute(0, &request(0x00C4, ord::GetRandom, &4u32.to_be_bytes()));
    check_shape(&r, tag::RSP_COMMAND);
    assert_eq!(response_rc(&r), Rc::BADTAG.0);
    // PcrRead does not take an auth session.
    let mut body = 0u32.to_be_bytes().to_vec();
    body.extend_from_slice(&[0u8; 45]);
    let r = t.execute(0, &request(tag::RQU_AUTH1_COMMAND, ord::PcrRead, &body));
    check_shape(&r, tag::RSP_AUTH1_COMMAND);
    assert_eq!(response_rc(&r), Rc::BADTAG.0);
}

#[test]
fn auth_trailer_longer_than_body() {
    let mut t = started();
    let r = t.execute(0, &request(tag::RQU_AUTH1_COMMAND, ord::NV_ReadValue, &[0; 44]));
    check_shape(&r, tag::RSP_AUTH1_COMMAND);
    if crate::dispatch::is_supported(ord::NV_ReadValue, false) {
        assert_eq!(response_rc(&r), Rc::BAD_PARAM_SIZE.0);
    }
}

#[test]
fn unknown_ordinal() {
    let mut t = started();
    assert_eq!(rqu(&mut t, 0x0000_0001, &[]).0, Rc::BAD_ORDINAL.0);
    assert_eq!(rqu(&mut t, 0xFFFF_FFFF, &[]).0, Rc::BAD_ORDINAL.0);
}

#[test]
fn maintenance_ordinals_need_maintcmds() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::ReadManuMaintPub, &[0; 20]).0, Rc::BAD_ORDINAL.0);
    assert!(crate::dispatch::lookup(ord::ReadManuMaintPub, false).is_none());
    assert!(crate::dispatch::lookup(ord::ReadManuMaintPub, true).is_some());
}

#[test]
fn commands_before_startup_are_invalid_postinit() {
    let mut t = fresh();
    assert_eq!(rqu(&mut t, ord::PcrRead, &0u32.to_be_bytes()).0, Rc::INVALID_POSTINIT.0);
    assert_eq!(rqu(&mut t, ord::Extend, &[0; 24]).0, Rc::INVALID_POSTINIT.0);
}

#[test]
fn ordinal_table_has_no_duplicates() {
    let mut seen = Vec::new();
    for t in crate::dispatch::TABLES {
        for e in *t {
            assert!(!seen.contains(&e.ordinal), "duplicate ordinal {:#x}", e.ordinal);
            seen.push(e.ordinal);
            assert!(e.tags != crate::frame::Tags::NONE);
        }
    }
}

/// The ordinal count the README states, derived from the tables: every row, the STUB rows
/// (TPM_BAD_ORDINAL), the maintenance rows (only with `maintcmds`), and what is left.
#[test]
fn ordinal_count_matches_the_readme() {
    use crate::dispatch::TABLES;
    use crate::frame::flags;
    let rows: Vec<_> = TABLES.iter().flat_map(|t| t.iter()).collect();
    let stubs = rows.iter().filter(|e| e.flags.contains(flags::STUB)).count();
    let maint = rows.iter().filter(|e| e.flags.contains(flags::MAINT) && !e.flags.contains(flags::STUB)).count();
    let implemented = rows.len() - stubs;
    // No ordinal has two rows.
    let mut ords: Vec<u32> = rows.iter().map(|e| e.ordinal).collect();
    ords.sort_unstable();
    ords.dedup();
    assert_eq!(ords.len(), rows.len());
    let readme = include_str!("../../README.md");
    let line = format!(
        "## Commands ({implemented} ordinals: {} table rows, {stubs} of them STUB; {maint} only with `maintcmds`)",
        rows.len()
    );
    assert!(readme.contains(&line), "README should say `{line}`");
}
