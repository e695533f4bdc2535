//! Which locality a frontend's commands run at. The guest writes a locality into its shared
//! page; it is not trusted: locality gates the DRTM PCRs 17–22 (reset and extend), keys and
//! seals bound to `localityAtRelease`, and NV spaces, so a guest that picks locality 4 could
//! fake a DRTM launch.
//!
//! The C vtpm maps the frontend's XSM label (FLASK) to the localities it may use, with
//! `locality=<label>=<n>[,<n>…]` entries. This kernel cannot read XSM labels, so no entry can
//! be matched: every frontend runs at locality 0 (what Linux and pv-grub use), whatever it asks
//! for, with or without `locality=` entries. The console says so at start, and once per
//! frontend that asks for another locality. When labels can be read, an entry that matches a
//! frontend will allow it the listed localities.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use drivers::tpmback::FrontendId;

use crate::service::Output;

/// The locality every frontend gets while no `locality=` entry can be matched.
pub const DEFAULT_LOCALITY: u8 = 0;

/// One `locality=` entry: a label pattern and the localities it allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The label, or `*suffix` for a suffix match (as the C vtpm).
    pub label: String,
    /// Allowed localities (bit `n` = locality `n`, 0..=4 for TPM 1.2).
    pub mask: u8,
}

/// Parses one `locality=` value: `<label>=<n>[,<n>…]` with `n` in 0..=4.
pub fn parse_entry(v: &str) -> Result<Entry, String> {
    let (label, list) = v.rsplit_once('=').ok_or_else(|| String::from("expected <label>=<n>[,<n>...]"))?;
    if label.is_empty() {
        return Err(String::from("empty label"));
    }
    let mut mask = 0u8;
    for n in list.split(',') {
        match n.trim().parse::<u8>() {
            Ok(l) if l <= 4 => mask |= 1 << l,
            _ => return Err(format!("'{n}' is not a locality (0..4)")),
        }
    }
    Ok(Entry { label: label.into(), mask })
}

/// The policy: the entries (none can match yet) and which frontends were told.
pub struct LocalityPolicy {
    entries: Vec<Entry>,
    reported: BTreeSet<FrontendId>,
}

impl LocalityPolicy {
    /// Builds the policy from the `locality=` values and says on `out` what it does.
    pub fn new(values: &[String], out: &mut impl Output) -> LocalityPolicy {
        let mut entries = Vec::new();
        for v in values {
            match parse_entry(v) {
                Ok(e) => {
                    out.line(&format!(
                        "Warning: locality={v}: the frontends' XSM labels cannot be read (no FLASK), so this entry matches no frontend"
                    ));
                    entries.push(e);
                }
                Err(e) => out.line(&format!("Warning: ignoring locality={v}: {e}")),
            }
        }
        out.line("Info: locality: every frontend's commands run at locality 0, whatever locality its requests ask for");
        LocalityPolicy { entries, reported: BTreeSet::new() }
    }

    /// The parsed entries.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The locality `frontend`'s request (asking for `requested`) runs at.
    pub fn apply(&mut self, frontend: FrontendId, requested: u8, out: &mut impl Output) -> u8 {
        if requested != DEFAULT_LOCALITY && self.reported.insert(frontend) {
            out.line(&format!(
                "Warning: Frontend {}/{} asked for locality {requested}; its commands run at locality {DEFAULT_LOCALITY} (no locality= entry matches it)",
                frontend.domid.0, frontend.handle
            ));
        }
        DEFAULT_LOCALITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Lines;
    use drivers::hv::DomId;

    #[test]
    fn entries() {
        assert_eq!(parse_entry("guest_t=0,1"), Ok(Entry { label: "guest_t".into(), mask: 0b11 }));
        assert_eq!(parse_entry("*:vm_r:guest_t=4"), Ok(Entry { label: "*:vm_r:guest_t".into(), mask: 1 << 4 }));
        for bad in ["guest_t", "=1", "g=5", "g=", "g=1,x"] {
            assert!(parse_entry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn everyone_runs_at_locality_0_and_is_told_once() {
        let mut out = Lines::default();
        let mut p = LocalityPolicy::new(&["guest_t=0,4".into(), "bad".into()], &mut out);
        assert_eq!(p.entries().len(), 1);
        assert_eq!(out.0.len(), 3, "{:?}", out.0);
        let fe = FrontendId { domid: DomId(7), handle: 0 };
        assert_eq!(p.apply(fe, 0, &mut out), 0);
        assert_eq!(out.0.len(), 3, "locality 0 asked: nothing to say");
        assert_eq!(p.apply(fe, 4, &mut out), 0);
        assert_eq!(p.apply(fe, 3, &mut out), 0);
        assert_eq!(out.0.len(), 4, "said once per frontend");
        assert_eq!(
            out.0[3],
            "Warning: Frontend 7/0 asked for locality 4; its commands run at locality 0 (no locality= entry matches it)"
        );
    }
}
