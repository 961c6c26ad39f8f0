#!/usr/bin/env bash
# Scale bench: 1,000 Binance spot symbols (trades + books) against a local venue that
# plays a synthetic recording in real time (scripts/gen-many-symbols.py; 1,000 diffs and
# 100 trades per 100 ms). For snapshot depths 100 and 1000 it reports what `check`
# plans, the peak RSS of `feedhandler run`, and how many books are synced over time
# (all of them at depth 100; at depth 1000 the venue's weight budget makes the first
# sync take about 16 minutes, so the run is cut after LIMIT_1000 seconds).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SYMBOLS=${SYMBOLS:-1000}
LIMIT_100=${LIMIT_100:-120}
LIMIT_1000=${LIMIT_1000:-60}
# A diff per symbol every DIFF_EVERY rounds of 100 ms, and the snapshots' share of the
# venue's request weight at depth 1000 (a long run: LIMIT_1000=600 SHARE_1000=90 DIFF_EVERY=10).
DIFF_EVERY=${DIFF_EVERY:-1}
SHARE_1000=${SHARE_1000:-50}
cargo build --release --locked --quiet
bin=$PWD/target/release/feedhandler
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
rounds=$(( (LIMIT_100 > LIMIT_1000 ? LIMIT_100 : LIMIT_1000) * 10 + 100 ))
python3 scripts/gen-many-symbols.py "$dir/many.jsonl" --symbols "$SYMBOLS" --rounds "$rounds" --diff-every "$DIFF_EVERY"
symbols=$(python3 -c "print(', '.join(f'S{i:04d}-USDT' for i in range($SYMBOLS)))")

for depth in ${DEPTHS:-100 1000}; do
    limit=$LIMIT_100; share=50
    if [ "$depth" = 1000 ]; then limit=$LIMIT_1000; share=$SHARE_1000; fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$bin" --log warn simulate --recording "$dir/many.jsonl" --listen "127.0.0.1:$port" --live-book --realtime > "$dir/sim.log" 2>&1 &
    sim=$!
    until grep -q serving "$dir/sim.log"; do sleep 0.2; done
    cat > "$dir/cfg.yaml" <<YAML
exchanges:
  binance:
    symbols: [$symbols]
    channels: [trades, l2_book]
    depth_limit: $depth
    snapshot_weight_share_percent: $share
    ws_url: ws://127.0.0.1:$port
    rest_url: http://127.0.0.1:$port
YAML
    echo "== depth $depth: $("$bin" check --config "$dir/cfg.yaml" | grep snapshots: | sed 's/^ *//')"
    start=$(date +%s%N)
    "$bin" --log warn run --config "$dir/cfg.yaml" > "$dir/out.jsonl" 2> "$dir/err.log" &
    pid=$!
    synced=0; elapsed=0; all=""
    while [ "$elapsed" -lt "$limit" ]; do
        sleep 1
        elapsed=$(( ($(date +%s%N) - start) / 1000000000 ))
        synced=$(grep -c '"status":"synced"' "$dir/out.jsonl" || true)
        if [ $((elapsed % 10)) = 0 ]; then echo "   ${elapsed} s: $synced of $SYMBOLS books synced"; fi
        if [ "$synced" -ge "$SYMBOLS" ] && [ -z "$all" ]; then
            all=$(( ($(date +%s%N) - start) / 1000000 )); break
        fi
    done
    rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"; wait "$pid" || true
    kill "$sim"; wait "$sim" 2>/dev/null || true
    events=$(wc -l < "$dir/out.jsonl")
    if [ -n "$all" ]; then
        echo "   all $SYMBOLS books synced after $(( all / 1000 )).$(( all % 1000 / 100 )) s"
    else
        echo "   after ${limit} s: $synced of $SYMBOLS books synced"
    fi
    echo "   peak RSS $(( rss_kb / 1024 )) MB, $events events"
done
