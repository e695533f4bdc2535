//! The hardware-TPM client against real TPMs: swtpm (libtpms) in TPM 1.2 and TPM 2.0 mode,
//! over its raw TCP command port, with its state directory kept across restarts (a manager
//! reboot on the same machine). Skips loudly, and only, when swtpm is not installed.

mod support;

use support::{StateDir, Swtpm, TestRng, cfg, have_swtpm};
use tpm_frame::Family;
use vtpmmgr_core::hwtpm::{AuthValue, HwConfig, HwError, PcrMask, Tpm12, Tpm20};
use vtpmmgr_core::{HardwareTpm, HwClient};

fn boot(tpm: &mut Swtpm, cfg: &HwConfig, stored: Option<&[u8]>) -> Result<([u8; 32], Option<Vec<u8>>), HwError> {
    let mut rng = TestRng::new();
    let mut c = HwClient::new(tpm, &mut rng, cfg)?;
    let (s, b) = c.unseal_or_create_root(stored)?;
    Ok((*s.as_bytes(), b))
}

fn passthroughs(tpm: &mut Swtpm, cfg: &HwConfig) {
    let mut rng = TestRng::new();
    let mut c = HwClient::new(tpm, &mut rng, cfg).expect("client");
    let a = c.get_random(16).expect("GetRandom");
    let b = c.get_random(16).expect("GetRandom");
    assert!(!a.is_empty() && a.len() <= 16 && a != b, "{a:02x?} {b:02x?}");
    assert!(c.get_random(100_000).expect("GetRandom, large").len() <= 8178);
    // PCR 0 after a fresh start is all zeros in the SHA-1 bank (both families)
    assert_eq!(c.pcr_read_sha1(0).expect("PCR read"), [0; 20]);
    assert!(c.pcr_read_sha1(23).is_ok());
    assert!(c.pcr_read_sha1(24).is_err());
}

#[test]
fn tpm12_first_boot_then_later_boot_unseals_the_same_secret() {
    if !have_swtpm() {
        return;
    }
    let dir = StateDir::new("12boot");
    let cfg = cfg(&["owner_auth=text:owner", "srk_auth=hash:00112233445566778899aabbccddeeff00112233"]);
    let (secret, blob) = {
        let mut tpm = Swtpm::start(&dir.0, Family::Tpm12);
        let (s, b) = boot(&mut tpm, &cfg, None).expect("first boot");
        passthroughs(&mut tpm, &cfg);
        (s, b.expect("a blob to store"))
    };
    // the manager reboots; so does the (emulated) machine
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm12);
    let (again, none) = boot(&mut tpm, &cfg, Some(&blob)).expect("later boot");
    assert_eq!(again, secret);
    assert!(none.is_none());
    // an owned TPM without a stored blob (the manager's disk was lost): the owner auth is
    // checked and a new root sealed under the existing SRK
    let (other, b2) = boot(&mut tpm, &cfg, None).expect("owned TPM, new disk");
    assert_ne!(other, secret);
    assert!(b2.is_some());
    // the wrong owner auth on an owned TPM is refused
    let bad_owner = HwConfig { owner_auth: AuthValue::WellKnown, ..cfg.clone() };
    assert_eq!(boot(&mut tpm, &bad_owner, None).unwrap_err(), HwError::WrongOwnerAuth);
}

#[test]
fn tpm12_wrong_srk_auth_is_refused() {
    if !have_swtpm() {
        return;
    }
    let dir = StateDir::new("12srk");
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm12);
    let good = cfg(&["srk_auth=text:right"]);
    let (_, blob) = boot(&mut tpm, &good, None).expect("first boot");
    let blob = blob.expect("blob");
    let bad = cfg(&["srk_auth=text:wrong"]);
    assert_eq!(boot(&mut tpm, &bad, Some(&blob)).unwrap_err(), HwError::WrongSrkAuth);
    let bad = cfg(&["srk_auth=well-known"]);
    assert_eq!(boot(&mut tpm, &bad, None).unwrap_err(), HwError::WrongSrkAuth, "sealing with the wrong srk_auth");
    // a corrupt blob is an error, never a fresh secret
    let mut broken = blob.clone();
    let n = broken.len();
    broken[n - 30] ^= 1;
    assert!(matches!(boot(&mut tpm, &good, Some(&broken)), Err(HwError::DoesNotUnseal { .. })));
    assert!(matches!(boot(&mut tpm, &good, Some(&blob[..n - 1])), Err(HwError::BadBlob(_))));
    assert!(boot(&mut tpm, &good, Some(&blob)).is_ok());
}

