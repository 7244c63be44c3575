//! Encoding one record as a keyed Bloom filter: a cryptographic long-term key
//! (CLK; Schnell, Bachteler & Reiher, "A novel error-tolerant anonymous
//! linking code", 2011, after their 2009 field-level Bloom filters).
//!
//! For every field, its value is normalised by the field's profile and cut
//! into features by its comparator; each feature sets `hashes` bits, at
//! positions drawn from ChaCha8 seeded with HMAC-SHA256(field key,
//! salt ‖ feature) ("random hashing": unlike the double hashing of the 2009
//! paper, positions are independent, which defeats the attack of Niedermeyer
//! et al. 2014 on double hashing). All fields share one filter. Then the
//! hardening of the spec runs: bit flips, balancing, XOR-folding.

use hmac::{Hmac, Mac};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::Sha256;

use crate::harden::Hardener;
use crate::secret::Secret;
use crate::spec::Spec;
use crate::Error;

/// What became of one field of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOutcome {
    /// Encoded.
    Encoded,
    /// Empty: nothing encoded.
    Empty,
    /// Refused by its profile (or too long): nothing encoded.
    Invalid(&'static str),
}

/// Encodes rows under one spec and secret.
pub struct Encoder {
    spec: Spec,
    /// Per field: the keyed HMAC and the position of its column in
    /// [`Spec::columns`].
    fields: Vec<(Hmac<Sha256>, usize)>,
    hardener: Hardener,
}

impl Encoder {
    /// An encoder for `spec` keyed by `secret`.
    pub fn new(spec: Spec, secret: &Secret) -> Result<Encoder, Error> {
        let fingerprint = spec.fingerprint();
        let columns = spec.columns();
        let mut fields = Vec::with_capacity(spec.fields.len());
        for (i, f) in spec.fields.iter().enumerate() {
            let key = secret.derive(&fingerprint, &spec.key_label(i), 0);
            let mac = <Hmac<Sha256> as Mac>::new_from_slice(&*key)
                .map_err(|_| Error::Random("HMAC refused a 32-byte key".into()))?;
            let column = columns.iter().position(|c| *c == f.column).unwrap_or(0);
            fields.push((mac, column));
        }
        let hardener = Hardener::new(&spec, secret, &fingerprint);
        Ok(Encoder {
            spec,
            fields,
            hardener,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// 64-bit words per output encoding.
    pub fn words(&self) -> usize {
        self.spec.output_bits() as usize / 64
    }

    /// Encodes one row: `values` are the row's cells for [`Spec::columns`], in
    /// that order. Writes [`Self::words`] words to `out` and one outcome per
    /// field to `outcomes`. `flips` draws the random bit flips, if the spec
    /// asks for them.
    pub fn encode(
        &self,
        values: &[&str],
        out: &mut [u64],
        outcomes: &mut Vec<FieldOutcome>,
        flips: &mut dyn RngCore,
    ) {
        outcomes.clear();
        let normalised: Vec<Result<String, FieldOutcome>> = self
            .spec
            .fields
            .iter()
            .zip(&self.fields)
            .map(|(f, (_, column))| {
                let value = values.get(*column).copied().unwrap_or("").trim();
                if value.is_empty() {
                    return Err(FieldOutcome::Empty);
                }
                f.profile
                    .normalise(value)
                    .map(|n| n.as_str().to_string())
                    .map_err(|reason| FieldOutcome::Invalid(reason.reason()))
            })
            .collect();
        let bits = u64::from(self.spec.filter_bits);
        let mut filter = vec![0u64; self.spec.filter_bits as usize / 64];
        let mut message = Vec::with_capacity(64);
        for (i, (field, (mac, _))) in self.spec.fields.iter().zip(&self.fields).enumerate() {
            let value = match &normalised[i] {
                Ok(v) => v,
                Err(outcome) => {
                    outcomes.push(*outcome);
                    continue;
                }
            };
            let salt: &str = match field.salt_with.map(|j| &normalised[j]) {
                Some(Ok(s)) => s,
                _ => "",
            };
            let counted = field.comparator.features(value, |feature| {
                message.clear();
                message.extend_from_slice(&(salt.len() as u32).to_le_bytes());
                message.extend_from_slice(salt.as_bytes());
                message.extend_from_slice(feature);
                let mut m = mac.clone();
                m.update(&message);
                let seed: [u8; 32] = m.finalize().into_bytes().into();
                let mut positions = ChaCha8Rng::from_seed(seed);
                for _ in 0..field.hashes {
                    let p = (u64::from(positions.next_u32()) * bits) >> 32;
                    filter[(p / 64) as usize] |= 1u64 << (p % 64);
                }
            });
            outcomes.push(match counted {
                Some(_) => FieldOutcome::Encoded,
                None => FieldOutcome::Invalid("longer than 512 characters"),
            });
        }
        self.hardener.apply(&mut filter, out, flips);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dice::dice_portable;

    fn encoder(json: &str) -> Encoder {
        let secret = Secret::from_bytes(b"a test secret, not a real one").unwrap();
        Encoder::new(Spec::parse(json).unwrap(), &secret).unwrap()
    }

    fn enc(e: &Encoder, values: &[&str]) -> Vec<u64> {
        let mut out = vec![0; e.words()];
        let mut outcomes = Vec::new();
        e.encode(
            values,
            &mut out,
            &mut outcomes,
            &mut rand_core::OsRng.unwrap_err(),
        );
        out
    }

    use rand_core::TryRngCore;

    const SPEC: &str = r#"{"fields": [
        {"column": "given_name", "profile": "name", "weight": 2},
        {"column": "surname", "profile": "name", "weight": 2},
        {"column": "dob", "profile": "digits", "comparator": "digits"}]}"#;

    #[test]
    fn deterministic_and_similar_records_are_close() {
        let e = encoder(SPEC);
        assert_eq!(e.spec().columns(), ["given_name", "surname", "dob"]);
        let a = enc(&e, &["Michaela", "Neumann", "19151111"]);
        assert_eq!(a, enc(&e, &["michaela ", "NEUMANN", "1915-11-11"]));
        let typo = enc(&e, &["micheala", "neumann", "19151111"]);
        let other = enc(&e, &["courtney", "painter", "19161214"]);
        let near = dice_portable(&a, &typo);
        let far = dice_portable(&a, &other);
        assert!(near > 0.8, "{near}");
        assert!(far < 0.6, "{far}");
    }

    #[test]
    fn another_secret_gives_unrelated_encodings() {
        let e = encoder(SPEC);
        let secret = Secret::from_bytes(b"another secret, not a real one").unwrap();
        let f = Encoder::new(Spec::parse(SPEC).unwrap(), &secret).unwrap();
        let v = ["michaela", "neumann", "19151111"];
        assert!(dice_portable(&enc(&e, &v), &enc(&f, &v)) < 0.6);
    }

    #[test]
    fn a_key_group_makes_swapped_fields_match() {
        let own = encoder(SPEC);
        let shared = encoder(
            r#"{"fields": [
            {"column": "given_name", "profile": "name", "weight": 2, "key_group": "n"},
            {"column": "surname", "profile": "name", "weight": 2, "key_group": "n"},
            {"column": "dob", "profile": "digits", "comparator": "digits"}]}"#,
        );
        let (a, b) = (
            ["michaela", "neumann", "19151111"],
            ["neumann", "michaela", "19151111"],
        );
        assert!(dice_portable(&enc(&own, &a), &enc(&own, &b)) < 0.7);
        assert_eq!(enc(&shared, &a), enc(&shared, &b));
    }

