//! Fuzz target: state image decoding never panics, and what decodes re-encodes
//! to the same bytes. The input is the image body: magic, version and the
//! SHA-1 check are added here so the fuzzer reaches the section parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpm12::crypto::sha1;
use tpm12::state::image;

fuzz_target!(|data: &[u8]| {
    let mut img = image::MAGIC.to_vec();
    img.extend_from_slice(&image::VERSION.to_be_bytes());
    img.extend_from_slice(data);
    let check = sha1(&[&img]);
    img.extend_from_slice(&check);
    if let Ok((perm, saved)) = image::decode(&img) {
        let again = image::encode(&perm, saved.as_ref());
        assert_eq!(*again, img, "re-encoding differs");
    }
});
