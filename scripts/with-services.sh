#!/usr/bin/env bash
# Runs CMD with real services started for it, then stops them:
#   PostgreSQL (database geo_test), MinIO, and a Temporal dev server (with Web UI),
# each on a free loopback port, with all state in a fresh temp dir that is removed afterwards.
#
#   bash scripts/with-services.sh CMD [ARGS...]
#
# Needs .data/toolchain.env from `bash scripts/provision.sh test`. A service whose variable is already set in
# the environment (DATABASE_URL, MINIO_ENDPOINT, TEMPORAL_ADDRESS) is reused and not started.
# Exports to CMD: DATABASE_URL, MINIO_ENDPOINT, MINIO_ACCESS_KEY, MINIO_SECRET_KEY, TEMPORAL_ADDRESS,
# TEMPORAL_UI_URL, GEO_SERVICES_DIR, plus everything in .data/toolchain.env (PYTHON_BIN, TEMPORAL_CLI_PATH,
# MINIO_BIN, PG_BIN_DIR, DEMO_MODEL_PATH, DEMO_MODEL_META_PATH). Exits with CMD's exit code.
# Set KEEP_SERVICES_DIR=1 to keep the temp dir (logs, data) after exit.
# shellcheck disable=SC2317 # functions below run from traps
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: bash scripts/with-services.sh CMD [ARGS...]" >&2
  exit 2
fi

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[services] %s\n' "$*" >&2; }
die() {
  printf '[services] ERROR: %s\n' "$*" >&2
  exit 1
}

TOOLCHAIN="$REPO/.data/toolchain.env"
[ -f "$TOOLCHAIN" ] || die "$TOOLCHAIN not found: run \`bash scripts/provision.sh test\` first"
set -a
# shellcheck source=/dev/null
. "$TOOLCHAIN"
set +a

TEMPORAL_DEV_NAMESPACE=default
TEMPORAL_DEV_LOG_LEVEL=warn
TEMPORAL_DEV_DYNAMIC_CONFIG=""
SERVICE_START_TIMEOUT=60
# shellcheck source=/dev/null
if [ -f "$REPO/temporal/dev-server.env" ]; then . "$REPO/temporal/dev-server.env"; fi

START_PG=1 START_MINIO=1 START_TEMPORAL=1
[ -n "${DATABASE_URL:-}" ] && START_PG=0
[ -n "${MINIO_ENDPOINT:-}" ] && START_MINIO=0
[ -n "${TEMPORAL_ADDRESS:-}" ] && START_TEMPORAL=0

if [ "$START_PG" -eq 1 ]; then
  [ -x "${PG_BIN_DIR:-/nonexistent}/initdb" ] ||
    die "PG_BIN_DIR not set or without initdb: run \`bash scripts/provision.sh test\` (or set DATABASE_URL)"
fi
if [ "$START_MINIO" -eq 1 ]; then
  [ -x "${MINIO_BIN:-/nonexistent}" ] ||
    die "MINIO_BIN not set or not executable: run \`bash scripts/provision.sh test\` (or set MINIO_ENDPOINT)"
fi
if [ "$START_TEMPORAL" -eq 1 ]; then
  [ -x "${TEMPORAL_CLI_PATH:-/nonexistent}" ] ||
    die "TEMPORAL_CLI_PATH not set or not executable: run \`bash scripts/provision.sh test\` (or set TEMPORAL_ADDRESS)"
fi

# ---------------------------------------------------------------------------------------------- lifecycle

SERVICES_DIR="$(mktemp -d "${TMPDIR:-/tmp}/geo-services.XXXXXX")"
chmod 755 "$SERVICES_DIR" # the postgres user must be able to traverse it
LOG_DIR="$SERVICES_DIR/logs"
mkdir -p "$LOG_DIR"
chmod 755 "$LOG_DIR"

MINIO_PID="" TEMPORAL_PID="" PG_DATA="" PG_STARTED=0 CMD_PID="" EXIT_CODE=0
STARTED_LOGS=()

PG_USER=""
as_pg() { # runs a command as the unprivileged user owning the cluster (postgres refuses to run as root)
  if [ -z "$PG_USER" ]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$PG_USER" -- "$@"
  else
    su -s /bin/sh "$PG_USER" -c "$(printf '%q ' "$@")"
  fi
}

