//! The manager without a hardware TPM (`tpmdriver=none`): its root secret wrapped by a key the
//! administrator provides, instead of sealed by a TPM. Weaker than hardware sealing — whoever
//! has the disk and the passphrase (or the key disk) has every vTPM's key, and nothing binds
//! the secret to this machine or its boot — and therefore off by default; the image says so on
//! the console.
//!
//! The administrator key ([`AdminKey`]) is either
//! - a passphrase (`root_key=text:<string>` or `root_key=hash:<64 hex>`), stretched with
//!   Argon2id (RFC 9106; memory-hard, so a stolen disk costs an attacker memory as well as time
//!   per guess; the `argon2` crate builds `no_std + alloc`), parameters [`KdfParams`] recorded
//!   with the wrapped secret; or
//! - a key disk (`root_key=hdb`: the first 32 bytes of the second disk, full-entropy random
//!   bytes the administrator wrote), taken through HMAC-SHA256 with the salt (no stretching
//!   needed for a random key).
//!
//! The key-encryption key then seals the 32-byte root secret with ChaCha20-Poly1305; the
//! header (magic, version, source, KDF parameters, salt, nonce) is the associated data, so it
//! cannot be changed without the unwrap failing. Layout ([`WrappedRoot`], 96 bytes, in the
//! sealed root area with protection 2) in `docs/formats.md` §"Manager disk". A wrong passphrase
//! or key disk fails the tag check ([`AdminKeyError::WrongKey`]); nothing can tell it from a
//! damaged blob, and neither is ever replaced by a fresh secret.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use hmac::{Hmac, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::hwtpm::{ROOT_SECRET_LEN, RootSecret};

/// The wrapped root's magic.
pub const MAGIC: [u8; 4] = *b"VMRK";
/// The wrapped root's version.
pub const VERSION: u8 = 1;
/// The encoded size of a [`WrappedRoot`].
pub const WRAPPED_LEN: usize = 96;
/// Bytes of the header (the AEAD's associated data).
const HEADER_LEN: usize = 48;
/// The salt's size.
pub const SALT_LEN: usize = 16;
/// The most memory a recorded Argon2id parameter set may ask for (KiB): a disk cannot make
/// the manager try to allocate more.
pub const MAX_M_KIB: u32 = 256 * 1024;
/// The most passes a recorded parameter set may ask for.
pub const MAX_T: u32 = 64;
/// The shortest `text:` passphrase taken.
pub const MIN_PASSPHRASE: usize = 8;
const KEY_DISK_LABEL: &[u8] = b"xen-vtpm-rs vtpmmgr key disk kek v1";

/// Where the administrator's key comes from (byte 5 of the wrapped root).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `root_key=text:` or `root_key=hash:`, stretched by Argon2id (code 1).
    Passphrase,
    /// `root_key=hdb`: 32 bytes of the second disk (code 2).
    KeyDisk,
}

impl KeySource {
    fn code(self) -> u8 {
        match self {
            KeySource::Passphrase => 1,
            KeySource::KeyDisk => 2,
        }
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeySource::Passphrase => "a passphrase (root_key=text:|hash:)",
            KeySource::KeyDisk => "a key disk (root_key=hdb)",
        })
    }
}

/// The administrator's key (wiped when dropped; `Debug` does not print it).
#[derive(Clone, PartialEq, Eq)]
pub enum AdminKey {
    /// A passphrase's bytes.
    Passphrase(Zeroizing<Vec<u8>>),
    /// A key disk's 32 bytes.
    KeyDisk(Zeroizing<[u8; 32]>),
}

impl fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdminKey({}, ..)", self.source())
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

