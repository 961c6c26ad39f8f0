#!/usr/bin/env bash
# The offline demo of the main job: `feedhandler simulate` plays the bundled Binance
# recording as a local venue on 127.0.0.1:9443, and `feedhandler run` streams it —
# through the same connection factory, parser and book code as live — to stdout.
# Writes demo-output.jsonl (normalized events) and demo-recording.jsonl (raw traffic,
# replayable with `feedhandler replay`). Talks only to 127.0.0.1; building needs the
# crates once (`cargo fetch --locked` while online), after that no network at all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release --locked --quiet
BIN=target/release/feedhandler

"$BIN" simulate --recording fixtures/binance_spot_btcusdt_20240808_head6000.gz --listen 127.0.0.1:9443 &
SIM=$!
trap 'kill "$SIM" 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/9443) 2>/dev/null && break; sleep 0.05; done

# The recording plays in well under a second; stop the run after 5 s with SIGINT.
timeout --signal=INT 5 "$BIN" run --config config/offline-demo.yaml --record demo-recording.jsonl \
    > demo-output.jsonl || [ $? -eq 124 ]

echo "events by type:"
grep -o '"type":"[a-z_]*"' demo-output.jsonl | sort | uniq -c
echo "first trade:"
grep -m1 '"type":"trade"' demo-output.jsonl
echo "replaying the recording of this run:"
"$BIN" replay demo-recording.jsonl | grep -o '"type":"[a-z_]*"' | sort | uniq -c
