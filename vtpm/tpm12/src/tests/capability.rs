//! TPM_GetCapability / TPM_SetCapability.

use super::*;
use crate::Rc;
use crate::constants::cap;

fn get_cap(t: &mut Tpm, area: u32, sub: &[u8]) -> (u32, Vec<u8>) {
    let mut body = be32s(&[area, sub.len() as u32]);
    body.extend_from_slice(sub);
    let (rc, out) = rqu(t, ord::GetCapability, &body);
    if rc == 0 {
        let n = u32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize;
        assert_eq!(n + 4, out.len(), "respSize matches");
        return (rc, out[4..].to_vec());
    }
    (rc, out)
}

fn prop(t: &mut Tpm, p: u32) -> Vec<u8> {
    let (rc, v) = get_cap(t, cap::PROPERTY, &p.to_be_bytes());
    assert_eq!(rc, 0, "property {p:#x}");
    v
}

#[test]
fn linux_probe_properties() {
    let mut t = started();
    assert_eq!(prop(&mut t, cap::PROP_TIS_TIMEOUT), be32s(&[750_000, 2_000_000, 750_000, 750_000]));
    assert_eq!(prop(&mut t, cap::PROP_DURATION), be32s(&[3_000_000, 3_000_000, 600_000_000]));
    assert_eq!(prop(&mut t, cap::PROP_PCR), be32s(&[24]));
    assert_eq!(prop(&mut t, cap::PROP_INPUT_BUFFER), be32s(&[4088]));
    assert_eq!(prop(&mut t, cap::PROP_MANUFACTURER), b"RUST".to_vec());
    assert_eq!(prop(&mut t, cap::PROP_OWNER), vec![0]);
    assert_eq!(prop(&mut t, cap::PROP_ACTIVE_COUNTER), be32s(&[u32::MAX]));
}

#[test]
fn every_property_answers() {
    let mut t = started();
    for p in 0x101..=0x124u32 {
        let (rc, v) = get_cap(&mut t, cap::PROPERTY, &p.to_be_bytes());
        if matches!(p, 0x105 | 0x106 | 0x108 | 0x109 | 0x118 | 0x121) {
            assert_eq!(rc, Rc::BAD_MODE.0, "{p:#x}");
        } else {
            assert_eq!(rc, 0, "{p:#x}");
            assert!(!v.is_empty());
        }
    }
}

#[test]
fn version_val_and_version() {
    let mut t = started();
    let (rc, v) = get_cap(&mut t, cap::VERSION_VAL, &[]);
    assert_eq!(rc, 0);
    assert_eq!(v[..2], [0, 0x30]);
    assert_eq!(v[2..6], [1, 2, 0, 1]);
    assert_eq!(v[9..13], *b"RUST");
    assert_eq!(get_cap(&mut t, cap::VERSION, &[]).1, vec![1, 1, 0, 0]);
}

#[test]
fn flags() {
    let mut t = started();
    let (rc, v) = get_cap(&mut t, cap::FLAG, &cap::FLAG_PERMANENT.to_be_bytes());
    assert_eq!(rc, 0);
    assert_eq!(v.len(), 22);
    assert_eq!(v[..2], [0, 0x1f]);
    let (rc, v) = get_cap(&mut t, cap::FLAG, &cap::FLAG_VOLATILE.to_be_bytes());
    assert_eq!(rc, 0);
    assert_eq!(v.len(), 7);
    assert_eq!(get_cap(&mut t, cap::FLAG, &7u32.to_be_bytes()).0, Rc::BAD_MODE.0);
}

#[test]
fn ord_reports_implemented_only() {
    let mut t = started();
    assert_eq!(get_cap(&mut t, cap::ORD, &ord::Extend.to_be_bytes()).1, vec![1]);
    assert_eq!(get_cap(&mut t, cap::ORD, &0x1234u32.to_be_bytes()).1, vec![0]);
    assert_eq!(get_cap(&mut t, cap::ORD, &ord::MakeIdentity.to_be_bytes()).1, vec![1]);
    assert_eq!(get_cap(&mut t, cap::ORD, &ord::ActivateIdentity.to_be_bytes()).1, vec![1]);
    assert_eq!(get_cap(&mut t, cap::ORD, &ord::CreateMaintenanceArchive.to_be_bytes()).1, vec![0]);
}

#[test]
fn malformed_sub_caps() {
    let mut t = started();
    assert_eq!(get_cap(&mut t, cap::ORD, &[0, 0, 0x14]).0, Rc::BAD_MODE.0);
    assert_eq!(get_cap(&mut t, cap::PROPERTY, &[]).0, Rc::BAD_MODE.0);
    assert_eq!(get_cap(&mut t, 0x99, &[]).0, Rc::BAD_MODE.0);
    assert_eq!(get_cap(&mut t, cap::NV_INDEX, &5u32.to_be_bytes()).0, Rc::BADINDEX.0);
    assert_eq!(get_cap(&mut t, cap::HANDLE, &99u32.to_be_bytes()).0, Rc::BAD_PARAMETER.0);
    // subCapSize larger than the buffer.
    assert_eq!(rqu(&mut t, ord::GetCapability, &be32s(&[cap::PROPERTY, 9, 0x101])).0, Rc::BAD_PARAM_SIZE.0);
}

