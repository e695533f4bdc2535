//! TSC-to-nanosecond scaling as Xen publishes it in `vcpu_time_info` (public/xen.h): shift the
//! TSC delta left by `tsc_shift` (right if negative), then multiply by the 32.32 fixed-point
//! `tsc_to_system_mul`. Pure, host-tested; `time` uses it.

/// Nanoseconds for a TSC delta.
pub fn scale_delta(delta: u64, mul: u32, shift: i8) -> u64 {
    let d = match shift {
        s if s >= 0 => delta.checked_shl(s as u32).unwrap_or(0),
        s => delta.checked_shr(s.unsigned_abs() as u32).unwrap_or(0),
    };
    ((d as u128 * mul as u128) >> 32) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_halving() {
        // mul = 2^31 is 0.5; shift 1 doubles first: net identity.
        assert_eq!(scale_delta(1_000_000, 1 << 31, 1), 1_000_000);
        assert_eq!(scale_delta(1_000_000, 1 << 31, 0), 500_000);
        assert_eq!(scale_delta(1_000_000, 1 << 31, -1), 250_000);
    }

    #[test]
    fn a_3_ghz_tsc() {
        // 3 GHz: 1 tick = 1/3 ns. Xen would publish shift -1 and mul = 2/3 * 2^32.
        let mul = ((2u64 << 32) / 3) as u32;
        let ns = scale_delta(3_000_000_000, mul, -1);
        assert!((999_999_990..=1_000_000_000).contains(&ns), "{ns}");
    }

    #[test]
    fn no_overflow_for_large_deltas() {
        // A day of a 4 GHz TSC with a multiplier near 1.0.
        let delta = 4_000_000_000u64 * 86_400;
        let ns = scale_delta(delta, u32::MAX, 0);
        assert!(ns < delta && ns > delta - delta / 1_000_000_000 - 1);
        assert_eq!(scale_delta(u64::MAX, 0, 5), 0);
        assert_eq!(scale_delta(5, 1 << 31, 127), 0); // absurd shift from a peer: no panic
        assert_eq!(scale_delta(5, 1 << 31, -128), 0);
    }
}
