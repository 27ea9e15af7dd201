#!/usr/bin/env bash
# Seedforge container entrypoint.
#   serve [ARGS]   (default) the job API + worker on $SEEDFORGE_HOST:$SEEDFORGE_PORT, data in $SEEDFORGE_DATA_DIR
#   healthcheck    what the image's HEALTHCHECK runs: GET /healthz of the server this container serves
#   anything else  passed to the seedforge CLI (generate, seeds lint, models, ...)
set -euo pipefail

SEEDFORGE_BIN="${SEEDFORGE_BIN:-seedforge}"
PYTHON="${SEEDFORGE_PYTHON:-python3}"
DATA_DIR="${SEEDFORGE_DATA_DIR:-/data}"
HOST="${SEEDFORGE_HOST:-0.0.0.0}"
PORT="${SEEDFORGE_PORT:-8080}"
# Only a container that serves has something to health-check; one-off commands report healthy.
MARKER="${SEEDFORGE_SERVING_MARKER:-/tmp/seedforge-serving}"

die() {
    echo "seedforge-entrypoint: $*" >&2
    exit 64
}

serve() {
    local insecure=0 arg
    for arg in "$@"; do
        if [ "$arg" = "--insecure-no-auth" ]; then insecure=1; fi
    done
    if [ -z "${SEEDFORGE_API_TOKEN:-}" ] && [ -z "${SEEDFORGE_API_TOKEN_FILE:-}" ] && [ "$insecure" = 0 ]; then
        die "no API token: set SEEDFORGE_API_TOKEN, or SEEDFORGE_API_TOKEN_FILE to a mounted secret (or pass --insecure-no-auth)"
    fi
    if [ -n "${SEEDFORGE_API_TOKEN_FILE:-}" ] && [ ! -r "$SEEDFORGE_API_TOKEN_FILE" ]; then
        die "SEEDFORGE_API_TOKEN_FILE=$SEEDFORGE_API_TOKEN_FILE is not readable by uid $(id -u)"
    fi
    mkdir -p "$DATA_DIR" 2>/dev/null || true
    if ! touch "$DATA_DIR/.seedforge-write-test" 2>/dev/null; then
        die "$DATA_DIR is not writable by uid $(id -u): mount a volume that this user owns"
    fi
    rm -f "$DATA_DIR/.seedforge-write-test"
    local config=()
    if [ -n "${SEEDFORGE_SERVICE_CONFIG:-}" ]; then
        [ -r "$SEEDFORGE_SERVICE_CONFIG" ] || die "SEEDFORGE_SERVICE_CONFIG=$SEEDFORGE_SERVICE_CONFIG is not readable"
        config=(--config "$SEEDFORGE_SERVICE_CONFIG")
    fi
    echo "$PORT" >"$MARKER"
    exec "$SEEDFORGE_BIN" serve --host "$HOST" --port "$PORT" --data-dir "$DATA_DIR" ${config[@]+"${config[@]}"} "$@"
}

healthcheck() {
    [ -f "$MARKER" ] || exit 0
    exec "$PYTHON" - "$(cat "$MARKER")" <<'PY'
import sys
import urllib.request

try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=5) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # refused, timeout, or 503 while the worker is down
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)
PY
}

command="${1:-serve}"
[ "$#" -gt 0 ] && shift
case "$command" in
    serve) serve "$@" ;;
    healthcheck) healthcheck ;;
    *) exec "$SEEDFORGE_BIN" "$command" "$@" ;;
esac