stop_pid() { # stop_pid PID NAME: TERM the process group, then KILL after 15 s
  local pid="$1" name="$2" i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in 15 s; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

print_logs() {
  local file
  for file in "${STARTED_LOGS[@]}"; do
    [ -f "$file" ] || continue
    printf '[services] ---- last 30 lines of %s ----\n' "$file" >&2
    tail -n 30 "$file" >&2 || true
  done
}

cleanup() {
  local status=$?
  [ "$EXIT_CODE" -ne 0 ] || EXIT_CODE=$status
  trap - EXIT INT TERM
  set +e
  if [ -n "$CMD_PID" ] && kill -0 "$CMD_PID" 2>/dev/null; then
    kill -TERM "$CMD_PID" 2>/dev/null
    wait "$CMD_PID" 2>/dev/null
  fi
  stop_pid "$TEMPORAL_PID" temporal
  stop_pid "$MINIO_PID" minio
  if [ "$PG_STARTED" -eq 1 ]; then
    if ! as_pg "$PG_BIN_DIR/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1; then
      pid="$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null)"
      if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null; fi
    fi
  fi
  if [ "${KEEP_SERVICES_DIR:-0}" = 1 ]; then
    log "kept $SERVICES_DIR"
  else
    rm -rf "$SERVICES_DIR"
  fi
  exit "$EXIT_CODE"
}
trap cleanup EXIT
trap 'EXIT_CODE=130; exit 130' INT
trap 'EXIT_CODE=143; exit 143' TERM

fail_start() { # fail_start NAME LOGFILE MESSAGE
  log "$1 failed to start: $3"
  [ -f "$2" ] && { printf '[services] ---- last 30 lines of %s ----\n' "$2" >&2; tail -n 30 "$2" >&2; }
  EXIT_CODE=1
  exit 1
}

http_ok() { # http_ok URL: true when it answers 200
  if command -v curl >/dev/null 2>&1; then
    [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null)" = 200 ]
  else
    node -e 'fetch(process.argv[1],{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))' "$1"
  fi
}

# Free loopback ports, all picked at once so they are distinct.
read -r -a PORTS <<<"$(node -e '
const net = require("net");
const servers = Array.from({ length: 5 }, () => net.createServer());
Promise.all(servers.map((s) => new Promise((ok, ko) => s.once("error", ko).listen(0, "127.0.0.1", () => ok(s.address().port)))))
  .then((ports) => { console.log(ports.join(" ")); servers.forEach((s) => s.close()); })
  .catch((e) => { console.error(e.message); process.exit(1); });
')"
[ "${#PORTS[@]}" -eq 5 ] || die "could not pick free ports"
PG_PORT=${PORTS[0]} MINIO_PORT=${PORTS[1]} MINIO_CONSOLE_PORT=${PORTS[2]} TEMPORAL_PORT=${PORTS[3]} TEMPORAL_UI_PORT_PICKED=${PORTS[4]}

# ---------------------------------------------------------------------------------------------- start (in parallel)

# MinIO and Temporal start in the background while PostgreSQL initialises.
if [ "$START_MINIO" -eq 1 ]; then
  MINIO_ACCESS_KEY="geo-test"
  MINIO_SECRET_KEY="geo-test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  mkdir -p "$SERVICES_DIR/minio"
  STARTED_LOGS+=("$LOG_DIR/minio.log")
  MINIO_ROOT_USER="$MINIO_ACCESS_KEY" MINIO_ROOT_PASSWORD="$MINIO_SECRET_KEY" MINIO_UPDATE=off \
    setsid "$MINIO_BIN" server "$SERVICES_DIR/minio" --address "127.0.0.1:$MINIO_PORT" \
    --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" </dev/null >"$LOG_DIR/minio.log" 2>&1 &
  MINIO_PID=$!
  MINIO_ENDPOINT="http://127.0.0.1:$MINIO_PORT"
fi

if [ "$START_TEMPORAL" -eq 1 ]; then
  temporal_args=(server start-dev --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT_PICKED"
    --db-filename "$SERVICES_DIR/temporal.db" --log-level "$TEMPORAL_DEV_LOG_LEVEL" --namespace "$TEMPORAL_DEV_NAMESPACE")
  if [ -n "${TEMPORAL_NAMESPACE:-}" ] && [ "$TEMPORAL_NAMESPACE" != "$TEMPORAL_DEV_NAMESPACE" ]; then
    temporal_args+=(--namespace "$TEMPORAL_NAMESPACE")
  fi
  for value in $TEMPORAL_DEV_DYNAMIC_CONFIG; do temporal_args+=(--dynamic-config-value "$value"); done
  # The inference workflows' search attributes (temporal/search-attributes.txt).
  while IFS= read -r attribute; do
    case "$attribute" in "" | "#"*) continue ;; esac
    temporal_args+=(--search-attribute "$attribute")
  done <"$REPO/temporal/search-attributes.txt"
  STARTED_LOGS+=("$LOG_DIR/temporal.log")
  setsid "$TEMPORAL_CLI_PATH" "${temporal_args[@]}" </dev/null >"$LOG_DIR/temporal.log" 2>&1 &
  TEMPORAL_PID=$!
  TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT"
  TEMPORAL_UI_URL="http://127.0.0.1:$TEMPORAL_UI_PORT_PICKED"
fi

