#!/usr/bin/env bash
# Benchmarks: criterion micro-benchmarks on recorded Binance frames, then the end-to-end
# `replay` throughput of the hftbacktest spot capture (frames/s, output to /dev/null).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo bench --locked --bench binance --bench coinbase -- --warm-up-time 1 --measurement-time 3
cargo build --release --locked --quiet

capture=fixtures/binance_spot_btcusdt_20240808_head6000.gz
frames=$(zcat "$capture" | grep -c '"stream"')
runs=20
best_ns=""
for _ in $(seq $runs); do
    start=$(date +%s%N)
    target/release/feedhandler --log warn replay "$capture" > /dev/null
    ns=$(( $(date +%s%N) - start ))
    if [ -z "$best_ns" ] || [ "$ns" -lt "$best_ns" ]; then best_ns=$ns; fi
done
echo "replay end-to-end: $frames frames, best of $runs runs $(( best_ns / 1000 )) us" \
     "=> $(( frames * 1000000000 / best_ns )) frames/s (process start, gunzip, parse, books, JSON out)"
