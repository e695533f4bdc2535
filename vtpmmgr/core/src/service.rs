//! The manager's dispatcher: one request from one vtpm connection in, one reply out. A
//! connection is named by the caller (the image: tpmback's frontend id) and carries the uuid
//! libxl wrote into the backend's xenstore directory — a vtpm cannot choose it, so it is what
//! records are bound to.
//!
//! Rules (fact sheet §7; `docs/ARCHITECTURE.md` §manager):
//! - The nil uuid (all zeros) is refused (`TPM_AUTHFAIL`): it names no vTPM.
//! - A uuid is served to one connection at a time: the first connection that sends a
//!   well-framed request with it holds it until [`Service::disconnect`]; any other connection
//!   with that uuid gets `TPM_DISABLED` for every request. Unlike the C manager (wave-2 facts
//!   §3.5) the check runs on every request, not once per connection, so a failed request
//!   never leaves a connection with rights it did not have.
//! - `VTPM_ORD_SAVEHASHKEY`: stores the blob for the connection's uuid (the record is created
//!   on the first save, as in C; the first record ever created gets [`FLAG_ADMIN`], as C's
//!   first vTPM of group 0) and persists the whole table before replying success.
//! - `VTPM_ORD_LOADHASHKEY`: the blob exactly as saved, or [`RC_NO_RECORD`] if this uuid never
//!   saved one. A uuid only ever reaches its own record.
//! - `TPM_GetRandom` and `TPM_PCRRead` (tag `0x00C1`) for every vtpm, answered in TPM 1.2
//!   format whatever the hardware family; `TPM_Extend` only for a vtpm whose record has
//!   [`FLAG_ADMIN`] (else `TPM_AUTHFAIL`).
//! - Management (tag `0x01C2`, [`crate::mgmt`], handled in `management.rs`): only from the
//!   connections [`Service::set_management_peer`] names (the image: the tpmback connection
//!   whose frontend is in dom0), which need no uuid of their own; every other connection gets
//!   `TPM_AUTHFAIL` with tag `0x01C5`, as the C manager answers a non-admin — the admin vtpm
//!   too: a guest's raw `0x01C2` bytes, forwarded by its vtpm, never reach a management
//!   ordinal. Without a peer set nobody manages: `TPM_AUTHFAIL` for non-admins and
//!   `TPM_BAD_ORDINAL` for admins (as before management existed).
//! - A record made by VTPM_NEW has no blob yet: LOADHASHKEY answers [`RC_NO_RECORD`].
//! - A record retired by an export: LOADHASHKEY and SAVEHASHKEY answer `mgmt::RC_RETIRED`
//!   (the vtpm then refuses to serve: it is served by the target manager now).
//! - Everything else is refused: other passthroughs `TPM_DISABLED_CMD`; `GET_BOOT_HASH`,
//!   `GET_QUOTE` and unknown ordinals `TPM_BAD_ORDINAL`; malformed frames the codec's error
//!   replies. Nothing here panics on a request.
//! - Without a hardware TPM (`tpmdriver=none`, [`Service::handle_without_tpm`]): GetRandom is
//!   answered from the manager's own RNG (seeded from the CPU, see the image), PCRRead and
//!   Extend with `TPM_DISABLED_CMD` (there are no hardware PCRs: a vtpm's `hwinitpcr=` then
//!   stops with its own error line); everything else as above.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;
use tpm_frame::{TPM_BAD_PARAMETER, TPM_FAIL, TPM_SUCCESS, TPM_TAG_RQU_COMMAND};
use vtpm_store::BlockDevice;
use zeroize::Zeroizing;

use crate::hardware::{Family, HardwareTpm};
use crate::hwtpm::{HwClient, HwConfig, HwError};
use crate::key_store::KeyStore;
use crate::proto::{self, Request, TPM_BAD_ORDINAL, VTPM_TAG_REQ, VTPM_TAG_REQ2};
use crate::root_record::{FLAG_ADMIN, VtpmRecord};

/// LOADHASHKEY's answer for a uuid that never saved (defined with the protocol, shared with the vtpm).
pub use proto::RC_NO_RECORD;
/// `TPM_AUTHFAIL`.
pub const TPM_AUTHFAIL: u32 = 1;
/// `TPM_DISABLED`: the uuid is open on another connection.
pub const TPM_DISABLED: u32 = 7;
/// `TPM_DISABLED_CMD`: a passthrough the manager does not allow.
pub const TPM_DISABLED_CMD: u32 = 8;
/// `TPM_ORD_Extend`.
pub const TPM_ORD_EXTEND: u32 = 0x14;
/// The length of a `TPM_Extend` request (header, index, 20-byte digest).
pub const EXTEND_LEN: usize = 34;
/// The most random bytes one GetRandom passthrough returns (TPM_GetRandom may return fewer
/// than asked; this keeps every reply far below the shared page's 4088 bytes).
pub const GET_RANDOM_MAX: u32 = 1024;

