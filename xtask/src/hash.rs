//! A tiny, stable content hash (FNV-1a, 64 bit) for cache keys.
//!
//! Not cryptographic: it only has to change when the inputs of a cached artefact change.

/// Incremental FNV-1a (64 bit).
#[derive(Clone, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        for b in data {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    /// Feeds a string followed by a separator, so ("ab","c") and ("a","bc") differ.
    pub fn field(&mut self, s: &str) -> &mut Self {
        self.update(s.as_bytes()).update(&[0xff])
    }

    /// The 16-hex-digit digest.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // FNV-1a 64 reference values.
        assert_eq!(Fnv::new().hex(), "cbf29ce484222325");
        assert_eq!(Fnv::new().update(b"a").hex(), "af63dc4c8601ec8c");
        assert_eq!(Fnv::new().update(b"foobar").hex(), "85944171f73967e8");
    }

    #[test]
    fn fields_are_separated() {
        assert_ne!(Fnv::new().field("ab").field("c").hex(), Fnv::new().field("a").field("bc").hex());
    }
}
