//! The manager's key store on its own disk: the protected root secret in the sealed root area
//! ([`crate::hw_blob_area`]), and the root record ([`crate::root_record`], the table of vTPM
//! records) in `vtpm-store`'s A/B slots, sealed under a key derived from the [`RootSecret`].
//! The secret is protected by the hardware TPM ([`KeyStore::boot`]) or, without one
//! (`tpmdriver=none`), by an administrator key ([`KeyStore::boot_with_admin_key`],
//! [`crate::admin_key`]); the area records which, and a disk made one way is refused the other
//! way ([`BootError::ProtectionMismatch`]), never re-initialised. Formats: `docs/formats.md`
//! §"Manager disk".
//!
//! Boot ([`KeyStore::boot`]; with an administrator key the same, wrap/unwrap in place of
//! seal/unseal):
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
use zeroize::Zeroizing;

use crate::admin_key::{AdminKey, AdminKeyError, KdfParams, WrappedRoot};
use crate::hardware::HardwareTpm;
use crate::hw_blob_area::{self, AreaError, Protection};
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
    /// The disk's root is protected the other way (by the hardware TPM while the manager runs
    /// with an administrator key, or the reverse).
    ProtectionMismatch {
        /// The disk's.
        disk: Protection,
    },
    /// The administrator key does not open the disk's root (or cannot wrap a new one).
    AdminKey(AdminKeyError),
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
            BootError::ProtectionMismatch { disk: Protection::HardwareTpm } => f.write_str(
                "the manager's disk holds a root sealed by a hardware TPM, but this manager runs without one \
                 (tpmdriver=none): refusing it (start the manager with its TPM)",
            ),
            BootError::ProtectionMismatch { disk: Protection::AdminKey } => f.write_str(
                "the manager's disk holds a root wrapped by an administrator key (made with tpmdriver=none), but \
                 this manager runs with a hardware TPM: refusing it (start it with tpmdriver=none and its root_key=)",
            ),
            BootError::AdminKey(e) => write!(f, "the manager's root cannot be opened: {e}"),
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
const BACKUP_LABEL: &[u8] = b"xen-vtpm-rs vtpmmgr backup key v1";

fn derive(secret: &RootSecret, label: &[u8]) -> [u8; 32] {
    let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return [0; 32];
    };
    m.update(label);
    m.finalize().into_bytes().into()
}

/// The root record's key and owner uuid, and the backup key, all derived from the
/// hardware-sealed secret (HMAC-SHA256 with fixed labels): a disk of another manager names a
/// foreign owner.
fn root_key(secret: &RootSecret) -> (RecordKey, OwnerUuid, Zeroizing<[u8; 32]>) {
    let k = Zeroizing::new(derive(secret, KEY_LABEL));
    let o = derive(secret, OWNER_LABEL);
    let mut owner = [0u8; 16];
    owner.copy_from_slice(&o[..16]);
    (RecordKey::from_bytes(*k), OwnerUuid(owner), Zeroizing::new(derive(secret, BACKUP_LABEL)))
}

fn slot_is_blank<D: BlockDevice>(dev: &mut D, g: &Geometry, slot: Slot) -> Result<bool, StoreError> {
    let mut s = [0u8; SECTOR_SIZE];
    dev.read(g.start(slot), &mut s)?;
    Ok(s.iter().all(|&b| b == 0))
}

/// What protects the root secret: makes a new one (with the bytes to store in the area) or
/// opens the stored one.
trait Guard<R: CryptoRng + ?Sized> {
    fn protection(&self) -> Protection;
    fn create(&mut self, rng: &mut R) -> Result<(RootSecret, Vec<u8>), BootError>;
    fn open(&mut self, blob: &[u8], rng: &mut R) -> Result<RootSecret, BootError>;
}

/// The hardware TPM seals it.
struct HwGuard<'a, T> {
    tpm: &'a mut T,
    config: &'a HwConfig,
}

impl<T, R> Guard<R> for HwGuard<'_, T>
where
    T: HardwareTpm,
    T::Error: fmt::Debug,
    R: CryptoRng + ?Sized,
{
    fn protection(&self) -> Protection {
        Protection::HardwareTpm
    }
    fn create(&mut self, rng: &mut R) -> Result<(RootSecret, Vec<u8>), BootError> {
        match HwClient::new(self.tpm, rng, self.config).and_then(|mut hw| hw.unseal_or_create_root(None)) {
            Ok((s, Some(b))) => Ok((s, b)),
            Ok((_, None)) => Err(BootError::Provisioning("the hardware client returned no sealed root")),
            Err(e) => Err(BootError::Hardware(e)),
        }
    }
    fn open(&mut self, blob: &[u8], rng: &mut R) -> Result<RootSecret, BootError> {
        HwClient::new(self.tpm, rng, self.config)
            .and_then(|mut hw| hw.unseal_or_create_root(Some(blob)))
            .map(|(s, _)| s)
            .map_err(BootError::Hardware)
    }
}

/// The administrator's key wraps it.
struct KeyGuard<'a> {
    key: &'a AdminKey,
    kdf: KdfParams,
}

impl<R: CryptoRng + ?Sized> Guard<R> for KeyGuard<'_> {
    fn protection(&self) -> Protection {
        Protection::AdminKey
    }
    fn create(&mut self, rng: &mut R) -> Result<(RootSecret, Vec<u8>), BootError> {
        let mut s = zeroize::Zeroizing::new([0u8; crate::hwtpm::ROOT_SECRET_LEN]);
        rng.fill_bytes(&mut s[..]);
        let secret = RootSecret::from_array(*s);
        let w = WrappedRoot::wrap(self.key, self.kdf, &secret, rng).map_err(BootError::AdminKey)?;
        // prove it opens before anything is written
        match w.unwrap_with(self.key) {
            Ok(back) if back == secret => Ok((secret, w.encode())),
            Ok(_) => Err(BootError::Provisioning("the wrapped root does not open to the new secret")),
            Err(e) => Err(BootError::AdminKey(e)),
        }
    }
    fn open(&mut self, blob: &[u8], _rng: &mut R) -> Result<RootSecret, BootError> {
        WrappedRoot::decode(blob).and_then(|w| w.unwrap_with(self.key)).map_err(BootError::AdminKey)
    }
}

