//! RFC 9496 Appendix A vectors (tests/vectors/rfc9496.txt) through the batch
//! API, on every backend this CPU runs; a backend it cannot run is reported
//! as SKIPPED.

use psi_group::{Backend, Error, Points, RistrettoPoint, Scalar};
use sha2::{Digest, Sha512};

const VECTORS: &str = include_str!("vectors/rfc9496.txt");

fn hex<const N: usize>(s: &str) -> [u8; N] {
    assert_eq!(s.len(), 2 * N, "{s}");
    core::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
}

fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::portable()];
    match Backend::avx2() {
        Some(b) => all.push(b),
        None => println!("SKIPPED: avx2 backend (this CPU lacks AVX2)"),
    }
    match Backend::ifma8() {
        Some(b) => all.push(b),
        None => println!("SKIPPED: ifma8 backend (this CPU lacks AVX-512 IFMA)"),
    }
    all
}

fn lines(kind: &str) -> Vec<Vec<&str>> {
    VECTORS
        .lines()
        .filter(|l| l.starts_with(kind))
        .map(|l| l.split_whitespace().skip(1).collect())
        .collect()
}

#[test]
fn small_multiples_encode_and_decode() {
    let multiples = lines("multiple ");
    assert_eq!(multiples.len(), 16);
    let expected: Vec<[u8; 32]> = multiples.iter().map(|l| hex(l[1])).collect();
    let basepoint = curve25519_dalek_basepoint();
    for backend in backends() {
        // k·B through the batch multiplication (one point, sixteen scalars).
        for (k, want) in expected.iter().enumerate() {
            let b = Points::decompress(backend, &[basepoint]).expect("the basepoint decodes");
            let got = b.mul(&Scalar::from(k as u64)).compress();
            assert_eq!(&got[0], want, "{} {k}·B", backend.name());
        }
        // Decoding and re-encoding all sixteen in one batch.
        let decoded = Points::decompress(backend, &expected).expect("valid encodings");
        assert_eq!(decoded.compress(), expected, "{}", backend.name());
    }
}

fn curve25519_dalek_basepoint() -> [u8; 32] {
    hex(lines("multiple ")[1][1])
}

#[test]
fn bad_encodings_are_refused_at_their_index() {
    let bad: Vec<[u8; 32]> = lines("bad ").iter().map(|l| hex(l[0])).collect();
    assert_eq!(bad.len(), 29);
    let good = curve25519_dalek_basepoint();
    for backend in backends() {
        for (i, b) in bad.iter().enumerate() {
            // Each bad encoding alone, and at every position of a batch of 11.
            assert_eq!(
                Points::decompress(backend, &[*b]).err(),
                Some(Error::InvalidEncoding { index: 0 }),
                "{} bad #{i}",
                backend.name()
            );
            let pos = i % 11;
            let mut batch = vec![good; 11];
            batch[pos] = *b;
            assert_eq!(
                Points::decompress(backend, &batch).err(),
                Some(Error::InvalidEncoding { index: pos }),
                "{} bad #{i} at {pos}",
                backend.name()
            );
        }
    }
}

#[test]
fn hash_to_group_vectors() {
    let hashes = lines("hash ");
    assert_eq!(hashes.len(), 7);
    let mut inputs = Vec::new();
    let mut want = Vec::new();
    for l in VECTORS.lines().filter(|l| l.starts_with("hash ")) {
        let (fields, label) = l.split_once('|').expect("a label");
        let f: Vec<&str> = fields.split_whitespace().collect();
        let digest: [u8; 64] = Sha512::digest(label.as_bytes()).into();
        assert_eq!(digest, hex::<64>(f[1]), "SHA-512 of {label:?}");
        inputs.push(digest);
        want.push(hex::<32>(f[2]));
    }
    for backend in backends() {
        let got = Points::from_uniform_bytes(backend, &inputs).compress();
        assert_eq!(got, want, "{}", backend.name());
    }
    let dalek: Vec<[u8; 32]> = inputs
        .iter()
        .map(|i| RistrettoPoint::from_uniform_bytes(i).compress().0)
        .collect();
    assert_eq!(dalek, want);
}
