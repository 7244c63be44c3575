#![no_main]
//! The stream framer on arbitrary bytes cut at arbitrary places.
use libfuzzer_sys::fuzz_target;
use psi_core::codec::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut d = FrameDecoder::new(1 << 16);
    for piece in data.chunks(step) {
        d.push(piece);
        while let Ok(Some(_)) = d.next_frame() {}
    }
    let _ = d.finish();
});