if [ "$START_PG" -eq 1 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    if id -u postgres >/dev/null 2>&1; then PG_USER=postgres; else PG_USER=nobody; fi
  fi
  PG_DATA="$SERVICES_DIR/pgdata"
  PG_SOCKET_DIR="$SERVICES_DIR/pgsock"
  PG_LOG="$LOG_DIR/postgres.log"
  mkdir -p "$PG_DATA" "$PG_SOCKET_DIR"
  : >"$PG_LOG"
  : >"$LOG_DIR/initdb.log"
  STARTED_LOGS+=("$PG_LOG")
  if [ -n "$PG_USER" ]; then chown "$PG_USER" "$PG_DATA" "$PG_SOCKET_DIR" "$PG_LOG" "$LOG_DIR/initdb.log"; fi
  chmod 700 "$PG_DATA"
  as_pg test -w "$PG_DATA" ||
    fail_start postgres /dev/null "user ${PG_USER:-$(id -un)} cannot write $PG_DATA (set TMPDIR to a directory it can reach)"
  as_pg "$PG_BIN_DIR/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C --no-sync \
    >"$LOG_DIR/initdb.log" 2>&1 || fail_start postgres "$LOG_DIR/initdb.log" "initdb failed"
  # Throwaway cluster: durability settings off for speed.
  # The port was free when picked, but Temporal and MinIO, starting meanwhile, may have bound it for
  # themselves (Temporal's internal services take ephemeral ports): then take another one.
  for pg_try in 1 2 3; do
    as_pg "$PG_BIN_DIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$SERVICE_START_TIMEOUT" -o \
      "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_SOCKET_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null 2>&1 && break
    if [ "$pg_try" -lt 3 ] && grep -q "Address already in use" "$PG_LOG"; then
      log "postgres port $PG_PORT was taken meanwhile: trying another"
      PG_PORT=$(node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
      : >"$PG_LOG"
      continue
    fi
    fail_start postgres "$PG_LOG" "pg_ctl start failed"
  done
  PG_STARTED=1
  "$PG_BIN_DIR/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres geo_test >>"$PG_LOG" 2>&1 ||
    fail_start postgres "$PG_LOG" "createdb geo_test failed"
  DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/geo_test"
  log "postgres ready: $DATABASE_URL"
fi

deadline=$((SECONDS + SERVICE_START_TIMEOUT))
if [ "$START_MINIO" -eq 1 ]; then
  until http_ok "$MINIO_ENDPOINT/minio/health/live"; do
    kill -0 "$MINIO_PID" 2>/dev/null || fail_start minio "$LOG_DIR/minio.log" "process exited"
    [ "$SECONDS" -lt "$deadline" ] || fail_start minio "$LOG_DIR/minio.log" "not live after ${SERVICE_START_TIMEOUT}s"
    sleep 0.2
  done
  log "minio ready: $MINIO_ENDPOINT"
fi

if [ "$START_TEMPORAL" -eq 1 ]; then
  until "$TEMPORAL_CLI_PATH" operator namespace describe --address "$TEMPORAL_ADDRESS" \
    --namespace "$TEMPORAL_DEV_NAMESPACE" >/dev/null 2>&1; do
    kill -0 "$TEMPORAL_PID" 2>/dev/null || fail_start temporal "$LOG_DIR/temporal.log" "process exited"
    [ "$SECONDS" -lt "$deadline" ] || fail_start temporal "$LOG_DIR/temporal.log" "not ready after ${SERVICE_START_TIMEOUT}s"
    sleep 0.3
  done
  log "temporal ready: $TEMPORAL_ADDRESS (Web UI $TEMPORAL_UI_URL)"
fi

export DATABASE_URL TEMPORAL_ADDRESS MINIO_ENDPOINT
[ -n "${MINIO_ACCESS_KEY:-}" ] && export MINIO_ACCESS_KEY
[ -n "${MINIO_SECRET_KEY:-}" ] && export MINIO_SECRET_KEY
[ -n "${TEMPORAL_UI_URL:-}" ] && export TEMPORAL_UI_URL
export GEO_SERVICES_DIR="$SERVICES_DIR"

# ---------------------------------------------------------------------------------------------- run CMD

# CMD runs as a background job (stdin kept) so that a TERM sent to this script is forwarded to it at once.
# Without job control bash starts background jobs with SIGINT/SIGQUIT ignored; `env --default-signal`
# (GNU coreutils >= 8.31) restores them so Ctrl-C still reaches CMD.
set +e
if env --default-signal=INT true 2>/dev/null; then
  env --default-signal=INT,QUIT "$@" <&0 &
else
  "$@" <&0 &
fi
CMD_PID=$!
SIGNALLED=0
trap 'SIGNALLED=1; kill -TERM "$CMD_PID" 2>/dev/null' TERM
trap 'SIGNALLED=1; kill -INT "$CMD_PID" 2>/dev/null' INT
while :; do
  wait "$CMD_PID"
  EXIT_CODE=$?
  kill -0 "$CMD_PID" 2>/dev/null || break
done
CMD_PID=""
set -e

if [ "$EXIT_CODE" -ne 0 ]; then
  log "command exited with $EXIT_CODE"
  # Not after an interrupt (Ctrl-C, TERM): the logs are only noise then.
  case "$SIGNALLED:$EXIT_CODE" in 1:* | *:130 | *:143) ;; *) print_logs ;; esac
fi
exit "$EXIT_CODE"
