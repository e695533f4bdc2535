//! The A/B slot store: loads the record to keep, writes each new record to the other slot.
//!
//! Two ways to load:
//! - [`SlotStore::load_matching`] (the vtpm): the manager's key and digest (LOADHASHKEY) pick
//!   exactly one slot. A newer record in the other slot that the manager never acknowledged is
//!   ignored; an older one is refused (rollback protection, as far as the manager's digest goes).
//! - [`SlotStore::load_newest`] (the manager's root): the valid record with the highest sequence.
//!
//! Saving ([`SlotStore::save`]) writes to the slot that does **not** hold the record to keep,
//! in an order that makes a torn write harmless: the record's sectors after the first, flush,
//! then its first sector (the one with the magic and the length), flush. A slot whose first
//! sector did not land still reads as what it held before (empty, or a record that fails
//! authentication). The record to keep moves to the new slot only when the caller says the
//! save counts ([`SlotStore::acknowledge`]: for the vtpm, once the manager took the digest;
//! for the manager, right away), so a save whose SAVEHASHKEY was lost is overwritten next,
//! never the one the manager holds.
//!
//! Until a load succeeded (or found a blank disk, or the caller chose
//! [`SlotStore::start_fresh`]) the store refuses to write: corrupt or foreign state is never
//! overwritten. What this module does not do: choose keys, talk to the manager, print.

use alloc::vec;
use alloc::vec::Vec;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::MAX_PAYLOAD;
use crate::block::{BlockDevice, SECTOR_SIZE};
use crate::error::StoreError;
use crate::key::{OwnerUuid, RecordDigest, RecordKey, RecordKind};
use crate::layout::{Geometry, Slot};
use crate::record::{self, NONCE_LEN, RECORD_OVERHEAD};

/// A record the store loaded.
pub struct Loaded {
    /// The decrypted payload (wiped when dropped).
    pub payload: Zeroizing<Vec<u8>>,
    /// Its sequence number.
    pub sequence: u64,
    /// SHA-256 over the record as stored.
    pub digest: RecordDigest,
    /// Where it was.
    pub slot: Slot,
}

/// A record the store wrote and flushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saved {
    /// SHA-256 over the record as written: for VTPM_ORD_SAVEHASHKEY.
    pub digest: RecordDigest,
    /// Its sequence number.
    pub sequence: u64,
    /// Where it went.
    pub slot: Slot,
    /// Bytes of the record (payload + [`RECORD_OVERHEAD`]).
    pub record_len: usize,
}

/// What one slot holds, as far as it could be read without the right key.
enum SlotContent {
    /// Its first sector is all zeros: never written.
    Empty,
    /// A whole record's bytes.
    Record(Vec<u8>),
    /// Not a readable record.
    Broken(StoreError),
}

/// A [`SlotStore`]'s state without its device ([`SlotStore::detach`]): for a device that can
/// only borrow its context (the image's blkfront needs the hypervisor handle the service loop
/// also uses), so the store is re-attached around each load or save.
pub struct Detached {
    geometry: Geometry,
    header_on_disk: bool,
    writable: bool,
    keep: Option<Slot>,
    next_sequence: u64,
    last_saved: Option<Saved>,
}

/// Two record slots on a block device.
pub struct SlotStore<D: BlockDevice> {
    dev: D,
    geometry: Geometry,
    header_on_disk: bool,
    /// Saves are allowed (a load succeeded or found a blank disk, or `start_fresh`).
    writable: bool,
    /// The slot that must not be overwritten.
    keep: Option<Slot>,
    next_sequence: u64,
    last_saved: Option<Saved>,
}

impl<D: BlockDevice> SlotStore<D> {
    /// Reads the disk header (or, on a blank disk, works out the geometry from its size).
    /// Writes nothing.
    pub fn open(mut dev: D) -> Result<SlotStore<D>, StoreError> {
        let sectors = dev.sectors();
        // Not even a blank disk's geometry fits: say so before reading past the end.
        Geometry::for_disk(sectors)?;
        let mut header = [0u8; SECTOR_SIZE];
        dev.read(0, &mut header)?;
        let (geometry, header_on_disk) = match Geometry::decode_header(&header, sectors)? {
            Some(g) => (g, true),
            None => (Geometry::for_disk(sectors)?, false),
        };
        Ok(SlotStore { dev, geometry, header_on_disk, writable: false, keep: None, next_sequence: 1, last_saved: None })
    }

    /// Splits the store into its device and its state (see [`Detached`]).
    pub fn detach(self) -> (D, Detached) {
        let SlotStore { dev, geometry, header_on_disk, writable, keep, next_sequence, last_saved } = self;
        (dev, Detached { geometry, header_on_disk, writable, keep, next_sequence, last_saved })
    }