impl AdminKey {
    /// Parses a passphrase value: `text:<string>` (at least [`MIN_PASSPHRASE`] bytes) or
    /// `hash:<64 hex>` (32 bytes). `hdb` is the caller's (it reads the disk).
    pub fn parse_passphrase(v: &str) -> Result<AdminKey, String> {
        if let Some(t) = v.strip_prefix("text:") {
            if t.len() < MIN_PASSPHRASE {
                return Err(format!("a text: passphrase needs at least {MIN_PASSPHRASE} bytes, got {}", t.len()));
            }
            return Ok(AdminKey::Passphrase(Zeroizing::new(t.as_bytes().to_vec())));
        }
        if let Some(h) = v.strip_prefix("hash:") {
            let b = h.as_bytes();
            if b.len() != 64 {
                return Err(format!("hash: needs 64 hex digits (32 bytes), got {}", b.len()));
            }
            let mut out = Zeroizing::new(Vec::with_capacity(32));
            for pair in b.chunks_exact(2) {
                match (hex_digit(pair[0]), hex_digit(pair[1])) {
                    (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                    _ => return Err(String::from("hash: has a character that is not a hex digit")),
                }
            }
            return Ok(AdminKey::Passphrase(out));
        }
        Err(String::from("expected text:<passphrase>, hash:<64 hex> or hdb"))
    }

    /// A key disk's first sector (at least 32 bytes): its first 32 bytes, refused if they are
    /// all zero (a blank disk) or all the same byte.
    pub fn from_key_disk(sector: &[u8]) -> Result<AdminKey, String> {
        let k = sector.get(..32).ok_or_else(|| String::from("the key disk is shorter than 32 bytes"))?;
        if k.iter().all(|&b| b == k[0]) {
            return Err(String::from(
                "the key disk's first 32 bytes are all the same (a blank disk?): write 32 random bytes to it",
            ));
        }
        let mut a = Zeroizing::new([0u8; 32]);
        a.copy_from_slice(k);
        Ok(AdminKey::KeyDisk(a))
    }

    /// Where this key comes from.
    pub fn source(&self) -> KeySource {
        match self {
            AdminKey::Passphrase(_) => KeySource::Passphrase,
            AdminKey::KeyDisk(_) => KeySource::KeyDisk,
        }
    }
}

/// Argon2id's cost (RFC 9106 §3.1): memory in KiB, passes, lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes over the memory.
    pub t: u32,
    /// Lanes (only 1: the manager has one CPU to spend).
    pub p: u32,
}

impl KdfParams {
    /// The manager's default: 7 MiB, 5 passes, 1 lane — the low-memory end of the common
    /// Argon2id recommendations (OWASP: m = 7 MiB, t = 5, p = 1), chosen because the manager
    /// domain has little memory (`memory = 16` in its cfg, as the C manager's); 50–80 ms
    /// per derivation on the host (release build).
    pub const DEFAULT: KdfParams = KdfParams { m_kib: 7 * 1024, t: 5, p: 1 };
    /// For tests only: the smallest cost Argon2id takes (not for real disks).
    pub const MINIMAL: KdfParams = KdfParams { m_kib: 8, t: 1, p: 1 };

    fn check(self) -> Result<(), AdminKeyError> {
        if self.p != 1 || self.t == 0 || self.t > MAX_T || self.m_kib < 8 || self.m_kib > MAX_M_KIB {
            return Err(AdminKeyError::Malformed("Argon2id parameters out of range"));
        }
        Ok(())
    }
}

/// Why a wrapped root does not open (or cannot be made).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminKeyError {
    /// Not a wrapped root, another version, a bad length or out-of-range parameters.
    Malformed(&'static str),
    /// The disk's root was wrapped with the other kind of key.
    WrongSource {
        /// The disk's.
        disk: KeySource,
        /// The one given.
        given: KeySource,
    },
    /// The tag does not verify: a wrong passphrase or key disk (or a damaged blob).
    WrongKey,
    /// Argon2id failed (its memory could not be allocated, or it refused its inputs).
    Kdf(String),
}

impl fmt::Display for AdminKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminKeyError::Malformed(w) => write!(f, "the wrapped root is malformed ({w})"),
            AdminKeyError::WrongSource { disk, given } => {
                write!(f, "the disk's root is wrapped by {disk}, but {given} was given")
            }
            AdminKeyError::WrongKey => f.write_str(
                "the administrator key does not open the root (wrong passphrase or key disk, or a damaged root)",
            ),
            AdminKeyError::Kdf(e) => write!(f, "Argon2id failed: {e}"),
        }
    }
}

/// The root secret wrapped by an administrator key, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedRoot {
    /// Which kind of key wraps it.
    pub source: KeySource,
    /// Argon2id's cost (all zero for a key disk).
    pub kdf: KdfParams,
    /// The KDF's salt.
    pub salt: [u8; SALT_LEN],
    /// The AEAD nonce.
    pub nonce: [u8; 12],
    /// The encrypted secret and its tag.
    pub sealed: [u8; ROOT_SECRET_LEN + 16],
}

