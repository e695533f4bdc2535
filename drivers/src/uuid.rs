//! The vTPM UUID as libxl writes it into the backend's `uuid` key: exactly 36 characters,
//! `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (fact sheet §3.2, §3.3). Mini-OS refuses anything else,
//! and so do we; upper-case hex digits are accepted.

/// Parses the 36-character form into 16 bytes.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let s = s.trim_end_matches('\0');
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut i = 0;
    while i < 36 {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b[i] != b'-' {
                return None;
            }
            i += 1;
            continue;
        }
        let hi = hex(b[i])?;
        let lo = hex(*b.get(i + 1)?)?;
        if matches!(i + 1, 8 | 13 | 18 | 23) {
            return None;
        }
        out[n] = hi << 4 | lo;
        n += 1;
        i += 2;
    }
    if n == 16 { Some(out) } else { None }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libxl_format() {
        let u = parse_uuid("01234567-89ab-cdef-0123-456789abcdef").unwrap();
        assert_eq!(u[0], 0x01);
        assert_eq!(u[15], 0xef);
        assert!(parse_uuid("01234567-89ab-cdef-0123-456789abcde").is_none());
        assert!(parse_uuid("01234567-89ab-cdef-0123-456789abcdeg").is_none());
        assert!(parse_uuid("0123456789abcdef0123456789abcdef0123").is_none());
        assert!(parse_uuid("").is_none());
        assert!(parse_uuid("01234567-89ab-cdef-0123-456789abcdefX").is_none());
    }
}
