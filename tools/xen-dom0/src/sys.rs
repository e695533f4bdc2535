//! The crate's only `unsafe` code, over `libc`: one `ioctl` with a checked argument size, one
//! shared mapping of a device's page (`mmap`/`munmap`) with volatile, fenced copies in and out
//! (as the kernel's `shared_mem`: no Rust reference ever points into a page a peer writes), and
//! `poll(2)` for readability. Everything above this module is safe code.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{Ordering, fence};

use crate::ioctl::{IoctlArg, ioc_size};

/// The page size of every grant (x86).
pub const PAGE_SIZE: usize = 4096;

/// `ioctl(fd, request, arg)`: returns the ioctl's non-negative result. Refuses (`EINVAL`, no
/// system call) a request whose encoded size is not the size of `T`, so the kernel never reads
/// or writes past `arg`.
pub fn ioctl<T: IoctlArg>(fd: BorrowedFd<'_>, request: u32, arg: &mut T) -> io::Result<i32> {
    if ioc_size(request) != size_of::<T>() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let p: *mut T = arg;
    // SAFETY: `fd` is an open descriptor borrowed for the call; `p` points to a live, exclusively
    // borrowed `T` of exactly the size the request declares (checked above), a `#[repr(C)]` struct
    // of plain integers (`IoctlArg` is sealed to those), so whatever the kernel writes into it is a
    // valid `T` and it touches no memory beyond it.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, p) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r) }
}

/// `poll(2)` for input on `fds`, at most `timeout_ms` (-1: no limit). Returns which are readable
/// (or hung up / in error: a read will then report it).
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> =
        fds.iter().map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: `pfds` is a live, exclusively owned array of `pfds.len()` pollfd structs, which is the
    // count passed; the descriptors are borrowed for the duration of the call.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// One page of a device (`/dev/xen/gntalloc`, `/dev/xen/gntdev`) mapped shared at `offset`.
/// Unmapped on drop. Reads and writes are copies with a fence before and after.
#[derive(Debug)]
pub struct SharedPage {
    ptr: NonNull<u8>,
    writable: bool,
}

impl SharedPage {
    /// `mmap(NULL, 4096, PROT_READ[|PROT_WRITE], MAP_SHARED, fd, offset)`.
    pub fn map(fd: BorrowedFd<'_>, offset: u64, writable: bool) -> io::Result<SharedPage> {
        let prot = if writable { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_READ };
        let off = libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: a fresh shared mapping at an address the kernel chooses (NULL hint, no MAP_FIXED),
        // so no existing memory is replaced; the result is checked against MAP_FAILED.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), PAGE_SIZE, prot, libc::MAP_SHARED, fd.as_raw_fd(), off) };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::from_raw_os_error(libc::EFAULT))?;
        Ok(SharedPage { ptr, writable })
    }

    fn check(offset: usize, len: usize) -> bool {
        offset.checked_add(len).is_some_and(|end| end <= PAGE_SIZE)
    }

    /// Copies bytes out of the page; `false` if the range is outside it.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> bool {
        if !Self::check(offset, buf.len()) {
            return false;
        }
        fence(Ordering::SeqCst);
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: `offset + i < PAGE_SIZE` (checked above) and the page stays mapped while
            // `self` lives; a volatile byte load of memory a peer may change at any time is the
            // only access (no reference is formed).
            *b = unsafe { self.ptr.as_ptr().add(offset + i).read_volatile() };
        }
        fence(Ordering::SeqCst);
        true
    }

    /// One aligned 8-byte volatile load (the tpmif header read as one snapshot); falls back to
    /// bytes when `offset` is not 8-aligned. `None` if outside the page.
    pub fn read_u64_le(&self, offset: usize) -> Option<u64> {
        if !Self::check(offset, 8) {
            return None;
        }
        if !offset.is_multiple_of(8) {
            let mut b = [0u8; 8];
            self.read(offset, &mut b);
            return Some(u64::from_le_bytes(b));
        }
        fence(Ordering::SeqCst);
        // SAFETY: `offset` is 8-aligned and `offset + 8 <= PAGE_SIZE` (checked above); the mapping
        // is page-aligned and lives as long as `self`; a single volatile u64 load, no reference.
        let v = unsafe { self.ptr.as_ptr().add(offset).cast::<u64>().read_volatile() };
        fence(Ordering::SeqCst);
        Some(u64::from_le(v))
    }

    /// Copies bytes into the page; `false` if the range is outside it or the page is read-only.
    pub fn write(&mut self, offset: usize, data: &[u8]) -> bool {
        if !self.writable || !Self::check(offset, data.len()) {
            return false;
        }
        fence(Ordering::SeqCst);
        for (i, b) in data.iter().enumerate() {
            // SAFETY: `offset + i < PAGE_SIZE` (checked above), the page is mapped writable
            // (`self.writable`) and lives as long as `self`; volatile byte stores, no reference.
            unsafe { self.ptr.as_ptr().add(offset + i).write_volatile(*b) };
        }
        fence(Ordering::SeqCst);
        true
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: `ptr` is the start of a PAGE_SIZE mapping made by `map` and owned by `self` only;
        // after this no access happens (the value is being dropped).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), PAGE_SIZE) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;
    use std::os::fd::AsFd;

    /// A shared mapping of an ordinary file stands in for a device page.
    fn temp_page() -> (File, std::path::PathBuf) {
        let path =
            std::env::temp_dir().join(format!("xen-dom0-sys-{}-{:?}", std::process::id(), std::thread::current().id()));
        let mut f = File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        f.write_all(&[0u8; PAGE_SIZE]).unwrap();
        (f, path)
    }

    #[test]
    fn shared_page_copies_and_checks_ranges() {
        let (f, path) = temp_page();
        let mut p = SharedPage::map(f.as_fd(), 0, true).unwrap();
        assert!(p.write(8, &0x0102_0304_0506_0708u64.to_le_bytes()));
        assert_eq!(p.read_u64_le(8), Some(0x0102_0304_0506_0708));
        assert_eq!(p.read_u64_le(9), Some(0x0001_0203_0405_0607));
        let mut b = [0u8; 2];
        assert!(p.read(8, &mut b));
        assert_eq!(b, [8, 7]);
        assert!(!p.write(PAGE_SIZE - 1, &[1, 2]));
        assert!(!p.read(usize::MAX, &mut b));
        assert_eq!(p.read_u64_le(PAGE_SIZE - 4), None);
        drop(p);
        let ro = SharedPage::map(f.as_fd(), 0, false).unwrap();
        let mut ro = ro;
        assert!(!ro.write(0, &[1]));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn ioctl_refuses_a_size_mismatch_without_calling() {
        let (f, path) = temp_page();
        let mut arg = crate::ioctl::EvtchnPortArg { port: 1 };
        let e = ioctl(f.as_fd(), crate::ioctl::IOCTL_EVTCHN_BIND_INTERDOMAIN, &mut arg).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
        // The right size on a file that is not the device: the kernel says ENOTTY.
        let e = ioctl(f.as_fd(), crate::ioctl::IOCTL_EVTCHN_NOTIFY, &mut arg).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTTY));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn poll_reports_readable() {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(poll_readable(&[a.as_fd()], 0).unwrap(), vec![false]);
        b.write_all(b"x").unwrap();
        assert_eq!(poll_readable(&[a.as_fd()], 1000).unwrap(), vec![true]);
    }
}