fn kek(key: &AdminKey, kdf: KdfParams, salt: &[u8; SALT_LEN]) -> Result<Zeroizing<[u8; 32]>, AdminKeyError> {
    let mut out = Zeroizing::new([0u8; 32]);
    match key {
        AdminKey::Passphrase(p) => {
            kdf.check()?;
            let params =
                Params::new(kdf.m_kib, kdf.t, kdf.p, Some(32)).map_err(|e| AdminKeyError::Kdf(format!("{e}")))?;
            let n = params.block_count();
            let mut blocks: Vec<Block> = Vec::new();
            // the memory is the disk's choice (bounded by MAX_M_KIB): a refusal, never an abort
            blocks
                .try_reserve_exact(n)
                .map_err(|_| AdminKeyError::Kdf(format!("cannot allocate {} KiB", kdf.m_kib)))?;
            blocks.resize(n, Block::default());
            let r = Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password_into_with_memory(
                p,
                salt,
                &mut out[..],
                &mut blocks[..],
            );
            blocks.zeroize();
            r.map_err(|e| AdminKeyError::Kdf(format!("{e}")))?;
        }
        AdminKey::KeyDisk(k) => {
            if kdf != (KdfParams { m_kib: 0, t: 0, p: 0 }) {
                return Err(AdminKeyError::Malformed("a key disk's root has KDF parameters"));
            }
            let mut m = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&k[..])
                .map_err(|_| AdminKeyError::Kdf(String::from("HMAC key")))?;
            m.update(KEY_DISK_LABEL);
            m.update(salt);
            out.copy_from_slice(&m.finalize().into_bytes());
        }
    }
    Ok(out)
}

impl WrappedRoot {
    /// Wraps `secret` under `key` (Argon2id with `kdf` for a passphrase), with a fresh salt and
    /// nonce from `rng`.
    pub fn wrap<R: CryptoRng + ?Sized>(
        key: &AdminKey,
        kdf: KdfParams,
        secret: &RootSecret,
        rng: &mut R,
    ) -> Result<WrappedRoot, AdminKeyError> {
        let kdf = match key {
            AdminKey::Passphrase(_) => kdf,
            AdminKey::KeyDisk(_) => KdfParams { m_kib: 0, t: 0, p: 0 },
        };
        let mut w = WrappedRoot { source: key.source(), kdf, salt: [0; SALT_LEN], nonce: [0; 12], sealed: [0; 48] };
        rng.fill_bytes(&mut w.salt);
        rng.fill_bytes(&mut w.nonce);
        let k = kek(key, kdf, &w.salt)?;
        let aad = w.header();
        let mut buf = Zeroizing::new(*secret.as_bytes());
        let tag = ChaCha20Poly1305::new(&Key::from(*k))
            .encrypt_inout_detached(&Nonce::from(w.nonce), &aad, (&mut buf[..]).into())
            .map_err(|_| AdminKeyError::Malformed("encryption failed"))?;
        w.sealed[..ROOT_SECRET_LEN].copy_from_slice(&buf[..]);
        w.sealed[ROOT_SECRET_LEN..].copy_from_slice(&tag);
        Ok(w)
    }

    /// The root secret, if `key` is the one it was wrapped with.
    pub fn unwrap_with(&self, key: &AdminKey) -> Result<RootSecret, AdminKeyError> {
        if key.source() != self.source {
            return Err(AdminKeyError::WrongSource { disk: self.source, given: key.source() });
        }
        let k = kek(key, self.kdf, &self.salt)?;
        let mut buf = Zeroizing::new([0u8; ROOT_SECRET_LEN]);
        buf.copy_from_slice(&self.sealed[..ROOT_SECRET_LEN]);
        let tag = Tag::try_from(&self.sealed[ROOT_SECRET_LEN..]).map_err(|_| AdminKeyError::Malformed("tag"))?;
        ChaCha20Poly1305::new(&Key::from(*k))
            .decrypt_inout_detached(&Nonce::from(self.nonce), &self.header(), (&mut buf[..]).into(), &tag)
            .map_err(|_| AdminKeyError::WrongKey)?;
        Ok(RootSecret::from_array(*buf))
    }

    fn header(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(&MAGIC);
        h[4] = VERSION;
        h[5] = self.source.code();
        h[8..12].copy_from_slice(&self.kdf.m_kib.to_be_bytes());
        h[12..16].copy_from_slice(&self.kdf.t.to_be_bytes());
        h[16..20].copy_from_slice(&self.kdf.p.to_be_bytes());
        h[20..36].copy_from_slice(&self.salt);
        h[36..48].copy_from_slice(&self.nonce);
        h
    }