#[test]
fn tpm12_ownership_changed_between_boots_is_refused() {
    if !have_swtpm() {
        return;
    }
    let dir = StateDir::new("12own");
    let cfg = cfg(&["owner_auth=text:o"]);
    let blob = {
        let mut tpm = Swtpm::start(&dir.0, Family::Tpm12);
        boot(&mut tpm, &cfg, None).expect("first boot").1.expect("blob")
    };
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm12);
    {
        let mut rng = TestRng::new();
        let mut c = Tpm12::new(&mut tpm, &mut rng);
        c.startup().expect("startup");
        c.owner_clear(&AuthValue::parse("text:o").unwrap().tpm12_secret()).expect("OwnerClear");
    }
    // TPM_OwnerClear also disables the TPM: a clear error, not a fresh secret
    assert_eq!(boot(&mut tpm, &cfg, Some(&blob)).unwrap_err(), HwError::Disabled { rc: 7 });
    {
        // the operator enables and activates it again (physical presence), then a power cycle
        let mut rng = TestRng::new();
        let mut c = Tpm12::new(&mut tpm, &mut rng);
        for (name, ord, body) in [
            ("TSC_PhysicalPresence", 0x4000_000A, &[0x00, 0x20][..]),
            ("TSC_PhysicalPresence", 0x4000_000A, &[0x00, 0x08][..]),
            ("TPM_PhysicalEnable", 0x6F, &[][..]),
            ("TPM_PhysicalSetDeactivated", 0x72, &[0][..]),
        ] {
            assert_eq!(c.rqu(name, ord, body).expect(name).rc, 0, "{name}");
        }
    }
    drop(tpm);
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm12);
    // unowned now: the sealed root is gone with the SRK
    assert_eq!(boot(&mut tpm, &cfg, Some(&blob)).unwrap_err(), HwError::NotOwned);
    // someone takes ownership again (same auths): a new SRK, which cannot unseal the old blob
    let (_, b2) = boot(&mut tpm, &cfg, None).expect("re-provisioned");
    assert!(b2.is_some());
    assert!(matches!(boot(&mut tpm, &cfg, Some(&blob)), Err(HwError::DoesNotUnseal { .. })));
}

#[test]
fn tpm12_pcr_bound_root_is_refused_after_an_extend() {
    if !have_swtpm() {
        return;
    }
    let dir = StateDir::new("12pcr");
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm12);
    let cfg = cfg(&["hw_seal_pcrs=0,16"]);
    let (secret, blob) = boot(&mut tpm, &cfg, None).expect("first boot");
    let blob = blob.expect("blob");
    assert_eq!(boot(&mut tpm, &cfg, Some(&blob)).expect("unchanged PCRs").0, secret);
    {
        let mut rng = TestRng::new();
        Tpm12::new(&mut tpm, &mut rng).extend(16, &[7; 20]).expect("extend");
    }
    assert!(matches!(boot(&mut tpm, &cfg, Some(&blob)), Err(HwError::PcrMismatch { .. })));
}

#[test]
fn tpm20_first_boot_then_later_boot_across_a_restart() {
    if !have_swtpm() {
        return;
    }
    let dir = StateDir::new("20boot");
    let cfg = cfg(&["tpm2=1"]);
    let (secret, blob) = {
        let mut tpm = Swtpm::start(&dir.0, Family::Tpm20);
        let (s, b) = boot(&mut tpm, &cfg, None).expect("first boot");
        passthroughs(&mut tpm, &cfg);
        (s, b.expect("a blob to store"))
    };
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm20);
    let (again, none) = boot(&mut tpm, &cfg, Some(&blob)).expect("later boot");
    assert_eq!(again, secret);
    assert!(none.is_none());
    // a second later boot in the same TPM power cycle: nothing was left loaded
    assert_eq!(boot(&mut tpm, &cfg, Some(&blob)).expect("again").0, secret);
    // a corrupt or truncated blob is an error
    let mut broken = blob.clone();
    broken[60] ^= 0x40; // inside the TPM2B_PRIVATE
    assert!(matches!(boot(&mut tpm, &cfg, Some(&broken)), Err(HwError::DoesNotUnseal { .. })));
    let mut broken = blob.clone();
    broken[20] ^= 0x40; // inside the parent's name
    assert_eq!(boot(&mut tpm, &cfg, Some(&broken)).unwrap_err(), HwError::ParentChanged);
    assert!(matches!(boot(&mut tpm, &cfg, Some(&blob[..40])), Err(HwError::BadBlob(_))));
    // a blob sealed by the other family
    let as12 = HwConfig { family: Some(Family::Tpm12), ..HwConfig::default() };
    assert_eq!(
        boot(&mut tpm, &as12, Some(&blob)).unwrap_err(),
        HwError::WrongFamily { expected: Family::Tpm12, tag: 0x8001 }
    );
}

