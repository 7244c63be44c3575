#![no_main]
//! What the fuzzy linkage reads from files another party made: an encodings
//! file (the linkage unit reads every owner's), an encoding spec and a
//! labels file. Errors, never panics; a file that parses links against
//! itself without panicking.
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use psi_fuzzy::{search, Blocking, Encodings, Kernel, Labels, Spec, Threshold};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz");
    if let Ok(e) = Encodings::parse(data, path) {
        if e.len() <= 64 {
            let _ = search(
                &e,
                &e,
                Threshold::new(0.5),
                Blocking::None,
                Kernel::detect(),
            );
            let _ = search(
                &e,
                &e,
                Threshold::new(0.5),
                Blocking::Lsh { tables: 2, bits: 8 },
                Kernel::detect(),
            );
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(spec) = Spec::parse(text) {
            let _ = spec.fingerprint();
            let _ = spec.output_bits();
        }
        let _ = Labels::parse(text, path);
    }
});
