//! The receiver's own OPRF outputs `H(j, t_j)`, looked up for every value the
//! sender sends: a compact open-addressing table (linear probing, load ≤ 1/2).
//!
//! A slot is one `u64`: 32 check bits of the tag and the item index (+1, so 0
//! marks an empty slot). A slot whose check bits match is confirmed against the
//! item's full tag and hash index, kept per item. At `2^20` items this is 16 MiB
//! of slots and 16 MiB of tags, against ~190 MiB for three `HashMap<u128, u32>`,
//! and a lookup touches one cache line in the common case. Lookups and
//! insertions are variable-time (the table layout depends on the tags).

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Tags as stored: the tag (at most 13 bytes: `λ + 2·31` bits, see
/// `check_size`) with the hash index in the top byte.
fn key(tag: u128, hash_index: u8) -> u128 {
    tag | (u128::from(hash_index) << 120)
}

/// The receiver's OPRF outputs are secret (with them the sender's values say
/// which items match), so the table is zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct TagTable {
    slots: Vec<u64>,
    mask: usize,
    /// Per receiver item: its key, once inserted.
    keys: Vec<u128>,
}

impl TagTable {
    /// A table for `items` receiver items.
    pub(crate) fn with_items(items: usize) -> Self {
        let cap = (2 * items).next_power_of_two().max(16);
        TagTable {
            slots: vec![0; cap],
            mask: cap - 1,
            keys: vec![0; items],
        }
    }

    fn position_and_check(tag: u128) -> (usize, u64) {
        // The table has at most 2^32 slots, so position bits (0..32) and check
        // bits (32..64) do not overlap. Tags are pseudorandom.
        (tag as u64 as usize, (tag as u64) >> 32)
    }

    /// Records that receiver item `item`, placed with hash function
    /// `hash_index`, has OPRF output `tag`.
    pub(crate) fn vartime_insert(&mut self, tag: u128, hash_index: u8, item: u32) {
        self.keys[item as usize] = key(tag, hash_index);
        let (mut pos, check) = Self::position_and_check(tag);
        loop {
            pos &= self.mask;
            if self.slots[pos] == 0 {
                self.slots[pos] = (check << 32) | (u64::from(item) + 1);
                return;
            }
            pos += 1;
        }
    }

    /// Looks up a run of sender values: `tags` holds groups of three tags of
    /// `len` bytes (hash functions 0, 1, 2); appends the receiver items found.
    /// In passes (first slots, then probing, then full-tag checks) so the
    /// cache misses of many lookups overlap.
    pub(crate) fn vartime_match(&self, tags: &[u8], len: usize, out: &mut Vec<usize>) {
        let queries: Vec<(u128, u8)> = tags
            .chunks_exact(len)
            .enumerate()
            .map(|(k, t)| (super::prf::tag_from_bytes(t), (k % 3) as u8))
            .collect();
        let first: Vec<u64> = queries
            .iter()
            .map(|&(tag, _)| self.slots[Self::position_and_check(tag).0 & self.mask])
            .collect();
        let mut candidates: Vec<(u32, u128)> = Vec::new();
        for (&(tag, h), &slot) in queries.iter().zip(&first) {
            if slot == 0 {
                continue;
            }
            let (mut pos, check) = Self::position_and_check(tag);
            let mut slot = slot;
            loop {
                if slot >> 32 == check {
                    candidates.push(((slot as u32).wrapping_sub(1), key(tag, h)));
                }
                pos = (pos + 1) & self.mask;
                slot = self.slots[pos];
                if slot == 0 {
                    break;
                }
            }
        }
        out.extend(
            candidates
                .into_iter()
                .filter(|(item, k)| self.keys.get(*item as usize) == Some(k))
                .map(|(item, _)| item as usize),
        );
    }

    /// The receiver item whose output, for hash function `hash_index`, is `tag`.
    #[cfg(test)]
    pub(crate) fn vartime_get(&self, tag: u128, hash_index: u8) -> Option<u32> {
        let (mut pos, check) = Self::position_and_check(tag);
        let wanted = key(tag, hash_index);
        loop {
            pos &= self.mask;
            let slot = self.slots[pos];
            if slot == 0 {
                return None;
            }
            if slot >> 32 == check {
                let item = (slot as u32).wrapping_sub(1);
                if self.keys.get(item as usize) == Some(&wanted) {
                    return Some(item);
                }
            }
            pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_zeroized_on_drop() {
        fn zeroized_on_drop<T: ZeroizeOnDrop>() {}
        zeroized_on_drop::<TagTable>();
    }

    #[test]
    fn finds_exactly_what_was_inserted() {
        let mut t = TagTable::with_items(1000);
        let tag =
            |i: u32| u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834) >> 24;
        for i in 0..1000u32 {
            t.vartime_insert(tag(i), (i % 3) as u8, i);
        }
        for i in 0..1000u32 {
            assert_eq!(t.vartime_get(tag(i), (i % 3) as u8), Some(i));
            assert_eq!(t.vartime_get(tag(i), ((i + 1) % 3) as u8), None);
            assert_eq!(t.vartime_get(tag(i) ^ (1 << 100), (i % 3) as u8), None);
        }
        // Same low 64 bits, other high bits: found in the table, refused on the full tag.
        assert_eq!(t.vartime_get(tag(5) ^ (1 << 90), 2), None);
        let empty = TagTable::with_items(0);
        assert_eq!(empty.vartime_get(1, 0), None);
        // The batched lookup agrees: item i's tag at position i % 3 of a group.
        let len = 13;
        let mut wire = Vec::new();
        let mut expect = Vec::new();
        for i in 0..999u32 {
            let t = if i % 2 == 0 { tag(i) } else { tag(i) ^ 1 };
            wire.extend_from_slice(&t.to_le_bytes()[..len]);
            if i % 2 == 0 {
                expect.push(i as usize);
            }
        }
        let mut found = Vec::new();
        t.vartime_match(&wire, len, &mut found);
        assert_eq!(found, expect);
    }
}
