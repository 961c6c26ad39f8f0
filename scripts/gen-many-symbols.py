#!/usr/bin/env python3
"""Writes a synthetic Binance spot recording with many symbols, for the scale bench
(scripts/bench-many-symbols.sh): exchangeInfo, one 1000-level depth snapshot per symbol,
then rounds of one depth diff (two levels) per symbol and a trade every tenth round, in
cryptofeed's JSON-lines session format. Deterministic; nothing is downloaded.

usage: gen-many-symbols.py OUT.jsonl [--symbols 1000] [--rounds 600] [--diff-every 1]
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--symbols", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=600, help="diff rounds (100 ms apart)")
    ap.add_argument("--diff-every", type=int, default=1, help="a symbol's diff every N rounds")
    args = ap.parse_args()
    wires = [f"S{i:04d}USDT" for i in range(args.symbols)]
    t0 = 1_723_161_254.0
    with open(args.out, "w") as f:
        def line(obj):
            f.write(json.dumps(obj, separators=(",", ":")) + "\n")

        line({"t": "header", "format": 2, "exchange": "BINANCE", "config": {}, "recorded": t0})
        info = {"symbols": [{"symbol": w, "baseAsset": w[:-4], "quoteAsset": "USDT"} for w in wires]}
        line({"t": "http", "conn": "BINANCE.http.0", "ts": t0, "url": "https://api.binance.com/api/v3/exchangeInfo",
              "data": json.dumps(info, separators=(",", ":"))})
        for i, w in enumerate(wires):
            mid = 100 + i
            bids = [[f"{mid - 0.01 * (k + 1):.2f}", f"{1 + k % 7}.00000000"] for k in range(1000)]
            asks = [[f"{mid + 0.01 * (k + 1):.2f}", f"{1 + k % 5}.00000000"] for k in range(1000)]
            snap = {"lastUpdateId": 1000, "bids": bids, "asks": asks}
            line({"t": "http", "conn": "BINANCE.http.0", "ts": t0, "url": f"https://api.binance.com/api/v3/depth?symbol={w}&limit=1000",
                  "data": json.dumps(snap, separators=(",", ":"))})
        line({"t": "connect", "conn": "BINANCE.ws.1", "ts": t0, "url": "wss://stream.binance.com:9443/stream"})
        trade_id = 1
        for r in range(args.rounds):
            ts = t0 + 0.1 * (r + 1)
            ms = int(ts * 1000)
            for i, w in enumerate(wires):
                if (r + i) % args.diff_every:
                    continue
                mid = 100 + i
                u = 1000 + 2 * (r + 1)
                bid = [f"{mid - 0.01 * (1 + r % 50):.2f}", f"{(r % 9) + 1}.00000000"]
                ask = [f"{mid + 0.01 * (1 + r % 40):.2f}", f"{(r % 4) + 1}.00000000"]
                first = u - 1 - 2 * (args.diff_every - 1)
                data = {"e": "depthUpdate", "E": ms, "s": w, "U": first, "u": u, "b": [bid], "a": [ask]}
                line({"t": "recv", "conn": "BINANCE.ws.1", "ts": ts,
                      "data": json.dumps({"stream": f"{w.lower()}@depth@100ms", "data": data}, separators=(",", ":"))})
                if r % (10 * args.diff_every) < args.diff_every:
                    trade = {"e": "trade", "E": ms, "s": w, "t": trade_id, "p": f"{mid:.2f}", "q": "0.50000000",
                             "T": ms, "m": r % 20 == 0, "M": True}
                    trade_id += 1
                    line({"t": "recv", "conn": "BINANCE.ws.1", "ts": ts,
                          "data": json.dumps({"stream": f"{w.lower()}@trade", "data": trade}, separators=(",", ":"))})


if __name__ == "__main__":
    main()
