//! vtpmctl's backup and export files: what the manager returned (a backup or export blob: the
//! vTPM's key material, which only a manager opens) with the vTPM's disk image (its state,
//! encrypted under that key) and a checksum, so that a damaged or truncated file is refused
//! with a clear message before anything is sent or written.
//!
//! Layout (big-endian): magic `VTPMCTL1` (8) ‖ kind (1: 1 backup, 2 export) ‖ name length (1)
//! ‖ name ‖ uuid (36, text) ‖ blob length (4) ‖ blob ‖ disk length (8) ‖ disk image ‖
//! SHA-256 of everything before (32). The checksum is not a protection (anyone can recompute
//! it): the blob is authenticated by the manager, and the disk's state by the vtpm against the
//! hash in the blob.

use sha2::{Digest, Sha256};

/// The file's magic.
pub const MAGIC: &[u8; 8] = b"VTPMCTL1";
/// The largest disk image a file holds (the create command's 4096 MiB).
pub const MAX_DISK: u64 = 4096 << 20;

/// What the file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `vtpmctl backup`: only the same manager restores it.
    Backup,
    /// `vtpmctl export`: only the target manager imports it, once.
    Export,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Backup => 1,
            Kind::Export => 2,
        }
    }
    pub fn word(self) -> &'static str {
        match self {
            Kind::Backup => "backup",
            Kind::Export => "export",
        }
    }
}

/// A file's contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Archive {
    pub kind: Kind,
    /// The vtpm's name where the file was made.
    pub name: String,
    pub uuid: String,
    /// The manager's blob.
    pub blob: Vec<u8>,
    /// The vtpm's disk image.
    pub disk: Vec<u8>,
}

impl Archive {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let name = &self.name.as_bytes()[..self.name.len().min(255)];
        let mut out = Vec::with_capacity(100 + self.blob.len() + self.disk.len());
        out.extend_from_slice(MAGIC);
        out.push(self.kind.byte());
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(self.uuid.as_bytes());
        out.extend_from_slice(&(self.blob.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.blob);
        out.extend_from_slice(&(self.disk.len() as u64).to_be_bytes());
        out.extend_from_slice(&self.disk);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Reads a file's bytes; the error says what is wrong with them.
    pub fn decode(b: &[u8]) -> Result<Archive, String> {
        if b.len() < 8 || &b[..8] != MAGIC {
            return Err("not a vtpmctl backup or export file (bad magic)".into());
        }
        if b.len() < 8 + 2 + 36 + 4 + 8 + 32 {
            return Err("the file is truncated".into());
        }
        let (body, sum) = b.split_at(b.len() - 32);
        if Sha256::digest(body)[..] != sum[..] {
            return Err("the file is damaged or truncated (checksum mismatch)".into());
        }
        let mut r = Reader(&body[8..]);
        let kind = match r.take(1)?[0] {
            1 => Kind::Backup,
            2 => Kind::Export,
            k => return Err(format!("unknown kind {k}")),
        };
        let n = r.take(1)?[0] as usize;
        let name = String::from_utf8(r.take(n)?.to_vec()).map_err(|_| "the name is not UTF-8".to_string())?;
        let uuid = String::from_utf8(r.take(36)?.to_vec()).map_err(|_| "bad uuid".to_string())?;
        if !crate::uuid::is_valid(&uuid) {
            return Err(format!("bad uuid {uuid:?}"));
        }
        let bl = u32::from_be_bytes(r.take(4)?.try_into().map_err(|_| "truncated")?) as usize;
        let blob = r.take(bl)?.to_vec();
        let dl = u64::from_be_bytes(r.take(8)?.try_into().map_err(|_| "truncated")?);
        if dl > MAX_DISK {
            return Err(format!("a disk image of {dl} bytes is too large"));
        }
        let disk = r.take(dl as usize)?.to_vec();
        if !r.0.is_empty() {
            return Err("trailing bytes".into());
        }
        Ok(Archive { kind, name, uuid, blob, disk })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("the file is truncated".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let a = Archive {
            kind: Kind::Export,
            name: "v1".into(),
            uuid: "11111111-1111-4111-9111-111111111111".into(),
            blob: vec![1, 2, 3],
            disk: vec![9; 1000],
        };
        let b = a.encode();
        assert_eq!(Archive::decode(&b), Ok(a));
        for n in [0, 7, 8, 60, b.len() - 1] {
            assert!(Archive::decode(&b[..n]).is_err(), "cut at {n}");
        }
        let mut t = b.clone();
        t[500] ^= 1;
        assert!(Archive::decode(&t).unwrap_err().contains("checksum mismatch"));
        assert!(Archive::decode(b"hello world, not ours").unwrap_err().contains("bad magic"));
    }
}
