//! The manager's key store on its own disk: the hardware-sealed root blob in the sealed root
//! area ([`crate::hw_blob_area`]), and the root record ([`crate::root_record`], the table of
//! vTPM records) in `vtpm-store`'s A/B slots, sealed under a key derived from the
//! [`RootSecret`] the hardware TPM protects. Formats: `docs/formats.md` §"Manager disk".
//!
//! Boot ([`KeyStore::boot`]):
//! - both root slots blank (a new disk, or a first boot that did not finish): provision —
//!   `unseal_or_create_root(None)` (takes TPM 1.2 ownership if needed, seals a fresh secret),
//!   write the blob to the sealed root area, flush, then save an empty root record;
//! - otherwise: read the blob (missing or damaged → [`BootError::SealedRootArea`] /
//!   [`BootError::NoSealedRoot`]), unseal it (any refusal → [`BootError::Hardware`], never a
//!   fresh secret), load the newest root record ([`BootError::RootRecord`]) and decode it
//!   ([`BootError::RootEncoding`]).
//!
//! Every failure is a distinct value with a console sentence, and a boot that fails writes
//! nothing: the disk is handed back untouched ([`BootFailure`]). A save ([`KeyStore::put`])
//! writes the whole table to the slot not kept, flushes and only then makes it current; on
//! error the table in memory is what the disk holds.

use alloc::vec::Vec;
use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use vtpm_store::layout::{Geometry, Slot};
use vtpm_store::{BlockDevice, OwnerUuid, RecordKey, RecordKind, SECTOR_SIZE, SlotStore, StoreError};

use crate::hardware::HardwareTpm;
use crate::hw_blob_area::{self, AreaError};
use crate::hwtpm::{HwClient, HwConfig, HwError, RootSecret};
use crate::root_record::{RootDecodeError, RootRecord, VtpmRecord};

/// Why the manager's key store could not be opened. Nothing was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootError {
    /// The disk header is not ours or is damaged, the disk is too small, or it failed.
    Disk(StoreError),
    /// The sealed root area cannot be read.
    SealedRootArea(AreaError),
    /// Root records exist but the sealed root area is blank: the area was wiped, or this is
    /// not a manager's disk (e.g. a vtpm's).
    NoSealedRoot,
    /// The hardware TPM refused or failed (wrong TPM, ownership changed, unseal failed, …).
    Hardware(HwError),
    /// The root record does not load (foreign, corrupt, wrong key).
    RootRecord(StoreError),
    /// The root record decrypted but its payload does not decode.
    RootEncoding(RootDecodeError),
    /// First boot: the new sealed root or the first root record could not be written.
    Provisioning(&'static str),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::Disk(e) => write!(f, "the manager's disk cannot be used: {e}"),
            BootError::SealedRootArea(e) => write!(f, "the manager's disk: {e}"),
            BootError::NoSealedRoot => {
                f.write_str("the manager's disk holds root records but no sealed root (wiped, or not a manager's disk)")
            }
            BootError::Hardware(e) => write!(f, "the manager's root cannot be unsealed: {e}"),
            BootError::RootRecord(e) => write!(f, "the manager's root record: {e}"),
            BootError::RootEncoding(e) => write!(f, "the manager's root record does not decode: {e}"),
            BootError::Provisioning(w) => write!(f, "first boot: {w}"),
        }
    }
}

/// A failed boot: the error, and the disk back (untouched), if the store had not taken it.
pub struct BootFailure<D> {
    /// What went wrong.
    pub error: BootError,
    /// The device, for the caller to inspect or retry with.
    pub device: Option<D>,
}

impl<D> fmt::Debug for BootFailure<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BootFailure({:?})", self.error)
    }
}

/// How the store came up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootKind {
    /// A blank store was provisioned: new sealed root, empty table.
    FirstBoot,
    /// The sealed root unsealed and the root record loaded (its sequence number).
    Restored {
        /// The root record's sequence number.
        sequence: u64,
    },
}

const KEY_LABEL: &[u8] = b"xen-vtpm-rs vtpmmgr root record key v1";
const OWNER_LABEL: &[u8] = b"xen-vtpm-rs vtpmmgr root record owner v1";

