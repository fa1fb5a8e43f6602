#!/usr/bin/env bash
# bench/run.sh - compare Strongroom with the reference registry (CNCF distribution 2.8,
# Debian package docker-registry) in one regbench run (the two take turns test by test, each
# turn starting with both servers at rest; small tests run 3 rounds, median kept), then
# measure the scan engine (layer inventory MB/s against the tar-streaming limit, model-scan
# time beside picklescan: bench/scan_engine.py). This is what `make bench` runs.
#
#   bench/run.sh                      # full run (about 9-10 minutes, writes ~14 GB, then deletes it)
#   bench/run.sh --quick              # reduced set (~2 minutes; a 150 MB layer for the scan engine)
#   bench/run.sh --quick --tests small --json bench.json    # any regbench options pass through
#
# Both servers listen on free loopback ports, keep their data in a scratch dir from mktemp -d, and
# are stopped (and the scratch dir removed) on exit. Strongroom gets a random admin password;
# distribution runs without auth, so regbench only sends credentials to Strongroom (userinfo URL).
# After the comparison it reports what one authorization decision costs (bench/authorizer.py) and
# jobs per second through the job queue on SQLite and PostgreSQL (bench/jobs.py), what the outbox
# adds to a manifest PUT at the store (bench/outbox.py), what lineage detection costs per push with
# 10,000 images stored (bench/lineage.py), model push and pull throughput beside a
# plain blob push of the same bytes (bench/models.py), then the server's memory per process at
# idle, at peak and after a warm-up (bench/memory.py: RSS, PSS, USS).
# Environment: PYTHON (default python3; use the project venv's), BENCH_WAIT (startup timeout, s),
# BENCH_KEEP=1 keeps the scratch dir (server logs and data) for a look afterwards.
# BENCH_SCAN_LAYER_MB sets the scan engine's layer size (default 600, 150 with --quick);
# BENCH_SCAN=0 leaves the scan engine out; BENCH_MEMORY=0 leaves bench/memory.py out.
# Then bench/scan_on_push.py: seconds from push to COMPLETE for a small image and a 1 GiB one
# (BENCH_SCAN_PUSH_MB), and manifest PUT/s with scan on push off and on; BENCH_SCAN_PUSH=0 skips it.
# Then bench/replication.py: push to COMPLETE at a second server for a small image and a 1 GiB
# layer (BENCH_REPLICATION_MB, 256 with --quick), the source's peak RSS, the same layer again
# (mounted at the destination) and copied to another account of the source (internal copy), and
# skopeo copy between the same servers; BENCH_REPLICATION=0 skips it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"
if [ -z "${PYTHON:-}" ] && ! "$PY" -c 'import strongroom' 2>/dev/null \
        && [ -x "$HERE/../.venv/bin/python" ]; then
    PY="$HERE/../.venv/bin/python"          # project venv not active: use it anyway
fi
WAIT="${BENCH_WAIT:-60}"

# --- the reference registry -----------------------------------------------------------------------
if ! command -v docker-registry >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "run.sh: docker-registry is missing; install it with: apt-get install -y docker-registry" >&2
        exit 1
    fi
    echo "run.sh: installing docker-registry (Debian package) ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y docker-registry >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y docker-registry >/dev/null; }
fi

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/strongroom-bench.XXXXXX")"
DIST_PID=""
SR_PID=""

