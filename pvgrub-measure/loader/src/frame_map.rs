//! Which machine frame each pseudo-physical frame (pfn) of the booted kernel gets: the new
//! p2m, a permutation of the loader's own p2m, and the M2P updates that make Xen's
//! machine-to-phys table agree with it.
//!
//! The method (pvboot README): the loader writes each page of the new image into a frame it
//! owns and allocated for that purpose (a *source*: its own pfn); at the switch nothing is
//! copied — pfn *i* of the new kernel simply becomes the machine frame of its source. The
//! frames so displaced go to the pfns the sources leave free. In detail, with `A` the pfns the
//! new image defines and `S` their sources:
//! - `i ∈ A`: `new_p2m[i] = old_p2m[source(i)]`;
//! - `j ∉ A`, `j ∉ S`: unchanged (`new_p2m[j] = old_p2m[j]`);
//! - `j ∉ A`, `j ∈ S` (a source outside the image, its frame taken): gets the frame of one of
//!   the pfns of `A` that is no source (`A \ S`), paired in ascending order. Both sets have the
//!   same size, so every frame lands exactly once.
//!
//! The frames of `A \ S` are the loader's own low pfns: its image, Xen's boot page tables,
//! the p2m list… They move out of the new kernel's initial mapping, to pfns the new kernel
//! sees as free memory (after the loader's old tables are unpinned at the switch).

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::vec::Vec;

use crate::error::LoadError;

/// An invalid p2m entry (a pfn without memory).
pub const INVALID_MFN: u64 = u64::MAX;

/// The new p2m and the M2P updates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameMap {
    /// `new_p2m[pfn]` = machine frame of `pfn` after the switch.
    pub new_p2m: Vec<u64>,
    /// `(mfn, pfn)` for every frame whose pfn changes (`MMU_MACHPHYS_UPDATE`).
    pub m2p_updates: Vec<(u64, u64)>,
}

/// Builds the map from the loader's `old_p2m` (one entry per pfn) and `targets`: `(new pfn,
/// source pfn)` pairs. Every new pfn and every source must be below `old_p2m.len()`, each at
/// most once, and no source may have an invalid frame.
pub fn build(old_p2m: &[u64], targets: &[(u64, u64)]) -> Result<FrameMap, LoadError> {
    let n = old_p2m.len() as u64;
    let mut image = BTreeSet::new();
    let mut sources = BTreeSet::new();
    for &(pfn, src) in targets {
        if pfn >= n || src >= n {
            return Err(LoadError::Boot(format!("pfn {pfn:#x} or its source {src:#x} is past the domain's {n} pages")));
        }
        if !image.insert(pfn) {
            return Err(LoadError::Boot(format!("pfn {pfn:#x} is given twice")));
        }
        if !sources.insert(src) {
            return Err(LoadError::Boot(format!("source frame {src:#x} is used twice")));
        }
        if old_p2m[src as usize] == INVALID_MFN {
            return Err(LoadError::Boot(format!("source frame {src:#x} has no machine frame")));
        }
    }
    let mut new_p2m = old_p2m.to_vec();
    for &(pfn, src) in targets {
        new_p2m[pfn as usize] = old_p2m[src as usize];
    }
    // Displaced frames (A \ S) go to the sources outside the image (S \ A).
    let displaced = image.difference(&sources);
    let free = sources.difference(&image);
    for (&from, &to) in displaced.zip(free) {
        new_p2m[to as usize] = old_p2m[from as usize];
    }
    let m2p_updates = new_p2m
        .iter()
        .enumerate()
        .filter(|&(pfn, &mfn)| mfn != INVALID_MFN && mfn != old_p2m[pfn])
        .map(|(pfn, &mfn)| (mfn, pfn as u64))
        .collect();
    Ok(FrameMap { new_p2m, m2p_updates })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_permutation(a: &[u64], b: &[u64]) -> bool {
        let mut x = a.to_vec();
        let mut y = b.to_vec();
        x.sort_unstable();
        y.sort_unstable();
        x == y
    }

    #[test]
    fn sources_become_the_image_and_nothing_is_lost() {
        let old: Vec<u64> = (0..16).map(|p| 1000 + p).collect();
        // Image pfns 0..4 from sources 10, 3, 12, 13 (3 is inside the image).
        let t = [(0, 10), (1, 3), (2, 12), (3, 13)];
        let m = build(&old, &t).unwrap();
        assert_eq!(&m.new_p2m[..4], &[1010, 1003, 1012, 1013]);
        assert!(is_permutation(&old, &m.new_p2m));
        // Untouched pfns keep their frames.
        for j in [4, 5, 6, 7, 8, 9, 11, 14, 15] {
            assert_eq!(m.new_p2m[j], old[j]);
        }
        // Frames of 0, 1 and 2 (image pfns that are no source) went to 10, 12 and 13.
        assert_eq!(m.new_p2m[10], 1000);
        assert_eq!(m.new_p2m[12], 1001);
        assert_eq!(m.new_p2m[13], 1002);
        for &(mfn, pfn) in &m.m2p_updates {
            assert_eq!(m.new_p2m[pfn as usize], mfn);
            assert_ne!(old[pfn as usize], mfn);
        }
        let changed = m.new_p2m.iter().zip(&old).filter(|(a, b)| a != b).count();
        assert_eq!(m.m2p_updates.len(), changed);
    }

    #[test]
    fn bad_targets_are_errors() {
        let old: Vec<u64> = (0..8).collect();
        assert!(build(&old, &[(0, 9)]).is_err());
        assert!(build(&old, &[(0, 5), (0, 6)]).is_err());
        assert!(build(&old, &[(0, 5), (1, 5)]).is_err());
        let mut holes = old.clone();
        holes[5] = INVALID_MFN;
        assert!(build(&holes, &[(0, 5)]).is_err());
        assert!(build(&holes, &[(0, 4)]).is_ok());
    }
}