/// The manager's service over its key store.
pub struct Service<D: BlockDevice, C: Ord + Copy> {
    pub(crate) store: KeyStore<D>,
    pub(crate) open: BTreeMap<[u8; 16], C>,
    pub(crate) notes: Vec<String>,
    /// Which connections may send management requests (`None`: nobody; see the module docs).
    pub(crate) manager_peer: Option<fn(&C) -> bool>,
}

fn rc_of(e: &HwError) -> u32 {
    match e {
        HwError::Tpm { rc, .. } => *rc,
        _ => TPM_FAIL,
    }
}

fn hex(uuid: &[u8; 16]) -> String {
    uuid.iter().map(|b| format!("{b:02x}")).collect()
}

impl<D: BlockDevice, C: Ord + Copy + fmt::Debug> Service<D, C> {
    /// A service over an opened key store; no connection holds a uuid yet.
    pub fn new(store: KeyStore<D>) -> Self {
        Service { store, open: BTreeMap::new(), notes: Vec::new(), manager_peer: None }
    }

    /// Allows management requests (tag `0x01C2`, `crate::mgmt`) from the connections for which
    /// `is_peer` is true — the image: the frontend in dom0 — and refuses them with
    /// `TPM_AUTHFAIL` (tag `0x01C5`) from every other connection, whatever its record's flags.
    pub fn set_management_peer(&mut self, is_peer: fn(&C) -> bool) {
        self.manager_peer = Some(is_peer);
    }

    /// The key store.
    pub fn store(&self) -> &KeyStore<D> {
        &self.store
    }

    /// The key store, to change directly (bulk provisioning, tests arming disk faults).
    pub fn store_mut(&mut self) -> &mut KeyStore<D> {
        &mut self.store
    }

    /// The key store back (tests: restart from its disk).
    pub fn into_store(self) -> KeyStore<D> {
        self.store
    }

    /// Console lines produced since the last call (refusals, hardware and disk failures).
    pub fn take_notes(&mut self) -> Vec<String> {
        core::mem::take(&mut self.notes)
    }

    /// The connection is gone (tpmback's `Detached`): its uuid may be opened again.
    pub fn disconnect(&mut self, conn: C) {
        self.open.retain(|_, c| *c != conn);
    }

    /// The connection holding `uuid`, if any.
    pub fn holder(&self, uuid: &[u8; 16]) -> Option<C> {
        self.open.get(uuid).copied()
    }

    /// Takes `uuid` for `conn`, or says who holds it.
    fn claim(&mut self, conn: C, uuid: [u8; 16]) -> Result<(), C> {
        match self.open.get(&uuid) {
            Some(c) if *c == conn => Ok(()),
            Some(c) => Err(*c),
            None => {
                // a connection has one uuid: forget any other it held
                self.open.retain(|_, c| *c != conn);
                self.open.insert(uuid, conn);
                Ok(())
            }
        }
    }

    /// One request from `conn` (whose backend dir names `uuid`) → the reply to send.
    #[allow(clippy::too_many_arguments)]
    pub fn handle<T, R>(
        &mut self,
        conn: C,
        uuid: [u8; 16],
        frame: &[u8],
        tpm: &mut T,
        rng: &mut R,
        config: &HwConfig,
    ) -> Vec<u8>
    where
        T: HardwareTpm,
        T::Error: fmt::Debug,
        R: CryptoRng + ?Sized,
    {
        self.dispatch(conn, uuid, frame, Some((tpm, config)), rng)
    }

    /// As [`Service::handle`], for a manager without a hardware TPM (`tpmdriver=none`; see the
    /// module docs): GetRandom from `rng`, no PCRs.
    pub fn handle_without_tpm<R: CryptoRng + ?Sized>(
        &mut self,
        conn: C,
        uuid: [u8; 16],
        frame: &[u8],
        rng: &mut R,
    ) -> Vec<u8> {
        self.dispatch::<NoTpm, R>(conn, uuid, frame, None, rng)
    }