# Stop a server we started: TERM, wait up to 10 s, then KILL. Its child processes (workers) are
# collected first and get the same treatment, by PID.
stop_server() {
    local pid="$1" kids="" i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kids="$(pgrep -P "$pid" || true)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    stop_server "$SR_PID"
    stop_server "$DIST_PID"
    if [ -n "${BENCH_KEEP:-}" ]; then
        echo "run.sh: BENCH_KEEP set: kept $SCRATCH (server logs, data)" >&2
    else
        rm -rf "$SCRATCH"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# HTTP status of GET <url>/v2/, optionally with Basic auth user:password; 000 if no answer.
v2_status() {
    "$PY" - "$@" <<'EOF'
import base64, http.client, sys
port, creds = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
try:
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
    headers = {"Authorization": "Basic " + base64.b64encode(creds.encode()).decode()} if creds else {}
    c.request("GET", "/v2/", headers=headers)
    print(c.getresponse().status)
except OSError:
    print("000")
EOF
}

# Wait until GET /v2/ on <port> answers <status> (with optional creds); fail if <pid> dies.
wait_for() {
    local name="$1" pid="$2" port="$3" want="$4" creds="${5:-}" log="$6" st i
    for i in $(seq 1 $((WAIT * 4))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "run.sh: $name exited during startup; its log:" >&2
            tail -n 50 "$log" >&2
            exit 1
        fi
        st="$(v2_status "$port" $creds)"
        [ "$st" = "$want" ] && return 0
        sleep 0.25
    done
    echo "run.sh: $name did not answer GET /v2/ with $want within ${WAIT}s (last: $st); its log:" >&2
    tail -n 50 "$log" >&2
    exit 1
}

DIST_PORT="$(free_port)"
SR_PORT="$(free_port)"
while [ "$SR_PORT" = "$DIST_PORT" ]; do SR_PORT="$(free_port)"; done
SR_PASSWORD="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(18))')"

# The config from shared/reference/performance-baseline.md, section 2.
cat > "$SCRATCH/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $SCRATCH/registry-data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$DIST_PORT
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
EOF

echo "run.sh: scratch dir $SCRATCH"
docker-registry serve "$SCRATCH/config.yml" >"$SCRATCH/distribution.log" 2>&1 &
DIST_PID=$!
echo "run.sh: distribution (docker-registry) pid $DIST_PID on 127.0.0.1:$DIST_PORT"

mkdir -p "$SCRATCH/sr"
STRONGROOM_ADMIN_USER=bench STRONGROOM_ADMIN_PASSWORD="$SR_PASSWORD" \
    "$PY" -m strongroom serve --host 127.0.0.1 --port "$SR_PORT" --data-dir "$SCRATCH/sr" \
    >"$SCRATCH/strongroom.log" 2>&1 &
SR_PID=$!
echo "run.sh: strongroom pid $SR_PID on 127.0.0.1:$SR_PORT"

wait_for distribution "$DIST_PID" "$DIST_PORT" 200 "" "$SCRATCH/distribution.log"
wait_for strongroom "$SR_PID" "$SR_PORT" 200 "bench:$SR_PASSWORD" "$SCRATCH/strongroom.log"
anon="$(v2_status "$SR_PORT")"
if [ "$anon" != 401 ]; then
    echo "run.sh: WARNING: strongroom answers GET /v2/ without credentials with $anon, not 401" >&2
fi

set +e
"$PY" "$HERE/regbench.py" --tmpdir "$SCRATCH" \
    --url "distribution=http://127.0.0.1:$DIST_PORT" --server-pid "$DIST_PID" \
    --url "strongroom=http://bench:$SR_PASSWORD@127.0.0.1:$SR_PORT" --server-pid "$SR_PID" \
    "$@"
status=$?
set -e
if [ "$status" = 0 ]; then
    "$PY" "$HERE/authorizer.py"   # what one authorization decision costs, in this process
    # Jobs per second through the queue on SQLite and PostgreSQL (the tests' database, or a
    # throwaway cluster; BENCH_JOBS_ARGS="--no-postgres" or "--postgres URL" to choose).
    # shellcheck disable=SC2086
    "$PY" "$HERE/jobs.py" ${BENCH_JOBS_ARGS:-} || status=$?
    # What the outbox (the push's event row, written in its transaction) adds to a manifest
    # PUT at the store, on SQLite: set it against regbench's server CPU per PUT above.
    "$PY" "$HERE/outbox.py" --puts 300 --rounds 4 --concurrency 1,32 || status=$?
    # Lineage detection per push with 1,000 and 10,000 images stored (SQLite, then the tests'
    # PostgreSQL if there is one): milliseconds and SQL statements per detection.
    "$PY" "$HERE/lineage.py" --sizes 1000,10000 --pushes 200 || status=$?
    # Model push and pull (SDK and CLI) beside a plain blob push and pull of the same bytes,
    # with the client's peak RSS (BENCH_MODEL_MB, default 200).
    "$PY" "$HERE/models.py" --mb "${BENCH_MODEL_MB:-200}" || status=$?
fi
if [ "$status" != 0 ]; then
    echo "run.sh: regbench exited with $status; last lines of the server logs:" >&2
    for name in distribution strongroom; do
        echo "--- $name.log" >&2
        tail -n 30 "$SCRATCH/$name.log" >&2
    done
fi
if [ "$status" = 0 ]; then
    stop_server "$SR_PID"; SR_PID=""        # the registries are done: give the next benches the cores
    stop_server "$DIST_PID"; DIST_PID=""
fi
if [ "$status" = 0 ] && [ "${BENCH_MEMORY:-1}" != 0 ]; then
    # RSS, PSS and USS per process and in total, at idle, at peak and after a warm-up of every
    # request kind, on a server of its own (regbench's line above gives RSS beside the reference).
    "$PY" "$HERE/memory.py" || status=$?
fi
if [ "$status" = 0 ] && [ "${BENCH_SCAN:-1}" != 0 ]; then
    layer_mb=600
    for arg in "$@"; do if [ "$arg" = --quick ]; then layer_mb=150; fi; done
    "$PY" "$HERE/scan_engine.py" --layer-mb "${BENCH_SCAN_LAYER_MB:-$layer_mb}" || status=$?
fi
if [ "$status" = 0 ] && [ "${BENCH_SCAN_PUSH:-1}" != 0 ]; then
    stop_server "$SR_PID"; SR_PID=""        # its own servers (bench/serverproc.py), one at a time
    stop_server "$DIST_PID"; DIST_PID=""
    puts=300
    for arg in "$@"; do if [ "$arg" = --quick ]; then puts=150; fi; done
    "$PY" "$HERE/scan_on_push.py" --large-mb "${BENCH_SCAN_PUSH_MB:-1024}" --puts "$puts" || status=$?
fi
if [ "$status" = 0 ] && [ "${BENCH_REPLICATION:-1}" != 0 ]; then
    stop_server "$SR_PID"; SR_PID=""        # its own two servers (bench/serverproc.py)
    stop_server "$DIST_PID"; DIST_PID=""
    replication_mb=1024
    for arg in "$@"; do if [ "$arg" = --quick ]; then replication_mb=256; fi; done
    "$PY" "$HERE/replication.py" --large-mb "${BENCH_REPLICATION_MB:-$replication_mb}" || status=$?
fi
exit "$status"
