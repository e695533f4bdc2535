//! NIST P-256 keys (`TPM_ECC_NIST_P256`): a private scalar from key material (as the TPM
//! derives primary keys from KDFa: candidates are drawn until one is a valid scalar), its
//! public point, and ECDH (for salted sessions).

use alloc::vec::Vec;

use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::sec1::FromSec1Point;
use p256::{AffinePoint, NonZeroScalar, ProjectivePoint, Sec1Point, SecretKey};
use zeroize::Zeroizing;

/// Coordinate size in bytes.
pub const COORD: usize = 32;

/// A private scalar from 32 bytes, if it is in [1, n-1].
pub fn private_from_bytes(d: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    SecretKey::from_slice(d).ok().map(|k| Zeroizing::new(k.to_bytes().to_vec()))
}

/// The public point `d·G` as (x, y), each [`COORD`] bytes; `None` for an invalid scalar.
pub fn public_point(d: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let k = SecretKey::from_slice(d).ok()?;
    let p = k.public_key();
    let aff = p.as_affine();
    let enc = Sec1Point::from_affine_coordinates(&aff.x(), &aff.y(), false);
    Some((enc.x()?.to_vec(), enc.y()?.to_vec()))
}

/// The point (x, y) if it is on the curve and not the identity.
fn point(x: &[u8], y: &[u8]) -> Option<AffinePoint> {
    if x.len() != COORD || y.len() != COORD {
        return None;
    }
    let fx = p256::FieldBytes::try_from(x).ok()?;
    let fy = p256::FieldBytes::try_from(y).ok()?;
    let enc = Sec1Point::from_affine_coordinates(&fx, &fy, false);
    Option::from(AffinePoint::from_sec1_point(&enc))
}

/// Whether (x, y) is a point of the curve.
pub fn on_curve(x: &[u8], y: &[u8]) -> bool {
    point(x, y).is_some()
}

/// ECDH: the x coordinate of `d·(x, y)`; `None` for a bad point or scalar.
pub fn shared_x(d: &[u8], x: &[u8], y: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let q = point(x, y)?;
    let k = SecretKey::from_slice(d).ok()?;
    let s: NonZeroScalar = k.to_nonzero_scalar();
    let z = (ProjectivePoint::from(q) * *s).to_affine();
    Some(Zeroizing::new(z.x().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_and_ecdh() {
        let mut one = [0u8; 32];
        one[31] = 1;
        let (x, y) = public_point(&one).expect("1 is a scalar");
        // P-256 generator x starts 6B17D1F2
        assert_eq!(x[..4], [0x6b, 0x17, 0xd1, 0xf2]);
        assert!(on_curve(&x, &y));
        assert!(!on_curve(&x, &x));
        assert!(public_point(&[0u8; 32]).is_none());
        let mut two = [0u8; 32];
        two[31] = 2;
        let (x2, y2) = public_point(&two).expect("scalar");
        // 2·(1·G) = 1·(2·G)
        assert_eq!(shared_x(&two, &x, &y).expect("ok")[..], x2[..]);
        assert_eq!(shared_x(&one, &x2, &y2).expect("ok")[..], x2[..]);
    }
}
