//! Differential test: the same command sequences replayed against our engine
//! and against swtpm (libtpms, TPM 1.2 mode), comparing return codes and
//! response structure with nonces, random bytes and ticks masked.
//!
//! Each sequence runs on a fresh pair: a newly manufactured engine (hardware
//! physical presence off, as swtpm) and a fresh swtpm with TPM_Init done.
//! Differences must be listed in `DELIBERATE` with the reason; any other
//! difference fails the test. Skips loudly if swtpm is not installed.

use std::sync::OnceLock;

use tpm12::TpmOptions;
use tpm12::cmd::aik::structures::{ActivationBlob, SymmetricKey, identity_contents};
use tpm12::cmd::keys::blob::TpmKey;
use tpm12::cmd::keys::rsa_ops::verify_sha1;
use tpm12::cmd::nv::PcrInfoShort;
use tpm12::cmd::pcr::PcrSelection;
use tpm12::codec::{Reader, Writer};
use tpm12::constants::{alg, scheme};
use tpm12::constants::{cap, ord, tag};
use tpm12::constants::{et, key_usage, kh, rt};
use tpm12::crypto::RsaKey;
use tpm12::crypto::sha1;
use tpm12::testing::client::{Client, Reply, Session, WELL_KNOWN, identity_template};
use tpm12::testing::transport::{ENCRYPT, EXCLUSIVE, LOG};
use tpm12::testing::{DetRng, request};
use tpm12_server::transport::{Tcp, Transport, free_port_pair, start_swtpm};

/// Documented differences: (sequence, step label, reason).
const DELIBERATE: &[(&str, &str, &str)] = &[
    (
        "before_startup",
        "Startup(ST_STATE) without saved state",
        "spec §3.2 4.a: stay in post-init so Startup(ST_CLEAR) can follow (TPM_FAIL); libtpms enters failure mode",
    ),
    (
        "before_startup",
        "Startup(ST_CLEAR) after failed ST_STATE",
        "consequence of the above: libtpms is in failure mode",
    ),
    ("capability", "VERSION_VAL", "our own identity: 1.2.0.1, vendor RUST"),
    ("capability", "PROP_MANUFACTURER", "our own vendor ID RUST"),
    ("capability", "PROP_TIS_TIMEOUT", "C vtpm values (750 ms, 2 s, 750 ms, 750 ms) in µs"),
    ("capability", "PROP_DURATION", "C vtpm values (3 s, 3 s, 600 s) in µs"),
    ("capability", "PROP_INPUT_BUFFER", "4088: what the Xen shared page carries (libtpms: 4096)"),
    ("capability", "PROP_MAX_AUTHSESS", "session table size is ours"),
    ("capability", "PROP_AUTHSESS", "session table size is ours"),
    ("capability", "PROP_SESSIONS", "session table size is ours"),
    ("capability", "PROP_MAX_SESSIONS", "session table size is ours"),
    ("capability", "PROP_KEYS", "key slots are ours"),
    ("capability", "PROP_MAX_KEYS", "key slots are ours"),
    ("capability", "PROP_COUNTERS", "we hold 8 counters"),
    ("capability", "PROP_MAX_COUNTERS", "we hold 8 counters"),
    ("capability", "PROP_CONTEXT", "saved-context slots are ours"),
    ("capability", "PROP_MAX_CONTEXT", "saved-context slots are ours"),
    ("capability", "PROP_TRANSESS", "we hold 3 transport sessions (libtpms 16)"),
    ("capability", "PROP_MAX_TRANSESS", "we hold 3 transport sessions (libtpms 16)"),
    ("capability", "PROP_FAMILYROWS", "no delegation (later issue)"),
    ("capability", "PROP_DELEGATE_ROW", "no delegation (later issue)"),
    ("capability", "PROP_MAX_DAASESS", "no DAA (later issue)"),
    ("capability", "PROP_DAASESS", "no DAA (later issue)"),
    ("capability", "PROP_DAA_INTERRUPT", "no DAA (later issue)"),
    ("capability", "PROP_STARTUP_EFFECT", "our startup effects (loaded keys and sessions survive ST_STATE)"),
    (
        "audit",
        "GetAuditDigestSigned closeAudit AIK",
        "we return the audit digest that was signed (Part 3 §8.4 4.e before 5); libtpms returns the zeroed one",
    ),
    ("capability", "PROP_MAX_NV_AVAILABLE", "NV size is ours (8 KiB)"),
    ("capability", "ALG AES128", "no AES128 (transport encryption is MGF1 only)"),
    ("capability", "ALG XOR", "XOR is reported by CAP_AUTH_ENCRYPT only"),
    ("capability", "AUTH_ENCRYPT AES128", "ADIP with AES128-CTR not supported"),
    ("capability", "TRANS_ALG AES128", "transport encryption is MGF1 only (no AES128)"),
    ("capability", "TRANS_ES SYM_CTR", "transport encryption is MGF1 only (no AES128 CTR)"),
    ("capability", "PID ADCP", "ChangeAuthAsym not implemented"),
    ("capability", "PID DSAP", "no delegation"),
    (
        "capability",
        "FLAG_PERMANENT",
        "manufactured with nvLocked TRUE (as shipped TPMs) and physicalPresenceCMDEnable TRUE; libtpms ships both FALSE",
    ),
    ("random", "GetRandom(4096)", "largest answer: ours 4074 (fits 4088), libtpms more"),
    ("random", "StirRandom(256)", "Part 3 §13.7: dataSize must be < 256, the TPM MAY refuse; we do"),
    ("physical_presence", "FLAG_PERMANENT after TSC", "nvLocked TRUE at manufacture"),
    ("pp_lifetime_lock", "TSC CMD_DISABLE|LIFETIME_LOCK", "no difference expected; placeholder never hit"),
    ("pp_lifetime_lock", "FLAG_PERMANENT", "nvLocked TRUE and physicalPresenceCMDEnable TRUE at manufacture"),
    (
        "save_state",
        "Startup(ST_STATE) again (state consumed)",
        "no saved state: we stay in post-init (TPM_FAIL); libtpms enters failure mode",
    ),
    ("nv", "NV lock state before locking", "nvLocked and physicalPresenceCMDEnable TRUE at manufacture"),
    (
        "keys_and_sign",
        "LoadKey2 truncated blob",
        "a TPM_KEY12 shorter than its own size fields: ours TPM_BAD_PARAM_SIZE, libtpms TPM_BAD_PARAMETER",
    ),
    (
        "ownership",
        "GetCapabilityOwner",
        "our TPM_VERSION; flag bits differ: nvLocked/CMDEnable (ours), CEKPUsed (swtpm's EK came from CreateEndorsementKeyPair)",
    ),
    (
        "contexts",
        "LoadContext garbage blob",
        "a contextSize that disagrees with the command's length: ours TPM_BAD_PARAM_SIZE (sizes are checked before \
         the blob is parsed), libtpms parses a TPM_CONTEXT_BLOB from the stream first: TPM_INVALID_STRUCTURE",
    ),
    (
        "clears",
        "GetRandom after ForceClear",
        "Part 3 §6.1/6.2: a clear resets disable/deactivated to the *manufacturing defaults*; ours are enabled and \
      active (a vTPM is usable at once, as the C vtpm), libtpms' are disabled and deactivated",
    ),
];

/// Differences this test found that are engine bugs not fixed yet (the file
/// named owns the fix). Reported loudly; an entry that stops differing fails
/// the test, so the list cannot go stale.
const OPEN: &[(&str, &str, &str)] = &[];

fn test_ek() -> RsaKey {
    static EK: OnceLock<RsaKey> = OnceLock::new();
    EK.get_or_init(|| RsaKey::generate(&mut DetRng::new(0xD1F), 2048).expect("EK")).clone()
}

/// How a step's responses are compared.
#[derive(Clone, Copy)]
enum Cmp {
    /// Return code and every byte.
    Exact,
    /// Return code and length.
    RcLen,
    /// Return code only.
    Rc,
    /// Return code, and bytes outside the given ranges (offsets in the body after the header).
    Mask(&'static [(usize, usize)]),
}

struct Obs {
    label: String,
    rc: u32,
    body: Vec<u8>,
    cmp: Cmp,
}

/// One side of the replay: a client plus what it observed.
struct Side<'a> {
    client: Client<'a>,
    obs: Vec<Obs>,
}

impl Side<'_> {
    fn raw(&mut self, label: &str, cmd: &[u8], cmp: Cmp) -> u32 {
        let r = self.client.raw(cmd);
        let rc = if r.len() >= 10 { u32::from_be_bytes([r[6], r[7], r[8], r[9]]) } else { u32::MAX };
        let mut body = r.get(..2).map(<[u8]>::to_vec).unwrap_or_default();
        body.extend_from_slice(r.get(10..).unwrap_or(&[]));
        self.obs.push(Obs { label: label.to_string(), rc, body, cmp });
        rc
    }

    fn cmd(&mut self, label: &str, ordinal: u32, body: &[u8], cmp: Cmp) -> u32 {
        self.raw(label, &request(tag::RQU_COMMAND, ordinal, body), cmp)
    }

    /// TPM_Init (power cycle), not compared.
    fn init(&mut self) {
        self.client.raw(&[]);
    }

    /// Records a client-driven (authorized) command; a protocol error (e.g. a
    /// response HMAC that does not verify) is recorded as rc 0xFFFFFFFF.
    fn rec(&mut self, label: &str, r: Result<Reply, String>, cmp: Cmp) -> Option<Reply> {
        match r {
            Ok(reply) => {
                let mut body = reply.raw.get(..2).map(<[u8]>::to_vec).unwrap_or_default();
                body.extend_from_slice(&reply.body);
                self.obs.push(Obs { label: label.to_string(), rc: reply.rc, body, cmp });
                Some(reply)
            }
            Err(e) => {
                self.obs.push(Obs {
                    label: format!("{label} [client error: {e}]"),
                    rc: u32::MAX,
                    body: Vec::new(),
                    cmp,
                });
                None
            }
        }
    }

    /// Gives swtpm (which starts without one) an EK; not compared.
    fn ensure_ek(&mut self) {
        let r = self.client.rqu(ord::ReadPubek, &[0; 20]).map(|r| r.rc).unwrap_or(0);
        if r == tpm12::Rc::NO_ENDORSEMENT.0 {
            let mut body = vec![0u8; 20];
            body.extend_from_slice(&[0, 0, 0, 1, 0, 3, 0, 1, 0, 0, 0, 12, 0, 0, 8, 0, 0, 0, 0, 2, 0, 0, 0, 0]);
            let _ = self.client.rqu(ord::CreateEndorsementKeyPair, &body);
        }
    }

    /// Startup, EK, TakeOwnership with the well-known secrets.
    fn owned(&mut self) {
        startup(self);
        self.ensure_ek();
        let r = self.client.take_ownership(WELL_KNOWN, WELL_KNOWN);
        self.rec("TakeOwnership", r, Cmp::RcLen);
    }
}

