//! The vtpm's persistent TPM state, with a manager (`vtpm=["backend=vtpmmgr,uuid=…"]` in its
//! cfg): the start sequence ([`start`]) and the saves ([`Persistence`], the service loop's
//! [`StateSink`]).
//!
//! **Start.** The image has connected to the manager ([`Manager::connect`], which waits for
//! it) and seeded its RNGs (the manager's `TPM_GetRandom` mixed in). [`start`] then reads this
//! vtpm's uuid (`<device/vtpm/0/backend>/uuid`, the one the manager knows it by), asks
//! LOADHASHKEY and opens the state disk:
//! - the manager has a record → the slot whose SHA-256 it names is decrypted with its key
//!   (`SlotStore::load_matching`) and the engine restored from it (`Tpm::from_image`);
//! - no record ([`vtpmmgr_core::proto::RC_NO_RECORD`]) and a blank disk → a first start: a new
//!   TPM is manufactured and saved at once;
//! - anything else (no record but a written disk, a corrupt or foreign record, a failing disk
//!   or manager) → an `ERROR:` line naming the cause; nothing is written and the vtpm does not
//!   serve (the image powers off). It never hands the guest a fresh TPM in place of its own.
//!
//! Then `TPM_Startup(clear|save|deactivated)` and `TPM_SelfTestFull`, with their TPM meaning
//! (ST_STATE resumes what TPM_SaveState saved), then `hwinitpcr=`: the selected PCRs read from
//! the hardware TPM through the manager (`TPM_PCRRead` passthrough) and set in the engine.
//!
//! **Saves.** Only when the engine's permanent (or saved) state changed
//! (`Engine::take_image_if_changed`; never for Extend, PCRRead, GetRandom…), before the
//! response goes out, so a guest that got its answer has its change on disk and in the manager
//! (durability over latency): a fresh [`RecordKey`] per save, the record written to the slot
//! not kept (`SlotStore::save`: tail, flush, first sector, flush), then SAVEHASHKEY(SHA-256 ‖
//! key), then `SlotStore::acknowledge`. If the disk or the manager fails, the console says so,
//! the engine keeps serving from memory, the acknowledged slot is never touched, and the save
//! is tried again (to the same unkept slot) every `SAVE_RETRY_NS`, at the next change and
//! before the vtpm powers off. A manager that went away is reconnected to by the next request
//! (see `manager`), so a manager restarted while vtpms run costs them a retry, not their state.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

use drivers::hv::Xen;
use tpm12::{TpmOptions, TpmRng};
use vtpm_store::{Detached, OwnerUuid, RecordDigest, RecordKey, RecordKind, Saved, SlotStore, StoreError};

use crate::engine::Engine;
use crate::manager::{LoadedKey, Manager};
use crate::options::VtpmOptions;
use crate::service::{Output, StateSink};
use crate::state_disk::{Counted, STATE_VBD, StateDisk};
use crate::tpm12_engine::{Tpm12Engine, Tpm12Factory};

/// The record kind of the vtpm's state.
/// How [`start_with`] makes its engine: restored from the state record, or manufactured. One
/// per engine kind (`Tpm12Factory`, `Tpm20Factory`); it owns the engine's RNG and clock.
pub trait EngineFactory {
    type Engine: Engine;
    /// The kind its state records are stored under: a record of another kind is refused.
    const KIND: RecordKind;
    /// The console's words for a manufacture ("TPM 1.2 engine manufactured") and for what it
    /// generated ("EK generated").
    const MANUFACTURED: &'static str;
    const MADE: &'static str;
    /// The engine restored from a state image (`Err`: why the image is not valid).
    fn restore(self, image: &[u8]) -> Result<Self::Engine, String>;
    /// A new TPM (`Err`: why it could not be made).
    fn manufacture(self) -> Result<Self::Engine, String>;
}

/// The persistent state of a running vtpm: the manager, the disk and the store's state.
pub struct Persistence<X: Xen, P: StateDisk<X>> {
    /// The kind of the records written (the engine's).
    kind: RecordKind,
    manager: Manager<X>,
    disk: P,
    store: Option<Detached>,
    owner: OwnerUuid,
    rng: Box<dyn TpmRng>,
    disk_writes: u64,
    round_trips_at_start: u64,
    writes_at_start: u64,
    failed: bool,
    /// The image of a change whose save failed, tried again by [`StateSink::retry`] (a newer
    /// change replaces it).
    pending: Option<zeroize::Zeroizing<alloc::vec::Vec<u8>>>,
}

fn uuid_text(u: &OwnerUuid) -> String {
    let b = &u.0;
    let mut s = String::new();
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{x:02x}"));
    }
    s
}

fn refuse(out: &mut impl Output, cause: &str) {
    out.line(&format!(
        "ERROR: TPM state not loaded: {cause}; refusing to serve (the state disk is left as it is); powering off"
    ));
}

impl<X: Xen, P: StateDisk<X>> Persistence<X, P> {
    /// Writes to the state disk so far (the start's included).
    pub fn disk_writes(&self) -> u64 {
        self.disk_writes
    }

