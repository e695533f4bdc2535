//! Regression tests for fuzzing findings (fuzz/README.md).

use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::crypto::RsaKey;
use crate::state::image;

/// fuzz `image`, crash-55676289…: a stored RSA key whose "primes" multiply to
/// an even number made the rsa crate panic ("modulus must be odd") inside
/// `RsaPrivateKey::from_p_q`. Factors are now checked first.
#[test]
fn stored_key_with_bogus_primes_is_an_error() {
    let ek = crate::testing::test_ek();
    let encode = |p: &[u8], q: &[u8]| {
        let mut w = Writer::new();
        w.sized32(&ek.modulus()).sized32(&ek.exponent()).u8(1).sized32(p).sized32(q);
        w.into_vec()
    };
    let half = ek.modulus().len() / 2;
    let cases: [(&[u8], &[u8]); 4] = [
        (&[2], &[3]),
        (&vec![2u8; half], &vec![4u8; half]),
        (&[1], &ek.modulus()),
        (&vec![0xFF; half], &vec![0xFF; half]),
    ];
    for (p, q) in cases {
        let bytes = encode(p, q);
        assert_eq!(RsaKey::decode(&mut Reader::new(&bytes)), Err(Rc::BAD_KEY_PROPERTY));
    }
    // The genuine key still round-trips.
    let mut w = Writer::new();
    ek.encode(&mut w);
    assert_eq!(RsaKey::decode(&mut Reader::new(w.as_slice())).unwrap(), ek);
}

/// The crashing input itself (the image body as the fuzz target frames it).
#[test]
fn crash_55676289_image_is_refused() {
    let body: &[u8] = include_bytes!("fuzz_inputs/image-crash-55676289");
    let mut img = image::MAGIC.to_vec();
    img.extend_from_slice(&image::VERSION.to_be_bytes());
    img.extend_from_slice(body);
    let check = crate::crypto::sha1(&[&img]);
    img.extend_from_slice(&check);
    assert!(image::decode(&img).is_err());
}

/// fuzz `image`, crash-24a66881…: a modulus or exponent with a leading zero
/// byte decoded fine but re-encoded one byte shorter, so an image did not
/// round-trip. Only the canonical form is accepted now.
#[test]
fn crash_24a66881_non_canonical_key_is_refused() {
    let ek = crate::testing::test_ek();
    let mut w = Writer::new();
    let mut e = vec![0u8];
    e.extend_from_slice(&ek.exponent());
    w.sized32(&ek.modulus()).sized32(&e).u8(0);
    assert_eq!(RsaKey::decode(&mut Reader::new(w.as_slice())), Err(Rc::BAD_KEY_PROPERTY));
    let body: &[u8] = include_bytes!("fuzz_inputs/image-crash-24a66881");
    let mut img = image::MAGIC.to_vec();
    img.extend_from_slice(&image::VERSION.to_be_bytes());
    img.extend_from_slice(body);
    let check = crate::crypto::sha1(&[&img]);
    img.extend_from_slice(&check);
    if let Ok((perm, saved)) = image::decode(&img) {
        assert_eq!(*image::encode(&perm, saved.as_ref()), img, "decoded images re-encode identically");
    }
}
