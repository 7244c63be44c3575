//! A ChaCha20 generator that overwrites its state when it is dropped.
//!
//! `rand_chacha`'s generators (and `rand`'s `StdRng`, which is ChaCha12) keep
//! their key and a buffer of not-yet-used output in memory after their last
//! use: they implement neither `Zeroize` nor a zeroizing `Drop`. Whoever reads
//! that memory later can recompute every secret drawn from them (scalars, OPRF
//! keys, shuffles, masks). [`ZeroizingRng`] wraps a [`ChaCha20Rng`] keyed from a
//! seed held in [`Zeroizing`] and, when dropped, overwrites the whole
//! generator (key, counter and output buffer) with one keyed by zeros.
//!
//! Like `zeroize` itself, this cannot reach copies the compiler made before
//! (moves of the value); it clears the generator where it ends its life.

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, OsError, OsRng, RngCore, SeedableRng, TryRngCore};
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// A ChaCha20 generator whose state is overwritten on drop (see the module doc).
pub struct ZeroizingRng(ChaCha20Rng);

impl ZeroizingRng {
    /// The generator keyed by `seed` (stream 0).
    pub fn from_seed(seed: &Zeroizing<[u8; 32]>) -> Self {
        ZeroizingRng(ChaCha20Rng::from_seed(**seed))
    }

    /// The generator keyed by 32 bytes from the operating system's generator.
    pub fn from_os_rng() -> Result<Self, OsError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.try_fill_bytes(&mut *seed)?;
        Ok(Self::from_seed(&seed))
    }

    /// Switches to ChaCha20 stream `stream` of the same key (from its start).
    pub fn set_stream(&mut self, stream: u64) {
        self.0.set_stream(stream);
    }
}

impl RngCore for ZeroizingRng {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }
}

impl CryptoRng for ZeroizingRng {}

/// A copy at the same point of the same stream (to draw the same values
/// again: a resumed external shuffle); the copy is overwritten on drop too.
impl Clone for ZeroizingRng {
    fn clone(&self) -> Self {
        ZeroizingRng(self.0.clone())
    }
}

impl Drop for ZeroizingRng {
    fn drop(&mut self) {
        // Assigning writes every byte of the generator (the key schedule, the
        // counter and the 256-byte output buffer, reset to zeros); `black_box`
        // keeps the optimiser from dropping the dead store.
        self.0 = ChaCha20Rng::from_seed([0; 32]);
        std::hint::black_box(&mut self.0);
    }
}

impl ZeroizeOnDrop for ZeroizingRng {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wrapper draws exactly what the plain generator draws, on every stream.
    #[test]
    fn same_output_as_chacha20() {
        let seed = Zeroizing::new([7u8; 32]);
        for stream in [0u64, 1, 9] {
            let mut ours = ZeroizingRng::from_seed(&seed);
            ours.set_stream(stream);
            let mut plain = ChaCha20Rng::from_seed(*seed);
            plain.set_stream(stream);
            let (mut a, mut b) = ([0u8; 100], [0u8; 100]);
            ours.fill_bytes(&mut a);
            plain.fill_bytes(&mut b);
            assert_eq!(a, b);
            assert_eq!(ours.next_u64(), plain.next_u64());
            assert_eq!(ours.next_u32(), plain.next_u32());
        }
        let mut os = ZeroizingRng::from_os_rng().unwrap();
        assert_ne!(os.next_u64(), os.next_u64());
        fn zeroized_on_drop<T: ZeroizeOnDrop>() {}
        zeroized_on_drop::<ZeroizingRng>();
    }
}
