//! Xen error numbers as returned (negated) by hypercalls (xen/include/public/errno.h).

/// A Xen errno value (positive; hypercalls return its negation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenErrno(pub i32);

impl XenErrno {
    pub const EPERM: XenErrno = XenErrno(1);
    pub const ENOENT: XenErrno = XenErrno(2);
    pub const ESRCH: XenErrno = XenErrno(3);
    pub const EINTR: XenErrno = XenErrno(4);
    pub const EIO: XenErrno = XenErrno(5);
    pub const E2BIG: XenErrno = XenErrno(7);
    pub const EBADF: XenErrno = XenErrno(9);
    pub const EAGAIN: XenErrno = XenErrno(11);
    pub const ENOMEM: XenErrno = XenErrno(12);
    pub const EACCES: XenErrno = XenErrno(13);
    pub const EFAULT: XenErrno = XenErrno(14);
    pub const EBUSY: XenErrno = XenErrno(16);
    pub const EEXIST: XenErrno = XenErrno(17);
    pub const ENODEV: XenErrno = XenErrno(19);
    pub const EINVAL: XenErrno = XenErrno(22);
    pub const ENOSPC: XenErrno = XenErrno(28);
    pub const ENOSYS: XenErrno = XenErrno(38);
    pub const ENOTEMPTY: XenErrno = XenErrno(39);

    /// Interprets a raw hypercall return value: `Ok(v)` when non-negative, else the errno.
    pub fn check(ret: i64) -> Result<u64, XenErrno> {
        if ret < 0 { Err(XenErrno(ret.unsigned_abs().min(i32::MAX as u64) as i32)) } else { Ok(ret as u64) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_splits_sign() {
        assert_eq!(XenErrno::check(0), Ok(0));
        assert_eq!(XenErrno::check(5), Ok(5));
        assert_eq!(XenErrno::check(-22), Err(XenErrno::EINVAL));
        assert_eq!(XenErrno::check(i64::MIN), Err(XenErrno(i32::MAX)));
    }
}