    /// Requests to the manager so far (the start's included).
    pub fn round_trips(&self) -> u64 {
        self.manager.round_trips()
    }

    /// The disk (tests look at it).
    pub fn disk_mut(&mut self) -> &mut P {
        &mut self.disk
    }

    /// Saves `image`: record, SAVEHASHKEY, acknowledge. The `Err` is the cause, for the console.
    pub fn save(&mut self, hv: &mut X, image: &[u8]) -> Result<Saved, String> {
        let state = self.store.take().ok_or_else(|| String::from("the state disk is not open"))?;
        let key = RecordKey::fresh(&mut *self.rng);
        let mut store = SlotStore::attach(Counted { dev: self.disk.bind(hv), writes: &mut self.disk_writes }, state);
        let saved = store.save(&key, self.kind, self.owner, image, &mut *self.rng);
        let (_, state) = store.detach();
        self.store = Some(state);
        let saved = saved.map_err(|e| format!("{e}"))?;
        self.manager.save_hash_key(hv, &saved.digest, &key)?;
        let state = self.store.take().ok_or_else(|| String::from("the state disk is not open"))?;
        let mut store = SlotStore::attach(Counted { dev: self.disk.bind(hv), writes: &mut self.disk_writes }, state);
        let acked = store.acknowledge(&saved);
        let (_, state) = store.detach();
        self.store = Some(state);
        acked.map_err(|e| format!("{e}"))?;
        Ok(saved)
    }
}

impl<X: Xen, P: StateDisk<X>> StateSink<X> for Persistence<X, P> {
    fn save(&mut self, hv: &mut X, image: &[u8], out: &mut dyn Output) {
        let saved = Persistence::save(self, hv, image);
        for note in self.manager.take_notes() {
            out.line(&note);
        }
        match saved {
            Ok(s) => {
                if self.failed {
                    out.line(&format!(
                        "Info: TPM state saved again (slot {:?}, sequence {}, {} bytes)",
                        s.slot, s.sequence, s.record_len
                    ));
                    self.failed = false;
                }
                self.pending = None;
                log::debug!("vtpm: state saved (slot {:?}, sequence {}, {} bytes)", s.slot, s.sequence, s.record_len);
            }
            Err(cause) => {
                // said once per outage; the retries while it lasts are debug lines
                if self.failed {
                    log::debug!("vtpm: state still not saved: {cause}");
                } else {
                    out.line(&format!(
                        "ERROR: TPM state not saved: {cause}; the TPM keeps serving from memory and tries again every {} s and on the next change",
                        crate::service::SAVE_RETRY_NS / 1_000_000_000
                    ));
                }
                self.failed = true;
                self.pending = Some(zeroize::Zeroizing::new(image.to_vec()));
            }
        }
    }

    fn pending(&self) -> bool {
        self.pending.is_some()
    }

    fn retry(&mut self, hv: &mut X, out: &mut dyn Output) {
        if let Some(image) = self.pending.take() {
            StateSink::save(self, hv, &image, out);
        }
    }

    fn disk_writes(&self) -> u64 {
        self.disk_writes - self.writes_at_start
    }

    fn manager_round_trips(&self) -> u64 {
        self.manager.round_trips() - self.round_trips_at_start
    }
}

/// [`start_with`] for the TPM 1.2 engine: `engine_rng`, `clock` and `tpm_opts` go into it.
#[allow(clippy::too_many_arguments)]
pub fn start<X: Xen, P: StateDisk<X>>(
    hv: &mut X,
    manager: Manager<X>,
    disk: P,
    engine_rng: Box<dyn TpmRng>,
    state_rng: Box<dyn TpmRng>,
    clock: Box<dyn tpm12::Clock>,
    tpm_opts: TpmOptions,
    opts: &VtpmOptions,
    out: &mut impl Output,
) -> Option<(Tpm12Engine, Persistence<X, P>)> {
    let factory = Tpm12Factory { rng: engine_rng, clock, options: tpm_opts };
    start_with(hv, manager, disk, factory, state_rng, opts, out)
}