    /// The bytes to store ([`WRAPPED_LEN`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.header().to_vec();
        v.extend_from_slice(&self.sealed);
        v
    }

    /// Decodes stored bytes, strictly (exact length, known source, zero reserved bytes,
    /// parameters in range for a passphrase and zero for a key disk).
    pub fn decode(b: &[u8]) -> Result<WrappedRoot, AdminKeyError> {
        if b.len() != WRAPPED_LEN {
            return Err(AdminKeyError::Malformed("wrong length"));
        }
        if b[..4] != MAGIC {
            return Err(AdminKeyError::Malformed("bad magic (not a wrapped root)"));
        }
        if b[4] != VERSION {
            return Err(AdminKeyError::Malformed("unknown version"));
        }
        let source = match b[5] {
            1 => KeySource::Passphrase,
            2 => KeySource::KeyDisk,
            _ => return Err(AdminKeyError::Malformed("unknown key source")),
        };
        if b[6] != 0 || b[7] != 0 {
            return Err(AdminKeyError::Malformed("reserved bytes"));
        }
        let be = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let kdf = KdfParams { m_kib: be(8), t: be(12), p: be(16) };
        match source {
            KeySource::Passphrase => kdf.check()?,
            KeySource::KeyDisk if kdf != (KdfParams { m_kib: 0, t: 0, p: 0 }) => {
                return Err(AdminKeyError::Malformed("a key disk's root has KDF parameters"));
            }
            KeySource::KeyDisk => {}
        }
        let mut w = WrappedRoot { source, kdf, salt: [0; SALT_LEN], nonce: [0; 12], sealed: [0; 48] };
        w.salt.copy_from_slice(&b[20..36]);
        w.nonce.copy_from_slice(&b[36..48]);
        w.sealed.copy_from_slice(&b[48..]);
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{Infallible, TryCryptoRng, TryRng};

    /// A counter "RNG": deterministic test input, not randomness.
    struct Counter(u8);
    impl TryRng for Counter {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            Ok(u32::from(self.step()))
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            Ok(u64::from(self.step()))
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Infallible> {
            d.iter_mut().for_each(|b| *b = self.step());
            Ok(())
        }
    }
    impl TryCryptoRng for Counter {}
    impl Counter {
        fn step(&mut self) -> u8 {
            self.0 = self.0.wrapping_add(1);
            self.0
        }
    }

    fn pass(s: &str) -> AdminKey {
        AdminKey::parse_passphrase(s).unwrap()
    }

    #[test]
    fn a_passphrase_wraps_and_only_it_unwraps() {
        let secret = RootSecret::from_array([0x5A; 32]);
        let k = pass("text:correct horse");
        let w = WrappedRoot::wrap(&k, KdfParams::MINIMAL, &secret, &mut Counter(0)).unwrap();
        let e = w.encode();
        assert_eq!(e.len(), WRAPPED_LEN);
        assert_eq!(&e[..8], b"VMRK\x01\x01\0\0");
        assert!(!e.windows(32).any(|x| x == secret.as_bytes()), "the secret is not stored in clear");
        let d = WrappedRoot::decode(&e).unwrap();
        assert_eq!(d, w);
        assert_eq!(d.unwrap_with(&k).unwrap(), secret);
        assert_eq!(d.unwrap_with(&pass("text:correct horsf")), Err(AdminKeyError::WrongKey));
        // the header is authenticated: another cost or salt does not open it
        let mut x = e.clone();
        x[15] ^= 2;
        assert_eq!(WrappedRoot::decode(&x).unwrap().unwrap_with(&k), Err(AdminKeyError::WrongKey));
        let mut x = e.clone();
        x[25] ^= 1;
        assert_eq!(WrappedRoot::decode(&x).unwrap().unwrap_with(&k), Err(AdminKeyError::WrongKey));
        let mut x = e;
        x[60] ^= 1;
        assert_eq!(WrappedRoot::decode(&x).unwrap().unwrap_with(&k), Err(AdminKeyError::WrongKey));
    }

    #[test]
    fn a_key_disk_wraps_without_kdf_and_sources_do_not_mix() {
        let secret = RootSecret::from_array([7; 32]);
        let sector: Vec<u8> = (0..512).map(|i| (i * 37 % 251) as u8).collect();
        let k = AdminKey::from_key_disk(&sector).unwrap();
        let w = WrappedRoot::wrap(&k, KdfParams::DEFAULT, &secret, &mut Counter(9)).unwrap();
        assert_eq!(w.kdf, KdfParams { m_kib: 0, t: 0, p: 0 });
        assert_eq!(WrappedRoot::decode(&w.encode()).unwrap().unwrap_with(&k).unwrap(), secret);
        let other = AdminKey::from_key_disk(&[[1u8; 31].as_slice(), &[2]].concat()).unwrap();
        assert_eq!(w.unwrap_with(&other), Err(AdminKeyError::WrongKey));
        assert_eq!(
            w.unwrap_with(&pass("text:12345678")),
            Err(AdminKeyError::WrongSource { disk: KeySource::KeyDisk, given: KeySource::Passphrase })
        );
        assert!(AdminKey::from_key_disk(&[0; 512]).is_err(), "a blank key disk");
        assert!(AdminKey::from_key_disk(&[1; 31]).is_err());
    }

    #[test]
    fn passphrase_syntax() {
        assert!(AdminKey::parse_passphrase("text:12345678").is_ok());
        assert!(AdminKey::parse_passphrase("text:1234567").is_err(), "under 8 bytes");
        let h = AdminKey::parse_passphrase(&alloc::format!("hash:{}", "0a".repeat(32))).unwrap();
        assert_eq!(h, AdminKey::Passphrase(Zeroizing::new(alloc::vec![10; 32])));
        assert!(AdminKey::parse_passphrase(&alloc::format!("hash:{}", "0a".repeat(31))).is_err());
        assert!(AdminKey::parse_passphrase(&alloc::format!("hash:{}", "0g".repeat(32))).is_err());
        assert!(AdminKey::parse_passphrase("secret").is_err());
        assert!(!alloc::format!("{:?}", pass("text:password1")).contains("password1"));
    }

    #[test]
    fn the_decoder_is_strict_and_bounds_the_cost() {
        let k = pass("text:a passphrase");
        let e = WrappedRoot::wrap(&k, KdfParams::MINIMAL, &RootSecret::from_array([1; 32]), &mut Counter(0))
            .unwrap()
            .encode();
        for n in 0..e.len() {
            assert!(WrappedRoot::decode(&e[..n]).is_err(), "cut at {n}");
        }
        assert!(WrappedRoot::decode(&[e.as_slice(), &[0]].concat()).is_err(), "trailing byte");
        for (at, v) in [(0, b'X'), (4, 2), (5, 3), (6, 1), (7, 1)] {
            let mut x = e.clone();
            x[at] = v;
            assert!(matches!(WrappedRoot::decode(&x), Err(AdminKeyError::Malformed(_))), "byte {at}");
        }
        // a disk asking for 4 GiB of memory, no passes, or 2 lanes is refused before any work
        let mut x = e.clone();
        x[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(WrappedRoot::decode(&x), Err(AdminKeyError::Malformed(_))));
        let mut x = e.clone();
        x[12..16].copy_from_slice(&0u32.to_be_bytes());
        assert!(matches!(WrappedRoot::decode(&x), Err(AdminKeyError::Malformed(_))));
        let mut x = e.clone();
        x[16..20].copy_from_slice(&2u32.to_be_bytes());
        assert!(matches!(WrappedRoot::decode(&x), Err(AdminKeyError::Malformed(_))));
        // a key disk's root with KDF parameters
        let mut x = e;
        x[5] = 2;
        assert!(matches!(WrappedRoot::decode(&x), Err(AdminKeyError::Malformed(_))));
    }

    /// Argon2id as the reference implementation computes it (RFC 9106's own vector uses a
    /// secret and associated data, which the manager does not): the value printed by the
    /// reference command-line tool (Debian package `argon2`: `echo -n password | argon2
    /// somesaltsomesalt -id -t 2 -k 64 -p 1 -l 32 -r`), so a change of algorithm, version or
    /// parameter order shows.
    #[test]
    fn argon2id_matches_the_reference_tool() {
        let k = AdminKey::Passphrase(Zeroizing::new(b"password".to_vec()));
        let out = kek(&k, KdfParams { m_kib: 64, t: 2, p: 1 }, b"somesaltsomesalt").unwrap();
        let hex: String = out.iter().map(|b| alloc::format!("{b:02x}")).collect();
        assert_eq!(hex, REFERENCE);
    }
    const REFERENCE: &str = "1a98fba8e6394425c9bdc333a9c750aaf811df070f5fb4a5788e1cf4db5793a1";
}