    /// A store over `dev` with the state of an earlier [`SlotStore::detach`]; `dev` must be the
    /// same disk (possibly through another handle).
    pub fn attach(dev: D, state: Detached) -> SlotStore<D> {
        let Detached { geometry, header_on_disk, writable, keep, next_sequence, last_saved } = state;
        SlotStore { dev, geometry, header_on_disk, writable, keep, next_sequence, last_saved }
    }

    /// The slots' geometry.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The largest payload a slot of this disk takes.
    pub fn max_payload(&self) -> usize {
        let slot = usize::try_from(self.geometry.slot_bytes()).unwrap_or(usize::MAX);
        slot.saturating_sub(RECORD_OVERHEAD).min(MAX_PAYLOAD)
    }

    /// The slot a load chose (or the last acknowledged save): the one a save will not touch.
    pub fn kept_slot(&self) -> Option<Slot> {
        self.keep
    }

    /// The device (e.g. to inspect or restart it in tests).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// The device back.
    pub fn into_device(self) -> D {
        self.dev
    }

    fn read_slot(&mut self, slot: Slot) -> Result<SlotContent, StoreError> {
        let start = self.geometry.start(slot);
        let mut first = vec![0u8; SECTOR_SIZE];
        self.dev.read(start, &mut first)?;
        if first.iter().all(|&b| b == 0) {
            return Ok(SlotContent::Empty);
        }
        let header = match record::parse_header(&first) {
            Ok(h) => h,
            Err(e) => return Ok(SlotContent::Broken(e)),
        };
        let len = header.record_len();
        if len as u64 > self.geometry.slot_bytes() || header.payload_len as usize > MAX_PAYLOAD {
            return Ok(SlotContent::Broken(StoreError::Truncated));
        }
        let sectors = len.div_ceil(SECTOR_SIZE);
        let mut bytes = first;
        if sectors > 1 {
            bytes.resize(sectors * SECTOR_SIZE, 0);
            self.dev.read(start + 1, &mut bytes[SECTOR_SIZE..])?;
        }
        bytes.truncate(len);
        Ok(SlotContent::Record(bytes))
    }

    fn loaded(&mut self, opened: record::OpenedRecord, slot: Slot) -> Loaded {
        self.writable = true;
        self.keep = Some(slot);
        self.next_sequence = opened.header.sequence.saturating_add(1);
        self.last_saved = None;
        Loaded { payload: opened.payload, sequence: opened.header.sequence, digest: opened.digest, slot }
    }

    fn blank(&mut self) -> StoreError {
        self.writable = true;
        self.keep = None;
        self.next_sequence = 1;
        self.last_saved = None;
        StoreError::Blank
    }

    /// The manager's root: the valid record of `owner` and `kind` with the highest sequence
    /// (slot A on a tie). [`StoreError::Blank`] if neither slot was written (saves are then
    /// allowed); otherwise, if no slot verifies, the first slot's cause, except that a foreign
    /// uuid in either slot is named first. No rollback protection beyond the disk itself.
    pub fn load_newest(&mut self, key: &RecordKey, kind: RecordKind, owner: OwnerUuid) -> Result<Loaded, StoreError> {
        let mut best: Option<(record::OpenedRecord, Slot)> = None;
        let mut cause: Option<StoreError> = None;
        let mut empty = 0;
        for slot in [Slot::A, Slot::B] {
            let outcome = match self.read_slot(slot)? {
                SlotContent::Empty => {
                    empty += 1;
                    continue;
                }
                SlotContent::Broken(e) => Err(e),
                SlotContent::Record(bytes) => record::open(&bytes, key, kind, owner),
            };
            match outcome {
                Ok(o) => {
                    if best.as_ref().is_none_or(|(b, _)| o.header.sequence > b.header.sequence) {
                        best = Some((o, slot));
                    }
                }
                Err(e) => cause = Some(worse(cause, e)),
            }
        }
        match (best, cause) {
            (Some((o, slot)), _) => Ok(self.loaded(o, slot)),
            (None, _) if empty == 2 => Err(self.blank()),
            (None, Some(e)) => Err(e),
            (None, None) => Err(StoreError::NoMatchingSlot),
        }
    }

