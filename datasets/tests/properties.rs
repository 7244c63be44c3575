//! Property test: over random sizes (including empty, disjoint and identical
//! sets) the tables share exactly `overlap` emails, and they are the persons
//! `rows_a - overlap .. rows_a`.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use proptest::prelude::*;
use psi_datasets::{generate, person, GenConfig};

fn emails(bytes: &[u8]) -> HashSet<String> {
    let mut r = csv::Reader::from_reader(bytes);
    r.records().map(|rec| rec.unwrap()[3].to_owned()).collect()
}

fn sizes() -> impl Strategy<Value = (u64, u64, u64)> {
    (0u64..300, 0u64..300).prop_flat_map(|(a, b)| (Just(a), Just(b), 0..=a.min(b)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn shared_emails_are_exactly_the_overlap(
        (rows_a, rows_b, overlap) in sizes(),
        seed in any::<u64>(),
        with_value in any::<bool>(),
    ) {
        let config = GenConfig { rows_a, rows_b, overlap, seed, noise: 0.0, with_value };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        generate(&config, &mut a, &mut b).unwrap();
        let (ea, eb) = (emails(&a), emails(&b));
        prop_assert_eq!(ea.len() as u64, rows_a);
        prop_assert_eq!(eb.len() as u64, rows_b);
        let shared: HashSet<_> = ea.intersection(&eb).cloned().collect();
        let expected: HashSet<_> =
            (rows_a - overlap..rows_a).map(|i| person(seed, i).email).collect();
        prop_assert_eq!(shared, expected);
    }
}