#[test]
fn handles_and_lists() {
    let mut t = started();
    assert_eq!(get_cap(&mut t, cap::KEY_HANDLE, &[]).1, vec![0, 0]);
    assert_eq!(get_cap(&mut t, cap::HANDLE, &1u32.to_be_bytes()).1, vec![0, 0]);
    assert_eq!(get_cap(&mut t, cap::NV_LIST, &[]).1, Vec::<u8>::new());
    assert_eq!(get_cap(&mut t, cap::SELECT_SIZE, &[1, 2, 0, 3]).1, vec![1]);
    assert_eq!(get_cap(&mut t, cap::SELECT_SIZE, &[1, 2, 0, 4]).1, vec![0]);
    let (rc, v) = get_cap(&mut t, cap::DA_LOGIC, &[0, 2]);
    assert_eq!(rc, 0);
    assert_eq!(v[..2], [0, 0x37]);
}

/// TPM_CAP_DA_LOGIC answers the same TPM_DA_INFO whatever the subCap (entity type) and its
/// size: one DA counter for every entity, as libtpms (which ignores subCap too).
#[test]
fn da_logic_ignores_sub_cap() {
    let mut t = started();
    let (rc, owner) = get_cap(&mut t, cap::DA_LOGIC, &[0, 2]);
    assert_eq!(rc, 0);
    // tag, state, currentCount, thresholdCount, TPM_DA_ACTION_TYPE, actionDependValue, vendorDataSize.
    assert_eq!(owner.len(), 2 + 1 + 2 + 2 + 6 + 4 + 4);
    assert_eq!(owner[3..7], [0, 0, 0, 10], "no failures, threshold 10");
    for sub in [&[][..], &[0, 0, 0, 2], &[0, 1], &[9; 7]] {
        let (rc, v) = get_cap(&mut t, cap::DA_LOGIC, sub);
        assert_eq!(rc, 0, "subCap {sub:?}");
        assert_eq!(v, owner, "subCap {sub:?}");
    }
}

#[test]
fn set_capability_with_presence() {
    let mut t = started();
    // Disable via TPM_SET_PERM_FLAGS / TPM_PF_DISABLE (physical presence suffices).
    let body = [&be32s(&[1, 4, 1, 1])[..], &[1]].concat();
    assert_eq!(rqu(&mut t, ord::SetCapability, &body).0, 0);
    assert!(t.perm.flags.disable);
    assert!(t.state_changed());
    // READSRKPUB needs the owner.
    let body = [&be32s(&[1, 4, 17, 1])[..], &[1]].concat();
    assert_eq!(rqu(&mut t, ord::SetCapability, &body).0, Rc::AUTHFAIL.0);
    // Bad value.
    let body = [&be32s(&[1, 4, 1, 1])[..], &[2]].concat();
    assert_eq!(rqu(&mut t, ord::SetCapability, &body).0, Rc::BAD_PARAMETER.0);
    // Unknown area.
    let body = [&be32s(&[9, 4, 1, 1])[..], &[1]].concat();
    assert_eq!(rqu(&mut t, ord::SetCapability, &body).0, Rc::BAD_MODE.0);
}

#[test]
fn get_capability_before_startup() {
    let mut t = fresh();
    assert_eq!(get_cap(&mut t, cap::PROPERTY, &cap::PROP_PCR.to_be_bytes()).0, Rc::INVALID_POSTINIT.0);
}

/// Differential finding: the "released while active" counter marker must read
/// as no active counter (0xFFFFFFFF), as libtpms reports it.
#[test]
fn active_counter_released_reads_as_none() {
    let mut t = started();
    t.vol.stclear_data.count_id = Some(crate::cmd::counter::COUNT_ID_ILLEGAL);
    assert_eq!(prop(&mut t, cap::PROP_ACTIVE_COUNTER), be32s(&[u32::MAX]));
    t.vol.stclear_data.count_id = Some(3);
    assert_eq!(prop(&mut t, cap::PROP_ACTIVE_COUNTER), be32s(&[3]));
}

/// Differential finding: authorization is checked before the value (libtpms order).
#[test]
fn set_capability_checks_authorization_before_value() {
    let mut t = crate::testing::tpm_with_ek(
        crate::testing::test_ek(),
        8,
        TpmOptions { hardware_physical_presence: false, ..TpmOptions::default() },
    );
    rqu(&mut t, ord::Startup, &st::CLEAR.to_be_bytes());
    let body = [&be32s(&[1, 4, 1, 1])[..], &[2]].concat();
    assert_eq!(rqu(&mut t, ord::SetCapability, &body).0, Rc::AUTHFAIL.0);
}
