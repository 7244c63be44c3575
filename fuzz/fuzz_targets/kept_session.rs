#![no_main]
//! The state file of a PJC session a server keeps on disk
//! (`psi_server::pjc_state`): any bytes decode to a record or an error,
//! never a panic, and a decoded record encodes back to the same bytes.
//! Each input is tried as it is and behind the file's magic and format
//! byte (which random bytes would rarely start with).
use libfuzzer_sys::fuzz_target;
use psi_server::pjc_state::{SessionRecord, FORMAT, MAGIC};

fn check(bytes: &[u8]) {
    if let Ok(record) = SessionRecord::decode(bytes) {
        assert!(record.fits());
        assert_eq!(&record.encode()[..], bytes);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut framed = MAGIC.to_vec();
    framed.push(FORMAT);
    framed.extend_from_slice(data);
    check(&framed);
});