    fn dispatch<T, R>(
        &mut self,
        conn: C,
        uuid: [u8; 16],
        frame: &[u8],
        hw: Option<(&mut T, &HwConfig)>,
        rng: &mut R,
    ) -> Vec<u8>
    where
        T: HardwareTpm,
        T::Error: fmt::Debug,
        R: CryptoRng + ?Sized,
    {
        let request = match proto::decode_request(frame) {
            Ok(r) => r,
            Err(reply) => return reply.to_vec(),
        };
        let tag = tpm_frame::tag(frame).unwrap_or(0);
        if let (Request::Other { tag: VTPM_TAG_REQ2, ordinal }, Some(is_peer)) = (&request, self.manager_peer) {
            if is_peer(&conn) {
                return self.management(*ordinal, &frame[tpm_frame::HEADER_LEN..], rng);
            }
            self.notes.push(format!(
                "ERROR[VTPM]: management request {ordinal:#010x} from {conn:?} refused: only the management frontend (dom0) may send them"
            ));
            return proto::error_reply(tag, TPM_AUTHFAIL).to_vec();
        }
        if uuid == [0; 16] {
            // the nil uuid names no vTPM: every vtpm configured without one would share it
            self.notes.push(format!("ERROR[VTPM]: refusing {conn:?}: its backend dir has the nil uuid"));
            return proto::error_reply(tag, TPM_AUTHFAIL).to_vec();
        }
        if let Err(holder) = self.claim(conn, uuid) {
            self.notes.push(format!(
                "ERROR[VTPM]: vTPM {} is open on {holder:?}; refusing {conn:?} (one connection per uuid)",
                hex(&uuid)
            ));
            return proto::error_reply(tag, TPM_DISABLED).to_vec();
        }
        if matches!(request, Request::SaveHashKey(_) | Request::LoadHashKey)
            && self.store.root().retired.contains_key(&uuid)
        {
            self.notes.push(format!(
                "ERROR[VTPM]: vTPM {} was exported from this manager (retired); refusing its state",
                hex(&uuid)
            ));
            return proto::error_reply(tag, crate::mgmt::RC_RETIRED).to_vec();
        }
        let admin = self.store.get(&uuid).is_some_and(VtpmRecord::is_admin);
        match request {
            Request::SaveHashKey(blob) => self.save(uuid, blob, rng),
            Request::LoadHashKey => match self.store.get(&uuid) {
                // a record made by VTPM_NEW has no state yet: the vtpm starts fresh
                Some(r) if !r.blob.is_empty() => proto::reply(tag, TPM_SUCCESS, &r.blob),
                _ => proto::error_reply(tag, RC_NO_RECORD).to_vec(),
            },
            Request::GetRandom { bytes } => match hw {
                Some((tpm, config)) => self.get_random(bytes, tpm, rng, config),
                None => software_random(bytes, rng),
            },
            Request::PcrRead { .. } | Request::Other { tag: TPM_TAG_RQU_COMMAND, ordinal: TPM_ORD_EXTEND }
                if hw.is_none() =>
            {
                self.notes.push(format!(
                    "ERROR[VTPM]: vTPM {} asked for a hardware PCR, but this manager has no hardware TPM (tpmdriver=none)",
                    hex(&uuid)
                ));
                proto::error_reply(TPM_TAG_RQU_COMMAND, TPM_DISABLED_CMD).to_vec()
            }
            Request::PcrRead { index } => {
                let Some((tpm, config)) = hw else { return proto::error_reply(tag, TPM_DISABLED_CMD).to_vec() };
                self.hw(tpm, rng, config, |hw| hw.pcr_read_sha1(index).map(|d| d.to_vec()))
            }
            Request::Other { tag: TPM_TAG_RQU_COMMAND, ordinal: TPM_ORD_EXTEND } => {
                if frame.len() != EXTEND_LEN {
                    return proto::error_reply(tag, TPM_BAD_PARAMETER).to_vec();
                }
                if !admin {
                    self.notes.push(format!("ERROR[VTPM]: TPM_Extend refused for non-admin vTPM {}", hex(&uuid)));
                    return proto::error_reply(tag, TPM_AUTHFAIL).to_vec();
                }
                let index = u32::from_be_bytes([frame[10], frame[11], frame[12], frame[13]]);
                let mut digest = [0u8; 20];
                digest.copy_from_slice(&frame[14..EXTEND_LEN]);
                let Some((tpm, config)) = hw else { return proto::error_reply(tag, TPM_DISABLED_CMD).to_vec() };
                self.hw(tpm, rng, config, |hw| hw.pcr_extend_sha1(index, &digest).map(|d| d.to_vec()))
            }
            Request::Other { tag: VTPM_TAG_REQ2, .. } if !admin => proto::error_reply(tag, TPM_AUTHFAIL).to_vec(),
            Request::Other { tag: VTPM_TAG_REQ2 | VTPM_TAG_REQ, .. } | Request::GetBootHash => {
                proto::error_reply(tag, TPM_BAD_ORDINAL).to_vec()
            }
            Request::Other { .. } => proto::error_reply(tag, TPM_DISABLED_CMD).to_vec(),
        }
    }