fn be(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

fn startup(s: &mut Side<'_>) {
    s.cmd("Startup(ST_CLEAR)", ord::Startup, &[0, 1], Cmp::Exact);
}

fn getcap(s: &mut Side<'_>, label: &str, area: u32, sub: &[u8], cmp: Cmp) {
    let mut b = be(&[area, sub.len() as u32]);
    b.extend_from_slice(sub);
    s.cmd(label, ord::GetCapability, &b, cmp);
}

// ---------------------------------------------------------------- sequences

fn before_startup(s: &mut Side<'_>) {
    s.cmd("PcrRead before Startup", ord::PcrRead, &be(&[0]), Cmp::Exact);
    getcap(s, "GetCapability before Startup", cap::PROPERTY, &be(&[cap::PROP_PCR]), Cmp::Exact);
    s.cmd("Startup(9)", ord::Startup, &[0, 9], Cmp::Exact);
    s.cmd("Startup short", ord::Startup, &[0], Cmp::Exact);
    s.cmd("Startup(ST_STATE) without saved state", ord::Startup, &[0, 2], Cmp::Exact);
    s.cmd("Startup(ST_CLEAR) after failed ST_STATE", ord::Startup, &[0, 1], Cmp::Exact);
}

fn startup_twice(s: &mut Side<'_>) {
    startup(s);
    s.cmd("second Startup", ord::Startup, &[0, 1], Cmp::Exact);
    s.cmd("SelfTestFull", ord::SelfTestFull, &[], Cmp::Exact);
    s.cmd("ContinueSelfTest", ord::ContinueSelfTest, &[], Cmp::Exact);
    s.cmd("GetTestResult", ord::GetTestResult, &[], Cmp::Rc);
}

fn framing(s: &mut Side<'_>) {
    startup(s);
    // (Frames whose paramSize disagrees with the bytes sent are not replayed:
    // swtpm's transport waits for the announced length. Unit tests cover them.)
    s.raw("bad tag", &request(0x00C4, ord::PcrRead, &be(&[0])), Cmp::Exact);
    s.raw("unknown ordinal", &request(tag::RQU_COMMAND, 0x1234, &[]), Cmp::Exact);
    s.raw("AUTH1 on PcrRead", &request(tag::RQU_AUTH1_COMMAND, ord::PcrRead, &[0; 49]), Cmp::Rc);
    s.cmd("PcrRead trailing byte", ord::PcrRead, &[0, 0, 0, 0, 0], Cmp::Exact);
    s.cmd("PcrRead short", ord::PcrRead, &[0, 0, 0], Cmp::Exact);
    s.cmd("maintenance ordinal", ord::CreateMaintenanceArchive, &[], Cmp::Rc);
}

fn pcrs(s: &mut Side<'_>) {
    startup(s);
    for i in 0..25u32 {
        s.cmd(&format!("PcrRead {i}"), ord::PcrRead, &be(&[i]), Cmp::Exact);
    }
    for i in 0..25u32 {
        let mut b = be(&[i]);
        b.extend_from_slice(&[i as u8; 20]);
        s.cmd(&format!("Extend {i} at locality 0"), ord::Extend, &b, Cmp::Exact);
    }
    s.cmd("Extend short", ord::Extend, &[0; 23], Cmp::Exact);
    for i in [0u32, 10, 16, 23] {
        s.cmd(&format!("PcrRead {i} after extend"), ord::PcrRead, &be(&[i]), Cmp::Exact);
    }
}

fn pcr_reset(s: &mut Side<'_>) {
    startup(s);
    let mut b = be(&[16]);
    b.extend_from_slice(&[1; 20]);
    s.cmd("Extend 16", ord::Extend, &b, Cmp::Exact);
    s.cmd("PCR_Reset 16", ord::PCR_Reset, &[0, 3, 0, 0, 1], Cmp::Exact);
    s.cmd("PcrRead 16 after reset", ord::PcrRead, &be(&[16]), Cmp::Exact);
    s.cmd("PCR_Reset 16+23", ord::PCR_Reset, &[0, 3, 0, 0, 0x81], Cmp::Exact);
    s.cmd("PCR_Reset 0", ord::PCR_Reset, &[0, 3, 1, 0, 0], Cmp::Exact);
    s.cmd("PCR_Reset 17 at locality 0", ord::PCR_Reset, &[0, 3, 0, 0, 2], Cmp::Exact);
    s.cmd("PCR_Reset 16 and 0", ord::PCR_Reset, &[0, 3, 1, 0, 1], Cmp::Exact);
    s.cmd("PCR_Reset empty", ord::PCR_Reset, &[0, 0], Cmp::Rc);
    s.cmd("PCR_Reset sizeOfSelect 4", ord::PCR_Reset, &[0, 4, 0, 0, 1, 0], Cmp::Rc);
}

fn sha1_thread(s: &mut Side<'_>) {
    startup(s);
    s.cmd("SHA1Update without thread", ord::SHA1Update, &be(&[0]), Cmp::Exact);
    s.cmd("SHA1Complete without thread", ord::SHA1Complete, &be(&[0]), Cmp::Exact);
    s.cmd("SHA1Start", ord::SHA1Start, &[], Cmp::Rc);
    let mut b = be(&[64]);
    b.extend_from_slice(&[0x61; 64]);
    s.cmd("SHA1Update 64", ord::SHA1Update, &b, Cmp::Exact);
    let mut b = be(&[3]);
    b.extend_from_slice(b"abc");
    s.cmd("SHA1Complete 3", ord::SHA1Complete, &b, Cmp::Exact);
    s.cmd("SHA1Start again", ord::SHA1Start, &[], Cmp::Rc);
    let mut b = be(&[10, 3]);
    b.extend_from_slice(b"xyz");
    s.cmd("SHA1CompleteExtend 10", ord::SHA1CompleteExtend, &b, Cmp::Exact);
    s.cmd("PcrRead 10", ord::PcrRead, &be(&[10]), Cmp::Exact);
    s.cmd("SHA1Start 3", ord::SHA1Start, &[], Cmp::Rc);
    let mut b = be(&[3]);
    b.extend_from_slice(b"abc");
    s.cmd("SHA1Update not a multiple of 64", ord::SHA1Update, &b, Cmp::Exact);
}

fn random(s: &mut Side<'_>) {
    startup(s);
    for n in [0u32, 1, 20, 128, 1024] {
        s.cmd(&format!("GetRandom({n})"), ord::GetRandom, &be(&[n]), Cmp::RcLen);
    }
    s.cmd("GetRandom(4096)", ord::GetRandom, &be(&[4096]), Cmp::RcLen);
    s.cmd("GetRandom short", ord::GetRandom, &[0, 0], Cmp::Exact);
    let mut b = be(&[5]);
    b.extend_from_slice(b"stir!");
    s.cmd("StirRandom(5)", ord::StirRandom, &b, Cmp::Exact);
    s.cmd("StirRandom(0)", ord::StirRandom, &be(&[0]), Cmp::Exact);
    let mut b = be(&[255]);
    b.extend_from_slice(&[7; 255]);
    s.cmd("StirRandom(255)", ord::StirRandom, &b, Cmp::Exact);
    let mut b = be(&[256]);
    b.extend_from_slice(&[7; 256]);
    s.cmd("StirRandom(256)", ord::StirRandom, &b, Cmp::Exact);
    s.cmd("StirRandom size beyond data", ord::StirRandom, &be(&[10]), Cmp::Rc);
}

fn capability(s: &mut Side<'_>) {
    startup(s);
    let props: &[(&str, u32)] = &[
        ("PROP_PCR", cap::PROP_PCR),
        ("PROP_DIR", cap::PROP_DIR),
        ("PROP_MANUFACTURER", cap::PROP_MANUFACTURER),
        ("PROP_KEYS", cap::PROP_KEYS),
        ("PROP_MIN_COUNTER", cap::PROP_MIN_COUNTER),
        ("PROP_AUTHSESS", cap::PROP_AUTHSESS),
        ("PROP_TRANSESS", cap::PROP_TRANSESS),
        ("PROP_COUNTERS", cap::PROP_COUNTERS),
        ("PROP_MAX_AUTHSESS", cap::PROP_MAX_AUTHSESS),
        ("PROP_MAX_TRANSESS", cap::PROP_MAX_TRANSESS),
        ("PROP_MAX_COUNTERS", cap::PROP_MAX_COUNTERS),
        ("PROP_MAX_KEYS", cap::PROP_MAX_KEYS),
        ("PROP_OWNER", cap::PROP_OWNER),
        ("PROP_CONTEXT", cap::PROP_CONTEXT),
        ("PROP_MAX_CONTEXT", cap::PROP_MAX_CONTEXT),
        ("PROP_FAMILYROWS", cap::PROP_FAMILYROWS),
        ("PROP_TIS_TIMEOUT", cap::PROP_TIS_TIMEOUT),
        ("PROP_STARTUP_EFFECT", cap::PROP_STARTUP_EFFECT),
        ("PROP_DELEGATE_ROW", cap::PROP_DELEGATE_ROW),
        ("PROP_MAX_DAASESS", cap::PROP_MAX_DAASESS),
        ("PROP_DAASESS", cap::PROP_DAASESS),
        ("PROP_CONTEXT_DIST", cap::PROP_CONTEXT_DIST),
        ("PROP_DAA_INTERRUPT", cap::PROP_DAA_INTERRUPT),
        ("PROP_SESSIONS", cap::PROP_SESSIONS),
        ("PROP_MAX_SESSIONS", cap::PROP_MAX_SESSIONS),
        ("PROP_CMK_RESTRICTION", cap::PROP_CMK_RESTRICTION),
        ("PROP_DURATION", cap::PROP_DURATION),
        ("PROP_ACTIVE_COUNTER", cap::PROP_ACTIVE_COUNTER),
        ("PROP_MAX_NV_AVAILABLE", cap::PROP_MAX_NV_AVAILABLE),
        ("PROP_INPUT_BUFFER", cap::PROP_INPUT_BUFFER),
        ("PROP 0x105 (undefined)", 0x105),
    ];
    for (label, p) in props {
        getcap(s, label, cap::PROPERTY, &be(&[*p]), Cmp::Exact);
    }
    getcap(s, "VERSION", cap::VERSION, &[], Cmp::Exact);
    getcap(s, "VERSION_VAL", cap::VERSION_VAL, &[], Cmp::Exact);
    getcap(s, "FLAG_PERMANENT", cap::FLAG, &be(&[cap::FLAG_PERMANENT]), Cmp::Exact);
    getcap(s, "FLAG_VOLATILE", cap::FLAG, &be(&[cap::FLAG_VOLATILE]), Cmp::Exact);
    getcap(s, "FLAG bad", cap::FLAG, &be(&[0x107]), Cmp::Exact);
    for (label, o) in [
        ("ORD Extend", ord::Extend),
        ("ORD PcrRead", ord::PcrRead),
        ("ORD GetRandom", ord::GetRandom),
        ("ORD NV_DefineSpace", ord::NV_DefineSpace),
        ("ORD MakeIdentity", ord::MakeIdentity),
        ("ORD ActivateIdentity", ord::ActivateIdentity),
        ("ORD 0x1234", 0x1234),
    ] {
        getcap(s, label, cap::ORD, &be(&[o]), Cmp::Exact);
    }
    for (label, a) in
        [("ALG RSA", 1u32), ("ALG SHA", 4), ("ALG HMAC", 5), ("ALG AES128", 6), ("ALG MGF1", 7), ("ALG XOR", 10)]
    {
        getcap(s, label, cap::ALG, &be(&[a]), Cmp::Exact);
    }
    for (label, p) in [
        ("PID OIAP", 1u16),
        ("PID OSAP", 2),
        ("PID ADIP", 3),
        ("PID ADCP", 4),
        ("PID OWNER", 5),
        ("PID DSAP", 6),
        ("PID TRANSPORT", 7),
    ] {
        getcap(s, label, cap::PID, &p.to_be_bytes(), Cmp::Exact);
    }
    getcap(s, "KEY_HANDLE", cap::KEY_HANDLE, &[], Cmp::Exact);
    getcap(s, "HANDLE KEY", cap::HANDLE, &be(&[1]), Cmp::Exact);
    getcap(s, "HANDLE AUTH", cap::HANDLE, &be(&[2]), Cmp::Exact);
    getcap(s, "HANDLE COUNTER", cap::HANDLE, &be(&[6]), Cmp::Exact);
    getcap(s, "HANDLE bad", cap::HANDLE, &be(&[99]), Cmp::Exact);
    getcap(s, "NV_LIST", cap::NV_LIST, &[], Cmp::Exact);
    getcap(s, "NV_INDEX missing", cap::NV_INDEX, &be(&[0x1234]), Cmp::Exact);
    getcap(s, "SELECT_SIZE 1.2/3", cap::SELECT_SIZE, &[1, 2, 0, 3], Cmp::Exact);
    getcap(s, "SELECT_SIZE 1.2/4", cap::SELECT_SIZE, &[1, 2, 0, 4], Cmp::Exact);
    getcap(s, "AUTH_ENCRYPT XOR", cap::AUTH_ENCRYPT, &be(&[10]), Cmp::Exact);
    getcap(s, "AUTH_ENCRYPT AES128", cap::AUTH_ENCRYPT, &be(&[6]), Cmp::Exact);
    getcap(s, "TRANS_ALG AES128", cap::TRANS_ALG, &be(&[6]), Cmp::Exact);
    getcap(s, "TRANS_ES SYM_CTR", cap::TRANS_ES, &4u16.to_be_bytes(), Cmp::Exact);
    getcap(s, "SYM_MODE", cap::SYM_MODE, &be(&[0]), Cmp::Exact);
    getcap(s, "CHECK_LOADED RSA no parms", cap::CHECK_LOADED, &[0, 0, 0, 1, 0, 3, 0, 1, 0, 0, 0, 0], Cmp::Exact);
    let mut kp = vec![0, 0, 0, 1, 0, 3, 0, 1, 0, 0, 0, 12];
    kp.extend(be(&[2048, 2, 0]));
    getcap(s, "CHECK_LOADED RSA 2048", cap::CHECK_LOADED, &kp, Cmp::Exact);
    // TPM_DA_INFO: thresholdCount (body bytes 11..13) is ours (10; libtpms 5).
    const DA_THRESHOLD: Cmp = Cmp::Mask(&[(11, 13)]);
    getcap(s, "DA_LOGIC", cap::DA_LOGIC, &[0, 2], DA_THRESHOLD);
    getcap(s, "DA_LOGIC empty subCap", cap::DA_LOGIC, &[], DA_THRESHOLD);
    getcap(s, "DA_LOGIC 4-byte subCap", cap::DA_LOGIC, &be(&[et::KEYHANDLE.into()]), DA_THRESHOLD);
    getcap(s, "area 0x99", 0x99, &[], Cmp::Exact);
    getcap(s, "ORD short subcap", cap::ORD, &[0, 0, 0x14], Cmp::Exact);
    s.cmd("GetCapability subCapSize beyond data", ord::GetCapability, &be(&[5, 8, 0x101]), Cmp::Rc);
}

fn tsc(s: &mut Side<'_>, label: &str, bits: u16) -> u32 {
    s.cmd(label, ord::TSC_PhysicalPresence, &bits.to_be_bytes(), Cmp::Exact)
}

fn physical_presence(s: &mut Side<'_>) {
    startup(s);
    s.cmd("PhysicalDisable without presence", ord::PhysicalDisable, &[], Cmp::Exact);
    tsc(s, "TSC CMD_ENABLE", 0x20);
    tsc(s, "TSC PRESENT", 0x08);
    getcap(s, "FLAG_VOLATILE with presence", cap::FLAG, &be(&[cap::FLAG_VOLATILE]), Cmp::Exact);
    s.cmd("PhysicalDisable", ord::PhysicalDisable, &[], Cmp::Exact);
    s.cmd("GetRandom while disabled", ord::GetRandom, &be(&[4]), Cmp::Exact);
    s.cmd("PcrRead while disabled", ord::PcrRead, &be(&[0]), Cmp::Exact);
    s.cmd("PhysicalDisable while disabled", ord::PhysicalDisable, &[], Cmp::Exact);
    s.cmd("PhysicalEnable", ord::PhysicalEnable, &[], Cmp::Exact);
    s.cmd("PhysicalSetDeactivated TRUE", ord::PhysicalSetDeactivated, &[1], Cmp::Exact);
    s.cmd("GetRandom after PhysicalSetDeactivated", ord::GetRandom, &be(&[4]), Cmp::RcLen);
    s.cmd("PhysicalSetDeactivated 2", ord::PhysicalSetDeactivated, &[2], Cmp::Exact);
    s.cmd("SetTempDeactivated", ord::SetTempDeactivated, &[], Cmp::Exact);
    s.cmd("GetRandom temp deactivated", ord::GetRandom, &be(&[4]), Cmp::Exact);
    s.cmd("Extend temp deactivated", ord::Extend, &[0; 24], Cmp::Exact);
    tsc(s, "TSC PRESENT|NOTPRESENT", 0x18);
    tsc(s, "TSC PRESENT|CMD_ENABLE", 0x28);
    tsc(s, "TSC reserved bit", 0x01);
    tsc(s, "TSC HW_ENABLE|HW_DISABLE", 0x240);
    tsc(s, "TSC NOTPRESENT|LOCK", 0x14);
    tsc(s, "TSC PRESENT after lock", 0x08);
    s.cmd("PhysicalEnable after lock", ord::PhysicalEnable, &[], Cmp::Exact);
    getcap(s, "FLAG_VOLATILE locked", cap::FLAG, &be(&[cap::FLAG_VOLATILE]), Cmp::Exact);
    tsc(s, "TSC CMD_ENABLE again", 0x20);
    tsc(s, "TSC HW_ENABLE", 0x40);
    getcap(s, "FLAG_PERMANENT after TSC", cap::FLAG, &be(&[cap::FLAG_PERMANENT]), Cmp::Exact);
    s.init();
    startup(s);
    getcap(s, "FLAG_VOLATILE after power cycle", cap::FLAG, &be(&[cap::FLAG_VOLATILE]), Cmp::Exact);
    s.cmd("GetRandom deactivated after power cycle", ord::GetRandom, &be(&[4]), Cmp::Exact);
}

fn pp_lifetime_lock(s: &mut Side<'_>) {
    startup(s);
    tsc(s, "TSC CMD_DISABLE|LIFETIME_LOCK", 0x180);
    tsc(s, "TSC CMD_ENABLE after lifetime lock", 0x20);
    tsc(s, "TSC PRESENT with command PP disabled", 0x08);
    getcap(s, "FLAG_PERMANENT", cap::FLAG, &be(&[cap::FLAG_PERMANENT]), Cmp::Exact);
}

fn pubinfo(index: u32, attrs: u32, size: u32, read_loc: u8, write_loc: u8) -> Vec<u8> {
    let mut b = tag::NV_DATA_PUBLIC.to_be_bytes().to_vec();
    b.extend_from_slice(&index.to_be_bytes());
    for l in [read_loc, write_loc] {
        b.extend_from_slice(&[0, 3, 0, 0, 0, l]);
        b.extend_from_slice(&[0; 20]);
    }
    b.extend_from_slice(&tag::NV_ATTRIBUTES.to_be_bytes());
    b.extend_from_slice(&attrs.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0]);
    b.extend_from_slice(&size.to_be_bytes());
    b.extend_from_slice(&[0; 20]);
    b
}

