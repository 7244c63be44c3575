//! `PSI_GROUP_BACKEND`: every backend this CPU runs can be forced (the demo
//! says which one ran), and a value that names no backend, or one this CPU
//! cannot run, is a usage error naming the variable and the value.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

const PSI: &str = env!("CARGO_BIN_EXE_psi");

fn demo_with(backend: &str) -> Output {
    Command::new(PSI)
        .args([
            "demo",
            "--rows-a",
            "300",
            "--rows-b",
            "400",
            "--overlap",
            "100",
        ])
        .env("PSI_GROUP_BACKEND", backend)
        .output()
        .unwrap()
}

#[test]
fn each_backend_can_be_forced() {
    let available = [
        ("portable", true, "psi-group portable"),
        (
            "avx2",
            psi_group::Backend::avx2().is_some(),
            "psi-group avx2",
        ),
        (
            "ifma8",
            psi_group::Backend::ifma8().is_some(),
            "psi-group ifma8",
        ),
    ];
    for (name, runs, printed) in available {
        let o = demo_with(name);
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        if runs {
            assert!(o.status.success(), "{name}: {out}\n{err}");
            assert!(out.contains("is EQUAL to it"), "{name}: {out}");
            assert!(
                out.contains(&format!("crypto backend {printed}")),
                "{name}: {out}"
            );
        } else {
            println!("SKIPPED: {name} cannot run on this CPU; checking that forcing it is refused");
            assert!(!o.status.success(), "{name}: {out}");
            assert!(
                err.contains(&format!("PSI_GROUP_BACKEND=\"{name}\"")),
                "{err}"
            );
        }
    }
}

#[test]
fn an_unknown_backend_is_a_usage_error() {
    let o = demo_with("avx3");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("PSI_GROUP_BACKEND=\"avx3\": not a psi-group backend (expected portable, avx2 or ifma8)"),
        "{err}"
    );
    assert!(
        o.stdout.is_empty(),
        "nothing ran: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}
