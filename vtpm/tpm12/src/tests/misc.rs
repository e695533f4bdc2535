//! GetRandom, StirRandom, the SHA-1 thread, physical presence, ticks.

use super::*;
use crate::Rc;
use crate::constants::physical_presence as pp;
use crate::crypto::sha1;

#[test]
fn get_random_sizes() {
    let mut t = started();
    let (rc, out) = rqu(&mut t, ord::GetRandom, &be32s(&[16]));
    assert_eq!(rc, 0);
    assert_eq!(out[..4], [0, 0, 0, 16]);
    assert_eq!(out.len(), 20);
    let (_, out2) = rqu(&mut t, ord::GetRandom, &be32s(&[16]));
    assert_ne!(out, out2);
    let (rc, out) = rqu(&mut t, ord::GetRandom, &be32s(&[u32::MAX]));
    assert_eq!(rc, 0);
    assert_eq!(out.len() + 10, 4088);
    assert_eq!(rqu(&mut t, ord::GetRandom, &be32s(&[0])).1, vec![0, 0, 0, 0]);
}

#[test]
fn stir_random() {
    let mut t = started();
    let mut body = be32s(&[3]);
    body.extend_from_slice(b"abc");
    assert_eq!(rqu(&mut t, ord::StirRandom, &body).0, 0);
    let mut body = be32s(&[256]);
    body.extend_from_slice(&[0; 256]);
    assert_eq!(rqu(&mut t, ord::StirRandom, &body).0, Rc::BAD_PARAMETER.0);
    // Stirring changes the output stream relative to an unstirred twin.
    let mut a = started();
    let mut b = started();
    let mut body = be32s(&[1]);
    body.push(9);
    rqu(&mut a, ord::StirRandom, &body);
    assert_ne!(rqu(&mut a, ord::GetRandom, &be32s(&[20])).1, rqu(&mut b, ord::GetRandom, &be32s(&[20])).1);
}

#[test]
fn sha1_thread() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::SHA1Update, &be32s(&[0])).0, Rc::SHA_THREAD.0);
    let (rc, out) = rqu(&mut t, ord::SHA1Start, &[]);
    assert_eq!((rc, out), (0, be32s(&[2048])));
    let block = [7u8; 64];
    assert_eq!(rqu(&mut t, ord::SHA1Update, &[&be32s(&[64])[..], &block].concat()).0, 0);
    let (rc, out) = rqu(&mut t, ord::SHA1Complete, &[&be32s(&[3])[..], b"xyz"].concat());
    assert_eq!(rc, 0);
    assert_eq!(out, sha1(&[&block, b"xyz"]));
    assert_eq!(rqu(&mut t, ord::SHA1Complete, &be32s(&[0])).0, Rc::SHA_THREAD.0);
    // Not a multiple of 64.
    rqu(&mut t, ord::SHA1Start, &[]);
    assert_eq!(rqu(&mut t, ord::SHA1Update, &[&be32s(&[3])[..], b"xyz"].concat()).0, Rc::SHA_ERROR.0);
    // Another command ends the thread.
    rqu(&mut t, ord::SHA1Start, &[]);
    rqu(&mut t, ord::PcrRead, &be32s(&[0]));
    assert_eq!(rqu(&mut t, ord::SHA1Complete, &be32s(&[0])).0, Rc::SHA_THREAD.0);
    // CompleteExtend.
    rqu(&mut t, ord::SHA1Start, &[]);
    let (rc, out) = rqu(&mut t, ord::SHA1CompleteExtend, &[&be32s(&[5, 1])[..], b"a"].concat());
    assert_eq!(rc, 0);
    let d = sha1(&[b"a"]);
    assert_eq!(out[..20], d);
    assert_eq!(out[20..], sha1(&[&[0; 20], &d]));
}

fn tsc(t: &mut Tpm, bits: u16) -> u32 {
    rqu(t, ord::TSC_PhysicalPresence, &bits.to_be_bytes()).0
}