    fn save<R: CryptoRng + ?Sized>(&mut self, uuid: [u8; 16], blob: Zeroizing<Vec<u8>>, rng: &mut R) -> Vec<u8> {
        let flags = match self.store.get(&uuid) {
            Some(r) => r.flags,
            None if self.store.is_empty() => FLAG_ADMIN,
            None => 0,
        };
        let created = self.store.get(&uuid).is_none();
        match self.store.put(uuid, VtpmRecord { flags, blob }, rng) {
            Ok(()) => {
                if created {
                    let admin = if flags & FLAG_ADMIN != 0 { " (admin)" } else { "" };
                    self.notes.push(format!("INFO[VTPM]: created vTPM record {}{admin}", hex(&uuid)));
                }
                proto::reply(VTPM_TAG_REQ, TPM_SUCCESS, &[])
            }
            Err(e) => {
                self.notes.push(format!("ERROR[VTPM]: saving the key store for vTPM {} failed: {e}", hex(&uuid)));
                proto::error_reply(VTPM_TAG_REQ, TPM_FAIL).to_vec()
            }
        }
    }

    fn get_random<T, R>(&mut self, bytes: u32, tpm: &mut T, rng: &mut R, config: &HwConfig) -> Vec<u8>
    where
        T: HardwareTpm,
        T::Error: fmt::Debug,
        R: CryptoRng + ?Sized,
    {
        let want = bytes.min(GET_RANDOM_MAX);
        self.hw(tpm, rng, config, |hw| {
            let mut out = Zeroizing::new(Vec::with_capacity(4 + want as usize));
            out.extend_from_slice(&[0; 4]);
            // a TPM 2.0 answers with at most a digest's worth per call
            for _ in 0..64 {
                let got = out.len() - 4;
                if got >= want as usize {
                    break;
                }
                let b = hw.get_random(want - got as u32)?;
                if b.is_empty() {
                    break;
                }
                out.extend_from_slice(&b[..b.len().min(want as usize - got)]);
            }
            let n = (out.len() - 4) as u32;
            out[..4].copy_from_slice(&n.to_be_bytes());
            Ok(out.to_vec())
        })
    }

    /// Runs `f` against the hardware TPM; its value is the body of a TPM 1.2 success reply,
    /// its error a TPM 1.2 error reply (the TPM's rc, else `TPM_FAIL`) and a console note.
    fn hw<T, R, F>(&mut self, tpm: &mut T, rng: &mut R, config: &HwConfig, f: F) -> Vec<u8>
    where
        T: HardwareTpm,
        T::Error: fmt::Debug,
        R: CryptoRng + ?Sized,
        F: FnOnce(&mut HwClient<'_, T, R>) -> Result<Vec<u8>, HwError>,
    {
        let r = HwClient::new(tpm, rng, config).and_then(|mut hw| f(&mut hw));
        match r {
            Ok(body) => proto::reply(TPM_TAG_RQU_COMMAND, TPM_SUCCESS, &body),
            Err(e) => {
                self.notes.push(format!("ERROR[VTPM]: hardware TPM passthrough failed: {e}"));
                proto::error_reply(TPM_TAG_RQU_COMMAND, rc_of(&e)).to_vec()
            }
        }
    }
}

/// GetRandom without a hardware TPM: `bytes` (at most [`GET_RANDOM_MAX`]) from the manager's RNG.
fn software_random<R: CryptoRng + ?Sized>(bytes: u32, rng: &mut R) -> Vec<u8> {
    let n = bytes.min(GET_RANDOM_MAX);
    let mut body = Zeroizing::new(alloc::vec![0u8; 4 + n as usize]);
    body[..4].copy_from_slice(&n.to_be_bytes());
    rng.fill_bytes(&mut body[4..]);
    proto::reply(TPM_TAG_RQU_COMMAND, TPM_SUCCESS, &body)
}

/// The hardware TPM of a manager that has none: a type without values, so the dispatcher's
/// hardware arm cannot be reached with it.
enum NoTpm {}

impl HardwareTpm for NoTpm {
    type Error = core::convert::Infallible;
    fn family(&self) -> Family {
        match *self {}
    }
    fn transmit(&mut self, _command: &[u8]) -> Result<Vec<u8>, Self::Error> {
        match *self {}
    }
}
