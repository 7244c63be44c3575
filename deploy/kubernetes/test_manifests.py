"""The Kubernetes manifests of a sharded run: valid against the Kubernetes
API schema (kubernetes-validate, strict), Indexed Jobs wired to each other,
and every `psi` flag they use known to the binary built from this checkout.

Run by .ci/run (pytest); needs `pip install kubernetes-validate pyyaml pytest`
and a built `psi` (target/debug/psi, or the path in PSI_BIN)."""

import os
import pathlib
import re
import subprocess

import kubernetes_validate
import pytest
import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MANIFESTS = sorted(HERE.glob("*.yaml"))
KUBERNETES = "1.33.0"


def documents():
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.name, doc


def psi_binary():
    path = pathlib.Path(os.environ.get("PSI_BIN", ROOT / "target" / "debug" / "psi"))
    if not path.exists():
        pytest.skip(f"SKIPPED: no psi binary at {path} (cargo build -p psi-cli, or set PSI_BIN)")
    return path


def test_there_are_manifests_for_both_parties():
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in documents()}
    assert kinds == {
        ("Job", "psi-a"),
        ("Job", "psi-b"),
        ("Job", "psi-a-cut"),
        ("Job", "psi-b-cut"),
        ("Service", "psi-b"),
    }


@pytest.mark.parametrize("name,doc", list(documents()))
def test_valid_against_the_kubernetes_schema(name, doc):
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def jobs():
    return {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == "Job"}


def test_the_jobs_pair_their_workers():
    a, b = jobs()["psi-a"]["spec"], jobs()["psi-b"]["spec"]
    for spec in (a, b):
        assert spec["completionMode"] == "Indexed"
        assert spec["completions"] == spec["parallelism"]
    workers = a["completions"]
    assert b["completions"] == workers, "worker i of A talks to worker i of B"
    args_a = a["template"]["spec"]["containers"][0]["args"]
    assert args_a[args_a.index("--shard") + 1] == f"$(JOB_COMPLETION_INDEX)/{workers}"
    peer = args_a[args_a.index("--peer") + 1]
    service = next(d for _, d in documents() if d["kind"] == "Service")
    assert service["spec"]["clusterIP"] == "None", "a headless Service"
    assert b["template"]["spec"]["subdomain"] == service["metadata"]["name"]
    assert re.fullmatch(r"https://psi-b-\$\(JOB_COMPLETION_INDEX\)\.psi-b:7700", peer)
    args_b = b["template"]["spec"]["containers"][0]["args"]
    assert "--once" in args_b and "--run-key-file" in args_b and "--state-dir" in args_b
    assert "--run-nonce-file" in args_a and "--state-dir" in args_a


def test_every_psi_flag_is_known_to_the_binary():
    psi = psi_binary()
    for job in jobs().values():
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["psi"]
        command, *args = container["args"]
        help_text = subprocess.run(
            [str(psi), command, "--help"], capture_output=True, text=True, check=True
        ).stdout
        for flag in (a for a in args if a.startswith("--")):
            assert re.search(rf"\s{re.escape(flag)}\b", help_text), f"psi {command} has no {flag}"


def flag(args, name):
    assert name in args, f"no {name} in {args}"
    return args[args.index(name) + 1]


def test_the_workers_read_their_partys_cut():
    all_jobs = jobs()
    for party in ("a", "b"):
        cut = all_jobs[f"psi-{party}-cut"]["spec"]
        workers = all_jobs[f"psi-{party}"]["spec"]
        assert cut.get("completionMode", "NonIndexed") == "NonIndexed" and cut["completions"] == 1
        cut_pod, worker_pod = cut["template"]["spec"], workers["template"]["spec"]
        cut_args, worker_args = cut_pod["containers"][0]["args"], worker_pod["containers"][0]["args"]
        assert cut_args[0] == "partition"
        assert flag(worker_args, "--partitioned") == flag(cut_args, "--out")
        for same in ("--input", "--key"):
            assert flag(worker_args, same) == flag(cut_args, same), same
        claim = lambda pod: next(v for v in pod["volumes"] if v["name"] == "state")
        assert claim(cut_pod) == claim(worker_pod), "the cut is on the claim the workers read"
        secret = lambda pod: next(v for v in pod["volumes"] if v["name"] == "secrets")
        assert secret(cut_pod) == secret(worker_pod)
    b_cut = all_jobs["psi-b-cut"]["spec"]["template"]["spec"]["containers"][0]["args"]
    b_workers = all_jobs["psi-b"]["spec"]["template"]["spec"]["containers"][0]["args"]
    a_cut = all_jobs["psi-a-cut"]["spec"]["template"]["spec"]["containers"][0]["args"]
    a_workers = all_jobs["psi-a"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert flag(b_cut, "--run-key-file") == flag(b_workers, "--run-key-file")
    assert flag(a_cut, "--run-nonce-file") == flag(a_workers, "--run-nonce-file")
    assert "--server-nonce-file" in a_cut and "--run-nonce-file" in b_cut
