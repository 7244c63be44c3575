//! `psi-bench profiles`: what normalising one value costs, per profile, on
//! one thread, on the columns of generated people
//! ([`psi_datasets::person`]): email, phone (UK mobiles, written
//! `+44 7700 900123`), given name, surname, date of birth and postcode.
//!
//! A linkage key is normalised once per row while the input is read (and,
//! bucketed, partitioned); with KKRT that reading is most of a linkage's
//! time, so this says which profile it goes to.

use std::time::Instant;

use psi_table::Profile;

/// Microseconds per value of `profile` over `values` (medians of `rounds`),
/// and how many values it accepted.
fn per_value(profile: &Profile, values: &[String], rounds: usize) -> (f64, usize) {
    let mut times = Vec::with_capacity(rounds);
    let mut accepted = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        accepted = values
            .iter()
            .filter(|v| profile.normalise(v).is_ok())
            .count();
        times.push(t.elapsed().as_secs_f64() * 1e6 / values.len() as f64);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], accepted)
}

pub(crate) fn run(args: &[String]) {
    let n: u64 = super::flag_value(args, "--n")
        .map(|v| v.parse().expect("--n takes a number"))
        .unwrap_or(50_000);
    println!("{}", super::machine());
    let people: Vec<psi_datasets::Person> = (0..n).map(|i| psi_datasets::person(1, i)).collect();
    type Field = fn(&psi_datasets::Person) -> &String;
    let columns: [(&str, &str, Field); 6] = [
        ("email", "email", |p| &p.email),
        ("phone", "phone", |p| &p.phone),
        ("given_name", "name", |p| &p.given_name),
        ("surname", "name", |p| &p.surname),
        ("date_of_birth", "date", |p| &p.date_of_birth),
        ("postcode", "postcode", |p| &p.postcode),
    ];
    for (column, name, field) in columns {
        let profile = Profile::parse(name, None).expect("a known profile");
        let values: Vec<String> = people.iter().map(|p| field(p).clone()).collect();
        let (us, accepted) = per_value(&profile, &values, 3);
        println!(
            "profile {:<18} column {column:<14} n={n}: {us:6.2} µs per value (one thread, median of 3), {accepted} accepted",
            profile.to_string()
        );
    }
}