fn no_hw_pp() -> Tpm {
    let mut t = crate::testing::tpm_with_ek(
        crate::testing::test_ek(),
        3,
        TpmOptions { hardware_physical_presence: false, ..TpmOptions::default() },
    );
    assert_eq!(rqu(&mut t, ord::Startup, &st::CLEAR.to_be_bytes()).0, 0);
    t
}

#[test]
fn physical_presence_rules() {
    let mut t = no_hw_pp();
    assert_eq!(rqu(&mut t, ord::PhysicalDisable, &[]).0, Rc::BAD_PRESENCE.0);
    assert_eq!(tsc(&mut t, pp::PRESENT), 0);
    assert_eq!(rqu(&mut t, ord::PhysicalDisable, &[]).0, 0);
    assert!(t.perm.flags.disable);
    // Disabled: PhysicalDisable needs enabled; PhysicalEnable works.
    assert_eq!(rqu(&mut t, ord::PhysicalDisable, &[]).0, Rc::DISABLED.0);
    assert_eq!(rqu(&mut t, ord::PhysicalEnable, &[]).0, 0);
    assert_eq!(rqu(&mut t, ord::PhysicalSetDeactivated, &[1]).0, 0);
    assert!(t.perm.flags.deactivated);
    assert!(!t.vol.stclear_flags.deactivated, "takes effect at next startup");
    assert_eq!(rqu(&mut t, ord::PhysicalSetDeactivated, &[2]).0, Rc::BAD_PARAMETER.0);
    // Contradictions.
    assert_eq!(tsc(&mut t, pp::PRESENT | pp::NOTPRESENT), Rc::BAD_PARAMETER.0);
    assert_eq!(tsc(&mut t, pp::PRESENT | pp::CMD_ENABLE), Rc::BAD_PARAMETER.0);
    assert_eq!(tsc(&mut t, 0x0001), Rc::BAD_PARAMETER.0);
    // Lock.
    assert_eq!(tsc(&mut t, pp::NOTPRESENT | pp::LOCK), 0);
    assert_eq!(tsc(&mut t, pp::PRESENT), Rc::BAD_PARAMETER.0);
    assert_eq!(rqu(&mut t, ord::PhysicalEnable, &[]).0, Rc::BAD_PRESENCE.0);
    // Lifetime lock freezes the configuration.
    assert_eq!(tsc(&mut t, pp::CMD_DISABLE | pp::LIFETIME_LOCK), 0);
    assert_eq!(tsc(&mut t, pp::CMD_ENABLE), Rc::BAD_PARAMETER.0);
}

#[test]
fn deactivated_and_disabled_gating() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::PhysicalSetDeactivated, &[1]).0, 0);
    t.init();
    assert_eq!(rqu(&mut t, ord::Startup, &st::CLEAR.to_be_bytes()).0, 0);
    assert!(t.vol.stclear_flags.deactivated);
    assert_eq!(rqu(&mut t, ord::GetRandom, &be32s(&[4])).0, Rc::DEACTIVATED.0);
    assert_eq!(rqu(&mut t, ord::PcrRead, &be32s(&[0])).0, Rc::DEACTIVATED.0);
    // Extend is available while deactivated (PC Client boot needs it).
    assert_eq!(rqu(&mut t, ord::Extend, &[0; 24]).0, 0);
    assert_eq!(rqu(&mut t, ord::PhysicalDisable, &[]).0, 0);
    assert_eq!(rqu(&mut t, ord::GetRandom, &be32s(&[4])).0, Rc::DISABLED.0);
    assert_eq!(rqu(&mut t, ord::PhysicalEnable, &[]).0, 0);
    assert_eq!(rqu(&mut t, ord::PhysicalSetDeactivated, &[0]).0, 0);
    assert_eq!(rqu(&mut t, ord::SetTempDeactivated, &[]).0, Rc::DEACTIVATED.0);
}

