//! The vtpm's client of the vTPM manager (`vtpmmgr`): tpmfront on `device/vtpm/0`, speaking
//! the manager protocol of `vtpmmgr_core::proto` (LOADHASHKEY, SAVEHASHKEY and the
//! `TPM_GetRandom` / `TPM_PCRRead` passthroughs to the hardware TPM).
//!
//! [`Manager::connect`] waits for the manager as long as it takes, saying so on the console
//! every [`CONNECT_TIMEOUT_NS`]: a vtpm whose cfg names a manager never serves a fresh TPM
//! instead of its own. Every later request has a deadline ([`REQUEST_TIMEOUT_NS`]) and is
//! counted ([`Manager::round_trips`]).
//!
//! **A manager that went away** (destroyed or restarted while this vtpm runs: the C vtpm
//! needs the manager to outlive it) is noticed by the request in flight (its backend
//! directory or state goes; `TpmFront::transact` says `BackendClosed`) or by its deadline. The
//! request is then retried once on a new connection to whatever backend `device/vtpm/0` names
//! by then (the toolstack re-points it with `xl vtpm-detach` / `xl vtpm-attach` when the new
//! manager runs), waiting at most [`RECONNECT_WAIT_NS`]; the caller retries later otherwise.
//! A backend whose `uuid` is not the one this vtpm started with is refused: its record belongs
//! to another vTPM.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use drivers::hv::{Xen, XsTx};
use drivers::tpmfront::{FrontStyle, TpmFront, TpmFrontError};
use vtpm_store::{OwnerUuid, RecordDigest, RecordKey};
use vtpmmgr_core::proto::{self, RC_NO_RECORD, ReplyError};
use zeroize::Zeroizing;

use crate::service::Output;

/// The vtpm's own tpmfront node, present when the cfg has a `vtpm=` line for it.
pub const MANAGER_NODE: &str = "device/vtpm/0";
/// How long one connection attempt waits for the manager's backend before the waiting line
/// is repeated.
pub const CONNECT_TIMEOUT_NS: u64 = 10_000_000_000;
/// The deadline of one request to the manager.
pub const REQUEST_TIMEOUT_NS: u64 = 30_000_000_000;
/// Pause between connection attempts that failed at once (no backend directory yet).
const RETRY_NS: u64 = 1_000_000_000;
/// How long one request waits for a manager that went away to be back.
pub const RECONNECT_WAIT_NS: u64 = 10_000_000_000;
/// The SAVEHASHKEY / LOADHASHKEY blob: the record's SHA-256 ‖ its ChaCha20-Poly1305 key.
pub const BLOB_LEN: usize = 64;

/// True if the cfg gives this vtpm a manager (its own `device/vtpm/0` exists).
pub fn configured<X: Xen>(hv: &mut X) -> bool {
    hv.directory(XsTx::NONE, "device/vtpm").map(|d| d.iter().any(|n| n == "0")).unwrap_or(false)
}

/// What LOADHASHKEY said.
pub enum LoadedKey {
    /// The manager holds the digest and key of this vtpm's last acknowledged save.
    Record(RecordDigest, RecordKey),
    /// The manager never saved state for this uuid (rc [`RC_NO_RECORD`]): a first start.
    NoRecord,
}

/// A connected manager.
pub struct Manager<X: Xen> {
    front: TpmFront<X>,
    backend: String,
    round_trips: u64,
    /// The uuid read at the start ([`Manager::own_uuid`]); a new backend must carry it too.
    uuid: Option<OwnerUuid>,
    /// Console lines about the connection (lost, back), for the caller to print.
    notes: Vec<String>,
}

fn backend_path<X: Xen>(hv: &mut X) -> String {
    hv.read(XsTx::NONE, &format!("{MANAGER_NODE}/backend"))
        .map(|b| String::from(b.trim_end_matches('\0')))
        .unwrap_or_else(|_| String::from("(no backend path)"))
}

