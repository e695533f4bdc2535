//! Audit state (Part 1 §11, Part 2 §7.4 `ordinalAuditStatus` and `auditMonotonicCounter`):
//! which ordinals are audited and the audit monotonic counter, both permanent.
//!
//! The audit digest itself is volatile (`TPM_STCLEAR_DATA` here, as libtpms: nulled by
//! Startup(ST_CLEAR), kept by SaveState / Startup(ST_STATE); see
//! [`super::volatile::StClearData::audit_digest`]).
//!
//! The flags are a bit map over ordinals 0..256 plus two bits for the TSC ordinals
//! (TSC_PhysicalPresence, TSC_ResetEstablishmentBit), the only audited ordinals above 255.

use crate::codec::{Reader, Writer};
use crate::constants::ord;
use crate::constants::rc::Rc;

/// Ordinals below this are kept in the bit map.
pub const ORDINALS_MAX: u32 = 256;

const TSC_PHYSICAL_PRESENCE: u8 = 0x01;
const TSC_RESET_ESTABLISHMENT: u8 = 0x02;

/// The ordinals audited on a freshly manufactured TPM and after owner clear: the owner and
/// opt-in commands, key and identity creation and the EK readers (the same set as libtpms,
/// so that an audit list reads the same on both; the three migration ordinals in it are
/// not implemented here, so they never run).
pub const DEFAULT_AUDITED: &[u32] = &[
    ord::TakeOwnership,
    ord::ChangeAuthOwner,
    ord::CreateWrapKey,
    ord::CreateMigrationBlob,
    ord::ConvertMigrationBlob,
    ord::AuthorizeMigrationKey,
    ord::OwnerClear,
    ord::ForceClear,
    ord::DisableOwnerClear,
    ord::DisableForceClear,
    ord::OwnerSetDisable,
    ord::PhysicalEnable,
    ord::PhysicalDisable,
    ord::SetOwnerInstall,
    ord::PhysicalSetDeactivated,
    ord::SetTempDeactivated,
    ord::MakeIdentity,
    ord::ActivateIdentity,
    ord::ReadPubek,
    ord::OwnerReadPubek,
    ord::DisablePubekRead,
    ord::SetOrdinalAuditStatus,
];

/// `ordinalAuditStatus` and `auditMonotonicCounter`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Bit `o % 8` of byte `o / 8`: ordinal `o` (< 256) is audited.
    pub ordinals: [u8; (ORDINALS_MAX / 8) as usize],
    /// The TSC ordinals' bits.
    pub tsc: u8,
    /// `auditMonotonicCounter.counter` (its label is all zeros).
    pub counter: u32,
}

impl Default for AuditRecord {
    /// The manufacturing defaults: [`DEFAULT_AUDITED`], counter 0.
    fn default() -> Self {
        let mut r = Self { ordinals: [0; 32], tsc: 0, counter: 0 };
        r.reset_status();
        r
    }
}

impl AuditRecord {
    /// Puts the audit flags back to [`DEFAULT_AUDITED`] (owner clear); the counter is kept.
    pub fn reset_status(&mut self) {
        self.ordinals = [0; 32];
        self.tsc = 0;
        for o in DEFAULT_AUDITED {
            self.ordinals[(*o / 8) as usize] |= 1 << (*o % 8);
        }
    }

    /// True if `ordinal` is audited.
    pub fn is_audited(&self, ordinal: u32) -> bool {
        match ordinal {
            o if o < ORDINALS_MAX => self.ordinals[(o / 8) as usize] & (1 << (o % 8)) != 0,
            ord::TSC_PhysicalPresence => self.tsc & TSC_PHYSICAL_PRESENCE != 0,
            ord::TSC_ResetEstablishmentBit => self.tsc & TSC_RESET_ESTABLISHMENT != 0,
            _ => false,
        }
    }

    /// Sets the flag of `ordinal`; true if it changed. `TPM_BADINDEX` for an ordinal that
    /// has no flag (whether it may be audited at all is the caller's check).
    pub fn set(&mut self, ordinal: u32, audited: bool) -> Result<bool, Rc> {
        let (byte, bit) = match ordinal {
            o if o < ORDINALS_MAX => (&mut self.ordinals[(o / 8) as usize], 1u8 << (o % 8)),
            ord::TSC_PhysicalPresence => (&mut self.tsc, TSC_PHYSICAL_PRESENCE),
            ord::TSC_ResetEstablishmentBit => (&mut self.tsc, TSC_RESET_ESTABLISHMENT),
            _ => return Err(Rc::BADINDEX),
        };
        let before = *byte;
        if audited {
            *byte |= bit;
        } else {
            *byte &= !bit;
        }
        Ok(*byte != before)
    }

    /// The audited ordinals from `start` on, ascending, then the TSC ordinals (listed
    /// whatever `start` is, as libtpms): the `ordList` of TPM_GetAuditDigest.
    pub fn list(&self, start: u32) -> impl Iterator<Item = u32> + '_ {
        (start.min(ORDINALS_MAX)..ORDINALS_MAX)
            .chain([ord::TSC_PhysicalPresence, ord::TSC_ResetEstablishmentBit])
            .filter(|o| self.is_audited(*o))
    }

    /// Storage encoding (image format 3).
    pub fn encode(&self, w: &mut Writer) {
        w.bytes(&self.ordinals).u8(self.tsc).u32(self.counter);
    }

    /// Inverse of [`AuditRecord::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        Ok(Self { ordinals: r.array()?, tsc: r.u8()?, counter: r.u32()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_set_and_list() {
        let mut a = AuditRecord::default();
        assert!(a.is_audited(ord::TakeOwnership));
        assert!(!a.is_audited(ord::Extend));
        assert!(!a.is_audited(ord::TSC_PhysicalPresence));
        assert_eq!(a.list(0).count(), DEFAULT_AUDITED.len());
        assert_eq!(a.set(ord::Extend, true), Ok(true));
        assert_eq!(a.set(ord::Extend, true), Ok(false));
        assert_eq!(a.set(ord::TSC_PhysicalPresence, true), Ok(true));
        assert_eq!(a.set(0x1234, false), Err(Rc::BADINDEX));
        let l: alloc::vec::Vec<u32> = a.list(ord::Extend).collect();
        assert_eq!(l[0], ord::Extend);
        assert_eq!(*l.last().unwrap_or(&0), ord::TSC_PhysicalPresence);
        assert!(l.windows(2).take(l.len() - 2).all(|w| w[0] < w[1]));
        let mut w = Writer::new();
        a.encode(&mut w);
        let b = AuditRecord::decode(&mut Reader::new(w.as_slice())).expect("decode");
        assert_eq!(a, b);
        a.reset_status();
        assert_eq!(a, AuditRecord { counter: a.counter, ..AuditRecord::default() });
    }
}