fn nv_write(index: u32, offset: u32, data: &[u8]) -> Vec<u8> {
    let mut b = be(&[index, offset, data.len() as u32]);
    b.extend_from_slice(data);
    b
}

fn nv(s: &mut Side<'_>) {
    startup(s);
    getcap(s, "NV lock state before locking", cap::FLAG, &be(&[cap::FLAG_PERMANENT]), Cmp::Exact);
    s.cmd("NV lock", ord::NV_DefineSpace, &pubinfo(0xFFFF_FFFF, 0, 0, 0x1f, 0x1f), Cmp::Exact);
    tsc(s, "TSC CMD_ENABLE", 0x20);
    tsc(s, "TSC PRESENT", 0x08);
    s.cmd("define PPWRITE 32", ord::NV_DefineSpace, &pubinfo(0x1100, 1, 32, 0x1f, 0x1f), Cmp::Exact);
    s.cmd("define index 0", ord::NV_DefineSpace, &pubinfo(0, 1, 32, 0x1f, 0x1f), Cmp::Exact);
    s.cmd("define D bit", ord::NV_DefineSpace, &pubinfo(0x1000_1100, 1, 32, 0x1f, 0x1f), Cmp::Exact);
    s.cmd("define no write path", ord::NV_DefineSpace, &pubinfo(0x1101, 0, 32, 0x1f, 0x1f), Cmp::Exact);
    s.cmd("define OWNERWRITE|AUTHWRITE", ord::NV_DefineSpace, &pubinfo(0x1101, 6, 32, 0x1f, 0x1f), Cmp::Exact);
    s.cmd("define OWNERREAD|AUTHREAD", ord::NV_DefineSpace, &pubinfo(0x1101, 0x60001, 32, 0x1f, 0x1f), Cmp::Exact);
    s.cmd("define bad locality", ord::NV_DefineSpace, &pubinfo(0x1101, 1, 32, 0, 0x1f), Cmp::Exact);
    s.cmd("define size 0 (new)", ord::NV_DefineSpace, &pubinfo(0x1101, 1, 0, 0x1f, 0x1f), Cmp::Exact);
    s.cmd("define write locality 2", ord::NV_DefineSpace, &pubinfo(0x1102, 1, 8, 0x1f, 0x04), Cmp::Exact);
    s.cmd("define WRITEDEFINE", ord::NV_DefineSpace, &pubinfo(0x1103, 0x2001, 8, 0x1f, 0x1f), Cmp::Exact);
    s.cmd("define WRITEALL", ord::NV_DefineSpace, &pubinfo(0x1104, 0x1001, 8, 0x1f, 0x1f), Cmp::Exact);
    s.cmd("define AUTHREAD", ord::NV_DefineSpace, &pubinfo(0x1105, 0x40001, 8, 0x1f, 0x1f), Cmp::Exact);
    s.cmd("define GLOBALLOCK", ord::NV_DefineSpace, &pubinfo(0x1106, 0x8001, 8, 0x1f, 0x1f), Cmp::Exact);
    s.cmd("define OWNERWRITE", ord::NV_DefineSpace, &pubinfo(0x1107, 2, 8, 0x1f, 0x1f), Cmp::Exact);
    s.cmd("define READ_STCLEAR", ord::NV_DefineSpace, &pubinfo(0x1108, 0x8000_0001, 8, 0x1f, 0x1f), Cmp::Exact);
    getcap(s, "NV_LIST", cap::NV_LIST, &[], Cmp::Exact);
    getcap(s, "NV_INDEX 0x1100", cap::NV_INDEX, &be(&[0x1100]), Cmp::Exact);
    getcap(s, "NV_INDEX 0x1102", cap::NV_INDEX, &be(&[0x1102]), Cmp::Exact);
    s.cmd("read fresh", ord::NV_ReadValue, &be(&[0x1100, 0, 32]), Cmp::Exact);
    s.cmd("write", ord::NV_WriteValue, &nv_write(0x1100, 3, b"hello nv"), Cmp::Exact);
    s.cmd("read back", ord::NV_ReadValue, &be(&[0x1100, 0, 32]), Cmp::Exact);
    s.cmd("read partial", ord::NV_ReadValue, &be(&[0x1100, 3, 5]), Cmp::Exact);
    s.cmd("read beyond", ord::NV_ReadValue, &be(&[0x1100, 30, 5]), Cmp::Exact);
    s.cmd("write beyond", ord::NV_WriteValue, &nv_write(0x1100, 30, b"abc"), Cmp::Exact);
    s.cmd("read missing", ord::NV_ReadValue, &be(&[0x1199, 0, 1]), Cmp::Exact);
    s.cmd("write missing", ord::NV_WriteValue, &nv_write(0x1199, 0, b"a"), Cmp::Exact);
    s.cmd("write locality 2 space at 0", ord::NV_WriteValue, &nv_write(0x1102, 0, b"a"), Cmp::Exact);
    s.cmd("write WRITEDEFINE", ord::NV_WriteValue, &nv_write(0x1103, 0, b"ab"), Cmp::Exact);
    s.cmd("lock WRITEDEFINE", ord::NV_WriteValue, &nv_write(0x1103, 0, b""), Cmp::Exact);
    s.cmd("write WRITEDEFINE locked", ord::NV_WriteValue, &nv_write(0x1103, 0, b"ab"), Cmp::Exact);
    s.cmd("partial WRITEALL", ord::NV_WriteValue, &nv_write(0x1104, 0, b"ab"), Cmp::Exact);
    s.cmd("full WRITEALL", ord::NV_WriteValue, &nv_write(0x1104, 0, b"abcdefgh"), Cmp::Exact);
    s.cmd("plain read of AUTHREAD", ord::NV_ReadValue, &be(&[0x1105, 0, 1]), Cmp::Exact);
    s.cmd("plain write of OWNERWRITE", ord::NV_WriteValue, &nv_write(0x1107, 0, b"a"), Cmp::Exact);
    s.cmd("read STCLEAR size 0", ord::NV_ReadValue, &be(&[0x1108, 0, 0]), Cmp::Exact);
    s.cmd("read STCLEAR locked", ord::NV_ReadValue, &be(&[0x1108, 0, 1]), Cmp::Exact);
    s.cmd("global lock", ord::NV_WriteValue, &nv_write(0, 0, b""), Cmp::Exact);
    s.cmd("write GLOBALLOCK", ord::NV_WriteValue, &nv_write(0x1106, 0, b"a"), Cmp::Exact);
    s.cmd("write after global lock (no GLOBALLOCK attr)", ord::NV_WriteValue, &nv_write(0x1100, 0, b"a"), Cmp::Exact);
    s.cmd("read DIR", ord::NV_ReadValue, &be(&[0x1000_0001, 0, 20]), Cmp::Exact);
    s.cmd("redefine existing without owner", ord::NV_DefineSpace, &pubinfo(0x1100, 1, 16, 0x1f, 0x1f), Cmp::Exact);
    s.init();
    startup(s);
    tsc(s, "TSC PRESENT after power cycle", 0x08);
    s.cmd("read STCLEAR after power cycle", ord::NV_ReadValue, &be(&[0x1108, 0, 1]), Cmp::Exact);
    s.cmd("write GLOBALLOCK after power cycle", ord::NV_WriteValue, &nv_write(0x1106, 0, b"a"), Cmp::Exact);
    s.cmd("read back after power cycle", ord::NV_ReadValue, &be(&[0x1100, 0, 32]), Cmp::Exact);
}

fn counters_and_ticks(s: &mut Side<'_>) {
    startup(s);
    s.cmd("ReadCounter missing", ord::ReadCounter, &be(&[1]), Cmp::Exact);
    s.cmd("ReadCounter short", ord::ReadCounter, &[0, 1], Cmp::Exact);
    s.cmd("IncrementCounter RQU", ord::IncrementCounter, &be(&[1]), Cmp::Exact);
    s.cmd("GetTicks", ord::GetTicks, &[], Cmp::Mask(&[(4, 12), (14, 34)]));
    s.cmd("GetTicks trailing byte", ord::GetTicks, &[0], Cmp::Exact);
}

fn save_state(s: &mut Side<'_>) {
    startup(s);
    let mut b = be(&[4]);
    b.extend_from_slice(&[4; 20]);
    s.cmd("Extend 4", ord::Extend, &b, Cmp::Exact);
    let mut b = be(&[16]);
    b.extend_from_slice(&[4; 20]);
    s.cmd("Extend 16", ord::Extend, &b, Cmp::Exact);
    s.cmd("SaveState", ord::SaveState, &[], Cmp::Exact);
    s.init();
    s.cmd("Startup(ST_STATE)", ord::Startup, &[0, 2], Cmp::Exact);
    s.cmd("PcrRead 4 restored", ord::PcrRead, &be(&[4]), Cmp::Exact);
    s.cmd("PcrRead 16 reset", ord::PcrRead, &be(&[16]), Cmp::Exact);
    s.init();
    s.cmd("Startup(ST_STATE) again (state consumed)", ord::Startup, &[0, 2], Cmp::Rc);
}

