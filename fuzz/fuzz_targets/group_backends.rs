#![no_main]
//! psi-group's backends on arbitrary input must agree: decoding arbitrary
//! encodings (the same refusals at the same index), hashing arbitrary bytes,
//! multiplying by an arbitrary scalar, encoding. Without AVX-512 IFMA there is nothing to compare (only portable runs).
use libfuzzer_sys::fuzz_target;
use psi_group::{Backend, Points, Scalar};

fuzz_target!(|data: &[u8]| {
    let Some(ifma) = Backend::ifma8() else {
        return;
    };
    let portable = Backend::portable();
    let (head, rest) = data.split_at(data.len().min(32));
    let mut s = [0u8; 32];
    s[..head.len()].copy_from_slice(head);
    let scalar = Scalar::from_bytes_mod_order(s);

    let encodings: Vec<[u8; 32]> = rest
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect();
    let a = Points::decompress(portable, &encodings);
    let b = Points::decompress(ifma, &encodings);
    match (a, b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.compress(), b.compress());
            assert_eq!(a.mul_compress(&scalar), b.mul_compress(&scalar));
        }
        (Err(x), Err(y)) => assert_eq!(x, y),
        (x, y) => panic!("backends disagree: {:?} vs {:?}", x.err(), y.err()),
    }

    let uniform: Vec<[u8; 64]> = rest
        .chunks_exact(64)
        .map(|c| c.try_into().expect("64 bytes"))
        .collect();
    let a = Points::from_uniform_bytes(portable, &uniform);
    let b = Points::from_uniform_bytes(ifma, &uniform);
    assert_eq!(a.mul_compress(&scalar), b.mul_compress(&scalar));
});
