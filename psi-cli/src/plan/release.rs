//! How a party of `--mode cardinality|sum` releases what it learns: its
//! threshold, its differential-privacy noise (`--dp-epsilon`) and the public
//! bound on one key's value (`--dp-sum-sensitivity`); every usage error of
//! these flags, once.

use psi_core::linkage::Side;
use psi_core::pjc::noise::{DiscreteLaplace, Epsilon};
use psi_core::pjc::MAX_VALUE;
use psi_server::ServeMode;

use crate::args::TableArgs;
use crate::error::CliError;

/// What a party does with the count (and sum) the protocol gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReleasePlan {
    /// This party's `--min-intersection`.
    pub min_intersection: u64,
    /// Noise on what this party releases, if any.
    pub dp: Option<Dp>,
}

impl ReleasePlan {
    /// The threshold this party announces to the protocol, which decides it
    /// on the exact count (the larger of both parties' applies). With noise
    /// it is 0: our threshold is then decided on the noisy count, with the
    /// same draw that is released, so "not met" says nothing exact.
    pub fn protocol_threshold(&self) -> u64 {
        match self.dp {
            Some(_) => 0,
            None => self.min_intersection,
        }
    }
}

/// Differential privacy on what this party releases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dp {
    /// ε in total, as given.
    pub epsilon: Epsilon,
    /// The count's noise: sensitivity 1, ε (or ε/2 when a sum is released too).
    pub count: DiscreteLaplace,
    /// The sum's noise when this party releases a sum: ε/2, and the declared
    /// `--dp-sum-sensitivity` (never a bound read from the data).
    pub sum: Option<DiscreteLaplace>,
}

/// The floor on ε, [`Epsilon::MIN`], as it is written on the command line.
const FLOOR_TEXT: &str = "0.000001";

/// Every check of `--min-intersection`, `--dp-epsilon` and
/// `--dp-sum-sensitivity`: noise is added by the party that releases a
/// result, so the mode decides which party may give it.
pub(super) fn plan(
    party: Side,
    mode: ServeMode,
    table: &TableArgs,
) -> Result<ReleasePlan, CliError> {
    let usage = |m: &str| Err(CliError::Usage(m.into()));
    let (epsilon, bound) = (table.dp_epsilon.as_deref(), table.dp_sum_sensitivity);
    let min_intersection = table.min_intersection;
    if mode == ServeMode::Intersection {
        if epsilon.is_some() || bound.is_some() {
            return usage(
                "--dp-epsilon and --dp-sum-sensitivity apply to --mode cardinality and --mode sum",
            );
        }
        return Ok(ReleasePlan {
            min_intersection,
            dp: None,
        });
    }
    let sums = matches!(mode, ServeMode::SumToServer | ServeMode::SumToClient);
    if let Some(n) = bound {
        if !sums {
            return usage("--dp-sum-sensitivity applies to --mode sum");
        }
        if !(1..=MAX_VALUE).contains(&n) {
            return Err(CliError::Usage(format!(
                "--dp-sum-sensitivity {n}: the bound on one key's value must be between 1 and {MAX_VALUE}"
            )));
        }
    }
    // Whether this party releases a sum (and so needs the bound for noise).
    let releases_sum = match (party, mode) {
        (Side::Client, ServeMode::SumToServer) if epsilon.is_some() => {
            return usage(
                "with --sum-to server the server releases the result: give --dp-epsilon to `psi serve`",
            )
        }
        (Side::Server, ServeMode::Cardinality | ServeMode::SumToClient) if epsilon.is_some() => {
            return usage(
                "the server releases nothing in this mode: --dp-epsilon belongs to `psi run` (or use --mode sum --sum-to server)",
            )
        }
        (Side::Client, ServeMode::SumToClient) => true,
        (Side::Server, ServeMode::SumToServer) => true,
        _ => false,
    };
    if party == Side::Client && bound.is_some() && !(releases_sum && epsilon.is_some()) {
        return usage(
            "on `psi run`, --dp-sum-sensitivity is the sensitivity of the noise on the sum it releases: \
             it needs --mode sum --sum-to client and --dp-epsilon (the server clamps its values to its own)",
        );
    }
    let Some(text) = epsilon else {
        return Ok(ReleasePlan {
            min_intersection,
            dp: None,
        });
    };
    let epsilon = parse_epsilon(text)?;
    let sum_bound = match (releases_sum, bound) {
        (false, _) => None,
        (true, Some(n)) => Some(n),
        (true, None) => return usage(
            "--dp-epsilon on a released sum needs --dp-sum-sensitivity N: a public bound on what \
                 one key adds (the server clamps its values to it); it is never read from the data",
        ),
    };
    let share = match sum_bound {
        Some(_) => epsilon.divided_by(2).map_err(|_| {
            CliError::Usage(format!(
                "--dp-epsilon {text}: split evenly between count and sum, each part is below the floor of {FLOOR_TEXT}"
            ))
        })?,
        None => epsilon,
    };
    let mechanism = |sensitivity| {
        DiscreteLaplace::new(share, sensitivity)
            .map_err(|e| CliError::Usage(format!("--dp-epsilon {text}: {e}")))
    };
    Ok(ReleasePlan {
        min_intersection,
        dp: Some(Dp {
            epsilon,
            count: mechanism(1)?,
            sum: sum_bound.map(mechanism).transpose()?,
        }),
    })
}