/// The manager's key store.
pub struct KeyStore<D: BlockDevice> {
    slots: SlotStore<D>,
    key: RecordKey,
    owner: OwnerUuid,
    backup_key: Zeroizing<[u8; 32]>,
    root: RootRecord,
    sequence: u64,
}

impl<D: BlockDevice> KeyStore<D> {
    /// Opens (or, on a blank store, provisions) the key store on `dev` with the hardware TPM.
    pub fn boot<T, R>(
        dev: D,
        tpm: &mut T,
        rng: &mut R,
        config: &HwConfig,
    ) -> Result<(KeyStore<D>, BootKind), BootFailure<D>>
    where
        T: HardwareTpm,
        T::Error: fmt::Debug,
        R: CryptoRng + ?Sized,
    {
        Self::boot_guarded(dev, &mut HwGuard { tpm, config }, rng)
    }

    /// Opens (or provisions) the key store on `dev` without a hardware TPM: the root secret is
    /// wrapped by `key` (a new root: Argon2id with `kdf` for a passphrase; an existing one: the
    /// parameters on the disk).
    pub fn boot_with_admin_key<R: CryptoRng + ?Sized>(
        dev: D,
        key: &AdminKey,
        kdf: KdfParams,
        rng: &mut R,
    ) -> Result<(KeyStore<D>, BootKind), BootFailure<D>> {
        Self::boot_guarded(dev, &mut KeyGuard { key, kdf }, rng)
    }

    fn boot_guarded<G, R>(mut dev: D, guard: &mut G, rng: &mut R) -> Result<(KeyStore<D>, BootKind), BootFailure<D>>
    where
        G: Guard<R>,
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
            return Self::provision(dev, guard, rng);
        }
        let area = match hw_blob_area::read(&mut dev) {
            Ok(Some(a)) => a,
            Ok(None) => return fail(BootError::NoSealedRoot, Some(dev)),
            Err(e) => return fail(BootError::SealedRootArea(e), Some(dev)),
        };
        if area.protection != guard.protection() {
            return fail(BootError::ProtectionMismatch { disk: area.protection }, Some(dev));
        }
        let secret = match guard.open(&area.blob, rng) {
            Ok(s) => s,
            Err(e) => return fail(e, Some(dev)),
        };
        let (key, owner, backup_key) = root_key(&secret);
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
        Ok((KeyStore { slots, key, owner, backup_key, root, sequence }, BootKind::Restored { sequence }))
    }

    fn provision<G, R>(mut dev: D, guard: &mut G, rng: &mut R) -> Result<(KeyStore<D>, BootKind), BootFailure<D>>
    where
        G: Guard<R>,
        R: CryptoRng + ?Sized,
    {
        let fail = |error, device| Err(BootFailure { error, device });
        let (secret, blob) = match guard.create(rng) {
            Ok(x) => x,
            Err(e) => return fail(e, Some(dev)),
        };
        if let Err(e) = hw_blob_area::write(&mut dev, guard.protection(), &blob) {
            let why = match e {
                AreaError::TooLarge => "the sealed root does not fit its area",
                _ => "writing the sealed root failed",
            };
            return fail(BootError::Provisioning(why), Some(dev));
        }
        let (key, owner, backup_key) = root_key(&secret);
        let mut slots = match SlotStore::open(dev) {
            Ok(s) => s,
            Err(e) => return fail(BootError::Disk(e), None),
        };
        // Both slots are blank: this only tells the store so (and allows the first save).
        match slots.load_newest(&key, RecordKind::MANAGER_ROOT, owner) {
            Err(StoreError::Blank) => {}
            _ => return fail(BootError::Provisioning("the root slots are not blank"), Some(slots.into_device())),
        }
        let mut store = KeyStore { slots, key, owner, backup_key, root: RootRecord::default(), sequence: 0 };
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

    /// This manager's id: the root record's owner uuid (derived from the root secret).
    pub fn manager_id(&self) -> [u8; 16] {
        self.owner.0
    }

    /// The key of this manager's backups (derived from the root secret; see `crate::migration`).
    pub(crate) fn backup_key(&self) -> &[u8; 32] {
        &self.backup_key
    }

    /// The whole table (management: lists, retired records, the migration key).
    pub fn root(&self) -> &RootRecord {
        &self.root
    }

    /// Changes the table with `f` and saves it, through the same write path as [`KeyStore::put`]
    /// (written and flushed before this returns `Ok`). On error the table is as before, as on
    /// the disk.
    pub fn update<R, F>(&mut self, rng: &mut R, f: F) -> Result<(), StoreError>
    where
        R: CryptoRng + ?Sized,
        F: FnOnce(&mut RootRecord),
    {
        let before = self.root.clone();
        f(&mut self.root);
        let r = self.persist(rng);
        if r.is_err() {
            self.root = before;
        }
        r
    }

    /// Removes `uuid`'s record and saves the table. On error the table is as before.
    pub fn remove<R: CryptoRng + ?Sized>(&mut self, uuid: &[u8; 16], rng: &mut R) -> Result<(), StoreError> {
        self.update(rng, |root| {
            root.vtpms.remove(uuid);
        })
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