fn save_state_invalidated(s: &mut Side<'_>) {
    startup(s);
    s.cmd("SaveState", ord::SaveState, &[], Cmp::Exact);
    s.cmd("PcrRead after SaveState", ord::PcrRead, &be(&[0]), Cmp::Exact);
    s.init();
    s.cmd("Startup(ST_CLEAR)", ord::Startup, &[0, 1], Cmp::Exact);
}

fn startup_deactivated(s: &mut Side<'_>) {
    s.cmd("Startup(ST_DEACTIVATED)", ord::Startup, &[0, 3], Cmp::Exact);
    getcap(s, "FLAG_VOLATILE", cap::FLAG, &be(&[cap::FLAG_VOLATILE]), Cmp::Exact);
    s.cmd("GetRandom deactivated", ord::GetRandom, &be(&[4]), Cmp::Exact);
    s.cmd("Extend deactivated", ord::Extend, &[0; 24], Cmp::Exact);
    s.cmd("PcrRead deactivated", ord::PcrRead, &be(&[0]), Cmp::Exact);
    s.cmd("SHA1Start deactivated", ord::SHA1Start, &[], Cmp::Rc);
    s.init();
    startup(s);
    s.cmd("GetRandom after ST_CLEAR", ord::GetRandom, &be(&[4]), Cmp::RcLen);
}

fn ownership(s: &mut Side<'_>) {
    startup(s);
    s.ensure_ek();
    s.cmd("ReadPubek", ord::ReadPubek, &[0; 20], Cmp::RcLen);
    let r = s.client.take_ownership(WELL_KNOWN, WELL_KNOWN);
    s.rec("TakeOwnership", r, Cmp::RcLen);
    let r = s.client.take_ownership(WELL_KNOWN, WELL_KNOWN);
    s.rec("TakeOwnership again", r, Cmp::Rc);
    getcap(s, "PROP_OWNER", cap::PROPERTY, &be(&[cap::PROP_OWNER]), Cmp::Exact);
    s.cmd("ReadPubek after ownership", ord::ReadPubek, &[0; 20], Cmp::RcLen);
    getcap(s, "FLAG_VOLATILE", cap::FLAG, &be(&[cap::FLAG_VOLATILE]), Cmp::Exact);
    // GetCapabilityOwner with the owner secret (OIAP).
    let mut sess = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::GetCapabilityOwner, &[], &[], &mut [&mut sess], 0);
    s.rec("GetCapabilityOwner", r, Cmp::Mask(&[(2, 6)]));
    // ... with a wrong owner secret.
    let mut sess = s.client.oiap([1; 20]).expect("OIAP");
    let r = s.client.auth(ord::GetCapabilityOwner, &[], &[], &mut [&mut sess], 0);
    s.rec("GetCapabilityOwner wrong secret", r, Cmp::Exact);
    // OSAP on the owner, then a session handle that does not exist.
    let r = s.client.osap(et::OWNER, kh::OWNER, WELL_KNOWN).map(|_| ());
    s.obs.push(Obs { label: "OSAP owner".into(), rc: u32::from(r.is_err()), body: Vec::new(), cmp: Cmp::Rc });
    let mut bogus =
        Session { handle: 0x0BAD_0BAD, nonce_even: [0; 20], key: WELL_KNOWN, shared_secret: None, keep: false };
    let r = s.client.auth(ord::GetCapabilityOwner, &[], &[], &mut [&mut bogus], 0);
    s.rec("GetCapabilityOwner bogus session", r, Cmp::Exact);
}

fn keys_and_sign(s: &mut Side<'_>) {
    s.owned();
    let r = s.client.create_wrap_key(kh::SRK, WELL_KNOWN, key_usage::SIGNING, WELL_KNOWN);
    let blob = s.rec("CreateWrapKey signing", r, Cmp::RcLen).map(|r| r.body).unwrap_or_default();
    let r = s.client.create_wrap_key(kh::SRK, [3; 20], key_usage::SIGNING, WELL_KNOWN);
    s.rec("CreateWrapKey wrong SRK secret", r, Cmp::Exact);
    let r = s.client.load_key2(kh::SRK, WELL_KNOWN, &blob).map(|(_, r)| r);
    let handle = s.rec("LoadKey2", r, Cmp::Mask(&[(2, 6)])).map(|r| be_u32(&r.body)).unwrap_or(0);
    let mut tampered = blob.clone();
    if let Some(b) = tampered.last_mut() {
        *b ^= 1;
    }
    let r = s.client.load_key2(kh::SRK, WELL_KNOWN, &tampered).map(|(_, r)| r);
    s.rec("LoadKey2 tampered blob", r, Cmp::Rc);
    let r = s.client.load_key2(kh::SRK, WELL_KNOWN, &blob[..blob.len().saturating_sub(3)]).map(|(_, r)| r);
    s.rec("LoadKey2 truncated blob", r, Cmp::Rc);
    let r = s.client.sign(handle, WELL_KNOWN, &[5; 20]);
    s.rec("Sign SHA1 digest", r, Cmp::RcLen);
    let r = s.client.sign(handle, [9; 20], &[5; 20]);
    s.rec("Sign wrong key secret", r, Cmp::Exact);
    let mut sess = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(
        ord::Sign,
        &[handle],
        &be(&[19]).into_iter().chain([0u8; 19]).collect::<Vec<_>>(),
        &mut [&mut sess],
        0,
    );
    s.rec("Sign 19-byte digest", r, Cmp::Rc);
    s.cmd("GetPubKey without auth", ord::GetPubKey, &be(&[handle]), Cmp::Rc);
    let mut sess = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::GetPubKey, &[handle], &[], &mut [&mut sess], 0);
    s.rec("GetPubKey", r, Cmp::RcLen);
    let r = s.client.sign(0x0BAD_0001, WELL_KNOWN, &[5; 20]);
    s.rec("Sign unknown handle", r, Cmp::Rc);
    let mut fb = be(&[handle]);
    fb.extend_from_slice(&rt::KEY.to_be_bytes());
    s.cmd("FlushSpecific key", ord::FlushSpecific, &fb, Cmp::Exact);
    s.cmd("FlushSpecific key again", ord::FlushSpecific, &fb, Cmp::Exact);
    getcap(s, "KEY_HANDLE after flush", cap::KEY_HANDLE, &[], Cmp::Exact);
}

fn seal_unseal(s: &mut Side<'_>) {
    s.owned();
    let r = s.client.seal(kh::SRK, WELL_KNOWN, [4; 20], b"differential secret");
    let blob = s.rec("Seal", r, Cmp::RcLen).map(|r| r.body).unwrap_or_default();
    let r = s.client.unseal(kh::SRK, WELL_KNOWN, [4; 20], &blob);
    s.rec("Unseal", r, Cmp::Exact);
    let r = s.client.unseal(kh::SRK, WELL_KNOWN, [5; 20], &blob);
    s.rec("Unseal wrong data secret", r, Cmp::Exact);
    let r = s.client.unseal(kh::SRK, [5; 20], [4; 20], &blob);
    s.rec("Unseal wrong SRK secret", r, Cmp::Exact);
    let mut tampered = blob.clone();
    if tampered.len() > 40 {
        let i = tampered.len() - 40;
        tampered[i] ^= 0x80;
    }
    let r = s.client.unseal(kh::SRK, WELL_KNOWN, [4; 20], &tampered);
    s.rec("Unseal tampered blob", r, Cmp::Rc);
    let r = s.client.seal(kh::SRK, [5; 20], [4; 20], b"x");
    s.rec("Seal wrong SRK secret", r, Cmp::Exact);
    let r = s.client.seal(kh::SRK, WELL_KNOWN, [4; 20], &[]);
    s.rec("Seal empty data", r, Cmp::RcLen);
}

fn nv_owner(s: &mut Side<'_>) {
    s.owned();
    s.cmd("NV lock", ord::NV_DefineSpace, &pubinfo(0xFFFF_FFFF, 0, 0, 0x1f, 0x1f), Cmp::Exact);
    let mut osap = s.client.osap(et::OWNER, kh::OWNER, WELL_KNOWN).expect("OSAP");
    let mut p = pubinfo(0x2200, 0x0002_0002, 24, 0x1f, 0x1f);
    let n = p.len();
    let enc = Client::adip(&osap, &[6; 20]);
    p[n - 20..].copy_from_slice(&enc);
    let r = s.client.auth(ord::NV_DefineSpace, &[], &p, &mut [&mut osap], 0);
    s.rec("NV_DefineSpace owner", r, Cmp::Exact);
    let mut sess = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::NV_WriteValue, &[], &nv_write(0x2200, 2, b"owner data"), &mut [&mut sess], 0);
    s.rec("NV_WriteValue owner", r, Cmp::Exact);
    s.cmd("NV_WriteValue without auth", ord::NV_WriteValue, &nv_write(0x2200, 2, b"x"), Cmp::Exact);
    s.cmd("NV_ReadValue without auth", ord::NV_ReadValue, &be(&[0x2200, 0, 24]), Cmp::Exact);
    let mut sess = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::NV_ReadValue, &[], &be(&[0x2200, 0, 24]), &mut [&mut sess], 0);
    s.rec("NV_ReadValue owner", r, Cmp::Exact);
    let mut sess = s.client.oiap([8; 20]).expect("OIAP");
    let r = s.client.auth(ord::NV_ReadValue, &[], &be(&[0x2200, 0, 24]), &mut [&mut sess], 0);
    s.rec("NV_ReadValue wrong owner secret", r, Cmp::Exact);
    // An AUTHWRITE space written with its own secret.
    let mut osap = s.client.osap(et::OWNER, kh::OWNER, WELL_KNOWN).expect("OSAP");
    let mut p = pubinfo(0x2201, 0x0000_0004, 8, 0x1f, 0x1f);
    let enc = Client::adip(&osap, &[6; 20]);
    p[n - 20..].copy_from_slice(&enc);
    let r = s.client.auth(ord::NV_DefineSpace, &[], &p, &mut [&mut osap], 0);
    s.rec("NV_DefineSpace AUTHWRITE", r, Cmp::Exact);
    let mut sess = s.client.oiap([6; 20]).expect("OIAP");
    let r = s.client.auth(ord::NV_WriteValueAuth, &[], &nv_write(0x2201, 0, b"authdata"), &mut [&mut sess], 0);
    s.rec("NV_WriteValueAuth", r, Cmp::Exact);
    let mut sess = s.client.oiap([7; 20]).expect("OIAP");
    let r = s.client.auth(ord::NV_WriteValueAuth, &[], &nv_write(0x2201, 0, b"authdata"), &mut [&mut sess], 0);
    s.rec("NV_WriteValueAuth wrong secret", r, Cmp::Exact);
    s.cmd("NV_ReadValue AUTHWRITE space", ord::NV_ReadValue, &be(&[0x2201, 0, 8]), Cmp::Exact);
    // Release with the owner.
    let mut osap = s.client.osap(et::OWNER, kh::OWNER, WELL_KNOWN).expect("OSAP");
    let mut p = pubinfo(0x2200, 0x0002_0002, 0, 0x1f, 0x1f);
    let enc = Client::adip(&osap, &[0; 20]);
    p[n - 20..].copy_from_slice(&enc);
    let r = s.client.auth(ord::NV_DefineSpace, &[], &p, &mut [&mut osap], 0);
    s.rec("NV release", r, Cmp::Exact);
    getcap(s, "NV_LIST after release", cap::NV_LIST, &[], Cmp::Exact);
}

fn counters_owner(s: &mut Side<'_>) {
    s.owned();
    let mut osap = s.client.osap(et::OWNER, kh::OWNER, WELL_KNOWN).expect("OSAP");
    let mut p = Client::adip(&osap, &[2; 20]).to_vec();
    p.extend_from_slice(b"ctr1");
    let r = s.client.auth(ord::CreateCounter, &[], &p, &mut [&mut osap], 0);
    // countID and the start value are implementation choices: compare the label.
    let id = s.rec("CreateCounter", r, Cmp::Mask(&[(2, 6), (12, 16)])).map(|r| be_u32(&r.body)).unwrap_or(0);
    s.cmd("ReadCounter", ord::ReadCounter, &be(&[id]), Cmp::Mask(&[(8, 12)]));
    let mut sess = s.client.oiap([2; 20]).expect("OIAP");
    let r = s.client.auth(ord::IncrementCounter, &[], &be(&[id]), &mut [&mut sess], 0);
    s.rec("IncrementCounter", r, Cmp::Mask(&[(8, 12)]));
    let mut sess = s.client.oiap([3; 20]).expect("OIAP");
    let r = s.client.auth(ord::IncrementCounter, &[], &be(&[id]), &mut [&mut sess], 0);
    s.rec("IncrementCounter wrong secret", r, Cmp::Exact);
    getcap(s, "PROP_ACTIVE_COUNTER", cap::PROPERTY, &be(&[cap::PROP_ACTIVE_COUNTER]), Cmp::Rc);
    let mut sess = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::ReleaseCounterOwner, &[], &be(&[id]), &mut [&mut sess], 0);
    s.rec("ReleaseCounterOwner", r, Cmp::Exact);
    s.cmd("ReadCounter released", ord::ReadCounter, &be(&[id]), Cmp::Exact);
}

