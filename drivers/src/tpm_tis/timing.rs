//! TIS timeouts A–D and per-ordinal command durations (fact sheet §6.2; TCG PC Client TIS 1.2
//! "Timeouts" and the ordinal duration classes; PTP for TPM 2.0).
//!
//! TPM 1.2: start from the defaults A = 750 ms, B = 2000 ms, C = 750 ms, D = 750 ms; the chip
//! reports better values with `GetCapability(TPM_CAP_PROPERTY, TPM_CAP_PROP_TIS_TIMEOUT 0x115)`
//! in µs (values below 1000 are taken as ms, as some Atmel chips report them; values below the
//! default are raised to it) and durations with `(…, TPM_CAP_PROP_DURATION 0x120)` (if SHORT is
//! below 10 ms, the chip reported ms: SHORT becomes 1 s and MEDIUM/LONG are multiplied by 1000).
//! TPM 2.0: the PTP's fixed values.

use crate::hv::ms;

/// Timeouts in ns: A (locality), B (command ready), C (status valid / data), D (burst count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// A, B, C, D.
    pub abcd: [u64; 4],
    /// Short, medium, long (and for TPM 2.0 long-long) durations.
    pub durations: [u64; 4],
}

/// Duration for an unknown ordinal or a zero duration.
pub const FALLBACK_DURATION_NS: u64 = 120_000_000_000;

impl Timeouts {
    /// TIS 1.2 defaults (before the chip is asked).
    pub const TPM12_DEFAULT: Timeouts =
        Timeouts { abcd: [ms(750), ms(2000), ms(750), ms(750)], durations: [FALLBACK_DURATION_NS; 4] };
    /// PTP values for TPM 2.0 (A 750 ms, B 2 s, C 200 ms, D 30 ms; durations 20 ms, 750 ms,
    /// 2 s, 300 s).
    pub const TPM20: Timeouts =
        Timeouts { abcd: [ms(750), ms(2000), ms(200), ms(30)], durations: [ms(20), ms(750), ms(2000), ms(300_000)] };

    /// Applies a `TPM_CAP_PROP_TIS_TIMEOUT` answer (four µs values).
    pub fn apply_tpm12_timeouts(&mut self, us: [u32; 4]) {
        let scale = if us[0] != 0 && us[0] < 1000 { 1000 } else { 1 };
        for (i, v) in us.iter().enumerate() {
            let ns = u64::from(*v) * scale * 1000;
            let default = Self::TPM12_DEFAULT.abcd[i];
            self.abcd[i] = ns.max(default);
        }
    }

    /// Applies a `TPM_CAP_PROP_DURATION` answer (short, medium, long in µs).
    pub fn apply_tpm12_durations(&mut self, us: [u32; 3]) {
        let mut d = us.map(|v| u64::from(v) * 1000);
        if d[0] < ms(10) {
            d[0] = ms(1000);
            d[1] *= 1000;
            d[2] *= 1000;
        }
        for (i, v) in d.iter().enumerate() {
            self.durations[i] = if *v == 0 { FALLBACK_DURATION_NS } else { *v };
        }
        self.durations[3] = self.durations[2];
    }
}

/// Duration class of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Short.
    Short = 0,
    /// Medium.
    Medium = 1,
    /// Long.
    Long = 2,
    /// Long-long (TPM 2.0 key creation).
    LongLong = 3,
}

/// TPM 1.2 ordinal → class (TCG TIS duration table, the ordinals that matter here).
pub fn tpm12_class(ordinal: u32) -> Class {
    match ordinal {
        // TakeOwnership, CreateWrapKey, CreateMaintenanceArchive, LoadMaintenanceArchive,
        // DAA_Join, DAA_Sign, SelfTestFull, CreateEndorsementKeyPair, MakeIdentity,
        // CreateRevocableEK
        0x0D | 0x1F | 0x2C | 0x2D | 0x29 | 0x31 | 0x50 | 0x78 | 0x79 | 0x7F => Class::Long,
        // Quote, Seal, Unseal, UnBind, LoadKey, GetPubKey, CertifyKey, CertifyKey2, Sign,
        // Quote2, LoadKey2, ActivateIdentity, ContinueSelfTest, Sealx, ChangeAuth
        0x16 | 0x17 | 0x18 | 0x1E | 0x20 | 0x21 | 0x32 | 0x33 | 0x3C | 0x3E | 0x41 | 0x7A | 0x53 | 0x3D | 0x0C => {
            Class::Medium
        }
        _ => Class::Short,
    }
}

/// TPM 2.0 command code → class.
pub fn tpm20_class(cc: u32) -> Class {
    match cc {
        // CreatePrimary, Create, CreateLoaded
        0x131 | 0x153 | 0x191 => Class::LongLong,
        // SelfTest, Shutdown? (no: short), ContextSave/Load are short
        0x143 => Class::Long,
        // Startup, Shutdown, GetCapability, GetRandom, PCR_Read, PCR_Extend, FlushContext,
        // ReadPublic, TestParms
        0x144 | 0x145 | 0x17A | 0x17B | 0x17E | 0x182 | 0x165 | 0x173 | 0x18A => Class::Short,
        _ => Class::Medium,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tpm12_values_as_the_c_driver_treats_them() {
        let mut t = Timeouts::TPM12_DEFAULT;
        t.apply_tpm12_timeouts([750_000, 2_000_000, 750_000, 750_000]);
        assert_eq!(t.abcd, [ms(750), ms(2000), ms(750), ms(750)]);
        t.apply_tpm12_timeouts([10, 3000, 10, 10]); // ms reported as if µs
        assert_eq!(t.abcd, [ms(750), ms(3000), ms(750), ms(750)], "raised to defaults, ms scaled");
        t.apply_tpm12_timeouts([100_000; 4]); // below default → default
        assert_eq!(t.abcd, Timeouts::TPM12_DEFAULT.abcd);
        t.apply_tpm12_durations([3_000_000, 3_000_000, 600_000_000]);
        assert_eq!(t.durations[..3], [ms(3000), ms(3000), ms(600_000)]);
        t.apply_tpm12_durations([5, 100, 0]);
        assert_eq!(t.durations[..3], [ms(1000), ms(100), FALLBACK_DURATION_NS], "ms reported as µs");
        assert_eq!(tpm12_class(0x0D), Class::Long);
        assert_eq!(tpm12_class(0x14), Class::Short);
        assert_eq!(tpm20_class(0x131), Class::LongLong);
    }
}
