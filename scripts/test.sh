#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what the tests need
# (proxy servers, Kafka-protocol broker, Python consumer; idempotent), then checks
# formatting and lints, and runs every test. Tests start their own servers on 127.0.0.1.
# Needs root (apt-get) or passwordless sudo; needs ../shared/fixtures beside the checkout
# (or FEEDHANDLER_FIXTURES pointing at a copy).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" -eq 0 ]; then
    scripts/install-test-deps.sh
else
    sudo scripts/install-test-deps.sh
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "== docker-compose config (the stack cannot start here: no container engine)"
docker-compose -f docker-compose.yml config --quiet
echo "== cargo test"
cargo test --all-targets --locked
