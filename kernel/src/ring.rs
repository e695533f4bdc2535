//! Index arithmetic of Xen's byte rings (the xenstore request/response rings and the PV
//! console rings): free-running `u32` producer/consumer indices, masked into a power-of-two
//! buffer (`MASK_XENSTORE_IDX`, `MASK_XENCONS_IDX`).
//!
//! Pure: it computes where to copy; the platform code does the (volatile) copies. Indices
//! come from a peer, so every function checks them and reports a corrupt ring as an error
//! instead of trusting `prod - cons`.

/// The peer published indices that cannot be right (`prod - cons > size`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorruptRing;

/// Bytes queued between `cons` and `prod` in a ring of `size` bytes.
pub fn used(cons: u32, prod: u32, size: usize) -> Result<usize, CorruptRing> {
    let n = prod.wrapping_sub(cons) as usize;
    if n > size { Err(CorruptRing) } else { Ok(n) }
}

/// The contiguous span a producer may fill next: `(offset, len)`; `len` is 0 when full.
pub fn write_span(cons: u32, prod: u32, size: usize) -> Result<(usize, usize), CorruptRing> {
    debug_assert!(size.is_power_of_two());
    let free = size - used(cons, prod, size)?;
    let off = (prod as usize) & (size - 1);
    Ok((off, free.min(size - off)))
}

/// The contiguous span a consumer may read next: `(offset, len)`; `len` is 0 when empty.
pub fn read_span(cons: u32, prod: u32, size: usize) -> Result<(usize, usize), CorruptRing> {
    debug_assert!(size.is_power_of_two());
    let avail = used(cons, prod, size)?;
    let off = (cons as usize) & (size - 1);
    Ok((off, avail.min(size - off)))
}

/// Writes as much of `data` as fits into `buf` (the ring) at `prod`; returns the byte count.
/// A host-side model of what the platform code does with volatile copies.
pub fn produce(buf: &mut [u8], cons: u32, prod: &mut u32, data: &[u8]) -> Result<usize, CorruptRing> {
    let mut done = 0;
    while done < data.len() {
        let (off, len) = write_span(cons, *prod, buf.len())?;
        if len == 0 {
            break;
        }
        let n = len.min(data.len() - done);
        buf[off..off + n].copy_from_slice(&data[done..done + n]);
        *prod = prod.wrapping_add(n as u32);
        done += n;
    }
    Ok(done)
}

/// Reads up to `out.len()` bytes from `buf` (the ring) at `cons`; returns the byte count.
pub fn consume(buf: &[u8], cons: &mut u32, prod: u32, out: &mut [u8]) -> Result<usize, CorruptRing> {
    let mut done = 0;
    while done < out.len() {
        let (off, len) = read_span(*cons, prod, buf.len())?;
        if len == 0 {
            break;
        }
        let n = len.min(out.len() - done);
        out[done..done + n].copy_from_slice(&buf[off..off + n]);
        *cons = cons.wrapping_add(n as u32);
        done += n;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_in_the_middle() {
        assert_eq!(write_span(0, 0, 1024), Ok((0, 1024)));
        assert_eq!(write_span(10, 20, 1024), Ok((20, 1004)));
        assert_eq!(read_span(10, 20, 1024), Ok((10, 10)));
        assert_eq!(read_span(5, 5, 1024), Ok((5, 0)));
        // Full ring: nothing to write.
        assert_eq!(write_span(0, 1024, 1024), Ok((0, 0)));
    }

    #[test]
    fn spans_wrap_at_the_buffer_end() {
        // prod at 1020: only 4 contiguous bytes before the wrap.
        assert_eq!(write_span(1000, 1020, 1024), Ok((1020, 4)));
        assert_eq!(read_span(1020, 1030, 1024), Ok((1020, 4)));
        assert_eq!(read_span(1024, 1030, 1024), Ok((0, 6)));
    }

    #[test]
    fn indices_wrap_at_u32_max() {
        let cons = u32::MAX - 2;
        let prod = cons.wrapping_add(10);
        assert_eq!(used(cons, prod, 1024), Ok(10));
        assert_eq!(read_span(cons, prod, 1024), Ok((1021, 3)));
        let mut buf = [0u8; 1024];
        let mut p = cons;
        assert_eq!(produce(&mut buf, cons, &mut p, b"0123456789"), Ok(10));
        assert_eq!(p, prod);
        let mut c = cons;
        let mut out = [0u8; 16];
        assert_eq!(consume(&buf, &mut c, p, &mut out), Ok(10));
        assert_eq!(&out[..10], b"0123456789");
        assert_eq!(c, p);
    }

    #[test]
    fn corrupt_indices_are_errors() {
        assert_eq!(used(0, 1025, 1024), Err(CorruptRing));
        assert_eq!(read_span(100, 50, 1024), Err(CorruptRing)); // prod behind cons
        assert_eq!(write_span(0, 5000, 1024), Err(CorruptRing));
        let mut buf = [0u8; 8];
        let mut c = 0;
        assert_eq!(consume(&buf, &mut c, 9, &mut [0; 4]), Err(CorruptRing));
        let mut p = 20;
        assert_eq!(produce(&mut buf, 0, &mut p, b"x"), Err(CorruptRing));
    }

    #[test]
    fn produce_stops_when_full() {
        let mut buf = [0u8; 8];
        let mut p = 0;
        assert_eq!(produce(&mut buf, 0, &mut p, b"0123456789"), Ok(8));
        assert_eq!(produce(&mut buf, 0, &mut p, b"x"), Ok(0));
        let mut c = 0;
        let mut out = [0u8; 3];
        assert_eq!(consume(&buf, &mut c, p, &mut out), Ok(3));
        assert_eq!(produce(&mut buf, c, &mut p, b"abcdef"), Ok(3));
        let mut rest = [0u8; 8];
        assert_eq!(consume(&buf, &mut c, p, &mut rest), Ok(8));
        assert_eq!(&rest, b"34567abc");
    }
}