#[test]
fn tpm20_srk_handle_and_owner_changes() {
    if !have_swtpm() {
        return;
    }
    let dir = StateDir::new("20own");
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm20);
    let (secret, blob) = boot(&mut tpm, &cfg(&["tpm2=1"]), None).expect("first boot");
    let blob = blob.expect("blob");
    // the same primary, made by someone else and given as srk_handle=
    let h = {
        let mut rng = TestRng::new();
        Tpm20::new(&mut tpm, &mut rng).create_primary(&[]).expect("primary")
    };
    let with_handle = cfg(&["tpm2=1", &format!("srk_handle={h:x}")]);
    assert_eq!(boot(&mut tpm, &with_handle, Some(&blob)).expect("via srk_handle").0, secret);
    // a wrong owner password for CreatePrimary
    let bad_owner = cfg(&["tpm2=1", "owner_auth=text:nope"]);
    assert_eq!(boot(&mut tpm, &bad_owner, Some(&blob)).unwrap_err(), HwError::WrongOwnerAuth);
    // TPM2_Clear (lockout hierarchy, empty password): a new owner seed, so a new primary
    {
        let mut rng = TestRng::new();
        let mut c = Tpm20::new(&mut tpm, &mut rng);
        c.flush(h).expect("flush");
        let (rc, _) = c
            .command(
                "TPM2_Clear",
                0x126,
                &[0x4000_000A],
                &mut [vtpmmgr_core::hwtpm::tpm20::Auth::Password(&[])],
                &[],
                0,
            )
            .expect("TPM2_Clear");
        assert_eq!(rc, 0);
    }
    // the primary made from the new seed has another name: refused before any session is
    // salted to it
    assert_eq!(boot(&mut tpm, &cfg(&["tpm2=1"]), Some(&blob)).unwrap_err(), HwError::ParentChanged);
}

#[test]
fn tpm20_pcr_policy_root_is_refused_after_an_extend() {
    if !have_swtpm() {
        return;
    }
    let dir = StateDir::new("20pcr");
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm20);
    let cfg = cfg(&["tpm2=1", "hw_seal_pcrs=0,16"]);
    assert_eq!(cfg.seal_pcrs, PcrMask(0x10001));
    let (secret, blob) = boot(&mut tpm, &cfg, None).expect("first boot");
    let blob = blob.expect("blob");
    assert_eq!(boot(&mut tpm, &cfg, Some(&blob)).expect("unchanged PCRs").0, secret);
    {
        let mut rng = TestRng::new();
        let mut c = Tpm20::new(&mut tpm, &mut rng);
        c.pcr_extend_sha1(16, &[7; 20]).expect("extend");
        assert_ne!(c.pcr_read_sha1(16).expect("read"), [0; 20]);
    }
    let e = boot(&mut tpm, &cfg, Some(&blob));
    assert!(matches!(e, Err(HwError::PcrMismatch { .. })), "{e:?}");
}

#[test]
fn the_wrong_family_is_a_clear_error() {
    if !have_swtpm() {
        return;
    }
    let d1 = StateDir::new("fam12");
    let mut t12 = Swtpm::start(&d1.0, Family::Tpm12);
    let as20 = cfg(&["tpm2=1"]);
    assert!(matches!(boot(&mut t12, &as20, None), Err(HwError::WrongFamily { expected: Family::Tpm20, .. })));
    let d2 = StateDir::new("fam20");
    let mut t20 = Swtpm::start(&d2.0, Family::Tpm20);
    t20.family = Family::Tpm12; // a transport that guesses wrong, no tpm2=1
    assert!(matches!(
        boot(&mut t20, &HwConfig::default(), None),
        Err(HwError::WrongFamily { expected: Family::Tpm12, .. })
    ));
}

fn on_the_wire(tpm: &Swtpm, secret: &[u8; 32]) -> bool {
    tpm.wire.iter().any(|f| f.windows(32).any(|w| w == secret))
}

