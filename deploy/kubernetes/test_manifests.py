"""The Kubernetes manifests of a sharded run and of a sharded linkage: valid
against the Kubernetes API schema (kubernetes-validate, strict), Indexed Jobs
wired to each other, each party's linkage workers meeting on that party's own
claim, and every `psi` flag they use known to the binary built from this
checkout.

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
        ("Job", "psi-a-link"),
        ("Job", "psi-b-link"),
        ("Service", "psi-b-link"),
    }


@pytest.mark.parametrize("name,doc", list(documents()))
def test_valid_against_the_kubernetes_schema(name, doc):
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def jobs():
    return {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == "Job"}


@pytest.mark.parametrize("a_name,b_name", [("psi-a", "psi-b"), ("psi-a-link", "psi-b-link")])
def test_the_jobs_pair_their_workers(a_name, b_name):
    a, b = jobs()[a_name]["spec"], jobs()[b_name]["spec"]
    for spec in (a, b):
        assert spec["completionMode"] == "Indexed"
        assert spec["completions"] == spec["parallelism"]
    workers = a["completions"]
    assert b["completions"] == workers, "worker i of A talks to worker i of B"
    args_a = a["template"]["spec"]["containers"][0]["args"]
    assert args_a[args_a.index("--shard") + 1] == f"$(JOB_COMPLETION_INDEX)/{workers}"
    peer = args_a[args_a.index("--peer") + 1]
    service = next(
        d for _, d in documents() if d["kind"] == "Service" and d["metadata"]["name"] == b_name
    )
    assert service["spec"]["clusterIP"] == "None", "a headless Service"
    assert service["spec"]["selector"] == {"job-name": b_name}
    assert b["template"]["spec"]["subdomain"] == service["metadata"]["name"]
    pattern = rf"https://{b_name}-\$\(JOB_COMPLETION_INDEX\)\.{b_name}:7700"
    assert re.fullmatch(pattern, peer)
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


def test_the_linkage_workers_meet_on_their_own_partys_claim():
    all_jobs = jobs()
    pods = {p: all_jobs[f"psi-{p}-link"]["spec"]["template"]["spec"] for p in ("a", "b")}
    args = {p: pods[p]["containers"][0]["args"] for p in pods}
    workers = all_jobs["psi-a-link"]["spec"]["completions"]
    for party, pod in pods.items():
        a = args[party]
        assert flag(a, "--shard") == f"$(JOB_COMPLETION_INDEX)/{workers}", "server workers shard too"
        shard_dir = flag(a, "--shard-dir")
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "state")
        assert shard_dir.startswith(mount["mountPath"] + "/"), "the shard directory is on the state claim"
        assert not mount.get("readOnly", False)
        state_dir = flag(a, "--state-dir")
        assert state_dir.startswith(mount["mountPath"] + "/") and "$(JOB_COMPLETION_INDEX)" in state_dir
        assert "--partitioned" not in a, "a linkage spills every key itself"
        assert len([x for x in a if x == "--key"]) >= 2, "a waterfall of several keys"
    claim = lambda pod: next(v for v in pod["volumes"] if v["name"] == "state")
    assert claim(pods["a"]) != claim(pods["b"]), "each party meets on its own claim"
    assert claim(pods["a"]) == claim(all_jobs["psi-a"]["spec"]["template"]["spec"])
    assert flag(args["a"], "--run-nonce-file") and flag(args["b"], "--run-key-file")
    keys = lambda a: [a[i + 1] for i, x in enumerate(a) if x == "--key"]
    assert keys(args["a"]) == keys(args["b"]), "both parties' keys in the same order"
    assert "--once" in args["b"] and "--output" in args["b"]
    assert "--align" in args["a"], "the walk-through's aligned outputs pair worker i with worker i"