/// The rest of the start with a manager (see the module docs): `factory` restores or makes
/// the engine, `state_rng` makes the record keys and nonces. `None` after the `ERROR:` line
/// (the caller powers off); nothing was written then.
pub fn start_with<X: Xen, P: StateDisk<X>, F: EngineFactory>(
    hv: &mut X,
    mut manager: Manager<X>,
    mut disk: P,
    factory: F,
    state_rng: Box<dyn TpmRng>,
    opts: &VtpmOptions,
    out: &mut impl Output,
) -> Option<(F::Engine, Persistence<X, P>)> {
    let kind = F::KIND;
    let owner = match manager.own_uuid(hv) {
        Ok(u) => u,
        Err(cause) => {
            refuse(out, &cause);
            return None;
        }
    };
    let loaded = match manager.load_hash_key(hv) {
        Ok(l) => l,
        Err(cause) => {
            refuse(out, &cause);
            return None;
        }
    };
    let mut writes = 0u64;
    let opened = SlotStore::open(Counted { dev: disk.bind(hv), writes: &mut writes }).map(|s| s.detach().1);
    let state = match opened {
        Ok(s) => s,
        Err(e) => {
            refuse(out, &format!("{e}"));
            return None;
        }
    };
    let mut store = SlotStore::attach(Counted { dev: disk.bind(hv), writes: &mut writes }, state);
    let restored = match &loaded {
        LoadedKey::Record(digest, key) => match store.load_matching(key, kind, owner, digest) {
            Ok(l) => Some(l),
            Err(e) => {
                refuse(out, &format!("{e}"));
                return None;
            }
        },
        LoadedKey::NoRecord => {
            let probe = RecordKey::from_bytes([0; 32]);
            match store.load_matching(&probe, kind, owner, &RecordDigest([0; 32])) {
                Err(StoreError::Blank) => {
                    store.start_fresh();
                    None
                }
                Err(StoreError::Io(e)) => {
                    refuse(out, &format!("{}", StoreError::Io(e)));
                    return None;
                }
                _ => {
                    refuse(out, "the manager holds no state for this vTPM, but its state disk is not blank");
                    return None;
                }
            }
        }
    };
    let (_, state) = store.detach();
    out.line(&format!(
        "Info: TPM state is persistent: vTPM uuid {} at the manager ({}), sealed records on {STATE_VBD}",
        uuid_text(&owner),
        manager.backend()
    ));
    let mut p = Persistence {
        kind,
        manager,
        disk,
        store: Some(state),
        owner,
        rng: state_rng,
        disk_writes: writes,
        round_trips_at_start: 0,
        writes_at_start: 0,
        failed: false,
        pending: None,
    };
    let mut engine = match restored {
        Some(l) => {
            let mut engine = match factory.restore(&l.payload) {
                Ok(e) => e,
                Err(e) => {
                    refuse(out, &format!("the state record holds no valid TPM state ({e})"));
                    return None;
                }
            };
            let power = engine.power_on(opts);
            out.line(&format!(
                "Info: TPM state restored (slot {:?}, sequence {}, {} bytes); {power}",
                l.slot,
                l.sequence,
                l.payload.len()
            ));
            if let Some(image) = engine.take_image_if_changed() {
                StateSink::save(&mut p, hv, &image, out);
            }
            engine
        }
        None => {
            let t0 = hv.now_ns();
            let mut engine = match factory.manufacture() {
                Ok(e) => e,
                Err(why) => {
                    out.line(&format!("ERROR: cannot manufacture the TPM: {why}; powering off"));
                    return None;
                }
            };
            let t1 = hv.now_ns();
            let power = engine.power_on(opts);
            out.line(&format!(
                "Info: {} in {} ms ({}); {power}",
                F::MANUFACTURED,
                t1.saturating_sub(t0) / 1_000_000,
                F::MADE
            ));
            let Some(image) = engine.take_image_if_changed() else {
                out.line("ERROR: the new TPM gave no state image to save; powering off");
                return None;
            };
            match p.save(hv, &image) {
                Ok(s) => out.line(&format!(
                    "Info: first start: the manager had no state for this vTPM and its disk was blank; the new TPM is saved (slot {:?}, sequence {}, {} bytes)",
                    s.slot, s.sequence, s.record_len
                )),
                Err(cause) => {
                    out.line(&format!("ERROR: the new TPM could not be saved: {cause}; powering off"));
                    return None;
                }
            }
            engine
        }
    };
    if let Err(cause) = copy_hardware_pcrs(hv, &mut p.manager, &mut engine, opts.hwinitpcr, out) {
        out.line(&format!("ERROR: hwinitpcr: {cause}; refusing to serve; powering off"));
        return None;
    }
    engine.take_changed();
    p.round_trips_at_start = p.manager.round_trips();
    p.writes_at_start = p.disk_writes;
    Some((engine, p))
}

/// The input of the state RNG (record keys and nonces): the entropy pool under its own label,
/// so it shares no output with the engine's RNG.
pub fn state_rng_input(pool: &[u8]) -> zeroize::Zeroizing<alloc::vec::Vec<u8>> {
    let mut v = zeroize::Zeroizing::new(alloc::vec::Vec::with_capacity(pool.len() + 32));
    v.extend_from_slice(pool);
    v.extend_from_slice(b"xen-vtpm-rs vtpm state record keys");
    v
}

/// `hwinitpcr=`: reads the selected PCRs of the hardware TPM through the manager and sets
/// them in the engine (after TPM_Startup, before any guest command), as the C vtpm does.
fn copy_hardware_pcrs<X: Xen, E: Engine>(
    hv: &mut X,
    manager: &mut Manager<X>,
    engine: &mut E,
    mask: u32,
    out: &mut impl Output,
) -> Result<(), String> {
    if mask == 0 {
        return Ok(());
    }
    for i in (0..crate::options::NUM_PCRS).filter(|i| mask & (1 << i) != 0) {
        let v = manager.pcr_read(hv, i)?;
        engine.set_pcr(i as usize, v)?;
    }
    out.line(&format!(
        "Info: hwinitpcr={}: {} PCRs copied from the hardware TPM through the manager",
        crate::options::format_pcr_mask(mask),
        mask.count_ones()
    ));
    Ok(())
}