#[test]
fn tpm20_root_secret_never_crosses_the_bus_in_clear() {
    if !have_swtpm() {
        return;
    }
    let dir = StateDir::new("20wire");
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm20);
    for opts in [&["tpm2=1"][..], &["tpm2=1", "hw_seal_pcrs=0,16"][..]] {
        let cfg = cfg(opts);
        tpm.wire.clear();
        let (secret, blob) = boot(&mut tpm, &cfg, None).expect("first boot");
        let (again, _) = boot(&mut tpm, &cfg, Some(&blob.expect("blob"))).expect("later boot");
        assert_eq!(again, secret);
        // Create carried it (decrypt) and Unseal returned it twice (encrypt): never in clear
        assert!(tpm.wire.len() > 10);
        assert!(!on_the_wire(&tpm, &secret), "{opts:?}: the root secret crossed the bus in clear");
    }
    // the primary is an RSA key, so sessions are salted (not the password fallback)
    let mut rng = TestRng::new();
    let mut c = Tpm20::new(&mut tpm, &mut rng);
    let h = c.create_primary(&[]).expect("primary");
    assert!(c.parent(h, &[]).expect("ReadPublic").key.is_some());
}

#[test]
fn tpm12_root_secret_crosses_the_bus_in_clear_as_documented() {
    if !have_swtpm() {
        return;
    }
    // TPM 1.2 has no parameter encryption for TPM_Seal/TPM_Unseal (transport sessions are not
    // done): the README says so, and this canary keeps the statement true.
    let dir = StateDir::new("12wire");
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm12);
    let (secret, _) = boot(&mut tpm, &HwConfig::default(), None).expect("first boot");
    assert!(on_the_wire(&tpm, &secret));
}

/// Answers with recorded responses, in order, one of them damaged.
struct Replay {
    family: Family,
    answers: std::collections::VecDeque<Vec<u8>>,
}

impl HardwareTpm for Replay {
    type Error = &'static str;
    fn family(&self) -> Family {
        self.family
    }
    fn transmit(&mut self, _command: &[u8]) -> Result<Vec<u8>, &'static str> {
        self.answers.pop_front().ok_or("no more answers")
    }
}

/// Records a first boot on a fresh swtpm with a fixed RNG seed, checks that replaying the
/// responses reproduces it, then replays it with each response truncated or altered in turn:
/// every outcome must be a value (the same secret, or an error), never a panic.
fn damaged_replays(family: Family, opts: &[&str]) {
    let dir = StateDir::new("replay");
    let cfg = cfg(opts);
    let mut tpm = Swtpm::start(&dir.0, family);
    let mut rng = TestRng::seeded(7);
    let (secret, _) = {
        let mut c = HwClient::new(&mut tpm, &mut rng, &cfg).expect("client");
        let (s, b) = c.unseal_or_create_root(None).expect("first boot");
        (*s.as_bytes(), b)
    };
    let responses: Vec<Vec<u8>> = tpm.wire.iter().skip(1).step_by(2).cloned().collect();
    let run = |answers: Vec<Vec<u8>>| {
        let mut t = Replay { family, answers: answers.into() };
        let mut rng = TestRng::seeded(7);
        let mut c = HwClient::new(&mut t, &mut rng, &cfg).expect("client");
        c.unseal_or_create_root(None).map(|(s, _)| *s.as_bytes())
    };
    assert_eq!(run(responses.clone()).expect("faithful replay"), secret);
    let mut errors = 0;
    for i in 0..responses.len() {
        let r = &responses[i];
        let mut variants: Vec<Vec<u8>> = [0, 6, 9, 10, r.len() / 2, r.len().saturating_sub(1)]
            .iter()
            .filter(|&&n| n < r.len())
            .map(|&n| r[..n].to_vec())
            .collect();
        for pos in [0, 1, 5, 9, 10, 12, 14, r.len() / 2, r.len().saturating_sub(1)] {
            if pos < r.len() {
                let mut v = r.clone();
                v[pos] ^= 0x81;
                variants.push(v);
            }
        }
        for v in variants {
            let mut answers = responses.clone();
            answers[i] = v;
            match run(answers) {
                Ok(s) => assert_eq!(s, secret, "a damaged response {i} gave another secret"),
                Err(_) => errors += 1,
            }
        }
    }
    assert!(errors > responses.len(), "damage was noticed ({errors} errors over {} responses)", responses.len());
}

#[test]
fn tpm12_damaged_responses_are_errors_not_panics() {
    if !have_swtpm() {
        return;
    }
    damaged_replays(Family::Tpm12, &["hw_seal_pcrs=0,16"]);
}

#[test]
fn tpm20_damaged_responses_are_errors_not_panics() {
    if !have_swtpm() {
        return;
    }
    damaged_replays(Family::Tpm20, &["tpm2=1"]);
    damaged_replays(Family::Tpm20, &["tpm2=1", "hw_seal_pcrs=0,16"]);
}