/// Owned TPM with a loaded 2048-bit signing key (usage secret [4; 20]); returns its handle.
fn signing_key(s: &mut Side<'_>) -> u32 {
    s.owned();
    let r = s.client.create_wrap_key(kh::SRK, WELL_KNOWN, key_usage::SIGNING, [4; 20]);
    let blob = s.rec("CreateWrapKey signing", r, Cmp::RcLen).map(|r| r.body).unwrap_or_default();
    let r = s.client.load_key2(kh::SRK, WELL_KNOWN, &blob).map(|(_, r)| r);
    s.rec("LoadKey2", r, Cmp::Mask(&[(2, 6)])).map(|r| be_u32(&r.body)).unwrap_or(0)
}

fn quotes(s: &mut Side<'_>) {
    let h = signing_key(s);
    let mut b = be(&[7]);
    b.extend_from_slice(&[7; 20]);
    s.cmd("Extend 7", ord::Extend, &b, Cmp::Exact);
    let mut p = vec![0x55; 20];
    p.extend_from_slice(&[0, 3, 0x81, 0, 0]); // PCR 0 and 7
    let mut sess = s.client.oiap([4; 20]).expect("OIAP");
    let r = s.client.auth(ord::Quote, &[h], &p, &mut [&mut sess], 0);
    // TPM_PCR_COMPOSITE (deterministic) then the signature.
    s.rec("Quote PCR 0+7", r, Cmp::Mask(&[(2 + 2 + 3 + 4 + 40 + 4, 2 + 2 + 3 + 4 + 40 + 4 + 256)]));
    let mut sess = s.client.oiap([5; 20]).expect("OIAP");
    let r = s.client.auth(ord::Quote, &[h], &p, &mut [&mut sess], 0);
    s.rec("Quote wrong key secret", r, Cmp::Exact);
    let mut bad = vec![0x55; 20];
    bad.extend_from_slice(&[0, 4, 1, 0, 0, 0]);
    let mut sess = s.client.oiap([4; 20]).expect("OIAP");
    let r = s.client.auth(ord::Quote, &[h], &bad, &mut [&mut sess], 0);
    s.rec("Quote sizeOfSelect 4", r, Cmp::Rc);
    let mut p2 = vec![0x66; 20];
    p2.extend_from_slice(&[0, 3, 0x81, 0, 0, 0]); // addVersion FALSE
    let mut sess = s.client.oiap([4; 20]).expect("OIAP");
    let r = s.client.auth(ord::Quote2, &[h], &p2, &mut [&mut sess], 0);
    s.rec("Quote2 PCR 0+7", r, Cmp::Mask(&[(2 + 2 + 3 + 1 + 20 + 4 + 4, 2 + 2 + 3 + 1 + 20 + 4 + 4 + 256)]));
    let mut p3 = vec![0x66; 20];
    p3.extend_from_slice(&[0, 3, 0x81, 0, 0, 1]); // addVersion TRUE
    let mut sess = s.client.oiap([4; 20]).expect("OIAP");
    let r = s.client.auth(ord::Quote2, &[h], &p3, &mut [&mut sess], 0);
    s.rec("Quote2 with version", r, Cmp::RcLen);
}

fn clears(s: &mut Side<'_>) {
    s.owned();
    tsc(s, "TSC CMD_ENABLE", 0x20);
    tsc(s, "TSC PRESENT", 0x08);
    let mut sess = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::DisableOwnerClear, &[], &[], &mut [&mut sess], 0);
    s.rec("DisableOwnerClear", r, Cmp::Exact);
    let mut sess = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::OwnerClear, &[], &[], &mut [&mut sess], 0);
    s.rec("OwnerClear while disabled", r, Cmp::Exact);
    s.cmd("DisableForceClear", ord::DisableForceClear, &[], Cmp::Exact);
    s.cmd("ForceClear after DisableForceClear", ord::ForceClear, &[], Cmp::Exact);
    s.init();
    startup(s);
    s.cmd("ForceClear without presence", ord::ForceClear, &[], Cmp::Exact);
    tsc(s, "TSC PRESENT after power cycle", 0x08);
    s.cmd("ForceClear", ord::ForceClear, &[], Cmp::Exact);
    getcap(s, "PROP_OWNER after ForceClear", cap::PROPERTY, &be(&[cap::PROP_OWNER]), Cmp::Exact);
    getcap(s, "FLAG_VOLATILE after ForceClear", cap::FLAG, &be(&[cap::FLAG_VOLATILE]), Cmp::Exact);
    s.cmd("GetRandom after ForceClear", ord::GetRandom, &be(&[4]), Cmp::RcLen);
    s.cmd("PhysicalEnable", ord::PhysicalEnable, &[], Cmp::Exact);
    s.cmd("PhysicalSetDeactivated FALSE", ord::PhysicalSetDeactivated, &[0], Cmp::Exact);
    s.cmd("SetOwnerInstall TRUE", ord::SetOwnerInstall, &[1], Cmp::Exact);
    s.init();
    startup(s);
    let r = s.client.take_ownership(WELL_KNOWN, WELL_KNOWN);
    s.rec("TakeOwnership after clear", r, Cmp::RcLen);
    let mut sess = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::OwnerClear, &[], &[], &mut [&mut sess], 0);
    s.rec("OwnerClear", r, Cmp::Exact);
    getcap(s, "PROP_OWNER after OwnerClear", cap::PROPERTY, &be(&[cap::PROP_OWNER]), Cmp::Exact);
}

fn keys_across_save_state(s: &mut Side<'_>) {
    let h = signing_key(s);
    s.cmd("SaveState", ord::SaveState, &[], Cmp::Exact);
    s.init();
    s.cmd("Startup(ST_STATE)", ord::Startup, &[0, 2], Cmp::Exact);
    let r = s.client.sign(h, [4; 20], &[1; 20]);
    s.rec("Sign with key restored by ST_STATE", r, Cmp::RcLen);
    s.init();
    startup(s);
    let r = s.client.sign(h, [4; 20], &[1; 20]);
    s.rec("Sign after ST_CLEAR (key gone)", r, Cmp::Rc);
}

fn contexts(s: &mut Side<'_>) {
    let h = signing_key(s);
    let mut p = be(&[h, rt::KEY]);
    p.extend_from_slice(b"differential lbl");
    let r = s.cmd("SaveContext key", ord::SaveContext, &p, Cmp::Rc);
    let _ = r;
    let mut fb = be(&[h]);
    fb.extend_from_slice(&rt::KEY.to_be_bytes());
    s.cmd("FlushSpecific key", ord::FlushSpecific, &fb, Cmp::Exact);
    s.cmd("SaveContext flushed key", ord::SaveContext, &p, Cmp::Exact);
    let mut bogus = be(&[h, 0]);
    bogus.extend_from_slice(&be(&[8]));
    bogus.extend_from_slice(&[0; 8]);
    s.cmd("LoadContext garbage blob", ord::LoadContext, &bogus, Cmp::Rc);
}

fn create_counter(s: &mut Side<'_>, label: &[u8; 4], secret: [u8; 20]) -> u32 {
    let mut osap = s.client.osap(et::OWNER, kh::OWNER, WELL_KNOWN).expect("OSAP");
    let mut p = Client::adip(&osap, &secret).to_vec();
    p.extend_from_slice(label);
    let r = s.client.auth(ord::CreateCounter, &[], &p, &mut [&mut osap], 0);
    s.rec(&format!("CreateCounter {}", String::from_utf8_lossy(label)), r, Cmp::Mask(&[(2, 6), (12, 16)]))
        .map(|r| be_u32(&r.body))
        .unwrap_or(0)
}

fn increment(s: &mut Side<'_>, label: &str, id: u32, secret: [u8; 20]) {
    let mut sess = s.client.oiap(secret).expect("OIAP");
    let r = s.client.auth(ord::IncrementCounter, &[], &be(&[id]), &mut [&mut sess], 0);
    s.rec(label, r, Cmp::Mask(&[(8, 12)]));
}

fn counters_active(s: &mut Side<'_>) {
    s.owned();
    let a = create_counter(s, b"aaaa", [1; 20]);
    let b = create_counter(s, b"bbbb", [2; 20]);
    increment(s, "Increment a", a, [1; 20]);
    increment(s, "Increment a again", a, [1; 20]);
    increment(s, "Increment b while a is active", b, [2; 20]);
    let mut sess = s.client.oiap([1; 20]).expect("OIAP");
    let r = s.client.auth(ord::ReleaseCounter, &[], &be(&[a]), &mut [&mut sess], 0);
    s.rec("ReleaseCounter a (own secret)", r, Cmp::Exact);
    increment(s, "Increment b after releasing the active counter", b, [2; 20]);
    getcap(s, "PROP_ACTIVE_COUNTER after release", cap::PROPERTY, &be(&[cap::PROP_ACTIVE_COUNTER]), Cmp::Exact);
    s.init();
    startup(s);
    increment(s, "Increment b after power cycle", b, [2; 20]);
    s.cmd("ReadCounter b", ord::ReadCounter, &be(&[b]), Cmp::Mask(&[(8, 12)]));
    let mut sess = s.client.oiap([9; 20]).expect("OIAP");
    let r = s.client.auth(ord::ReleaseCounter, &[], &be(&[b]), &mut [&mut sess], 0);
    s.rec("ReleaseCounter wrong secret", r, Cmp::Exact);
    s.cmd("ReadCounter released a", ord::ReadCounter, &be(&[a]), Cmp::Exact);
}

fn set_capability(s: &mut Side<'_>) {
    s.owned();
    let setcap = |area: u32, sub: u32, v: u8| {
        let mut b = be(&[area, 4, sub, 1]);
        b.push(v);
        b
    };
    s.cmd("SetCapability PF_DISABLE without presence", ord::SetCapability, &setcap(1, 1, 1), Cmp::Exact);
    s.cmd("SetCapability bad value", ord::SetCapability, &setcap(1, 1, 2), Cmp::Rc);
    s.cmd("SetCapability area 9", ord::SetCapability, &setcap(9, 1, 1), Cmp::Rc);
    s.cmd("SetCapability SF_DISABLEFORCECLEAR", ord::SetCapability, &setcap(3, 2, 1), Cmp::Exact);
    getcap(s, "FLAG_VOLATILE after DISABLEFORCECLEAR", cap::FLAG, &be(&[cap::FLAG_VOLATILE]), Cmp::Exact);
    s.cmd("SetCapability SF_DISABLEFORCECLEAR FALSE", ord::SetCapability, &setcap(3, 2, 0), Cmp::Exact);
    let mut sess = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::SetCapability, &[], &setcap(1, 17, 1), &mut [&mut sess], 0);
    s.rec("SetCapability PF_READSRKPUB (owner)", r, Cmp::Exact);
    let mut sess = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::SetCapability, &[], &setcap(1, 20, 1), &mut [&mut sess], 0);
    s.rec("SetCapability PF_DISABLEFULLDALOGICINFO (owner)", r, Cmp::Exact);
    let mut sess = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::SetCapability, &[], &setcap(1, 5, 0), &mut [&mut sess], 0);
    s.rec("SetCapability PF_DISABLEOWNERCLEAR FALSE (owner)", r, Cmp::Exact);
    let mut sess = s.client.oiap([3; 20]).expect("OIAP");
    let r = s.client.auth(ord::SetCapability, &[], &setcap(1, 4, 0), &mut [&mut sess], 0);
    s.rec("SetCapability PF_READPUBEK wrong owner secret", r, Cmp::Exact);
    tsc(s, "TSC CMD_ENABLE", 0x20);
    tsc(s, "TSC PRESENT", 0x08);
    s.cmd("SetCapability PF_DISABLE with presence", ord::SetCapability, &setcap(1, 1, 1), Cmp::Exact);
    s.cmd("SetCapability PF_DISABLE FALSE with presence", ord::SetCapability, &setcap(1, 1, 0), Cmp::Exact);
    s.cmd("SetCapability PF_OWNERSHIP with owner", ord::SetCapability, &setcap(1, 2, 0), Cmp::Exact);
}

fn be_u32(b: &[u8]) -> u32 {
    b.get(..4).map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]])).unwrap_or(0)
}

// ------------------------------------------------------- identities (AIK)

/// Reads the EK modulus (before TakeOwnership disables ReadPubek; not compared), then owns.
fn owned_with_ek(s: &mut Side<'_>) -> Vec<u8> {
    startup(s);
    s.ensure_ek();
    let ek = s.client.read_pubek().unwrap_or_default();
    let r = s.client.take_ownership(WELL_KNOWN, WELL_KNOWN);
    s.rec("TakeOwnership", r, Cmp::RcLen);
    ek
}

fn aik_template(usage: u16, bits: u32, flags: u32) -> Vec<u8> {
    let mut w = Writer::new();
    identity_template(&mut w);
    let mut v = w.into_vec();
    v[4..6].copy_from_slice(&usage.to_be_bytes());
    v[6..10].copy_from_slice(&flags.to_be_bytes());
    v[23..27].copy_from_slice(&bits.to_be_bytes());
    v
}

fn activation_key() -> SymmetricKey {
    SymmetricKey { alg_id: alg::AES128, enc_scheme: scheme::ES_SYM_CTR, data: (0u8..16).collect::<Vec<_>>().into() }
}