#[test]
fn set_temp_deactivated() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::SetTempDeactivated, &[]).0, 0);
    assert_eq!(rqu(&mut t, ord::GetRandom, &be32s(&[4])).0, Rc::DEACTIVATED.0);
    assert!(!t.perm.flags.deactivated);
}

#[test]
fn ticks() {
    let mut t = started();
    let (rc, out) = rqu(&mut t, ord::GetTicks, &[]);
    assert_eq!(rc, 0);
    assert_eq!(out.len(), 2 + 8 + 2 + 20);
    assert_eq!(out[..2], [0, 0x14]);
    assert_eq!(out[10..12], [0, 1]);
    assert_eq!(rqu(&mut t, ord::GetTicks, &[0]).0, Rc::BAD_PARAM_SIZE.0);
    // TickStampBlob needs a loaded key.
    assert_ne!(rqu(&mut t, ord::TickStampBlob, &[&be32s(&[0x1234])[..], &[0; 40]].concat()).0, 0);
}

#[test]
fn tick_stamp_blob_signature_verifies() {
    use crate::constants::{key_usage, kh};
    use crate::rsa::pkcs1v15::Pkcs1v15Sign;
    use crate::rsa::{BoxedUint, RsaPublicKey};
    use crate::testing::client::{Client, WELL_KNOWN};

    let mut t = started();
    let (blob, handle, reply) = {
        let mut c = Client::new(|cmd: &[u8]| t.execute(0, cmd), 21);
        assert_eq!(c.take_ownership(WELL_KNOWN, WELL_KNOWN).unwrap().rc, 0);
        let blob = c.create_wrap_key(kh::SRK, WELL_KNOWN, key_usage::SIGNING, [4; 20]).unwrap();
        assert_eq!(blob.rc, 0);
        let (h, r) = c.load_key2(kh::SRK, WELL_KNOWN, &blob.body).unwrap();
        assert_eq!(r.rc, 0);
        let mut s = c.oiap([4; 20]).unwrap();
        let mut p = vec![0xAA; 20];
        p.extend_from_slice(&[0xBB; 20]);
        let reply = c.auth(ord::TickStampBlob, &[h], &p, &mut [&mut s], 0).unwrap();
        (blob.body, h, reply)
    };
    assert_eq!(reply.rc, 0);
    let _ = handle;
    // TPM_CURRENT_TICKS (32 bytes), then sigSize and sig.
    let ticks = &reply.body[..32];
    assert_eq!(ticks[..2], [0, 0x14]);
    let sig_len = u32::from_be_bytes([reply.body[32], reply.body[33], reply.body[34], reply.body[35]]) as usize;
    let sig = &reply.body[36..36 + sig_len];
    // The modulus from the TPM_KEY12: tag, fill, usage, flags, authUsage, parms, PCR info, pubKey.
    let mut r = crate::codec::Reader::new(&blob);
    r.bytes(2 + 2 + 2 + 4 + 1 + 4 + 2 + 2).unwrap();
    r.sized32().unwrap();
    r.sized32().unwrap();
    let modulus = r.sized32().unwrap();
    let n = BoxedUint::from_be_slice(modulus, (modulus.len() * 8) as u32).unwrap();
    let key = RsaPublicKey::new(n, BoxedUint::from(65537u64)).unwrap();
    // TPM_SIGN_INFO { tag SIGNINFO, "TSTP", antiReplay, dataLen, digestToStamp ‖ ticks }.
    let mut info = vec![0, 5];
    info.extend_from_slice(b"TSTP");
    info.extend_from_slice(&[0xAA; 20]);
    info.extend_from_slice(&52u32.to_be_bytes());
    info.extend_from_slice(&[0xBB; 20]);
    info.extend_from_slice(ticks);
    let digest = sha1(&[&info]);
    key.verify(Pkcs1v15Sign::new::<sha1::Sha1>(), &digest, sig).expect("TickStampBlob signature verifies");
}