fn derive(secret: &RootSecret, label: &[u8]) -> [u8; 32] {
    let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return [0; 32];
    };
    m.update(label);
    m.finalize().into_bytes().into()
}

/// The root record's key and owner uuid, both derived from the hardware-sealed secret
/// (HMAC-SHA256 with fixed labels): a disk of another manager names a foreign owner.
fn root_key(secret: &RootSecret) -> (RecordKey, OwnerUuid) {
    let k = zeroize::Zeroizing::new(derive(secret, KEY_LABEL));
    let o = derive(secret, OWNER_LABEL);
    let mut owner = [0u8; 16];
    owner.copy_from_slice(&o[..16]);
    (RecordKey::from_bytes(*k), OwnerUuid(owner))
}

fn slot_is_blank<D: BlockDevice>(dev: &mut D, g: &Geometry, slot: Slot) -> Result<bool, StoreError> {
    let mut s = [0u8; SECTOR_SIZE];
    dev.read(g.start(slot), &mut s)?;
    Ok(s.iter().all(|&b| b == 0))
}

/// The manager's key store.
pub struct KeyStore<D: BlockDevice> {
    slots: SlotStore<D>,
    key: RecordKey,
    owner: OwnerUuid,
    root: RootRecord,
    sequence: u64,
}

impl<D: BlockDevice> KeyStore<D> {
    /// Opens (or, on a blank store, provisions) the key store on `dev` with the hardware TPM.
    pub fn boot<T, R>(
        mut dev: D,
        tpm: &mut T,
        rng: &mut R,
        config: &HwConfig,
    ) -> Result<(KeyStore<D>, BootKind), BootFailure<D>>
    where
        T: HardwareTpm,
        T::Error: fmt::Debug,
        R: CryptoRng + ?Sized,
    {
        let fail = |error, device| Err(BootFailure { error, device });
        // Check the header before the store takes the device, so a refusal hands it back.
        let mut header = [0u8; SECTOR_SIZE];
        let sectors = dev.sectors();
        if let Err(e) = Geometry::for_disk(sectors) {
            return fail(BootError::Disk(e), Some(dev));
        }
        if let Err(e) = dev.read(0, &mut header) {
            return fail(BootError::Disk(e.into()), Some(dev));
        }
        let geometry = match Geometry::decode_header(&header, sectors) {
            Ok(g) => g,
            Err(e) => return fail(BootError::Disk(e), Some(dev)),
        };
        let g = geometry.map_or_else(|| Geometry::for_disk(sectors), Ok);
        let blank =
            match g.and_then(|g| Ok(slot_is_blank(&mut dev, &g, Slot::A)? && slot_is_blank(&mut dev, &g, Slot::B)?)) {
                Ok(b) => b,
                Err(e) => return fail(BootError::Disk(e), Some(dev)),
            };
        if blank {
            return Self::provision(dev, tpm, rng, config);
        }
        let blob = match hw_blob_area::read(&mut dev) {
            Ok(Some(b)) => b,
            Ok(None) => return fail(BootError::NoSealedRoot, Some(dev)),
            Err(e) => return fail(BootError::SealedRootArea(e), Some(dev)),
        };
        let secret = match HwClient::new(tpm, rng, config).and_then(|mut hw| hw.unseal_or_create_root(Some(&blob))) {
            Ok((s, _)) => s,
            Err(e) => return fail(BootError::Hardware(e), Some(dev)),
        };
        let (key, owner) = root_key(&secret);
        let mut slots = match SlotStore::open(dev) {
            Ok(s) => s,
            Err(e) => return fail(BootError::Disk(e), None),
        };
        let loaded = match slots.load_newest(&key, RecordKind::MANAGER_ROOT, owner) {
            Ok(l) => l,
            Err(e) => return fail(BootError::RootRecord(e), Some(slots.into_device())),
        };
        let root = match RootRecord::decode(&loaded.payload) {
            Ok(r) => r,
            Err(e) => return fail(BootError::RootEncoding(e), Some(slots.into_device())),
        };
        let sequence = loaded.sequence;
        Ok((KeyStore { slots, key, owner, root, sequence }, BootKind::Restored { sequence }))
    }

