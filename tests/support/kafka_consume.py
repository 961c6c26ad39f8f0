#!/usr/bin/env python3
"""Test consumer for feedhandler's Kafka sink tests (run with <repo>/.venv/bin/python).

    kafka_consume.py --bootstrap 127.0.0.1:PORT --topics t1,t2 --expect N \
                     --timeout-s S --group G [-X key=value ...]

Subscribes to the topics as consumer group G (auto.offset.reset=earliest,
enable.auto.commit=false, session.timeout.ms=6000) and reads until N messages
arrived or S seconds passed since start (group join included). Prints one JSON
object per message on stdout, in arrival order, flushed per line:

    {"topic": "...", "partition": 0, "offset": 0, "key": "...", "value": "...",
     "headers": {"name": "value"}}

key, value and header values are decoded as UTF-8 (invalid bytes become U+FFFD);
a missing key/value/header value is null; with repeated header names the last
one wins. Then commits the offsets of the printed messages synchronously,
closes the consumer (leaves the group) and exits 0 if N messages were read and
committed, 1 otherwise (timeout, failed commit), 2 on bad arguments. Diagnostics go to stderr.

Never reads more than N messages, so the committed offsets are exactly the
printed ones. -X passes extra librdkafka consumer properties (repeatable).
"""

import argparse
import json
import os
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException


def log(msg):
    print(f"[kafka_consume] {msg}", file=sys.stderr, flush=True)


def text(b):
    if b is None:
        return None
    if isinstance(b, str):
        return b
    return bytes(b).decode("utf-8", errors="replace")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bootstrap", required=True, help="host:port[,host:port...]")
    p.add_argument("--topics", required=True, help="comma-separated topic names")
    p.add_argument("--expect", required=True, type=int, help="messages to read")
    p.add_argument("--timeout-s", required=True, type=float, help="overall deadline")
    p.add_argument("--group", default=f"kafka-consume-{os.getpid()}", help="group.id")
    p.add_argument("-X", dest="props", action="append", default=[], metavar="KEY=VALUE",
                   help="extra librdkafka consumer property (repeatable)")
    args = p.parse_args(argv)
    args.topics = [t.strip() for t in args.topics.split(",") if t.strip()]
    if not args.topics:
        p.error("--topics: no topic given")
    if args.expect < 0:
        p.error("--expect must be >= 0")
    for kv in args.props:
        if "=" not in kv:
            p.error(f"-X {kv!r}: expected KEY=VALUE")
    return args


def main(argv):
    args = parse_args(argv)
    conf = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        # A topic that does not exist yet at subscribe time is looked up again
        # after this interval (librdkafka's default is 5 minutes).
        "topic.metadata.refresh.interval.ms": 1000,
    }
    for kv in args.props:
        k, v = kv.split("=", 1)
        conf[k] = v

    start = time.monotonic()
    deadline = start + args.timeout_s
    consumer = Consumer(conf)
    consumer.subscribe(args.topics)
    count = 0
    committed = True
    first_at = None
    try:
        while count < args.expect:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            msg = consumer.poll(min(remaining, 0.5))
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise KafkaException(err)
                # Non-fatal (e.g. a subscribed topic that does not exist yet):
                # report and keep waiting until the deadline.
                log(f"consumer error (continuing): {err}")
                continue
            if first_at is None:
                first_at = time.monotonic()
            headers = {}
            for name, value in msg.headers() or []:
                headers[name] = text(value)
            line = {
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": text(msg.key()),
                "value": text(msg.value()),
                "headers": headers,
            }
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
            sys.stdout.flush()
            count += 1
        if count > 0:
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as e:
                log(f"commit failed: {e}")
                committed = False
    finally:
        consumer.close()

    elapsed = time.monotonic() - start
    first = f", first message after {first_at - start:.2f} s" if first_at else ""
    log(f"read {count}/{args.expect} messages in {elapsed:.2f} s{first}"
        + ("" if committed else ", offsets NOT committed"))
    return 0 if count == args.expect and committed else 1


if __name__ == "__main__":
    sys.stdout.reconfigure(encoding="utf-8")
    sys.exit(main(sys.argv[1:]))
