#!/usr/bin/env bash
# ECDH-PSI (in memory, and `psi run` / `psi serve` over HTTP) and
# `psi-bench primitives` on every psi-group backend this CPU runs, forced
# with PSI_GROUP_BACKEND, the backends alternating within one invocation so
# that all see the same machine load. Optional: PSI-cardinality 10^5 with
# one backend against OpenMined.
#
#   cargo build --release -p psi-cli -p psi-benches
#   benches/group_backends.sh [LOG2S] [ROUNDS]       # default: 18 1
#   OPENMINED=../shared/peers/openmined_psi_bench.py CARD_BACKEND=avx2 benches/group_backends.sh 18
set -euo pipefail
cd "$(dirname "$0")/.."
bench=target/release/psi-bench
log2s=${1:-18}
rounds=${2:-1}
backends=(portable avx2 ifma8)
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short HEAD); load: $(cut -d' ' -f1-3 /proc/loadavg)"
$bench primitives
for round in $(seq "$rounds"); do
  for log2 in ${log2s//,/ }; do
    for b in "${backends[@]}"; do
      if ! out=$(PSI_GROUP_BACKEND=$b $bench ecdh --log2 "$log2" 2>&1); then
        echo "$b: $(echo "$out" | tail -1)"
        continue
      fi
      echo "round $round, PSI_GROUP_BACKEND=$b:"
      echo "$out" | grep -v '^machine' | sed 's/^/  /'
    done
  done
done
if [[ -n "${OPENMINED:-}" ]]; then
  b=${CARD_BACKEND:-avx2}
  echo "PSI-cardinality 10^5, PSI_GROUP_BACKEND=$b:"
  PSI_GROUP_BACKEND=$b $bench pjc --log2 16 --no-cli --openmined "$OPENMINED" | sed 's/^/  /'
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