fn pcr_short(select: [u8; 3], locality: u8, digest: [u8; 20]) -> PcrInfoShort {
    PcrInfoShort {
        selection: PcrSelection { select: select.to_vec() },
        locality_at_release: locality,
        digest_at_release: digest,
    }
}

fn activate(s: &mut Side<'_>, label: &str, h: u32, id_auth: [u8; 20], owner: [u8; 20], blob: &[u8]) {
    let r = s.client.activate_identity(h, id_auth, owner, blob);
    s.rec(label, r, Cmp::Exact);
}

fn identities(s: &mut Side<'_>) {
    let ek = owned_with_ek(s);
    let aik_auth = [0x44; 20];
    let label = [0x4C; 20];
    let good = aik_template(key_usage::IDENTITY, 2048, 0);
    let r = s.client.make_identity([9; 20], WELL_KNOWN, aik_auth, &label, &good);
    s.rec("MakeIdentity wrong owner secret", r, Cmp::Exact);
    let r = s.client.make_identity(WELL_KNOWN, [9; 20], aik_auth, &label, &good);
    s.rec("MakeIdentity wrong SRK secret", r, Cmp::Exact);
    let small = aik_template(key_usage::IDENTITY, 1024, 0);
    let r = s.client.make_identity(WELL_KNOWN, WELL_KNOWN, aik_auth, &label, &small);
    s.rec("MakeIdentity 1024-bit", r, Cmp::Exact);
    let sign = aik_template(key_usage::SIGNING, 2048, 0);
    let r = s.client.make_identity(WELL_KNOWN, WELL_KNOWN, aik_auth, &label, &sign);
    s.rec("MakeIdentity signing usage", r, Cmp::Exact);
    let migratable = aik_template(key_usage::IDENTITY, 2048, 2);
    let r = s.client.make_identity(WELL_KNOWN, WELL_KNOWN, aik_auth, &label, &migratable);
    s.rec("MakeIdentity migratable", r, Cmp::Exact);
    // Owner over OIAP: no ADIP possible.
    let mut p = Writer::new();
    p.bytes(&[0; 20]).bytes(&label).bytes(&good);
    let mut s_srk = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let mut s_owner = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::MakeIdentity, &[], p.as_slice(), &mut [&mut s_srk, &mut s_owner], 0);
    s.rec("MakeIdentity owner OIAP", r, Cmp::Exact);
    // AUTH1: the SRK has a secret, so it must be authorized.
    let mut s_owner = s.client.osap(et::OWNER, kh::OWNER, WELL_KNOWN).expect("OSAP");
    let mut p = Writer::new();
    p.bytes(&Client::adip(&s_owner, &aik_auth)).bytes(&label).bytes(&good);
    let r = s.client.auth(ord::MakeIdentity, &[], p.as_slice(), &mut [&mut s_owner], 0);
    s.rec("MakeIdentity AUTH1", r, Cmp::Exact);
    let mut s_owner = s.client.osap(et::OWNER, kh::OWNER, [9; 20]).expect("OSAP");
    let mut p = Writer::new();
    p.bytes(&Client::adip(&s_owner, &aik_auth)).bytes(&label).bytes(&good);
    let r = s.client.auth(ord::MakeIdentity, &[], p.as_slice(), &mut [&mut s_owner], 0);
    s.rec("MakeIdentity AUTH1 wrong owner secret", r, Cmp::Exact);
    // The real one; both sessions asked to continue, both end.
    let mut s_srk = s.client.oiap(WELL_KNOWN).expect("OIAP");
    s_srk.keep = true;
    let mut s_owner = s.client.osap(et::OWNER, kh::OWNER, WELL_KNOWN).expect("OSAP");
    s_owner.keep = true;
    let mut p = Writer::new();
    p.bytes(&Client::adip(&s_owner, &aik_auth)).bytes(&label).bytes(&good);
    let r = s.client.auth(ord::MakeIdentity, &[], p.as_slice(), &mut [&mut s_srk, &mut s_owner], 0);
    let body = s.rec("MakeIdentity", r, Cmp::RcLen).map(|r| r.body).unwrap_or_default();
    s.cmd("Terminate SRK session after MakeIdentity", ord::Terminate_Handle, &be(&[s_srk.handle]), Cmp::Exact);
    s.cmd("Terminate owner session after MakeIdentity", ord::Terminate_Handle, &be(&[s_owner.handle]), Cmp::Exact);
    // The binding verifies with the new key (recorded as rc 0 = verifies, 1 = does not).
    let mut rd = Reader::new(&body);
    let key = TpmKey::decode(&mut rd).ok();
    let binding = rd.sized32().map(<[u8]>::to_vec).unwrap_or_default();
    let pubkey = key.as_ref().map(|k| {
        let mut w = Writer::new();
        k.encode_pubkey(&mut w);
        w.into_vec()
    });
    let pubkey = pubkey.unwrap_or_default();
    let verifies = key.as_ref().is_some_and(|k| {
        RsaKey::from_public(&k.pub_key, &[])
            .is_ok_and(|pk| verify_sha1(&pk.public, &sha1(&[&identity_contents(&label, &pubkey)]), &binding))
    });
    s.obs.push(Obs {
        label: "identityBinding verifies".into(),
        rc: u32::from(!verifies),
        body: Vec::new(),
        cmp: Cmp::Rc,
    });
    let blob = key.as_ref().map(TpmKey::to_bytes).unwrap_or_default();
    let r = s.client.load_key2(kh::SRK, WELL_KNOWN, &blob).map(|(_, r)| r);
    let h = s.rec("LoadKey2 AIK", r, Cmp::Mask(&[(2, 6)])).map(|r| be_u32(&r.body)).unwrap_or(0);
    let id_digest = sha1(&[&pubkey]);
    let enc = |s: &mut Side<'_>, plain: &[u8]| s.client.encrypt_to_ek(&ek, plain).unwrap_or_default();
    let asym = ActivationBlob::AsymCaContents { session_key: activation_key(), id_digest };
    let asym_blob = enc(s, &asym.encode());
    activate(s, "ActivateIdentity TPM_ASYM_CA_CONTENTS", h, aik_auth, WELL_KNOWN, &asym_blob);
    let ek12 = ActivationBlob::EkBlobActivate {
        session_key: activation_key(),
        id_digest,
        pcr_info: pcr_short([0; 3], 0x1F, [0; 20]),
    };
    let b = enc(s, &ek12.encode());
    activate(s, "ActivateIdentity TPM_EK_BLOB", h, aik_auth, WELL_KNOWN, &b);
    let other = ActivationBlob::AsymCaContents { session_key: activation_key(), id_digest: [0x5A; 20] };
    let b = enc(s, &other.encode());
    activate(s, "ActivateIdentity wrong AIK digest", h, aik_auth, WELL_KNOWN, &b);
    let other = ActivationBlob::EkBlobActivate {
        session_key: activation_key(),
        id_digest: [0x5A; 20],
        pcr_info: pcr_short([0; 3], 0x1F, [0; 20]),
    };
    let b = enc(s, &other.encode());
    activate(s, "ActivateIdentity TPM_EK_BLOB wrong AIK digest", h, aik_auth, WELL_KNOWN, &b);
    let loc1 = ActivationBlob::EkBlobActivate {
        session_key: activation_key(),
        id_digest,
        pcr_info: pcr_short([0; 3], 0x02, [0; 20]),
    };
    let b = enc(s, &loc1.encode());
    activate(s, "ActivateIdentity locality 1 only", h, aik_auth, WELL_KNOWN, &b);
    let pcr0 = ActivationBlob::EkBlobActivate {
        session_key: activation_key(),
        id_digest,
        pcr_info: pcr_short([1, 0, 0], 0x1F, [0x66; 20]),
    };
    let b = enc(s, &pcr0.encode());
    activate(s, "ActivateIdentity wrong PCR digest", h, aik_auth, WELL_KNOWN, &b);
    let mut bad_type = Writer::new();
    bad_type.u16(tag::EK_BLOB).u16(2).u32(4).u32(0);
    let b = enc(s, bad_type.as_slice());
    activate(s, "ActivateIdentity ekType 2", h, aik_auth, WELL_KNOWN, &b);
    activate(s, "ActivateIdentity garbage blob", h, aik_auth, WELL_KNOWN, &[0x42; 256]);
    activate(s, "ActivateIdentity short blob", h, aik_auth, WELL_KNOWN, &[0x42; 100]);
    activate(s, "ActivateIdentity wrong owner secret", h, aik_auth, [9; 20], &asym_blob);
    activate(s, "ActivateIdentity wrong AIK secret", h, [9; 20], WELL_KNOWN, &asym_blob);
    activate(s, "ActivateIdentity SRK as identity", kh::SRK, WELL_KNOWN, WELL_KNOWN, &asym_blob);
    activate(s, "ActivateIdentity unknown handle", 0x0BAD_0001, aik_auth, WELL_KNOWN, &asym_blob);
    let mut s_owner = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let mut p = Writer::new();
    p.sized32(&asym_blob);
    let r = s.client.auth(ord::ActivateIdentity, &[h], p.as_slice(), &mut [&mut s_owner], 0);
    s.rec("ActivateIdentity AUTH1", r, Cmp::Exact);
    let mut s_owner = s.client.osap(et::OWNER, kh::OWNER, WELL_KNOWN).expect("OSAP");
    let mut s_key = s.client.oiap(aik_auth).expect("OIAP");
    let r = s.client.auth(ord::ActivateIdentity, &[h], p.as_slice(), &mut [&mut s_key, &mut s_owner], 0);
    s.rec("ActivateIdentity owner OSAP", r, Cmp::Exact);
}

type Sequence = (&'static str, fn(&mut Side<'_>));

/// SaveContext of auth session `h` (blob bytes, or empty); recorded by return code.
fn save_session(s: &mut Side<'_>, label: &str, h: u32) -> Vec<u8> {
    let mut p = be(&[h, rt::AUTH]);
    p.extend_from_slice(b"differential lbl");
    let r = s.client.rqu(ord::SaveContext, &p);
    s.rec(label, r, Cmp::Rc).filter(|r| r.rc == 0 && r.body.len() > 4).map(|r| r.body[4..].to_vec()).unwrap_or_default()
}

fn load_session(s: &mut Side<'_>, label: &str, h: u32, blob: &[u8]) {
    let mut p = be(&[h]);
    p.push(1);
    p.extend_from_slice(&be(&[blob.len() as u32]));
    p.extend_from_slice(blob);
    s.cmd(label, ord::LoadContext, &p, Cmp::Rc);
}

/// Owner-authorized NV_DefineSpace of `index` (AUTHREAD | AUTHWRITE, `size` bytes, `auth`).
fn define_auth_space(s: &mut Side<'_>, label: &str, index: u32, size: u32, auth: [u8; 20]) {
    let mut osap = s.client.osap(et::OWNER, kh::OWNER, WELL_KNOWN).expect("OSAP");
    let mut p = pubinfo(index, 0x0004_0004, size, 0x1f, 0x1f);
    let n = p.len();
    let enc = Client::adip(&osap, &auth);
    p[n - 20..].copy_from_slice(&enc);
    let r = s.client.auth(ord::NV_DefineSpace, &[], &p, &mut [&mut osap], 0);
    s.rec(label, r, Cmp::Exact);
}

/// M1: OSAP sessions on an NV space, loaded and saved, after the space is released and
/// defined again with another secret.
fn osap_nv_redefined(s: &mut Side<'_>) {
    s.owned();
    s.cmd("NV lock", ord::NV_DefineSpace, &pubinfo(0xFFFF_FFFF, 0, 0, 0x1f, 0x1f), Cmp::Exact);
    define_auth_space(s, "define with A", 0x2300, 8, [0x11; 20]);
    let mut a = s.client.osap(et::NV, 0x2300, [0x11; 20]).expect("OSAP");
    a.keep = true;
    let mut b = s.client.osap(et::NV, 0x2300, [0x11; 20]).expect("OSAP");
    b.keep = true;
    let blob = save_session(s, "SaveContext NV session", b.handle);
    define_auth_space(s, "release", 0x2300, 0, [0; 20]);
    define_auth_space(s, "define with B", 0x2300, 8, [0x22; 20]);
    let r = s.client.auth(ord::NV_WriteValueAuth, &[], &nv_write(0x2300, 0, b"PWND"), &mut [&mut a], 0);
    s.rec("write through the loaded old session", r, Cmp::Rc);
    load_session(s, "LoadContext old session", b.handle, &blob);
    let r = s.client.auth(ord::NV_WriteValueAuth, &[], &nv_write(0x2300, 0, b"PWND"), &mut [&mut b], 0);
    s.rec("write through the saved old session", r, Cmp::Rc);
    let mut c = s.client.osap(et::NV, 0x2300, [0x22; 20]).expect("OSAP");
    let r = s.client.auth(ord::NV_WriteValueAuth, &[], &nv_write(0x2300, 0, b"good"), &mut [&mut c], 0);
    s.rec("write through a new session", r, Cmp::Exact);
}