/// `--dp-epsilon TEXT`: a positive decimal (`2`, `0.5`, `.25`, `1e-3`) as an
/// exact fraction, at least [`Epsilon::MIN`].
fn parse_epsilon(text: &str) -> Result<Epsilon, CliError> {
    let usage = |why: &str| Err(CliError::Usage(format!("--dp-epsilon {text}: {why}")));
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        // Beyond ±100 the value is far outside the accepted range either way.
        Some((m, e)) => match e.parse::<i32>() {
            Ok(e) => (m, e.clamp(-100, 100)),
            Err(_) => return usage("not a decimal number such as 0.5"),
        },
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return usage("not a decimal number such as 0.5");
    }
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return usage("ε must be above 0");
    }
    if digits.len() > 30 {
        return usage("too many digits");
    }
    let mut numerator: u128 = digits.parse().unwrap_or(u128::MAX);
    // ε = numerator · 10^power.
    let power = exponent - i32::try_from(fraction.len()).unwrap_or(i32::MAX);
    let mut denominator: u128 = 1;
    let ten = |k: i32| 10u128.checked_pow(k.unsigned_abs());
    if power >= 0 {
        match ten(power).and_then(|p| numerator.checked_mul(p)) {
            Some(n) => numerator = n,
            None => return usage("ε is too large"),
        }
    } else {
        match ten(power) {
            Some(d) => denominator = d,
            // Below 10^-38 with at most 30 digits: far below the floor.
            None => return usage(&format!("ε is below the floor of {FLOOR_TEXT}")),
        }
    }
    let below_floor = numerator
        .checked_mul(u128::from(Epsilon::MIN.denominator()))
        .is_some_and(|n| n < denominator);
    if below_floor {
        return usage(&format!(
            "ε is below the floor of {FLOOR_TEXT} (a smaller ε only adds noise far beyond any count or sum; see psi_core::pjc::noise)"
        ));
    }
    let g = gcd(numerator, denominator);
    let (n, d) = (numerator / g, denominator / g);
    match (u64::try_from(n), u64::try_from(d)) {
        (Ok(n), Ok(d)) => Epsilon::new(n, d).or_else(|_| {
            usage("too precise or too large: ε must be a fraction of integers below 2^32")
        }),
        _ => usage("too precise or too large: ε must be a fraction of integers below 2^32"),
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{ModeArg, SumToArg};

    fn table(epsilon: Option<&str>, bound: Option<u64>) -> TableArgs {
        TableArgs {
            input: Some("in.csv".into()),
            keys: vec!["email".into()],
            spec: None,
            duplicates: None,
            rejects: None,
            mode: ModeArg::Intersection,
            sum_to: SumToArg::Server,
            min_intersection: 10,
            dp_epsilon: epsilon.map(str::to_string),
            dp_sum_sensitivity: bound,
        }
    }

    fn refused(party: Side, mode: ServeMode, e: Option<&str>, s: Option<u64>) -> String {
        plan(party, mode, &table(e, s)).unwrap_err().to_string()
    }

    #[test]
    fn epsilon_is_an_exact_decimal_above_the_floor() {
        let e = |t: &str| parse_epsilon(t).map(|e| (e.numerator(), e.denominator()));
        assert_eq!(e("1").unwrap(), (1, 1));
        assert_eq!(e("0.5").unwrap(), (1, 2));
        assert_eq!(e(".25").unwrap(), (1, 4));
        assert_eq!(e("0.1").unwrap(), (1, 10));
        assert_eq!(e("1e-3").unwrap(), (1, 1000));
        assert_eq!(e("2.50E1").unwrap(), (25, 1));
        assert_eq!(parse_epsilon(FLOOR_TEXT).unwrap(), Epsilon::MIN);
        for (text, why) in [
            ("0", "above 0"),
            ("0.000", "above 0"),
            ("-1", "not a decimal"),
            ("nan", "not a decimal"),
            ("inf", "not a decimal"),
            ("1e", "not a decimal"),
            ("", "not a decimal"),
            ("0.0000009", "below the floor of 0.000001"),
            ("1e-9", "below the floor"),
            ("1e-60", "below the floor"),
            ("1e-300", "below the floor"),
            ("1e300", "too large"),
            ("0.123456789123", "too precise"),
        ] {
            let err = parse_epsilon(text).unwrap_err().to_string();
            assert!(err.starts_with(&format!("--dp-epsilon {text}: ")), "{err}");
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn noise_is_refused_once_per_reason() {
        let intersection = refused(Side::Client, ServeMode::Intersection, None, Some(3));
        assert_eq!(
            intersection,
            refused(Side::Server, ServeMode::Intersection, Some("1"), None)
        );
        assert!(intersection.starts_with("--dp-epsilon and --dp-sum-sensitivity apply to"));
        let to_server = refused(Side::Client, ServeMode::SumToServer, Some("1"), None);
        assert!(to_server.contains("give --dp-epsilon to `psi serve`"));
        let nothing = refused(Side::Server, ServeMode::Cardinality, Some("1"), None);
        assert!(nothing.contains("the server releases nothing"));
        for (party, mode) in [
            (Side::Client, ServeMode::SumToClient),
            (Side::Server, ServeMode::SumToServer),
        ] {
            let needs = refused(party, mode, Some("1"), None);
            assert!(needs.contains("needs --dp-sum-sensitivity N"), "{needs}");
            assert!(needs.contains("never read from the data"), "{needs}");
        }
        let not_sum = refused(Side::Server, ServeMode::Cardinality, None, Some(3));
        assert_eq!(not_sum, "--dp-sum-sensitivity applies to --mode sum");
        let zero = refused(Side::Server, ServeMode::SumToClient, None, Some(0));
        assert!(zero.contains("between 1 and 4294967295"), "{zero}");
        // The client uses the bound only for its noise.
        let unused = refused(Side::Client, ServeMode::SumToClient, None, Some(3));
        assert!(unused.contains("needs --mode sum --sum-to client and --dp-epsilon"));
        let bad = refused(Side::Client, ServeMode::Cardinality, Some("0"), None);
        assert_eq!(bad, "--dp-epsilon 0: ε must be above 0");
        let split = refused(
            Side::Client,
            ServeMode::SumToClient,
            Some(FLOOR_TEXT),
            Some(3),
        );
        assert!(split.contains("each part is below the floor"), "{split}");
    }

    #[test]
    fn the_sensitivity_is_the_declared_bound_and_epsilon_is_split() {
        let ok = |party, mode, e: Option<&str>, s| plan(party, mode, &table(e, s)).unwrap();
        let p = ok(Side::Server, ServeMode::SumToServer, Some("1"), Some(7));
        let dp = p.dp.unwrap();
        assert_eq!(dp.epsilon, Epsilon::new(1, 1).unwrap());
        let half = Epsilon::new(1, 2).unwrap();
        assert_eq!((dp.count.epsilon(), dp.count.sensitivity()), (half, 1));
        let sum = dp.sum.unwrap();
        assert_eq!((sum.epsilon(), sum.sensitivity()), (half, 7));
        let c = ok(Side::Client, ServeMode::Cardinality, Some("0.5"), None);
        assert_eq!(c.dp.unwrap().count.epsilon(), half);
        assert_eq!(c.dp.unwrap().sum, None);
        // The server may clamp without noise; no noise, no sum mechanism.
        let clamp = ok(Side::Server, ServeMode::SumToClient, None, Some(7));
        assert_eq!(clamp.dp, None);
    }

    #[test]
    fn with_noise_the_protocol_decides_no_threshold_of_ours() {
        // Decided on the exact count by the protocol, "not met" would tell
        // the exact truth: with noise ours goes to the release instead.
        let ok = |party, mode, e: Option<&str>, s| plan(party, mode, &table(e, s)).unwrap();
        let noisy = ok(Side::Client, ServeMode::Cardinality, Some("1"), None);
        assert_eq!(
            (noisy.protocol_threshold(), noisy.min_intersection),
            (0, 10)
        );
        let server = ok(Side::Server, ServeMode::SumToServer, Some("1"), Some(5));
        assert_eq!(server.protocol_threshold(), 0);
        let exact = ok(Side::Client, ServeMode::Cardinality, None, None);
        assert_eq!(exact.protocol_threshold(), 10);
    }
}
