#![no_main]
//! The state file of a PJC session a server keeps on disk
//! (`psi_server::pjc_state`): any bytes decode to a record or an error,
//! never a panic, and a decoded record encodes back to the same bytes.
use libfuzzer_sys::fuzz_target;
use psi_server::pjc_state::SessionRecord;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = SessionRecord::decode(data) {
        assert!(record.fits());
        assert_eq!(&record.encode()[..], data);
    }
});
