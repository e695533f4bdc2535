//! KDFa (TPM 2.0 Part 1 §11.4.10.2): the counter-mode KDF of SP 800-108 with HMAC, as the
//! TPM derives storage, integrity, session and primary-key material.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use super::HashAlg;

/// KDFa(hashAlg, key, label, contextU, contextV, bits): `bits` (a multiple of 8) of key
/// material. The label is used with its terminating zero octet (added when missing).
pub fn kdfa(h: HashAlg, key: &[u8], label: &[u8], context_u: &[u8], context_v: &[u8], bits: u32) -> Zeroizing<Vec<u8>> {
    let bytes = (bits as usize).div_ceil(8);
    let label_end: &[u8] = if label.last() == Some(&0) { &[] } else { &[0] };
    let mut out = Zeroizing::new(Vec::with_capacity(bytes + h.size()));
    let mut counter: u32 = 1;
    while out.len() < bytes {
        let block = h.hmac(key, &[&counter.to_be_bytes(), label, label_end, context_u, context_v, &bits.to_be_bytes()]);
        out.extend_from_slice(&block);
        counter = counter.wrapping_add(1);
    }
    out.truncate(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_label_terminator() {
        let a = kdfa(HashAlg::Sha256, b"key", b"STORAGE", b"u", b"", 128);
        assert_eq!(a.len(), 16);
        // the terminating zero is the same whether given or not
        assert_eq!(*a, *kdfa(HashAlg::Sha256, b"key", b"STORAGE\0", b"u", b"", 128));
        // a longer output starts with a different block (the bit count is in every block)
        let b = kdfa(HashAlg::Sha256, b"key", b"STORAGE", b"u", b"", 512);
        assert_eq!(b.len(), 64);
        assert_ne!(a[..], b[..16]);
        // block 1 is HMAC(key, 1 || label || 0 || u || v || bits)
        let want = HashAlg::Sha1.hmac(b"k", &[&[0, 0, 0, 1], b"X\0", b"ab", b"c", &[0, 0, 0, 160]]);
        assert_eq!(*kdfa(HashAlg::Sha1, b"k", b"X", b"ab", b"c", 160), want);
    }
}
