//! The blobs that carry a vTPM record out of a manager: a backup (only the same manager opens
//! it) and an export (only the target manager opens it). Both hold the record's key material
//! (its SAVEHASHKEY blob: the hash and key of the vtpm's state, and its flags); the vtpm's
//! state itself stays on its own disk, encrypted under that key. Byte layouts in
//! `docs/formats.md` §"Backup and export blobs". The decoders are strict and never panic
//! (fuzzed: `fuzz/fuzz_targets/mgr_root_record.rs`, selector 4).
//!
//! - **Backup** ([`seal_backup`], [`open_backup`]): ChaCha20-Poly1305 under a key derived from
//!   the manager's root secret (HMAC-SHA256 with a fixed label), a random nonce, the header
//!   (magic, version, manager id, uuid) as associated data. The manager id (the root record's
//!   owner uuid, also derived from the root secret) says at once when a backup is another
//!   manager's; a changed byte fails the tag.
//! - **Export** ([`seal_export`], [`open_export`]): ECIES over X25519 (RFC 7748): a fresh
//!   ephemeral key pair, the shared secret with the target's public key through HKDF-SHA256
//!   (RFC 5869; salt = ephemeral ‖ target public key, info = a fixed label) to a one-time
//!   ChaCha20-Poly1305 key (nonce zero: the key is never used twice), the header (magic,
//!   version, algorithm, target and ephemeral public keys, uuid) as associated data. The
//!   plaintext starts with the export id, which the target records so that the blob is
//!   accepted once. A low-order public key (an all-zero shared secret) is refused.

use alloc::vec::Vec;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use hmac::{Hmac, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::mgmt::ALG_X25519;
use crate::proto::HASHKEY_MAX;
use crate::root_record::VtpmRecord;

/// A backup blob's magic.
pub const BACKUP_MAGIC: [u8; 4] = *b"VMBK";
/// An export blob's magic.
pub const EXPORT_MAGIC: [u8; 4] = *b"VMEX";
/// The version of both layouts.
pub const BLOB_VERSION: u16 = 1;
/// A backup's header (associated data): magic, version, manager id, uuid, nonce.
pub const BACKUP_HEADER_LEN: usize = 4 + 2 + 16 + 16 + 12;
/// An export's header (associated data): magic, version, algorithm, target, ephemeral, uuid.
pub const EXPORT_HEADER_LEN: usize = 4 + 2 + 2 + 32 + 32 + 16;
const TAG_LEN: usize = 16;
const EXPORT_INFO: &[u8] = b"xen-vtpm-rs vtpmmgr export v1";

/// Why a blob does not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigError {
    /// Not a blob of this kind and version, or its length is wrong.
    Malformed,
    /// Made for another manager (manager id or target key differ).
    OtherManager,
    /// The tag does not verify: a changed byte (or a forged blob).
    Authentication,
    /// A public key of low order (no shared secret).
    BadKey,
}

/// What a blob carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The vTPM's uuid.
    pub uuid: [u8; 16],
    /// The record (flags, SAVEHASHKEY blob).
    pub record: VtpmRecord,
    /// The export id (exports only; zero for a backup).
    pub export_id: [u8; 16],
}

fn put_record(out: &mut Zeroizing<Vec<u8>>, r: &VtpmRecord) {
    let n = r.blob.len().min(HASHKEY_MAX);
    out.push(r.flags);
    out.push(n as u8);
    out.extend_from_slice(&r.blob[..n]);
}

fn take_record(b: &[u8]) -> Result<VtpmRecord, MigError> {
    match b {
        [flags, n, rest @ ..] if rest.len() == *n as usize && rest.len() <= HASHKEY_MAX => {
            Ok(VtpmRecord { flags: *flags, blob: Zeroizing::new(rest.to_vec()) })
        }
        _ => Err(MigError::Malformed),
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    if let Ok(mut m) = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key) {
        for p in parts {
            m.update(p);
        }
        out.copy_from_slice(&m.finalize().into_bytes());
    }
    out
}

