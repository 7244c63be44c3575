//! What a party of `--mode cardinality|sum` releases: the count and maybe
//! the sum it computed, or only that the threshold was not met. With
//! `--dp-epsilon`, discrete-Laplace noise (`psi_core::pjc::noise`) drawn once
//! for the count decides our threshold too, so "not met" is no exact answer.

use psi_core::pjc::noise::{self, DiscreteLaplace};
use psi_core::pjc::{Outcome, SumOutput};
use psi_core::rng::ZeroizingRng;
use psi_server::PjcOutput;

use crate::plan::ReleasePlan;
use crate::report::{NoiseReport, Released, ThresholdOn};

/// A count and maybe a sum, as the plan says, with noise from the OS's
/// randomness. The noise is drawn here, after the protocol's last message:
/// the sampler's time depends on the draw, and nobody else can time it here.
pub fn release(
    count: Outcome<u64>,
    sum: Option<Outcome<SumOutput>>,
    plan: &ReleasePlan,
) -> Released {
    // The noise must stay secret (it and the release give the exact value):
    // the generator's state is overwritten when it is dropped.
    match ZeroizingRng::from_os_rng() {
        Ok(mut rng) => release_with(&mut rng, count, sum, plan),
        Err(e) => {
            tracing::warn!("the OS generator failed ({e}); the noise comes from the thread's");
            release_with(&mut rand::rng(), count, sum, plan)
        }
    }
}

/// [`release`] with the given randomness.
fn release_with<R: rand::RngCore + rand::CryptoRng>(
    rng: &mut R,
    count: Outcome<u64>,
    sum: Option<Outcome<SumOutput>>,
    plan: &ReleasePlan,
) -> Released {
    let mut r = Released {
        threshold_met: false,
        min_intersection: plan.min_intersection,
        threshold_on: ThresholdOn::Exact,
        count: None,
        sum: None,
        noise: Vec::new(),
    };
    let exact = match (count, sum) {
        (Outcome::Released(c), None) => Some(SumOutput { count: c, sum: 0 }),
        (_, Some(Outcome::Released(s))) => Some(s),
        _ => None,
    };
    let has_sum = sum.is_some();
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    match (plan.dp, exact) {
        (None, None) => {}
        (None, Some(e)) => {
            r.threshold_met = true;
            r.count = Some(as_i64(e.count));
            r.sum = has_sum.then_some(as_i64(e.sum));
        }
        // We announced no threshold, so the protocol's "not met" is the
        // peer's, decided on the exact count.
        (Some(_), None) => r.threshold_on = ThresholdOn::PeersExact,
        (Some(dp), Some(e)) => {
            r.threshold_on = ThresholdOn::Noisy;
            // The count's ε is spent whether or not its noisy value meets
            // the threshold; the sum's only when the sum is released.
            r.noise.push(noise_report("count", &dp.count));
            let threshold = plan.min_intersection;
            let released = match (has_sum, dp.sum) {
                (true, Some(sum)) => {
                    noise::vartime_release_sum(rng, &dp.count, &sum, &e, threshold)
                        .map(|(c, s)| (c, Some(s)))
                }
                // A sum without its mechanism is never released (the plan
                // always has one where a sum is released).
                _ => noise::vartime_release_count(rng, &dp.count, e.count, threshold)
                    .map(|c| (c, None)),
            };
            if let Outcome::Released((c, s)) = released {
                r.threshold_met = true;
                r.count = Some(c.value);
                if let (Some(s), Some(m)) = (s, dp.sum) {
                    r.noise.push(noise_report("sum", &m));
                    r.sum = Some(s.value);
                }
            }
        }
    }
    r
}

/// What the client learned, as a release.
pub fn client_release(output: PjcOutput, plan: &ReleasePlan) -> Released {
    match output {
        PjcOutput::Cardinality(c) | PjcOutput::SumToServer(c) => release(c, None, plan),
        PjcOutput::SumToClient(s) => release(count_of(s), Some(s), plan),
    }
}

/// The count part of a sum's outcome.
pub fn count_of(sum: Outcome<SumOutput>) -> Outcome<u64> {
    sum.map(|s| s.count)
}

/// How a noisy value is made, for the report.
fn noise_report(what: &'static str, m: &DiscreteLaplace) -> NoiseReport {
    NoiseReport {
        what,
        mechanism: DiscreteLaplace::NAME,
        epsilon: m.epsilon().to_f64(),
        sensitivity: m.sensitivity(),
        scale: m.sensitivity() as f64 / m.epsilon().to_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Dp;
    use psi_core::pjc::noise::Epsilon;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn plan(epsilon: Option<(u64, u64)>, min_intersection: u64) -> ReleasePlan {
        ReleasePlan {
            min_intersection,
            dp: epsilon.map(|(n, d)| {
                let e = Epsilon::new(n, d).unwrap();
                Dp {
                    epsilon: e,
                    count: DiscreteLaplace::new(e, 1).unwrap(),
                    sum: Some(DiscreteLaplace::new(e, 100).unwrap()),
                }
            }),
        }
    }

    #[test]
    fn without_noise_the_exact_answer_and_the_protocols_threshold() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let p = plan(None, 5);
        let r = release_with(&mut rng, Outcome::Released(7), None, &p);
        assert_eq!((r.threshold_met, r.count, r.sum), (true, Some(7), None));
        let s = Outcome::Released(SumOutput { count: 7, sum: 70 });
        let r = release_with(&mut rng, count_of(s), Some(s), &p);
        assert_eq!((r.count, r.sum), (Some(7), Some(70)));
        let r = release_with(&mut rng, Outcome::ThresholdNotMet, None, &p);
        assert_eq!(
            (r.threshold_met, r.threshold_on),
            (false, ThresholdOn::Exact)
        );
        assert!(r.noise.is_empty());
    }

    #[test]
    fn with_noise_the_threshold_is_decided_on_the_noisy_count() {
        // The protocol ran without our threshold (plan.protocol_threshold()
        // is 0), so it handed over the exact count 4, below our threshold
        // of 5. With noise of scale 10 the noisy count meets 5 about half
        // the time; on the exact count it never would.
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let p = plan(Some((1, 10)), 5);
        assert_eq!(p.protocol_threshold(), 0);
        let mut met = 0;
        for _ in 0..200 {
            let r = release_with(&mut rng, Outcome::Released(4), None, &p);
            assert_eq!(r.threshold_on, ThresholdOn::Noisy);
            if r.threshold_met {
                met += 1;
                assert!(r.count.is_some_and(|c| c >= 5), "{r:?}");
                assert_eq!(r.noise.len(), 1);
            } else {
                assert_eq!((r.count, r.sum), (None, None));
                // The count's ε was spent on the threshold all the same.
                assert_eq!(r.noise.len(), 1);
            }
        }
        assert!((50..=150).contains(&met), "met {met} of 200");
        // A sum is released with its own noise exactly when the count is.
        let s = Outcome::Released(SumOutput {
            count: 50,
            sum: 500,
        });
        let r = release_with(&mut rng, count_of(s), Some(s), &p);
        let what: Vec<_> = r.noise.iter().map(|n| (n.what, n.sensitivity)).collect();
        assert_eq!(what, [("count", 1), ("sum", 100)]);
        // "Not met" from the protocol is the peer's threshold, on the exact count.
        let r = release_with(&mut rng, Outcome::ThresholdNotMet, None, &p);
        assert_eq!(r.threshold_on, ThresholdOn::PeersExact);
        assert!(!r.threshold_met);
    }
}
