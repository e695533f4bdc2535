//! The service-time summary printed at `loglevel=debug`: requests served, mean and maximum
//! time from "request seen" (copied out of the shared page) to "response written" (FINISH
//! set), both stamped by tpmback with the kernel's clock. Also how often the engine's
//! permanent state changed, the state disk's writes and, with a manager, the round trips to it
//! after the start (the C vtpm writes after every command instead; we write only on a change).

use alloc::format;
use alloc::string::String;

use drivers::tpmback::ServiceStats;

/// What the vtpm counts besides tpmback's statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Commands after which the engine's permanent state had changed.
    pub state_changes: u64,
    /// Writes to the vtpm's state disk (0 while the state is volatile).
    pub disk_writes: u64,
    /// Round trips to the vTPM manager after the start (`None` without a manager: not printed).
    pub manager_round_trips: Option<u64>,
    /// TPM_Extend requests served, and their service times (seen → written), in ns.
    pub extends: u64,
    pub extend_total_ns: u64,
    pub extend_max_ns: u64,
}

impl EngineCounters {
    /// Records one delivered TPM_Extend response.
    pub fn extend_served(&mut self, ns: u64) {
        self.extends += 1;
        self.extend_total_ns += ns;
        self.extend_max_ns = self.extend_max_ns.max(ns);
    }
}

pub use tpm_frame::ordinal;

/// `TPM_ORD_Extend`.
pub const ORD_EXTEND: u32 = 0x14;

/// One summary line (without the log level prefix).
pub fn summary(s: &ServiceStats, c: &EngineCounters) -> String {
    let mean_us = s.total_ns.checked_div(s.count).unwrap_or(0) / 1000;
    format!(
        "service: {} requests, mean {} us, max {} us (request seen -> response written); rejected {}, cancels {}; state changes {}, disk writes {}{}; TPM_Extend: {}, mean {} us, max {} us",
        s.count,
        mean_us,
        s.max_ns / 1000,
        s.rejected,
        s.cancels,
        c.state_changes,
        c.disk_writes,
        c.manager_round_trips.map(|n| format!(", manager round trips {n}")).unwrap_or_default(),
        c.extends,
        c.extend_total_ns.checked_div(c.extends).unwrap_or(0) / 1000,
        c.extend_max_ns / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line() {
        let s = ServiceStats { count: 4, total_ns: 4_000_000, max_ns: 2_500_000, rejected: 1, cancels: 0 };
        let mut c = EngineCounters { state_changes: 2, ..Default::default() };
        c.extend_served(3_000);
        c.extend_served(1_000);
        assert_eq!(
            summary(&s, &c),
            "service: 4 requests, mean 1000 us, max 2500 us (request seen -> response written); rejected 1, cancels 0; state changes 2, disk writes 0; TPM_Extend: 2, mean 2 us, max 3 us"
        );
        assert_eq!(ordinal(&[0, 0xC1, 0, 0, 0, 34, 0, 0, 0, 0x14, 1]), Some(ORD_EXTEND));
        assert_eq!(ordinal(&[0, 0xC1, 0]), None);
        let m = EngineCounters { manager_round_trips: Some(3), disk_writes: 4, ..c };
        assert!(summary(&s, &m).contains("state changes 2, disk writes 4, manager round trips 3; TPM_Extend"));
        assert!(summary(&ServiceStats::default(), &c).starts_with("service: 0 requests, mean 0 us, max 0 us"));
    }
}
