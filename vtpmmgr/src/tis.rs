//! The TIS register window's arithmetic (TCG PC Client TIS 1.2 §10): five localities, each a
//! 4 KiB page at `base + l·0x1000`. The image maps one page per locality (`tis_window.rs`);
//! this says which page and which offset inside it a window offset falls in.

/// Localities a TIS has (TIS 1.2: 0..=4, 4 KiB each).
pub const LOCALITIES: usize = 5;
/// Size of one locality's register page.
pub const PAGE: usize = 0x1000;

/// Physical address of locality `l`'s page of the TIS at `base`.
pub const fn page_base(base: u64, l: usize) -> u64 {
    base + (l * PAGE) as u64
}

/// `(locality, offset in its page)` of a window offset, or `None` past the last locality.
pub const fn page_of(offset: usize) -> Option<(usize, usize)> {
    let l = offset / PAGE;
    if l < LOCALITIES { Some((l, offset % PAGE)) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localities_are_pages() {
        assert_eq!(page_base(0xFED4_0000, 2), 0xFED4_2000);
        assert_eq!(page_of(0), Some((0, 0)));
        assert_eq!(page_of(0x2018), Some((2, 0x18)));
        assert_eq!(page_of(0x4FFF), Some((4, 0xFFF)));
        assert_eq!(page_of(0x5000), None);
    }
}