    fn provision<T, R>(
        mut dev: D,
        tpm: &mut T,
        rng: &mut R,
        config: &HwConfig,
    ) -> Result<(KeyStore<D>, BootKind), BootFailure<D>>
    where
        T: HardwareTpm,
        T::Error: fmt::Debug,
        R: CryptoRng + ?Sized,
    {
        let fail = |error, device| Err(BootFailure { error, device });
        let (secret, blob) = match HwClient::new(tpm, rng, config).and_then(|mut hw| hw.unseal_or_create_root(None)) {
            Ok((s, Some(b))) => (s, b),
            Ok((_, None)) => {
                return fail(BootError::Provisioning("the hardware client returned no sealed root"), Some(dev));
            }
            Err(e) => return fail(BootError::Hardware(e), Some(dev)),
        };
        if let Err(e) = hw_blob_area::write(&mut dev, &blob) {
            let why = match e {
                AreaError::TooLarge => "the sealed root does not fit its area",
                _ => "writing the sealed root failed",
            };
            return fail(BootError::Provisioning(why), Some(dev));
        }
        let (key, owner) = root_key(&secret);
        let mut slots = match SlotStore::open(dev) {
            Ok(s) => s,
            Err(e) => return fail(BootError::Disk(e), None),
        };
        // Both slots are blank: this only tells the store so (and allows the first save).
        match slots.load_newest(&key, RecordKind::MANAGER_ROOT, owner) {
            Err(StoreError::Blank) => {}
            _ => return fail(BootError::Provisioning("the root slots are not blank"), Some(slots.into_device())),
        }
        let mut store = KeyStore { slots, key, owner, root: RootRecord::default(), sequence: 0 };
        if store.persist(rng).is_err() {
            return fail(
                BootError::Provisioning("writing the first root record failed"),
                Some(store.slots.into_device()),
            );
        }
        Ok((store, BootKind::FirstBoot))
    }

    fn persist<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<(), StoreError> {
        let payload = self.root.encode();
        let saved = self.slots.save(&self.key, RecordKind::MANAGER_ROOT, self.owner, &payload, rng)?;
        self.slots.acknowledge(&saved)?;
        self.sequence = saved.sequence;
        Ok(())
    }

    /// The record of `uuid`.
    pub fn get(&self, uuid: &[u8; 16]) -> Option<&VtpmRecord> {
        self.root.vtpms.get(uuid)
    }

    /// The number of vTPM records.
    pub fn len(&self) -> usize {
        self.root.vtpms.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.root.vtpms.is_empty()
    }

    /// The root record's sequence number on disk.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Sets `uuid`'s record and saves the table (written and flushed before this returns
    /// `Ok`). On error the table is as before, as on the disk.
    pub fn put<R: CryptoRng + ?Sized>(
        &mut self,
        uuid: [u8; 16],
        record: VtpmRecord,
        rng: &mut R,
    ) -> Result<(), StoreError> {
        let old = self.root.vtpms.insert(uuid, record);
        let r = self.persist(rng);
        if r.is_err() {
            match old {
                Some(o) => self.root.vtpms.insert(uuid, o),
                None => self.root.vtpms.remove(&uuid),
            };
        }
        r
    }

    /// Sets many records and saves once (bulk provisioning, benchmarks). On error the table
    /// is as before.
    pub fn put_many<R: CryptoRng + ?Sized>(
        &mut self,
        records: Vec<([u8; 16], VtpmRecord)>,
        rng: &mut R,
    ) -> Result<(), StoreError> {
        let before = self.root.clone();
        self.root.vtpms.extend(records);
        let r = self.persist(rng);
        if r.is_err() {
            self.root = before;
        }
        r
    }

    /// The largest table payload this disk's slots take.
    pub fn max_payload(&self) -> usize {
        self.slots.max_payload()
    }

    /// The disk back (tests: restart from it).
    pub fn into_device(self) -> D {
        self.slots.into_device()
    }

    /// The disk (tests: arm faults).
    pub fn device_mut(&mut self) -> &mut D {
        self.slots.device_mut()
    }
}