fn read_uuid<X: Xen>(hv: &mut X, backend: &str) -> Result<OwnerUuid, String> {
    let path = format!("{backend}/uuid");
    let v = hv.read(XsTx::NONE, &path).map_err(|e| format!("cannot read {path}: {e:?}"))?;
    drivers::uuid::parse_uuid(&v).map(OwnerUuid).ok_or_else(|| format!("{path} is not a uuid ({v:?})"))
}

impl<X: Xen> Manager<X> {
    /// Connects tpmfront to the manager, waiting as long as it takes (see the module docs).
    pub fn connect(hv: &mut X, out: &mut impl Output) -> Manager<X> {
        let backend = backend_path(hv);
        let mut next_line = 0;
        loop {
            let mut front = TpmFront::<X>::new(MANAGER_NODE);
            let t0 = hv.now_ns();
            match front.connect(hv, FrontStyle::MiniOs, CONNECT_TIMEOUT_NS) {
                Ok(()) => {
                    out.line(&format!("Info: connected to the vTPM manager ({MANAGER_NODE} -> {backend})"));
                    return Manager { front, backend, round_trips: 0, uuid: None, notes: Vec::new() };
                }
                Err(e) => {
                    if hv.now_ns() >= next_line {
                        out.line(&format!(
                            "Info: waiting for the vTPM manager ({MANAGER_NODE} -> {backend}: {e:?}); not serving until it answers"
                        ));
                        next_line = hv.now_ns().saturating_add(CONNECT_TIMEOUT_NS);
                    }
                    let until = t0.saturating_add(RETRY_NS);
                    while hv.now_ns() < until {
                        hv.wait_until(until);
                    }
                }
            }
        }
    }

    /// The manager's backend directory (`device/vtpm/0/backend`).
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Requests sent to the manager so far.
    pub fn round_trips(&self) -> u64 {
        self.round_trips
    }

    /// This vtpm's uuid as the toolstack gave it to the manager: `<backend>/uuid`. Later
    /// connections (after the manager went away) must carry the same.
    pub fn own_uuid(&mut self, hv: &mut X) -> Result<OwnerUuid, String> {
        let u = read_uuid(hv, &self.backend)?;
        self.uuid = Some(u);
        Ok(u)
    }

    /// Console lines about the connection since the last call (see the module docs).
    pub fn take_notes(&mut self) -> Vec<String> {
        core::mem::take(&mut self.notes)
    }

    /// Drops the connection to a manager that went away and connects to the backend
    /// `device/vtpm/0` names now, waiting at most [`RECONNECT_WAIT_NS`].
    fn reconnect(&mut self, hv: &mut X) -> Result<(), String> {
        self.front.abandon(hv);
        let mut front = TpmFront::<X>::new(MANAGER_NODE);
        front.connect(hv, FrontStyle::MiniOs, RECONNECT_WAIT_NS).map_err(|e| format!("{e:?}"))?;
        let backend = backend_path(hv);
        if let Some(want) = self.uuid {
            match read_uuid(hv, &backend) {
                Ok(u) if u == want => {}
                Ok(_) => {
                    front.abandon(hv);
                    return Err(format!("{backend} carries another vTPM's uuid; not using it"));
                }
                Err(e) => {
                    front.abandon(hv);
                    return Err(e);
                }
            }
        }
        self.notes.push(format!("Info: reconnected to the vTPM manager ({MANAGER_NODE} -> {backend})"));
        self.front = front;
        self.backend = backend;
        Ok(())
    }

    fn call(&mut self, hv: &mut X, frame: &[u8]) -> Result<Vec<u8>, String> {
        self.round_trips += 1;
        if self.front.is_connected() {
            match self.front.transact(hv, frame, REQUEST_TIMEOUT_NS) {
                Ok(r) => return Ok(r),
                Err(e @ (TpmFrontError::BackendClosed | TpmFrontError::Timeout | TpmFrontError::Cancelled)) => {
                    self.notes.push(format!(
                        "Warning: the vTPM manager went away ({MANAGER_NODE} -> {}: {e:?}); reconnecting",
                        self.backend
                    ));
                }
                Err(e) => return Err(format!("no answer from the manager ({e:?})")),
            }
        }
        self.reconnect(hv).map_err(|e| format!("the vTPM manager is away ({e})"))?;
        self.front.transact(hv, frame, REQUEST_TIMEOUT_NS).map_err(|e| format!("no answer from the manager ({e:?})"))
    }

