#!/usr/bin/env bash
# Metrics overhead: `feedhandler replay` of recorded sessions with metrics off and on
# (`metrics.listen` set: every event, resync and sink result counted, /metrics served),
# same binary, same input, output to /dev/null. Reports the best wall time of N runs
# and the instruction count (valgrind callgrind: deterministic, unlike time on a
# shared 2-core machine) of each. The target: on ≤ 3 % slower than off.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fixtures=${FEEDHANDLER_FIXTURES:-../shared/fixtures}
runs=${RUNS:-20}

cargo build --release --locked --quiet
bin=target/release/feedhandler
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# replay takes only the sink and metrics from a configuration; the exchange is a placeholder.
printf 'exchanges:\n  binance: { symbols: [X-Y], channels: [trades] }\n' > "$dir/off.yaml"
cp "$dir/off.yaml" "$dir/on.yaml"
printf 'metrics:\n  listen: "127.0.0.1:0"\n' >> "$dir/on.yaml"

best_us() {
    local best="" start ns
    for _ in $(seq "$runs"); do
        start=$(date +%s%N)
        "$bin" --log warn replay "$1" --config "$2" > /dev/null
        ns=$(( $(date +%s%N) - start ))
        if [ -z "$best" ] || [ "$ns" -lt "$best" ]; then best=$ns; fi
    done
    echo $(( best / 1000 ))
}

instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
        "$bin" --log warn replay "$1" --config "$2" > /dev/null 2> "$dir/cg.log"
    sed -n 's/^summary: //p' "$dir/cg.out"
}

printf '%-48s %10s %10s %8s %14s %14s %8s\n' recording "off us" "on us" change "off instr" "on instr" change
for rec in fixtures/binance_spot_btcusdt_20240808_head6000.gz \
           "$fixtures/hftbacktest/binance_usdm_btcusdt_20240808_head6000.gz" \
           "$fixtures/cryptofeed/COINBASE.jsonl"; do
    off=$(best_us "$rec" "$dir/off.yaml")
    on=$(best_us "$rec" "$dir/on.yaml")
    if command -v valgrind > /dev/null; then
        ioff=$(instructions "$rec" "$dir/off.yaml")
        ion=$(instructions "$rec" "$dir/on.yaml")
    else
        ioff=0 ion=0
    fi
    pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%+.1f%%", (b - a) * 100 / a; else print "-" }'; }
    printf '%-48s %10s %10s %8s %14s %14s %8s\n' "$(basename "$rec")" "$off" "$on" "$(pct "$off" "$on")" \
        "$ioff" "$ion" "$(pct "$ioff" "$ion")"
done
