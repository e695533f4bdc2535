//! A first-fit allocator of contiguous runs in a fixed bitmap: the pages of the
//! foreign-mapping window. Pure and host-tested; `mm::window` maps what it hands out.

/// `WORDS * 64` slots, each free or used.
pub struct SlotBitmap<const WORDS: usize> {
    used: [u64; WORDS],
}

impl<const WORDS: usize> Default for SlotBitmap<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WORDS: usize> SlotBitmap<WORDS> {
    pub const SLOTS: usize = WORDS * 64;

    pub const fn new() -> Self {
        SlotBitmap { used: [0; WORDS] }
    }

    pub fn is_used(&self, i: usize) -> bool {
        i < Self::SLOTS && self.used[i / 64] & (1 << (i % 64)) != 0
    }

    /// Reserves `n` contiguous free slots; returns the first index.
    pub fn alloc(&mut self, n: usize) -> Option<usize> {
        if n == 0 || n > Self::SLOTS {
            return None;
        }
        let mut start = 0;
        while start + n <= Self::SLOTS {
            match (start..start + n).rev().find(|&i| self.is_used(i)) {
                Some(busy) => start = busy + 1,
                None => {
                    for i in start..start + n {
                        self.used[i / 64] |= 1 << (i % 64);
                    }
                    return Some(start);
                }
            }
        }
        None
    }

    /// Releases `n` slots from `first` (out-of-range parts are ignored).
    pub fn free(&mut self, first: usize, n: usize) {
        for i in first..first.saturating_add(n).min(Self::SLOTS) {
            self.used[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Slots in use.
    pub fn count_used(&self) -> usize {
        self.used.iter().map(|w| w.count_ones() as usize).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_and_reuse() {
        let mut b = SlotBitmap::<2>::new();
        assert_eq!(b.alloc(1), Some(0));
        assert_eq!(b.alloc(3), Some(1));
        assert_eq!(b.alloc(1), Some(4));
        b.free(1, 3);
        assert_eq!(b.alloc(2), Some(1));
        assert_eq!(b.alloc(2), Some(5)); // slot 3 alone is too small
        assert_eq!(b.alloc(1), Some(3));
        assert_eq!(b.count_used(), 7);
    }

    #[test]
    fn runs_cross_word_boundaries() {
        let mut b = SlotBitmap::<2>::new();
        assert_eq!(b.alloc(60), Some(0));
        assert_eq!(b.alloc(10), Some(60));
        assert!(b.is_used(63) && b.is_used(64) && b.is_used(69) && !b.is_used(70));
    }

    #[test]
    fn exhaustion_and_bad_requests() {
        let mut b = SlotBitmap::<1>::new();
        assert_eq!(b.alloc(0), None);
        assert_eq!(b.alloc(65), None);
        assert_eq!(b.alloc(64), Some(0));
        assert_eq!(b.alloc(1), None);
        b.free(60, 100); // partly out of range: no panic
        assert_eq!(b.count_used(), 60);
        assert_eq!(b.alloc(4), Some(60));
        b.free(usize::MAX, 5);
        assert!(!b.is_used(usize::MAX));
    }
}
