//! The secrets and names a record is sealed with: the 256-bit AEAD key ([`RecordKey`], wiped
//! when dropped), the owner's uuid ([`OwnerUuid`], bound as associated data), the record kind
//! ([`RecordKind`]) and the digest the store hands back for the manager ([`RecordDigest`]).
//!
//! Where a key comes from is the caller's business: the vtpm makes a fresh one per save
//! ([`RecordKey::fresh`]) and gives it to the manager with the digest (VTPM_ORD_SAVEHASHKEY);
//! the manager's root key is sealed by the hardware TPM (not here).

use core::fmt;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Bytes in a [`RecordKey`].
pub const KEY_LEN: usize = 32;
/// Bytes in a [`RecordDigest`] (SHA-256).
pub const DIGEST_LEN: usize = 32;

/// A ChaCha20-Poly1305 key (256 bits), wiped when dropped.
#[derive(Clone)]
pub struct RecordKey(Zeroizing<[u8; KEY_LEN]>);

impl RecordKey {
    /// A key from its bytes (e.g. the manager's LOADHASHKEY reply).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> RecordKey {
        RecordKey(Zeroizing::new(bytes))
    }

    /// A fresh random key from `rng` (the vtpm: one per save).
    pub fn fresh<R: CryptoRng + ?Sized>(rng: &mut R) -> RecordKey {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(&mut k[..]);
        RecordKey(k)
    }

    /// The key's bytes (to hand to the manager).
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordKey(..)")
    }
}

/// The owner of a record: the vTPM's uuid (or the manager's), 16 bytes as they are on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnerUuid(pub [u8; 16]);

/// What a record holds; stored in the record and checked on load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordKind(pub u16);

impl RecordKind {
    /// A vtpm's TPM 1.2 state image (`tpm12::state::image`).
    pub const TPM12_STATE: RecordKind = RecordKind(1);
    /// The manager's root record (its key store).
    pub const MANAGER_ROOT: RecordKind = RecordKind(2);
    /// A vtpm's TPM 2.0 state image (`tpm20::state`).
    pub const TPM20_STATE: RecordKind = RecordKind(3);

    /// What records of this kind hold, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            RecordKind::TPM12_STATE => "a TPM 1.2 state",
            RecordKind::MANAGER_ROOT => "a vTPM manager's key store",
            RecordKind::TPM20_STATE => "a TPM 2.0 state",
            _ => "an unknown kind of record",
        }
    }
}

/// SHA-256 over a whole record as written: what the vtpm gives the manager with the key.
#[derive(Clone, Copy, Debug, Eq)]
pub struct RecordDigest(pub [u8; DIGEST_LEN]);

impl PartialEq for RecordDigest {
    fn eq(&self, other: &RecordDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
