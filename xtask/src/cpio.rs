//! Writer for the "newc" cpio format (the format of a Linux initramfs).
//!
//! Used for the small, uncompressed per-run archive (images, configs, the e2e plan) that goes
//! first in dom0's initrd. The big root file system archive is packed by the `cpio` program.
//! Parent directories must be added before their contents: the kernel's unpacker does not
//! create them.

use std::collections::BTreeSet;

const TRAILER: &str = "TRAILER!!!";

/// An in-memory newc archive; entries are owned by root unless added with an owner.
#[derive(Default)]
pub struct Archive {
    buf: Vec<u8>,
    ino: u32,
    dirs: BTreeSet<String>,
}

fn pad4(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry_owned(name, mode, (0, 0), data);
    }

    fn entry_owned(&mut self, name: &str, mode: u32, (uid, gid): (u32, u32), data: &[u8]) {
        self.ino += 1;
        let namesize = name.len() + 1;
        let fields = [
            self.ino,
            mode,
            uid,
            gid,
            if mode & 0o170000 == 0o040000 { 2 } else { 1 },
            0, // mtime: reproducible
            data.len() as u32,
            0,
            0,
            0,
            0,
            namesize as u32,
            0, // check
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        pad4(&mut self.buf);
        self.buf.extend_from_slice(data);
        pad4(&mut self.buf);
    }

    /// Adds a directory (and its missing parents), mode 0755. `path` is relative (`etc/x`).
    pub fn dir(&mut self, path: &str) {
        self.dir_owned(path, 0o755, (0, 0));
    }

    /// Adds a regular file with permission bits `perm` (e.g. 0o644), creating its parents.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) {
        self.file_owned(path, perm, (0, 0), data);
    }

    /// Adds a regular file owned by `(uid, gid)` (numeric, as in the archive's `/etc/passwd`).
    pub fn file_owned(&mut self, path: &str, perm: u32, owner: (u32, u32), data: &[u8]) {
        let path = path.trim_matches('/');
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.entry_owned(path, 0o100000 | (perm & 0o7777), owner, data);
    }

    /// Adds a directory owned by `(uid, gid)` with permission bits `perm` (its parents: root, 0755).
    pub fn dir_owned(&mut self, path: &str, perm: u32, owner: (u32, u32)) {
        let path = path.trim_matches('/');
        if path.is_empty() || self.dirs.contains(path) {
            return;
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.dirs.insert(path.to_string());
        self.entry_owned(path, 0o040000 | (perm & 0o7777), owner, &[]);
    }

    /// Appends the trailer and returns the archive bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry(TRAILER, 0, &[]);
        // The kernel reads archives in 512-byte blocks when concatenated; pad like cpio(1).
        while !self.buf.len().is_multiple_of(512) {
            self.buf.push(0);
        }
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a newc archive back into (name, mode, data) entries.
    fn parse(mut b: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let total = b.len();
        loop {
            assert_eq!(&b[..6], b"070701");
            let field =
                |i: usize| u32::from_str_radix(std::str::from_utf8(&b[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap();
            let mode = field(1);
            let size = field(6) as usize;
            let namesize = field(11) as usize;
            let name = std::str::from_utf8(&b[110..110 + namesize - 1]).unwrap().to_string();
            let mut off = 110 + namesize;
            off = off.next_multiple_of(4);
            let data = b[off..off + size].to_vec();
            off = (off + size).next_multiple_of(4);
            if name == TRAILER {
                break;
            }
            out.push((name, mode, data));
            b = &b[off..];
            assert_eq!((total - b.len()) % 4, 0);
        }
        out
    }

    #[test]
    fn round_trip_with_parents_first() {
        let mut a = Archive::new();
        a.file("usr/lib/xen/boot/vtpm-stubdom.gz", 0o644, b"abcde");
        a.file("/etc/xtask/plan", 0o755, b"");
        a.dir("usr/lib");
        let bytes = a.finish();
        assert_eq!(bytes.len() % 512, 0);
        let e = parse(&bytes);
        let names: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "usr",
                "usr/lib",
                "usr/lib/xen",
                "usr/lib/xen/boot",
                "usr/lib/xen/boot/vtpm-stubdom.gz",
                "etc",
                "etc/xtask",
                "etc/xtask/plan"
            ]
        );
        assert_eq!(e[4].1, 0o100644);
        assert_eq!(e[4].2, b"abcde");
        assert_eq!(e[0].1, 0o040755);
        assert_eq!(e[7].1, 0o100755);
    }
}

#[cfg(test)]
mod owner_tests {
    use super::*;

    #[test]
    fn owned_entries_carry_uid_and_gid() {
        let mut a = Archive::new();
        a.file_owned("etc/tcsd.conf", 0o640, (0, 105), b"x");
        a.dir_owned("var/lib/tpm", 0o700, (100, 105));
        let b = a.finish();
        // Entries: etc, etc/tcsd.conf, var, var/lib, var/lib/tpm; fields 2 and 3 are uid and gid.
        let mut off = 0;
        let mut seen = Vec::new();
        while &b[off..off + 6] == b"070701" {
            let f = |i: usize| {
                u32::from_str_radix(std::str::from_utf8(&b[off + 6 + 8 * i..off + 14 + 8 * i]).unwrap(), 16).unwrap()
            };
            let (mode, uid, gid, size, namesize) = (f(1), f(2), f(3), f(6) as usize, f(11) as usize);
            let name = std::str::from_utf8(&b[off + 110..off + 110 + namesize - 1]).unwrap().to_string();
            seen.push((name.clone(), mode, uid, gid));
            if name == TRAILER {
                break;
            }
            off = ((off + 110 + namesize).next_multiple_of(4) + size).next_multiple_of(4);
        }
        assert_eq!(seen[0], ("etc".to_string(), 0o040755, 0, 0));
        assert_eq!(seen[1], ("etc/tcsd.conf".to_string(), 0o100640, 0, 105));
        assert_eq!(seen[4], ("var/lib/tpm".to_string(), 0o040700, 100, 105));
    }
}