/// H1: a saved owner OSAP session after TPM_ChangeAuthOwner.
fn osap_owner_changed(s: &mut Side<'_>) {
    s.owned();
    let mut stale = s.client.osap(et::OWNER, kh::OWNER, WELL_KNOWN).expect("OSAP");
    stale.keep = true;
    let blob = save_session(s, "SaveContext owner session", stale.handle);
    let mut o = s.client.osap(et::OWNER, kh::OWNER, WELL_KNOWN).expect("OSAP");
    let q = [&4u16.to_be_bytes()[..], &Client::adip(&o, &[0xBB; 20]), &et::OWNER.to_be_bytes()].concat();
    let r = s.client.auth(ord::ChangeAuthOwner, &[], &q, &mut [&mut o], 0);
    s.rec("ChangeAuthOwner", r, Cmp::Exact);
    load_session(s, "LoadContext old owner session", stale.handle, &blob);
    let q = [&4u16.to_be_bytes()[..], &Client::adip(&stale, &[0xCC; 20]), &et::OWNER.to_be_bytes()].concat();
    let r = s.client.auth(ord::ChangeAuthOwner, &[], &q, &mut [&mut stale], 0);
    s.rec("ChangeAuthOwner through the old session", r, Cmp::Rc);
    let mut n = s.client.oiap([0xBB; 20]).expect("OIAP");
    let r = s.client.auth(ord::OwnerReadPubek, &[], &[], &mut [&mut n], 0);
    s.rec("owner is still the new secret", r, Cmp::Rc);
}

// ------------------------------------------------------------------ audit

fn set_audit(s: &mut Side<'_>, label: &str, ordinal: u32, on: bool, owner: [u8; 20]) {
    let mut o = s.client.oiap(owner).expect("OIAP");
    let p = [&ordinal.to_be_bytes()[..], &[u8::from(on)]].concat();
    let r = s.client.auth(ord::SetOrdinalAuditStatus, &[], &p, &mut [&mut o], 0);
    s.rec(label, r, Cmp::Exact);
}

fn get_audit(s: &mut Side<'_>, label: &str, start: u32) {
    s.cmd(label, ord::GetAuditDigest, &be(&[start]), Cmp::Exact);
}

fn audit_signed(s: &mut Side<'_>, label: &str, key: u32, auth: [u8; 20], close: bool) {
    let mut o = s.client.oiap(auth).expect("OIAP");
    let p = [&[u8::from(close)][..], &[0x5A; 20]].concat();
    let r = s.client.auth(ord::GetAuditDigestSigned, &[key], &p, &mut [&mut o], 0);
    // counterValue, auditDigest and ordinalDigest exact; the signature (other keys) masked.
    s.rec(label, r, Cmp::Mask(&[(56, 56 + 256)]));
}

/// Audit: the default audited ordinals, digests of deterministic audited commands (the
/// audit session is restarted by Startup(ST_CLEAR) after the key-making steps, whose
/// outputs differ), SetOrdinalAuditStatus refusals, SaveState, the signed digest and
/// closeAudit.
fn audit(s: &mut Side<'_>) {
    let key = signing_key(s);
    let mut w = Writer::new();
    identity_template(&mut w);
    let r = s.client.make_identity(WELL_KNOWN, WELL_KNOWN, [0x44; 20], &[0x4C; 20], w.as_slice());
    let aik_blob = s.rec("MakeIdentity", r, Cmp::RcLen).map(|r| r.body).unwrap_or_default();
    let aik_blob = TpmKey::decode(&mut Reader::new(&aik_blob)).map(|k| k.to_bytes()).unwrap_or_default();
    s.cmd("SaveState", ord::SaveState, &[], Cmp::Exact);
    s.init();
    s.cmd("Startup(ST_STATE)", ord::Startup, &[0, 2], Cmp::Exact);
    s.cmd("Startup(ST_STATE) again", ord::Startup, &[0, 2], Cmp::Exact);
    // Keys survive ST_STATE on both; the audit digest too (CreateWrapKey, MakeIdentity,
    // TakeOwnership are audited and their outputs differ): restart it.
    s.init();
    s.cmd("Startup(ST_CLEAR)", ord::Startup, &[0, 1], Cmp::Exact);
    get_audit(s, "GetAuditDigest(0) after ST_CLEAR", 0);
    get_audit(s, "GetAuditDigest(PhysicalEnable)", ord::PhysicalEnable);
    get_audit(s, "GetAuditDigest(0x1000)", 0x1000);
    s.cmd("GetAuditDigest short", ord::GetAuditDigest, &[0, 0], Cmp::Exact);
    s.cmd("GetAuditDigest AUTH1", ord::GetAuditDigest, &[0; 4 + 45], Cmp::Rc);
    set_audit(s, "SetOrdinalAuditStatus Extend on", ord::Extend, true, WELL_KNOWN);
    get_audit(s, "GetAuditDigest after SetOrdinalAuditStatus", 0);
    let mut ext = be(&[10]);
    ext.extend_from_slice(&[3; 20]);
    s.cmd("Extend 10 (audited)", ord::Extend, &ext, Cmp::Exact);
    get_audit(s, "GetAuditDigest after Extend", 0);
    s.cmd("Extend short (failed: not audited)", ord::Extend, &[0; 23], Cmp::Exact);
    get_audit(s, "GetAuditDigest after failed Extend", 0);
    set_audit(s, "SetOrdinalAuditStatus wrong owner", ord::PcrRead, true, [9; 20]);
    set_audit(s, "SetOrdinalAuditStatus GetAuditDigest on", ord::GetAuditDigest, true, WELL_KNOWN);
    set_audit(s, "SetOrdinalAuditStatus GetAuditDigestSigned on", ord::GetAuditDigestSigned, true, WELL_KNOWN);
    set_audit(s, "SetOrdinalAuditStatus 0x1234 on", 0x1234, true, WELL_KNOWN);
    set_audit(s, "SetOrdinalAuditStatus 0x1234 off", 0x1234, false, WELL_KNOWN);
    set_audit(s, "SetOrdinalAuditStatus 0xFF off", 0xFF, false, WELL_KNOWN);
    set_audit(s, "SetOrdinalAuditStatus TSC_PhysicalPresence on", ord::TSC_PhysicalPresence, true, WELL_KNOWN);
    set_audit(s, "SetOrdinalAuditStatus PcrRead on", ord::PcrRead, true, WELL_KNOWN);
    set_audit(s, "SetOrdinalAuditStatus Extend off", ord::Extend, false, WELL_KNOWN);
    s.cmd("PcrRead 10 (audited)", ord::PcrRead, &be(&[10]), Cmp::Exact);
    tsc(s, "TSC CMD_ENABLE (audited)", 0x20);
    tsc(s, "TSC PRESENT (audited)", 0x08);
    get_audit(s, "GetAuditDigest after PcrRead and TSC", 0);
    get_audit(s, "GetAuditDigest(0x1000) with TSC", 0x1000);
    s.raw(
        "SetOrdinalAuditStatus RQU",
        &request(tag::RQU_COMMAND, ord::SetOrdinalAuditStatus, &[0, 0, 0, 0x14, 1]),
        Cmp::Exact,
    );
    // SaveState audited: input only, before the state is saved.
    set_audit(s, "SetOrdinalAuditStatus SaveState on", ord::SaveState, true, WELL_KNOWN);
    s.cmd("SaveState (audited)", ord::SaveState, &[], Cmp::Exact);
    s.init();
    s.cmd("Startup(ST_STATE) after audited SaveState", ord::Startup, &[0, 2], Cmp::Exact);
    get_audit(s, "GetAuditDigest after ST_STATE", 0);
    // The signed digest; keys loaded before SaveState are still there.
    set_audit(s, "SetOrdinalAuditStatus LoadKey2 off", ord::LoadKey2, false, WELL_KNOWN);
    audit_signed(s, "GetAuditDigestSigned", key, [4; 20], false);
    audit_signed(s, "GetAuditDigestSigned wrong key secret", key, [9; 20], false);
    audit_signed(s, "GetAuditDigestSigned closeAudit signing key", key, [4; 20], true);
    get_audit(s, "GetAuditDigest after refused close", 0);
    let mut srk = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let p = [&[0u8][..], &[0x5A; 20]].concat();
    let r = s.client.auth(ord::GetAuditDigestSigned, &[kh::SRK], &p, &mut [&mut srk], 0);
    s.rec("GetAuditDigestSigned with the SRK", r, Cmp::Exact);
    let r = s.client.load_key2(kh::SRK, WELL_KNOWN, &aik_blob).map(|(_, r)| r);
    let aik = s.rec("LoadKey2 AIK", r, Cmp::Mask(&[(2, 6)])).map(|r| be_u32(&r.body)).unwrap_or(0);
    audit_signed(s, "GetAuditDigestSigned closeAudit AIK", aik, [0x44; 20], true);
    get_audit(s, "GetAuditDigest after close", 0);
    s.cmd("PcrRead 10 (audited, new session)", ord::PcrRead, &be(&[10]), Cmp::Exact);
    get_audit(s, "GetAuditDigest in the new session", 0);
}

// -------------------------------------------------------------- transport

/// Records whether the client's transport layer found the last wrapped exchange sound
/// (the response's transAuth verified and it decrypted and parsed): rc 0 sound, 1 not.
fn transport_sound(s: &mut Side<'_>, label: &str) {
    let err = s.client.transport.as_ref().and_then(|t| t.error.clone());
    let lbl = match &err {
        Some(e) => format!("{label} [{e}]"),
        None => label.to_string(),
    };
    s.obs.push(Obs { label: lbl, rc: u32::from(err.is_some()), body: Vec::new(), cmp: Cmp::Rc });
}

/// EstablishTransport's answer: transHandle, ticks and the nonces differ by nature.
const ESTABLISHED: Cmp = Cmp::Mask(&[(2, 6), (12, 20), (22, 62)]);

fn srk_modulus(s: &mut Side<'_>) -> Vec<u8> {
    let mut o = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::OwnerReadInternalPub, &[], &kh::SRK.to_be_bytes(), &mut [&mut o], 0);
    let body = s.rec("OwnerReadInternalPub SRK", r, Cmp::RcLen).map(|r| r.body).unwrap_or_default();
    let mut rd = Reader::new(&body);
    let _ = rd.bytes(8);
    let _ = rd.sized32();
    rd.sized32().map(<[u8]>::to_vec).unwrap_or_default()
}

/// Commands through the current transport session (plain or encrypted).
fn wrapped_work(s: &mut Side<'_>, p: &str, key: u32) {
    s.cmd(&format!("{p}: PcrRead 10"), ord::PcrRead, &be(&[10]), Cmp::Exact);
    let mut ext = be(&[10]);
    ext.extend_from_slice(&[0x77; 20]);
    s.cmd(&format!("{p}: Extend 10"), ord::Extend, &ext, Cmp::Exact);
    s.cmd(&format!("{p}: PcrRead 99 (error carried)"), ord::PcrRead, &be(&[99]), Cmp::Exact);
    s.cmd(&format!("{p}: GetRandom 32"), ord::GetRandom, &be(&[32]), Cmp::RcLen);
    let r = s.client.seal(kh::SRK, WELL_KNOWN, [3; 20], b"wrapped secret");
    let blob = s.rec(&format!("{p}: Seal"), r, Cmp::RcLen).map(|r| r.body).unwrap_or_default();
    let r = s.client.unseal(kh::SRK, WELL_KNOWN, [3; 20], &blob);
    s.rec(&format!("{p}: Unseal"), r, Cmp::Exact);
    let r = s.client.sign(key, [4; 20], &[0x33; 20]);
    s.rec(&format!("{p}: Sign"), r, Cmp::RcLen);
    transport_sound(s, &format!("{p}: transport layer sound"));
}

/// Releases the current session with the signing key and checks the signature against
/// the log the client recomputed (rc 0: it verifies).
fn release(s: &mut Side<'_>, label: &str, key: u32, key_modulus: &[u8]) {
    let r = s.client.release_transport_signed(key, Some([4; 20]), [0x21; 20]);
    let (reply, log) = match r {
        Ok((reply, log)) => (Ok(reply), log),
        Err(e) => (Err(e), [0; 20]),
    };
    // locality, TPM_CURRENT_TICKS (ticks and nonce masked), signature (masked).
    let rep = s.rec(label, reply, Cmp::Mask(&[(8, 16), (18, 38), (42, 298)]));
    let ok = rep.filter(|r| r.rc == 0).is_some_and(|r| {
        let mut w = Writer::new();
        w.u16(5).bytes(b"TRAN").bytes(&[0x21; 20]).sized32(&log);
        let sig = r.body.get(4 + 32 + 4..).unwrap_or(&[]);
        RsaKey::from_public(key_modulus, &[]).is_ok_and(|k| verify_sha1(&k.public, &sha1(&[w.as_slice()]), sig))
    });
    s.obs.push(Obs {
        label: format!("{label}: signature over the recomputed log"),
        rc: u32::from(!ok),
        body: Vec::new(),
        cmp: Cmp::Rc,
    });
}

