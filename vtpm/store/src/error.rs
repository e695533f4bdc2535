//! Why a load or a save failed: one variant per cause, each with a plain sentence
//! ([`core::fmt::Display`]) that an image can print on its console as it is.
//!
//! The store never panics on disk content; every refusal ends up here. What the caller does
//! with it (refuse to serve, start fresh on [`StoreError::Blank`]) is its own policy.

use core::fmt;

use crate::block::BlockError;

/// Why the store refused a load or a save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// Neither slot was ever written (first boot); not corruption.
    Blank,
    /// A disk header or record does not start with its magic: not our format, or overwritten.
    BadMagic,
    /// A disk header or record names a format version this build does not read.
    UnsupportedVersion(u16),
    /// The disk header's checksum or geometry is wrong.
    CorruptHeader,
    /// The record holds another kind of state than the caller asked for.
    WrongKind(u16),
    /// The record belongs to another owner (another vTPM's or manager's disk).
    ForeignUuid,
    /// The record claims more bytes than its slot (or the input) holds.
    Truncated,
    /// The AEAD tag did not verify: the wrong key, or a changed byte.
    AuthenticationFailed,
    /// No slot holds the record whose digest the manager gave (rolled back, or never written).
    NoMatchingSlot,
    /// The disk is too small for the header and two slots, or for this payload's slot.
    DiskTooSmall,
    /// The payload is larger than [`crate::MAX_PAYLOAD`] or than one slot holds.
    PayloadTooLarge,
    /// A save was asked for before a load told the store which slot must be kept.
    NotLoaded,
    /// An acknowledgement named a save that is not the store's last one.
    UnknownSave,
    /// The block device failed.
    Io(BlockError),
}

impl From<BlockError> for StoreError {
    fn from(e: BlockError) -> StoreError {
        StoreError::Io(e)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Blank => f.write_str("the state disk is blank (never written)"),
            StoreError::BadMagic => f.write_str("the state disk holds no state of ours (bad magic)"),
            StoreError::UnsupportedVersion(v) => write!(f, "the state disk has unsupported format version {v}"),
            StoreError::CorruptHeader => f.write_str("the state disk header is corrupt (checksum or geometry)"),
            StoreError::WrongKind(k) => {
                write!(f, "the state disk holds another kind of record ({k}: {})", crate::RecordKind(*k).describe())
            }
            StoreError::ForeignUuid => f.write_str("the state disk belongs to another uuid"),
            StoreError::Truncated => f.write_str("the state record is truncated"),
            StoreError::AuthenticationFailed => {
                f.write_str("the state record failed authentication (wrong key or corrupted)")
            }
            StoreError::NoMatchingSlot => f.write_str("no state slot matches the manager's hash (rolled back or lost)"),
            StoreError::DiskTooSmall => f.write_str("the state disk is too small"),
            StoreError::PayloadTooLarge => f.write_str("the state is too large for its slot"),
            StoreError::NotLoaded => f.write_str("the state disk was not loaded; refusing to overwrite it"),
            StoreError::UnknownSave => f.write_str("acknowledged a save that is not the last one"),
            StoreError::Io(e) => write!(f, "the state disk failed ({e:?})"),
        }
    }
}
