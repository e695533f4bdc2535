//! The PCR banks and the PC Client PCR attributes: which PCRs are saved by
//! TPM2_Shutdown(STATE), and at which localities each may be extended or reset
//! (TCG PC Client Platform TPM Profile, "PCR attributes"): PCR 0–15 static RTM (extend at
//! any locality, never reset, saved), PCR 16 debug and PCR 23 application (reset at
//! localities 0–3), PCR 17–22 dynamic RTM (reset only at locality 4, or 2 for PCR 20–22;
//! extended at the localities of their row; -1 after Startup).

use alloc::vec;
use alloc::vec::Vec;

use crate::constants::{PCR_COUNT, PCR_SELECT_SIZE};
use crate::crypto::{HASHES, HashAlg};

/// One PCR's attributes; the locality sets are bitmaps (bit n = locality n).
#[derive(Clone, Copy, Debug)]
pub struct PcrAttributes {
    /// Saved by TPM2_Shutdown(STATE) and restored by TPM2_Startup(STATE).
    pub state_save: bool,
    /// Localities that may TPM2_PCR_Reset it (0: none).
    pub reset_locality: u8,
    /// Localities that may TPM2_PCR_Extend it.
    pub extend_locality: u8,
}

const fn attr(state_save: bool, reset_locality: u8, extend_locality: u8) -> PcrAttributes {
    PcrAttributes { state_save, reset_locality, extend_locality }
}

/// The PC Client attributes of PCR 0..23.
pub const ATTRIBUTES: [PcrAttributes; PCR_COUNT] = [
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(true, 0, 0x1F),
    attr(false, 0x0F, 0x1F), // 16: debug
    attr(false, 0x10, 0x1C), // 17: DRTM, locality 4
    attr(false, 0x10, 0x1C), // 18: locality 3
    attr(false, 0x10, 0x0C), // 19: locality 2
    attr(false, 0x14, 0x0E), // 20: locality 1
    attr(false, 0x14, 0x04), // 21: dynamic OS
    attr(false, 0x14, 0x04), // 22: dynamic OS
    attr(false, 0x0F, 0x1F), // 23: application
];

/// PCRs whose change does not increment `pcrUpdateCounter` (TPM_PT_PCR_NO_INCREMENT): the
/// debug PCR 16, the dynamic-OS PCRs 21–22 and the application PCR 23 (as libtpms).
pub const NO_INCREMENT: [usize; 4] = [16, 21, 22, 23];

/// How many of the PCRs for which `initialized` holds count in pcrUpdateCounter: TPM2_Startup
/// counts every PCR it sets to its initial value (not those a Resume restores) as a change.
pub fn counted(initialized: impl Fn(usize) -> bool) -> u32 {
    (0..PCR_COUNT).filter(|&i| initialized(i) && !NO_INCREMENT.contains(&i)).count() as u32
}

/// Whether `locality` is in the bitmap `set` (localities above 4 are in none).
pub const fn locality_in(set: u8, locality: u8) -> bool {
    locality < 5 && set & (1 << locality) != 0
}

/// A PCR bitmap (`pcrSelect`), PCR n = bit (n % 8) of byte n / 8.
pub type PcrBitmap = [u8; PCR_SELECT_SIZE];

/// The bitmap of the PCRs for which `f` holds.
pub fn bitmap(f: impl Fn(usize) -> bool) -> PcrBitmap {
    let mut b = [0u8; PCR_SELECT_SIZE];
    for i in (0..PCR_COUNT).filter(|&i| f(i)) {
        b[i / 8] |= 1 << (i % 8);
    }
    b
}

/// The PCR values of the allocated banks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrBanks {
    /// Per implemented hash (index [`HashAlg::index`]): `Some(24 values)` if allocated.
    pub banks: [Option<Vec<Vec<u8>>>; 2],
}

impl PcrBanks {
    /// The banks of `allocation` (bit [`HashAlg::index`]), every PCR at its Startup value
    /// for a start at `locality`.
    pub fn startup(allocation: u8, locality: u8) -> Self {
        let mut banks = [None, None];
        for h in HASHES.into_iter().filter(|h| allocation & (1 << h.index()) != 0) {
            let v = (0..PCR_COUNT).map(|i| initial_value(h, i, locality)).collect();
            banks[h.index()] = Some(v);
        }
        Self { banks }
    }

    /// The value of PCR `index` in bank `h`, if that bank is allocated.
    pub fn get(&self, h: HashAlg, index: usize) -> Option<&[u8]> {
        self.banks[h.index()].as_ref().and_then(|b| b.get(index)).map(Vec::as_slice)
    }

    /// Whether bank `h` is allocated.
    pub fn allocated(&self, h: HashAlg) -> bool {
        self.banks[h.index()].is_some()
    }

    /// `PCR := H(PCR || digest)` in bank `h` (nothing if the bank is not allocated).
    pub fn extend(&mut self, h: HashAlg, index: usize, digest: &[u8]) {
        if let Some(pcr) = self.banks[h.index()].as_mut().and_then(|b| b.get_mut(index)) {
            *pcr = h.digest(&[pcr, digest]);
        }
    }

    /// Sets PCR `index` of every bank to its reset value (zero).
    pub fn reset(&mut self, index: usize) {
        for (i, bank) in self.banks.iter_mut().enumerate() {
            if let Some(pcr) = bank.as_mut().and_then(|b| b.get_mut(index)) {
                *pcr = vec![0; HASHES[i].size()];
            }
        }
    }
}

/// A PCR's value after TPM2_Startup at `locality`: -1 for the DRTM PCRs (reset only at
/// locality 4), the startup locality in the last byte of PCR 0 for a start at locality 3,
/// zero otherwise.
pub fn initial_value(h: HashAlg, index: usize, locality: u8) -> Vec<u8> {
    let mut v = vec![0u8; h.size()];
    if ATTRIBUTES[index].reset_locality & 0x10 != 0 {
        v.fill(0xFF);
    } else if index == 0 && locality == 3 {
        v[h.size() - 1] = 3;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_values_and_extend() {
        let mut b = PcrBanks::startup(0b11, 0);
        assert_eq!(b.get(HashAlg::Sha1, 0), Some(&[0u8; 20][..]));
        assert_eq!(b.get(HashAlg::Sha256, 17), Some(&[0xFFu8; 32][..]));
        assert_eq!(b.get(HashAlg::Sha256, 23), Some(&[0u8; 32][..]));
        assert_eq!(PcrBanks::startup(0b11, 3).get(HashAlg::Sha1, 0).map(|v| v[19]), Some(3));
        b.extend(HashAlg::Sha256, 23, &[0u8; 32]);
        assert_eq!(b.get(HashAlg::Sha256, 23).map(<[u8]>::to_vec), Some(HashAlg::Sha256.digest(&[&[0u8; 64]])));
        b.reset(23);
        assert_eq!(b.get(HashAlg::Sha256, 23), Some(&[0u8; 32][..]));
        assert!(!PcrBanks::startup(0b10, 0).allocated(HashAlg::Sha1));
        assert_eq!(bitmap(|i| i >= 16), [0, 0, 0xFF]);
        assert!(locality_in(0x1C, 2) && !locality_in(0x1C, 1) && !locality_in(0xFF, 5));
    }
}
