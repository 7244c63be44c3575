#!/usr/bin/env bash
# The FEBRL 4 linkage waterfall (17 exact keys, aligned output) through the
# real binaries, `psi serve` and `psi run`, once per psi-group backend
# (PSI_GROUP_BACKEND), in alternating rounds: the before/after of issue 16.
#
#   benches/febrl_waterfall.sh [FEBRL_DIR] [ROUNDS] [BACKENDS]
#
# FEBRL_DIR holds febrl4a.csv and febrl4b.csv (default: $PSI_FEBRL_DIR, else
# ../shared/data); ROUNDS defaults to 3; BACKENDS to "portable avx2 ifma8"
# (a backend this CPU lacks is SKIPPED, named). Prints the machine, each
# run's `psi run` total seconds and wall seconds, the median per backend, and
# checks that every backend linked the same pairs of rows (row i of A's
# aligned output with row i of B's; the link ids are fresh in every run).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
febrl=${1:-${PSI_FEBRL_DIR:-$here/../shared/data}}
rounds=${2:-3}
backends=${3:-portable avx2 ifma8}
if [[ ! -f $febrl/febrl4a.csv || ! -f $febrl/febrl4b.csv ]]; then
    echo "SKIPPED: febrl4a.csv and febrl4b.csv not found in $febrl (give the directory or set PSI_FEBRL_DIR)"
    exit 0
fi

cargo build --release --quiet -p psi-cli --manifest-path "$here/Cargo.toml"
psi=$here/target/release/psi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

keys=(
    "given_name:name,surname:name,date_of_birth:date"
    "surname:name,date_of_birth:date,postcode"
    "given_name:name,date_of_birth:date,postcode"
    "given_name:name,surname:name,postcode"
    "date_of_birth:date,postcode,street_number:digits"
    "given_name:name,surname:name,suburb:text"
    "given_name:name,date_of_birth:date,suburb:text"
    "surname:name,date_of_birth:date,suburb:text"
    "date_of_birth:date,address_1:text,suburb:text"
    "surname:name,postcode,address_1:text"
    "given_name:name,postcode,address_1:text"
    "given_name:name,surname:name,address_1:text"
    "date_of_birth:date,street_number:digits,address_1:text"
    "given_name:name,surname:name,street_number:digits"
    "surname:name,street_number:digits,postcode"
    "given_name:name,street_number:digits,postcode"
    "date_of_birth:date,suburb:text,street_number:digits"
)
key_args=()
for k in "${keys[@]}"; do key_args+=(--key "$k"); done

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(nproc) hardware threads; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "FEBRL 4: $(($(wc -l < "$febrl/febrl4a.csv") - 1)) x $(($(wc -l < "$febrl/febrl4b.csv") - 1)) rows, ${#keys[@]}-key waterfall, --align, $rounds alternating rounds"

# One linkage with backend $1, round $2: prints "total wall".
link() {
    local backend=$1 round=$2 dir=$work/$1-$2
    mkdir -p "$dir"
    PSI_GROUP_BACKEND=$backend "$psi" serve --once --listen 127.0.0.1:0 --quiet \
        "${key_args[@]}" --input "$febrl/febrl4b.csv" --output "$dir/b.csv" \
        --report "$dir/rb.json" > "$dir/serve.out" 2> "$dir/serve.err" &
    local server=$!
    local url=""
    for _ in $(seq 100); do
        url=$(sed -n 's/^listening on //p' "$dir/serve.out")
        [[ -n $url ]] && break
        kill -0 $server 2> /dev/null || break
        sleep 0.1
    done
    if [[ -z $url ]]; then
        echo "server failed: $(cat "$dir/serve.err")" >&2
        return 1
    fi
    local start end
    start=$(date +%s.%N)
    PSI_GROUP_BACKEND=$backend "$psi" run --peer "$url" --align --quiet "${key_args[@]}" \
        --input "$febrl/febrl4a.csv" --output "$dir/a.csv" --report "$dir/ra.json" > /dev/null
    end=$(date +%s.%N)
    wait $server
    python3 - "$dir/ra.json" "$start" "$end" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
total = dict(r["seconds"])["total"]
print(f"{total:.3f} {float(sys.argv[3]) - float(sys.argv[2]):.3f} {r['environment']['crypto_backend']}")
EOF
}

declare -A results
available=()
for backend in $backends; do
    probe=$(PSI_GROUP_BACKEND=$backend "$psi" gen --rows-a 1 --rows-b 1 --overlap 0 \
        --out-a "$work/p-a.csv" --out-b "$work/p-b.csv" 2>&1 > /dev/null || true)
    if [[ -n $probe ]]; then
        echo "SKIPPED: $backend ($probe)"
    else
        available+=("$backend")
    fi
done
for round in $(seq "$rounds"); do
    for backend in "${available[@]}"; do
        line=$(link "$backend" "$round")
        echo "round $round  $backend: psi run total ${line%% *} s, wall $(echo "$line" | cut -d' ' -f2) s ($(echo "$line" | cut -d' ' -f3-))"
        results[$backend]+="${line%% *} "
        if ! python3 - "$work/$backend-$round" "$work/${available[0]}-1" <<'EOF'
import csv, sys
# Link ids are fresh per run, so compare the linked pairs: row i of A's
# aligned output with row i of B's, the psi_id column left out.
def pairs(d):
    def rows(name):
        with open(f"{d}/{name}", newline="") as f:
            r = list(csv.reader(f))
        drop = r[0].index("psi_id")
        return [tuple(v for j, v in enumerate(row) if j != drop) for row in r[1:]]
    return sorted(zip(rows("a.csv"), rows("b.csv")))
sys.exit(0 if pairs(sys.argv[1]) == pairs(sys.argv[2]) else 1)
EOF
        then
            echo "MISMATCH: $backend round $round linked other pairs than ${available[0]} round 1" >&2
            exit 1
        fi
    done
done
echo "aligned rows: $(($(wc -l < "$work/${available[0]}-1/a.csv") - 1)) (the same pairs for every backend and round)"
for backend in "${available[@]}"; do
    median=$(echo "${results[$backend]}" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "median $backend: $median s"
done
