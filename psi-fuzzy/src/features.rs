//! Cutting a normalised value into the features a Bloom filter records.
//!
//! - `ngram2`: the character bigrams of the value padded with a start and an
//!   end mark (`"ann"` → `^a an nn n$`), so one typo changes at most two
//!   bigrams of many;
//! - `digits`: each ASCII digit with its position among the digits
//!   (`1915-11-11` = `19151111` → `0:1 1:9 2:1 …`), for dates, postcodes and
//!   numbers, where a digit means something only in its place;
//! - `exact`: the whole value as one feature.
//!
//! Each feature is a byte string prefixed by its comparator's tag, so that no
//! two comparators make the same feature.

/// How a value becomes features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// Padded character bigrams.
    Ngram2,
    /// Positional digits.
    Digits,
    /// The whole value.
    Exact,
}

/// Longest value (in characters) whose features are taken; beyond it the
/// value is refused as too long (it is not a name, date or address).
pub const MAX_VALUE_CHARS: usize = 512;

/// Marks the start and the end of a value in bigrams (NUL never occurs in a
/// normalised value; the profiles drop control characters or refuse them).
const PAD: char = '\0';

impl Comparator {
    /// Parses a comparator name.
    pub fn parse(name: &str) -> Option<Comparator> {
        match name.trim().to_ascii_lowercase().as_str() {
            "ngram2" => Some(Comparator::Ngram2),
            "digits" => Some(Comparator::Digits),
            "exact" => Some(Comparator::Exact),
            _ => None,
        }
    }

    /// The name as written in a spec.
    pub fn name(self) -> &'static str {
        match self {
            Comparator::Ngram2 => "ngram2",
            Comparator::Digits => "digits",
            Comparator::Exact => "exact",
        }
    }

    /// Calls `each` with every feature of `value` (a normalised, non-empty
    /// value). Returns how many features there were; `None` if the value is
    /// longer than [`MAX_VALUE_CHARS`].
    pub fn features(self, value: &str, mut each: impl FnMut(&[u8])) -> Option<usize> {
        if value.chars().count() > MAX_VALUE_CHARS {
            return None;
        }
        let mut buf = Vec::with_capacity(16);
        let mut count = 0;
        match self {
            Comparator::Ngram2 => {
                let mut prev = PAD;
                for c in value.chars().chain(std::iter::once(PAD)) {
                    buf.clear();
                    buf.push(b'g');
                    let mut utf8 = [0u8; 4];
                    buf.extend_from_slice(prev.encode_utf8(&mut utf8).as_bytes());
                    buf.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                    each(&buf);
                    count += 1;
                    prev = c;
                }
            }
            Comparator::Digits => {
                for (position, d) in value.bytes().filter(u8::is_ascii_digit).enumerate() {
                    buf.clear();
                    buf.push(b'd');
                    buf.extend_from_slice(&(position as u16).to_le_bytes());
                    buf.push(d);
                    each(&buf);
                    count += 1;
                }
            }
            Comparator::Exact => {
                buf.push(b'e');
                buf.extend_from_slice(value.as_bytes());
                each(&buf);
                count = 1;
            }
        }
        Some(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(c: Comparator, v: &str) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        c.features(v, |f| out.push(f.to_vec())).unwrap();
        out
    }

    #[test]
    fn bigrams_are_padded() {
        let f = all(Comparator::Ngram2, "ann");
        assert_eq!(f.len(), 4);
        assert_eq!(f[0], b"g\0a");
        assert_eq!(f[1], b"gan");
        assert_eq!(f[3], b"gn\0");
        // One substitution changes two bigrams of the word's four.
        let g = all(Comparator::Ngram2, "anne");
        assert_eq!(f.iter().filter(|x| g.contains(x)).count(), 3);
    }

    #[test]
    fn digits_are_positional_and_ignore_separators() {
        assert_eq!(
            all(Comparator::Digits, "1915-11-11"),
            all(Comparator::Digits, "19151111")
        );
        let a = all(Comparator::Digits, "12");
        let b = all(Comparator::Digits, "21");
        assert!(a.iter().all(|x| !b.contains(x)));
        assert!(all(Comparator::Digits, "abc").is_empty());
    }

    #[test]
    fn exact_is_one_feature_and_tags_differ() {
        assert_eq!(all(Comparator::Exact, "nsw"), vec![b"ensw".to_vec()]);
        let long: String = "x".repeat(MAX_VALUE_CHARS + 1);
        assert_eq!(Comparator::Exact.features(&long, |_| {}), None);
    }
}