    /// `TPM_GetRandom(n)` on the hardware TPM through the manager.
    pub fn get_random(&mut self, hv: &mut X, n: u32) -> Result<Zeroizing<Vec<u8>>, String> {
        let reply = Zeroizing::new(self.call(hv, &proto::get_random(n))?);
        proto::decode_get_random_reply(&reply).map_err(|e| format!("TPM_GetRandom via the manager: {e:?}"))
    }

    /// `TPM_PCRRead(index)` on the hardware TPM through the manager (tag 0x00C1, as the C vtpm;
    /// on TPM 2.0 hardware the manager answers from the SHA-1 bank).
    pub fn pcr_read(&mut self, hv: &mut X, index: u32) -> Result<[u8; 20], String> {
        let cmd = tpm_frame::command(tpm_frame::TPM_TAG_RQU_COMMAND, proto::TPM_ORD_PCR_READ, &index.to_be_bytes());
        let reply = self.call(hv, &cmd)?;
        match tpm_frame::return_code(&reply) {
            Some(0) if tpm_frame::is_consistent(&reply) && reply.len() == tpm_frame::HEADER_LEN + 20 => {
                let mut v = [0u8; 20];
                v.copy_from_slice(&reply[tpm_frame::HEADER_LEN..]);
                Ok(v)
            }
            Some(0) => Err(format!("TPM_PCRRead({index}) via the manager: malformed reply")),
            Some(rc) => Err(format!("TPM_PCRRead({index}) via the manager failed (rc {rc})")),
            None => Err(format!("TPM_PCRRead({index}) via the manager: malformed reply")),
        }
    }

    /// `VTPM_ORD_LOADHASHKEY`.
    pub fn load_hash_key(&mut self, hv: &mut X) -> Result<LoadedKey, String> {
        let reply = Zeroizing::new(self.call(hv, &proto::load_hash_key())?);
        match proto::decode_load_hash_key_reply(&reply) {
            Ok(blob) if blob.len() == BLOB_LEN => {
                let mut digest = [0u8; 32];
                digest.copy_from_slice(&blob[..32]);
                let mut key = Zeroizing::new([0u8; 32]);
                key.copy_from_slice(&blob[32..]);
                Ok(LoadedKey::Record(RecordDigest(digest), RecordKey::from_bytes(*key)))
            }
            Ok(blob) => Err(format!(
                "the manager's record is {} bytes, not the {BLOB_LEN} of this vtpm (a C vtpm's record?)",
                blob.len()
            )),
            Err(ReplyError::Rc(RC_NO_RECORD)) => Ok(LoadedKey::NoRecord),
            Err(ReplyError::Rc(rc)) => Err(format!("the manager's LOADHASHKEY failed (rc {rc})")),
            Err(e) => Err(format!("the manager's LOADHASHKEY reply is unusable ({e:?})")),
        }
    }

    /// `VTPM_ORD_SAVEHASHKEY(digest ‖ key)`.
    pub fn save_hash_key(&mut self, hv: &mut X, digest: &RecordDigest, key: &RecordKey) -> Result<(), String> {
        let mut blob = Zeroizing::new([0u8; BLOB_LEN]);
        blob[..32].copy_from_slice(&digest.0);
        blob[32..].copy_from_slice(key.as_bytes());
        let reply = self.call(hv, &proto::save_hash_key(&blob[..]))?;
        match tpm_frame::return_code(&reply) {
            Some(0) if tpm_frame::is_consistent(&reply) => Ok(()),
            Some(rc) => Err(format!("the manager's SAVEHASHKEY failed (rc {rc})")),
            None => Err(String::from("the manager's SAVEHASHKEY reply is malformed")),
        }
    }
}