    /// The vtpm: the one record whose SHA-256 is `expected` (from the manager's LOADHASHKEY),
    /// opened with `key`. The other slot is ignored whatever it holds. Causes, if no slot has
    /// that digest: [`StoreError::Blank`] (never written), [`StoreError::ForeignUuid`] (a slot
    /// holds another owner's record), the structural cause if no slot holds a readable record,
    /// else [`StoreError::NoMatchingSlot`] (rolled back, or the matching save was lost). Only a
    /// success allows saves: a blank disk where the manager holds a digest is lost state.
    pub fn load_matching(
        &mut self,
        key: &RecordKey,
        kind: RecordKind,
        owner: OwnerUuid,
        expected: &RecordDigest,
    ) -> Result<Loaded, StoreError> {
        let mut cause: Option<StoreError> = None;
        let mut empty = 0;
        let mut readable = 0;
        for slot in [Slot::A, Slot::B] {
            match self.read_slot(slot)? {
                SlotContent::Empty => empty += 1,
                SlotContent::Broken(e) => cause = Some(worse(cause, e)),
                SlotContent::Record(bytes) => {
                    if record::digest(&bytes) == *expected {
                        let opened = record::open(&bytes, key, kind, owner)?;
                        return Ok(self.loaded(opened, slot));
                    }
                    readable += 1;
                    if record::parse_header(&bytes).is_ok_and(|h| h.owner != owner) {
                        cause = Some(StoreError::ForeignUuid);
                    }
                }
            }
        }
        if empty == 2 {
            return Err(StoreError::Blank);
        }
        match cause {
            Some(StoreError::ForeignUuid) => Err(StoreError::ForeignUuid),
            Some(e) if readable == 0 => Err(e),
            _ => Err(StoreError::NoMatchingSlot),
        }
    }

    /// Allows saves without a load: for the vtpm whose manager holds no record of it (first
    /// start), so nothing on its disk was ever acknowledged. Sequences start again at 1; do not
    /// use it with [`SlotStore::load_newest`].
    pub fn start_fresh(&mut self) {
        self.writable = true;
        self.keep = None;
        self.next_sequence = 1;
        self.last_saved = None;
    }

    /// Seals `payload` under `key` (nonce from `rng`) and writes it to the slot not kept, then
    /// flushes. Returns the record's digest and place; the kept slot does not change until
    /// [`SlotStore::acknowledge`]. On any error the kept slot is untouched.
    pub fn save<R: CryptoRng + ?Sized>(
        &mut self,
        key: &RecordKey,
        kind: RecordKind,
        owner: OwnerUuid,
        payload: &[u8],
        rng: &mut R,
    ) -> Result<Saved, StoreError> {
        if !self.writable {
            return Err(StoreError::NotLoaded);
        }
        // From here on the unkept slot may be overwritten, so an earlier unacknowledged save
        // there can no longer be acknowledged.
        self.last_saved = None;
        if payload.len() > self.max_payload() {
            return Err(StoreError::PayloadTooLarge);
        }
        let slot = self.keep.map_or(Slot::A, Slot::other);
        let sequence = self.next_sequence;
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut bytes = record::seal(key, kind, owner, sequence, nonce, payload)?;
        let record_len = bytes.len();
        let digest = record::digest(&bytes);
        bytes.resize(record_len.div_ceil(SECTOR_SIZE) * SECTOR_SIZE, 0);
        if !self.header_on_disk {
            self.dev.write(0, &self.geometry.encode_header())?;
            self.dev.flush()?;
            self.header_on_disk = true;
        }
        let start = self.geometry.start(slot);
        if bytes.len() > SECTOR_SIZE {
            self.dev.write(start + 1, &bytes[SECTOR_SIZE..])?;
            self.dev.flush()?;
        }
        self.dev.write(start, &bytes[..SECTOR_SIZE])?;
        self.dev.flush()?;
        self.next_sequence = sequence.saturating_add(1);
        let saved = Saved { digest, sequence, slot, record_len };
        self.last_saved = Some(saved);
        Ok(saved)
    }

    /// Makes the last save the record to keep (the next save goes to the other slot). The vtpm
    /// calls it once the manager took the digest; the manager right after each save.
    pub fn acknowledge(&mut self, saved: &Saved) -> Result<(), StoreError> {
        if self.last_saved.as_ref() != Some(saved) {
            return Err(StoreError::UnknownSave);
        }
        self.keep = Some(saved.slot);
        self.last_saved = None;
        Ok(())
    }
}

/// Of two causes, the one to report: a foreign uuid names the problem best; otherwise the
/// first one seen.
fn worse(seen: Option<StoreError>, new: StoreError) -> StoreError {
    match seen {
        Some(StoreError::ForeignUuid) | None => seen.unwrap_or(new),
        Some(_) if new == StoreError::ForeignUuid => new,
        Some(e) => e,
    }
}
