#!/usr/bin/env bash
# Mutation fuzzing with invariant checks (tests/fuzz.rs), in release: ten million inputs
# by default (FEEDHANDLER_FUZZ_EXECS), seed FEEDHANDLER_FUZZ_SEED (7). CI runs the same
# test with a short budget as part of `cargo test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export FEEDHANDLER_FUZZ_EXECS=${FEEDHANDLER_FUZZ_EXECS:-10000000}
cargo test --release --locked --test fuzz -- --nocapture