    #[test]
    fn outcomes_per_field() {
        let e = encoder(
            r#"{"fields": [{"column": "a", "profile": "date"}, {"column": "b"}, {"column": "c"}]}"#,
        );
        let mut out = vec![0; e.words()];
        let mut outcomes = Vec::new();
        e.encode(
            &["1915-13-45", "", "x"],
            &mut out,
            &mut outcomes,
            &mut rand_core::OsRng.unwrap_err(),
        );
        assert!(matches!(outcomes[0], FieldOutcome::Invalid(_)));
        assert_eq!(outcomes[1], FieldOutcome::Empty);
        assert_eq!(outcomes[2], FieldOutcome::Encoded);
    }

    #[test]
    fn salting_separates_values_with_another_salt() {
        let e = encoder(
            r#"{"fields": [{"column": "name"}, {"column": "year", "comparator": "exact", "weight": 0.1}], "bits_per_feature": 20}"#,
        );
        // Salt the name with the year: same name, other year → far apart.
        let s = encoder(
            r#"{"fields": [{"column": "name", "salt_with": "year"}, {"column": "year", "comparator": "exact", "weight": 0.1}], "bits_per_feature": 20}"#,
        );
        let plain = dice_portable(
            &enc(&e, &["annabel", "1950"]),
            &enc(&e, &["annabel", "1960"]),
        );
        let salted = dice_portable(
            &enc(&s, &["annabel", "1950"]),
            &enc(&s, &["annabel", "1960"]),
        );
        assert!(plain > 0.9 && salted < 0.3, "{plain} {salted}");
    }
}