/// HKDF-SHA256 (RFC 5869) with one block of output: PRK = HMAC(salt, ikm), OKM = HMAC(PRK, info ‖ 1).
fn hkdf32(salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let prk = hmac(salt, &[ikm]);
    hmac(&prk[..], &[info, &[1]])
}

fn seal(key: &[u8; 32], nonce: [u8; 12], aad: &[u8], plain: &mut [u8]) -> Option<[u8; TAG_LEN]> {
    let tag =
        ChaCha20Poly1305::new(&Key::from(*key)).encrypt_inout_detached(&Nonce::from(nonce), aad, plain.into()).ok()?;
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(&tag);
    Some(t)
}

fn open(key: &[u8; 32], nonce: [u8; 12], aad: &[u8], ct_tag: &[u8]) -> Result<Zeroizing<Vec<u8>>, MigError> {
    let (ct, tag) = ct_tag.split_at(ct_tag.len() - TAG_LEN);
    let tag = Tag::try_from(tag).map_err(|_| MigError::Malformed)?;
    let mut buf = Zeroizing::new(ct.to_vec());
    ChaCha20Poly1305::new(&Key::from(*key))
        .decrypt_inout_detached(&Nonce::from(nonce), aad, (&mut buf[..]).into(), &tag)
        .map_err(|_| MigError::Authentication)?;
    Ok(buf)
}

/// A backup of `uuid`'s `record` for the manager `manager_id` with `key` (both derived from its root secret).
pub fn seal_backup<R: CryptoRng + ?Sized>(
    key: &[u8; 32],
    manager_id: [u8; 16],
    uuid: [u8; 16],
    record: &VtpmRecord,
    rng: &mut R,
) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(BACKUP_HEADER_LEN + 2 + HASHKEY_MAX + TAG_LEN);
    out.extend_from_slice(&BACKUP_MAGIC);
    out.extend_from_slice(&BLOB_VERSION.to_be_bytes());
    out.extend_from_slice(&manager_id);
    out.extend_from_slice(&uuid);
    out.extend_from_slice(&nonce);
    let mut plain = Zeroizing::new(Vec::new());
    put_record(&mut plain, record);
    let Some(tag) = seal(key, nonce, &out, &mut plain) else { return Vec::new() };
    out.extend_from_slice(&plain);
    out.extend_from_slice(&tag);
    out
}

/// The uuid a backup names, without opening it (for messages); `None` if it is not one.
pub fn backup_uuid(blob: &[u8]) -> Option<[u8; 16]> {
    if blob.len() < BACKUP_HEADER_LEN + 2 + TAG_LEN || blob[..4] != BACKUP_MAGIC {
        return None;
    }
    blob[22..38].try_into().ok()
}

/// Opens a backup made by the manager `manager_id` with `key`.
pub fn open_backup(key: &[u8; 32], manager_id: [u8; 16], blob: &[u8]) -> Result<Opened, MigError> {
    if blob.len() < BACKUP_HEADER_LEN + 2 + TAG_LEN
        || blob.len() > BACKUP_HEADER_LEN + 2 + HASHKEY_MAX + TAG_LEN
        || blob[..4] != BACKUP_MAGIC
        || blob[4..6] != BLOB_VERSION.to_be_bytes()
    {
        return Err(MigError::Malformed);
    }
    if blob[6..22] != manager_id {
        return Err(MigError::OtherManager);
    }
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&blob[22..38]);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&blob[38..50]);
    let plain = open(key, nonce, &blob[..BACKUP_HEADER_LEN], &blob[BACKUP_HEADER_LEN..])?;
    Ok(Opened { uuid, record: take_record(&plain)?, export_id: [0; 16] })
}

/// The public key of a migration key pair's private scalar.
pub fn public_key(private: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*private)).to_bytes()
}

