//! The scalar's signed radix-16 digits, shared by the multi-lane backends'
//! fixed-window multiplications.

use zeroize::Zeroizing;

/// Signed radix-16 digits `d[i]` with `Σ d[i]·16^i = s`, `d[i] ∈ [−8, 8)` for
/// i < 63 and `d[63] ∈ [−8, 8]`, of a scalar below 2^255 (canonical
/// scalars are below 2^253). Arithmetic only, no branch.
pub(crate) fn radix16(s: &[u8; 32]) -> Zeroizing<[i8; 64]> {
    let mut d = Zeroizing::new([0i8; 64]);
    for (i, b) in s.iter().enumerate() {
        d[2 * i] = (b & 15) as i8;
        d[2 * i + 1] = (b >> 4) as i8;
    }
    for i in 0..63 {
        // d[i] ∈ [0, 16] here (a nibble plus a carry of at most 1).
        let carry = (d[i] + 8) >> 4;
        d[i] -= carry << 4;
        d[i + 1] += carry;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::radix16;

    #[test]
    fn radix16_digits_recombine() {
        let mut s = [0u8; 32];
        for (i, b) in s.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(151).wrapping_add(0x88);
        }
        s[31] &= 0x1f;
        let d = radix16(&s);
        // Recombine in base 16 with i128 chunks of 16 digits (64 bits each).
        let mut acc = [0i128; 5];
        for (i, &di) in d.iter().enumerate() {
            assert!((-8..=8).contains(&di));
            acc[i / 16] += i128::from(di) << (4 * (i % 16));
        }
        // Propagate borrows/carries between 64-bit words.
        let mut words = [0u64; 4];
        let mut carry = 0i128;
        for i in 0..4 {
            let v = acc[i] + carry;
            words[i] = v as u64;
            carry = v >> 64;
        }
        assert_eq!(carry + acc[4], 0);
        let mut back = [0u8; 32];
        for i in 0..4 {
            back[8 * i..8 * i + 8].copy_from_slice(&words[i].to_le_bytes());
        }
        assert_eq!(back, s);
    }
}
