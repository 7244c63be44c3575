#![no_main]
//! psi-group's backends on arbitrary input must agree with the portable one
//! (curve25519-dalek): decoding arbitrary encodings (the same refusals at
//! the same index), hashing arbitrary bytes, multiplying by an arbitrary
//! scalar, encoding. Each of avx2 and ifma8 is compared where the CPU runs
//! it; without either there is nothing to compare (only portable runs).
use libfuzzer_sys::fuzz_target;
use psi_group::{Backend, Points, Scalar};

fuzz_target!(|data: &[u8]| {
    let portable = Backend::portable();
    let (head, rest) = data.split_at(data.len().min(32));
    let mut s = [0u8; 32];
    s[..head.len()].copy_from_slice(head);
    let scalar = Scalar::from_bytes_mod_order(s);

    let encodings: Vec<[u8; 32]> = rest
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect();
    let uniform: Vec<[u8; 64]> = rest
        .chunks_exact(64)
        .map(|c| c.try_into().expect("64 bytes"))
        .collect();
    let want_decoded = Points::decompress(portable, &encodings);
    let want_hashed = Points::from_uniform_bytes(portable, &uniform).mul_compress(&scalar);

    for other in [Backend::avx2(), Backend::ifma8()].into_iter().flatten() {
        let name = other.name();
        match (&want_decoded, Points::decompress(other, &encodings)) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.compress(), b.compress(), "{name}");
                assert_eq!(a.mul_compress(&scalar), b.mul_compress(&scalar), "{name}");
            }
            (Err(x), Err(y)) => assert_eq!(x, &y, "{name}"),
            (x, y) => panic!("{name} disagrees: {:?} vs {:?}", x.as_ref().err(), y.err()),
        }
        let got = Points::from_uniform_bytes(other, &uniform).mul_compress(&scalar);
        assert_eq!(want_hashed, got, "{name}");
    }
});