/// An export of `uuid`'s `record`, with `export_id`, to the manager whose public key is `target`.
pub fn seal_export<R: CryptoRng + ?Sized>(
    target: &[u8; 32],
    uuid: [u8; 16],
    export_id: [u8; 16],
    record: &VtpmRecord,
    rng: &mut R,
) -> Result<Vec<u8>, MigError> {
    let mut e = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(&mut e[..]);
    let eph = StaticSecret::from(*e);
    let eph_pub = PublicKey::from(&eph).to_bytes();
    let shared = eph.diffie_hellman(&PublicKey::from(*target));
    if !shared.was_contributory() {
        return Err(MigError::BadKey);
    }
    let key = hkdf32(&[&eph_pub[..], &target[..]].concat(), shared.as_bytes(), EXPORT_INFO);
    let mut out = Vec::with_capacity(EXPORT_HEADER_LEN + 18 + HASHKEY_MAX + TAG_LEN);
    out.extend_from_slice(&EXPORT_MAGIC);
    out.extend_from_slice(&BLOB_VERSION.to_be_bytes());
    out.extend_from_slice(&ALG_X25519.to_be_bytes());
    out.extend_from_slice(target);
    out.extend_from_slice(&eph_pub);
    out.extend_from_slice(&uuid);
    let mut plain = Zeroizing::new(export_id.to_vec());
    put_record(&mut plain, record);
    let tag = seal(&key, [0; 12], &out, &mut plain).ok_or(MigError::Malformed)?;
    out.extend_from_slice(&plain);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// The uuid an export names, without opening it (for messages); `None` if it is not one.
pub fn export_uuid(blob: &[u8]) -> Option<[u8; 16]> {
    if blob.len() < EXPORT_HEADER_LEN + 18 + TAG_LEN || blob[..4] != EXPORT_MAGIC {
        return None;
    }
    blob[72..88].try_into().ok()
}

/// Opens an export to this manager (its migration key's private scalar `private`).
pub fn open_export(private: &[u8; 32], blob: &[u8]) -> Result<Opened, MigError> {
    if blob.len() < EXPORT_HEADER_LEN + 18 + TAG_LEN
        || blob.len() > EXPORT_HEADER_LEN + 18 + HASHKEY_MAX + TAG_LEN
        || blob[..4] != EXPORT_MAGIC
        || blob[4..6] != BLOB_VERSION.to_be_bytes()
        || blob[6..8] != ALG_X25519.to_be_bytes()
    {
        return Err(MigError::Malformed);
    }
    let me = StaticSecret::from(*private);
    let my_pub = PublicKey::from(&me).to_bytes();
    if blob[8..40] != my_pub {
        return Err(MigError::OtherManager);
    }
    let mut eph_pub = [0u8; 32];
    eph_pub.copy_from_slice(&blob[40..72]);
    let shared = me.diffie_hellman(&PublicKey::from(eph_pub));
    if !shared.was_contributory() {
        return Err(MigError::BadKey);
    }
    let key = hkdf32(&[&eph_pub[..], &my_pub[..]].concat(), shared.as_bytes(), EXPORT_INFO);
    let plain = open(&key, [0; 12], &blob[..EXPORT_HEADER_LEN], &blob[EXPORT_HEADER_LEN..])?;
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&blob[72..88]);
    let mut export_id = [0u8; 16];
    export_id.copy_from_slice(&plain[..16]);
    Ok(Opened { uuid, record: take_record(&plain[16..])?, export_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::convert::Infallible;
    use rand_core::{TryCryptoRng, TryRng};

    /// A counter RNG (deterministic tests).
    struct Count(u8);
    impl TryRng for Count {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            let mut b = [0u8; 4];
            self.try_fill_bytes(&mut b)?;
            Ok(u32::from_le_bytes(b))
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            let mut b = [0u8; 8];
            self.try_fill_bytes(&mut b)?;
            Ok(u64::from_le_bytes(b))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            for b in dst {
                self.0 = self.0.wrapping_mul(37).wrapping_add(11);
                *b = self.0;
            }
            Ok(())
        }
    }
    impl TryCryptoRng for Count {}

    fn rec() -> VtpmRecord {
        VtpmRecord { flags: 1, blob: Zeroizing::new((0..64).collect()) }
    }

    #[test]
    fn backup_round_trip_and_refusals() {
        let (k, id, u) = ([7u8; 32], [1u8; 16], [2u8; 16]);
        let b = seal_backup(&k, id, u, &rec(), &mut Count(1));
        assert_eq!(b.len(), BACKUP_HEADER_LEN + 2 + 64 + TAG_LEN);
        assert_eq!(&b[..6], b"VMBK\x00\x01");
        assert_eq!(backup_uuid(&b), Some(u));
        assert_eq!(open_backup(&k, id, &b), Ok(Opened { uuid: u, record: rec(), export_id: [0; 16] }));
        assert_eq!(open_backup(&k, [9; 16], &b), Err(MigError::OtherManager));
        assert_eq!(open_backup(&[8; 32], id, &b), Err(MigError::Authentication), "another key, same id");
        for i in 0..b.len() {
            let mut t = b.clone();
            t[i] ^= 0x40;
            assert!(open_backup(&k, id, &t).is_err(), "byte {i} changed");
        }
        for n in 0..b.len() {
            assert!(open_backup(&k, id, &b[..n]).is_err(), "cut at {n}");
        }
        let mut long = b.clone();
        long.push(0);
        assert!(open_backup(&k, id, &long).is_err());
    }

    #[test]
    fn export_round_trip_and_refusals() {
        let target_priv = [0x33u8; 32];
        let target = public_key(&target_priv);
        let other_priv = [0x44u8; 32];
        let (u, x) = ([5u8; 16], [6u8; 16]);
        let b = seal_export(&target, u, x, &rec(), &mut Count(3)).unwrap();
        assert_eq!(b.len(), EXPORT_HEADER_LEN + 16 + 2 + 64 + TAG_LEN);
        assert_eq!(export_uuid(&b), Some(u));
        assert_eq!(open_export(&target_priv, &b), Ok(Opened { uuid: u, record: rec(), export_id: x }));
        assert_eq!(open_export(&other_priv, &b), Err(MigError::OtherManager));
        // the other manager's key written into the header: the tag refuses it
        let mut re = b.clone();
        re[8..40].copy_from_slice(&public_key(&other_priv));
        assert_eq!(open_export(&other_priv, &re), Err(MigError::Authentication));
        for i in 0..b.len() {
            let mut t = b.clone();
            t[i] ^= 0x01;
            assert!(open_export(&target_priv, &t).is_err(), "byte {i} changed");
        }
        for n in 0..b.len() {
            assert!(open_export(&target_priv, &b[..n]).is_err(), "cut at {n}");
        }
        // two exports of the same record differ (fresh ephemeral keys)
        assert_ne!(seal_export(&target, u, x, &rec(), &mut Count(4)).unwrap(), b);
        // a low-order target key is refused
        assert_eq!(seal_export(&[0; 32], u, x, &rec(), &mut Count(5)), Err(MigError::BadKey));
        let mut low = b.clone();
        low[40..72].copy_from_slice(&[0; 32]);
        assert_eq!(open_export(&target_priv, &low), Err(MigError::BadKey));
    }

    #[test]
    fn hkdf_matches_rfc5869_case_1() {
        // RFC 5869 A.1 (the first 32 of its 42 output bytes)
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = hkdf32(&salt, &ikm, &info);
        assert_eq!(
            okm[..],
            [
                0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f, 0x64, 0xd0, 0x36, 0x2f, 0x2a, 0x2d,
                0x2d, 0x0a, 0x90, 0xcf, 0x1a, 0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56, 0xec, 0xc4, 0xc5, 0xbf
            ]
        );
    }
}