fn transport(s: &mut Side<'_>) {
    let key = signing_key(s);
    let r = s.client.rqu(ord::GetPubKey, &be(&[key]));
    let _ = r;
    let mut o = s.client.oiap([4; 20]).expect("OIAP");
    let r = s.client.auth(ord::GetPubKey, &[key], &[], &mut [&mut o], 0);
    let pk = s.rec("GetPubKey signing key", r, Cmp::RcLen).map(|r| r.body).unwrap_or_default();
    let key_modulus = {
        let mut rd = Reader::new(&pk);
        let _ = rd.bytes(8);
        let _ = rd.sized32();
        rd.sized32().map(<[u8]>::to_vec).unwrap_or_default()
    };
    let srk = srk_modulus(s);
    let keys = vec![(kh::SRK, srk.clone()), (key, key_modulus.clone())];
    // A logged session with the secret in the clear.
    let r = s.client.establish_transport(LOG, [0x5E; 20]);
    s.rec("EstablishTransport KH_TRANSPORT LOG", r, ESTABLISHED);
    if let Some(t) = s.client.transport.as_mut() {
        t.pubkeys = keys.clone();
    }
    wrapped_work(s, "plain", key);
    release(s, "ReleaseTransportSigned plain", key, &key_modulus);
    // A logged, encrypted session, the secret encrypted to the SRK.
    let r = s.client.establish_transport_with_key(kh::SRK, WELL_KNOWN, &srk, LOG | ENCRYPT, [0x6F; 20]);
    s.rec("EstablishTransport SRK LOG|ENCRYPT", r, ESTABLISHED);
    if let Some(t) = s.client.transport.as_mut() {
        t.pubkeys = keys.clone();
    }
    wrapped_work(s, "encrypted", key);
    let public = [&[0u8, 0x1E][..], &be(&[0, alg::MGF1]), &[0, 1]].concat();
    let body = |handle: u32, attrs: u32, secret: &[u8]| {
        let mut p = [&be(&[handle])[..], &public].concat();
        p[6..10].copy_from_slice(&attrs.to_be_bytes());
        [&p[..], &be(&[secret.len() as u32]), secret].concat()
    };
    s.cmd("encrypted: EstablishTransport wrapped", ord::EstablishTransport, &body(kh::TRANSPORT, 0, &[1; 20]), Cmp::Rc);
    s.client.transport = None;
    // Refusals.
    s.cmd(
        "EstablishTransport KH_TRANSPORT ENCRYPT",
        ord::EstablishTransport,
        &body(kh::TRANSPORT, ENCRYPT, &[1; 20]),
        Cmp::Exact,
    );
    s.cmd("EstablishTransport secret of 19", ord::EstablishTransport, &body(kh::TRANSPORT, 0, &[1; 19]), Cmp::Exact);
    let mut bad = body(kh::TRANSPORT, 0, &[1; 20]);
    bad[5] = 0x1F;
    s.cmd("EstablishTransport bad transPublic tag", ord::EstablishTransport, &bad, Cmp::Exact);
    let mut o = s.client.oiap(WELL_KNOWN).expect("OIAP");
    let r = s.client.auth(ord::EstablishTransport, &[kh::TRANSPORT], &body(0, 0, &[1; 20])[4..], &mut [&mut o], 1);
    s.rec("EstablishTransport KH_TRANSPORT AUTH1", r, Cmp::Exact);
    let mut o = s.client.oiap([4; 20]).expect("OIAP");
    let r = s.client.auth(ord::EstablishTransport, &[key], &body(0, 0, &[1; 20])[4..], &mut [&mut o], 1);
    s.rec("EstablishTransport signing key", r, Cmp::Exact);
    s.cmd("EstablishTransport unloaded key", ord::EstablishTransport, &body(0x0500_0000, 0, &[1; 20]), Cmp::Exact);
    // Release without LOG: TPM_BAD_MODE.
    let r = s.client.establish_transport(0, [0x5E; 20]);
    s.rec("EstablishTransport no LOG", r, ESTABLISHED);
    let r = s.client.release_transport_signed(key, Some([4; 20]), [0; 20]).map(|(r, _)| r);
    s.rec("ReleaseTransportSigned without LOG", r, Cmp::Exact);
    // A wrong transAuth, then the ended session.
    let r = s.client.establish_transport(0, [0x5E; 20]);
    s.rec("EstablishTransport for a bad HMAC", r, ESTABLISHED);
    if let Some(t) = s.client.transport.as_mut() {
        t.auth = [0x99; 20];
    }
    s.cmd("ExecuteTransport wrong transAuth", ord::GetRandom, &be(&[4]), Cmp::Rc);
    if let Some(t) = s.client.transport.as_mut() {
        t.auth = [0x5E; 20];
    }
    s.cmd("ExecuteTransport after the failure", ord::GetRandom, &be(&[4]), Cmp::Rc);
    s.client.transport = None;
    let r = s.client.establish_transport(0, [0x5E; 20]);
    s.rec("EstablishTransport for refusals", r, ESTABLISHED);
    s.cmd("ExecuteTransport unknown ordinal", 0x1234, &[], Cmp::Rc);
    s.client.transport = None;
    let r = s.client.establish_transport(0, [0x5E; 20]);
    s.rec("EstablishTransport for a short command", r, ESTABLISHED);
    s.raw("ExecuteTransport short wrapped command", &request(tag::RQU_COMMAND, ord::PcrRead, &[0, 0]), Cmp::Rc);
    // Exclusive sessions end on any other command.
    s.client.transport = None;
    let r = s.client.establish_transport(EXCLUSIVE, [0x5E; 20]);
    s.rec("EstablishTransport EXCLUSIVE", r, ESTABLISHED);
    s.cmd("exclusive: GetRandom inside", ord::GetRandom, &be(&[4]), Cmp::RcLen);
    let t = s.client.transport.take();
    s.cmd("GetRandom outside the exclusive session", ord::GetRandom, &be(&[4]), Cmp::RcLen);
    s.client.transport = t;
    s.cmd("exclusive: after an outside command", ord::GetRandom, &be(&[4]), Cmp::Rc);
    s.client.transport = None;
    // FlushSpecific(TPM_RT_TRANS).
    let r = s.client.establish_transport(0, [0x5E; 20]);
    s.rec("EstablishTransport to flush", r, ESTABLISHED);
    let h = s.client.transport.take().map(|t| t.handle).unwrap_or(0);
    s.cmd("FlushSpecific TRANS", ord::FlushSpecific, &be(&[h, 4]), Cmp::Exact);
    s.cmd("FlushSpecific TRANS again", ord::FlushSpecific, &be(&[h, 4]), Cmp::Exact);
    // One session left (the exclusive one ended): its handle is the TPM's choice.
    getcap(s, "HANDLE TRANS after flush", cap::HANDLE, &be(&[4]), Cmp::Mask(&[(8, 12)]));
}

const CORPUS: &[Sequence] = &[
    ("audit", audit),
    ("transport", transport),
    ("identities", identities),
    ("osap_nv_redefined", osap_nv_redefined),
    ("osap_owner_changed", osap_owner_changed),
    ("before_startup", before_startup),
    ("startup_twice", startup_twice),
    ("framing", framing),
    ("pcrs", pcrs),
    ("pcr_reset", pcr_reset),
    ("sha1_thread", sha1_thread),
    ("random", random),
    ("capability", capability),
    ("physical_presence", physical_presence),
    ("pp_lifetime_lock", pp_lifetime_lock),
    ("nv", nv),
    ("counters_and_ticks", counters_and_ticks),
    ("save_state", save_state),
    ("save_state_invalidated", save_state_invalidated),
    ("startup_deactivated", startup_deactivated),
    ("ownership", ownership),
    ("keys_and_sign", keys_and_sign),
    ("seal_unseal", seal_unseal),
    ("nv_owner", nv_owner),
    ("counters_owner", counters_owner),
    ("quotes", quotes),
    ("clears", clears),
    ("keys_across_save_state", keys_across_save_state),
    ("contexts", contexts),
    ("counters_active", counters_active),
    ("set_capability", set_capability),
];

fn ours(seq: fn(&mut Side<'_>)) -> Vec<Obs> {
    let opts = TpmOptions { hardware_physical_presence: false, ..TpmOptions::default() };
    let mut tpm = tpm12::testing::tpm_with_ek(test_ek(), 7, opts);
    let mut side = Side {
        client: Client::new(
            move |c: &[u8]| {
                if c.is_empty() {
                    tpm.init();
                    Vec::new()
                } else {
                    tpm.execute(0, c)
                }
            },
            1,
        ),
        obs: Vec::new(),
    };
    seq(&mut side);
    side.obs
}

fn theirs(seq: fn(&mut Side<'_>)) -> Vec<Obs> {
    let port = free_port_pair();
    let swtpm = start_swtpm(port, false).expect("start swtpm");
    let mut conn = Tcp::connect(port).expect("connect swtpm");
    let sw = &swtpm;
    let mut side = Side {
        client: Client::new(
            move |c: &[u8]| {
                if c.is_empty() {
                    sw.init().expect("swtpm CMD_INIT");
                    Vec::new()
                } else {
                    conn.exec(c).unwrap_or_default()
                }
            },
            1,
        ),
        obs: Vec::new(),
    };
    seq(&mut side);
    side.obs
}

/// Outcome of comparing one step.
#[derive(PartialEq, Eq)]
enum Match {
    Same,
    /// Same error code; we answer an AUTH1/AUTH2 request's error with
    /// RSP_AUTH1/RSP_AUTH2 (as the brief asks and Part 2 §3.1 pairs the tags),
    /// libtpms with RSP_COMMAND.
    ErrorTagOnly,
    Differ,
}

fn same(a: &Obs, b: &Obs) -> Match {
    if a.rc != b.rc {
        return Match::Differ;
    }
    if a.rc != 0 && a.body.len() == 2 && b.body == [0, 0xC4] && matches!(a.body[..], [0, 0xC5] | [0, 0xC6]) {
        return Match::ErrorTagOnly;
    }
    let ok = match a.cmp {
        Cmp::Rc => true,
        Cmp::RcLen => a.body.len() == b.body.len(),
        Cmp::Exact => a.body == b.body,
        Cmp::Mask(ranges) => {
            let m = |v: &[u8]| -> Vec<u8> {
                let mut v = v.to_vec();
                for (s, e) in ranges {
                    for x in v.iter_mut().take(*e).skip(*s) {
                        *x = 0;
                    }
                }
                v
            };
            a.body.len() == b.body.len() && m(&a.body) == m(&b.body)
        }
    };
    if ok { Match::Same } else { Match::Differ }
}

#[test]
fn differential_against_swtpm() {
    if !tpm12_server::transport::have_swtpm() {
        eprintln!("\n!!!!!!!! SKIPPED: swtpm not installed (apt-get install swtpm) !!!!!!!!\n");
        return;
    }
    let mut report = Vec::new();
    let mut undocumented = Vec::new();
    let mut commands = 0;
    let mut deliberate_hits = 0;
    let mut error_tags = 0;
    let mut open_hits: Vec<String> = Vec::new();
    // DIFF_ONLY=name,name runs only those sequences (while developing one).
    let only = std::env::var("DIFF_ONLY").ok();
    let selected = |name: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == name));
    let mut sequences = 0;
    for (name, seq) in CORPUS.iter().filter(|(n, _)| selected(n)) {
        sequences += 1;
        let a = ours(*seq);
        let b = theirs(*seq);
        assert_eq!(a.len(), b.len(), "{name}: step counts differ");
        commands += a.len();
        for (x, y) in a.iter().zip(b.iter()) {
            match same(x, y) {
                Match::Same => continue,
                Match::ErrorTagOnly => {
                    error_tags += 1;
                    continue;
                }
                Match::Differ => {}
            }
            let line = format!(
                "{name} / {}: ours rc {:#x} {:02x?} | swtpm rc {:#x} {:02x?}",
                x.label,
                x.rc,
                &x.body[..x.body.len().min(40)],
                y.rc,
                &y.body[..y.body.len().min(40)]
            );
            if let Some((_, _, why)) = DELIBERATE.iter().find(|(s, l, _)| s == name && *l == x.label) {
                deliberate_hits += 1;
                report.push(format!("  deliberate: {line}\n      ({why})"));
            } else if let Some((_, _, why)) = OPEN.iter().find(|(s, l, _)| s == name && *l == x.label) {
                open_hits.push(format!("{name} / {}", x.label));
                report.push(format!("  OPEN (engine bug, not fixed yet): {line}\n      ({why})"));
            } else {
                undocumented.push(line);
            }
        }
    }
    eprintln!(
        "\ndifferential vs swtpm: {} sequences, {commands} commands, {deliberate_hits} documented differences, \
         {error_tags} error responses differing only in tag (ours RSP_AUTHn, libtpms RSP_COMMAND), {} undocumented",
        sequences,
        undocumented.len()
    );
    for l in &report {
        eprintln!("{l}");
    }
    for l in &undocumented {
        eprintln!("  UNDOCUMENTED: {l}");
    }
    let stale: Vec<_> = OPEN
        .iter()
        .filter(|(s, l, _)| !open_hits.contains(&format!("{s} / {l}")))
        .map(|(s, l, _)| format!("{s} / {l}"))
        .collect();
    if !open_hits.is_empty() {
        eprintln!("\n!!!!!!!! {} OPEN engine differences (see OPEN in differential.rs) !!!!!!!!\n", open_hits.len());
    }
    assert!(stale.is_empty(), "OPEN entries that no longer differ (remove them): {stale:?}");
    assert!(undocumented.is_empty(), "{} undocumented differences", undocumented.len());
}
