//! Random (version 4) UUIDs in the form libxl writes into the backend's `uuid` key: 36
//! lower-case characters, `xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx` (RFC 4122 §4.4).

/// The UUID for 16 random bytes: version 4, variant 10.
pub fn v4_from_bytes(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Is `s` a UUID as libxl and the vtpm accept it (36 characters, hex digits and four dashes)?
pub fn is_valid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_variant_bits_are_set() {
        let u = v4_from_bytes([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let u = v4_from_bytes([0; 16]);
        assert_eq!(u, "00000000-0000-4000-8000-000000000000");
        assert!(is_valid(&u));
        let u = v4_from_bytes(*b"\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef");
        assert_eq!(u, "01234567-89ab-4def-8123-456789abcdef");
    }

    #[test]
    fn validation() {
        assert!(is_valid("ac0a5b9e-7b92-4dab-9c3f-2d0c4e1a9f01"));
        assert!(!is_valid("ac0a5b9e-7b92-4dab-9c3f-2d0c4e1a9f0"));
        assert!(!is_valid("ac0a5b9e-7b92-4dab-9c3f-2d0c4e1a9f0g"));
        assert!(!is_valid("ac0a5b9e07b92-4dab-9c3f-2d0c4e1a9f01"));
        assert!(!is_valid("ac0a5b9e-7b92-4dab-9c3f-2d0c4e1a9fé"));
    }
}

/// The 16 bytes of a UUID in text order (as the manager keys its records), if `s` is one.
pub fn parse(s: &str) -> Option<[u8; 16]> {
    if !is_valid(s) {
        return None;
    }
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// The text form of 16 bytes (lower case, dashes).
pub fn format(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod text_tests {
    #[test]
    fn parse_and_format_are_inverse() {
        let s = "01234567-89ab-4def-8123-456789abcdef";
        let b = super::parse(s).unwrap();
        assert_eq!(b[0], 0x01);
        assert_eq!(b[15], 0xef);
        assert_eq!(super::format(&b), s);
        assert_eq!(super::parse("01234567-89AB-4DEF-8123-456789ABCDEF"), Some(b));
        assert_eq!(super::parse("01234567-89ab-4def-8123-456789abcde"), None);
    }
}
