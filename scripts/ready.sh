#!/usr/bin/env bash
# Gets the checkout ready, then runs CMD with the toolchain's variables. `npm start`, `npm run demo`,
# `npm run processor:run` and every `npm run bench:*` go through it, so each works on a fresh clone.
#
#   bash scripts/ready.sh demo|test CMD [ARGS...]
#
# Two things at once, each quiet (output in .data/logs/, shown when it fails):
#   - the tools of `scripts/provision.sh MODE`, skipped while .data/toolchain.env is current (written for
#     MODE or test mode, newer than provision.sh and python/requirements.txt, every path in it present);
#   - `npm install` when node_modules is missing (so `npm run demo` alone on a fresh clone installs the npm
#     packages and the Python venv at the same time), then the build when a source changed
#     (scripts/ensure-built.js).
# Each step that did something prints one line with its time. Then CMD runs (exec) with the variables of
# .data/toolchain.env that are not already set, and GEO_READY_STARTED_MS (when this began, ms since the
# epoch) unless set.
set -euo pipefail

if [ $# -lt 2 ] || { [ "$1" != demo ] && [ "$1" != test ]; }; then
  echo "usage: bash scripts/ready.sh demo|test CMD [ARGS...]" >&2
  exit 2
fi
mode="$1"
shift

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="$repo/.data"
log_dir="$data_dir/logs"
toolchain="$data_dir/toolchain.env"
mkdir -p "$log_dir"

now_ms() {
  local t="${EPOCHREALTIME:-}"
  if [ -n "$t" ]; then echo $((${t//[.,]/} / 1000)); else echo $(($(date +%s) * 1000)); fi
}
start_ms="$(now_ms)"

toolchain_current() {
  [ -f "$toolchain" ] || return 1
  local written value
  written="$(sed -n '1s/^# Written by scripts\/provision.sh \([a-z]*\) .*/\1/p' "$toolchain")"
  [ "$written" = "$mode" ] || [ "$written" = test ] || return 1
  [ "$toolchain" -nt "$repo/scripts/provision.sh" ] && [ "$toolchain" -nt "$repo/python/requirements.txt" ] || return 1
  while IFS= read -r value; do
    [ -e "$value" ] || return 1
  done < <(sed -n "s/^export [A-Z_]*='\(.*\)'\$/\1/p" "$toolchain")
}

# step LOG LABEL CMD...: CMD with its output in LOG; then "• LABEL (N s)" if it printed anything (a step
# with nothing to do is silent), or LOG's last lines if it failed.
step() {
  local log="$1" label="$2" started status=0
  shift 2
  started="$(now_ms)"
  "$@" >"$log" 2>&1 </dev/null || status=$?
  local ms=$(($(now_ms) - started))
  if [ "$status" -ne 0 ]; then
    printf '✗ %s failed (exit %s after %d.%d s); the end of %s:\n' "$label" "$status" $((ms / 1000)) $((ms % 1000 / 100)) \
      "${log#"$repo"/}" >&2
    tail -n 40 "$log" >&2
    return "$status"
  fi
  if [ -s "$log" ]; then printf '• %s (%d.%d s)\n' "$(step_label "$log" "$label")" $((ms / 1000)) $((ms % 1000 / 100)); fi
}

install_and_build() {
  if [ ! -f "$repo/node_modules/.package-lock.json" ]; then
    step "$log_dir/npm-install.log" "npm packages installed" npm install --prefer-offline --no-audit --no-fund || return
  fi
  step "$log_dir/build.log" "built" node "$repo/scripts/ensure-built.js"
}

# "• built (12.3 s)" says why too: ensure-built's first line is "[ensure-built] <why>: building".
step_label() {
  local why
  why="$(sed -n '1s/^\[ensure-built\] \(.*\): building$/\1/p' "$1" 2>/dev/null || true)"
  if [ -n "$why" ]; then printf '%s, %s' "$2" "$why"; else printf '%s' "$2"; fi
}

provision=1
if toolchain_current; then provision=0; fi
if [ ! -f "$toolchain" ] || [ ! -f "$repo/node_modules/.package-lock.json" ]; then
  printf '• first run: installing and building (a minute or two; logs in .data/logs/)\n'
fi

provision_pid=""
if [ "$provision" -eq 1 ]; then
  step "$log_dir/provision.log" "Python venv, Temporal CLI and demo model ready" \
    bash "$repo/scripts/provision.sh" "$mode" &
  provision_pid=$!
fi
status=0
install_and_build || status=$?
if [ -n "$provision_pid" ]; then wait "$provision_pid" || status=$?; fi
[ "$status" -eq 0 ] || exit "$status"

[ -f "$toolchain" ] || {
  echo "✗ $toolchain is missing: run bash scripts/provision.sh $mode" >&2
  exit 1
}
# Variables already set (PYTHON_BIN=..., DEMO_MODEL_PATH=...) win over the toolchain's.
while IFS='=' read -r name value; do
  [ -n "${!name+set}" ] || export "$name=$value"
done < <(sed -n "s/^export \([A-Z_][A-Z0-9_]*\)='\(.*\)'\$/\1=\2/p" "$toolchain")
# `scripts/provision.sh gpu` ran: the CUDA libraries of onnxruntime's CUDA provider are found through
# LD_LIBRARY_PATH, read only when a process starts, so it is set here for CMD.
# A reinstall of node_modules drops the provider links next to the binding: they are made again.
if [ -f "$data_dir/gpu.env" ]; then
  gpu_lib="$(sed -n "s/^export LD_LIBRARY_PATH='\(.*\)'\$/\1/p" "$data_dir/gpu.env")"
  gpu_site="$(sed -n "s/^export GEO_GPU_SITE='\(.*\)'\$/\1/p" "$data_dir/gpu.env")"
  binding_dir="$repo/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
  if [ -d "$gpu_lib" ] && [ -d "$binding_dir" ]; then
    export LD_LIBRARY_PATH="$gpu_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    for provider in libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
      if [ ! -e "$binding_dir/$provider" ] && [ -f "$gpu_site/onnxruntime/capi/$provider" ]; then
        ln -sfn "$gpu_site/onnxruntime/capi/$provider" "$binding_dir/$provider"
      fi
    done
  fi
fi
export GEO_READY_STARTED_MS="${GEO_READY_STARTED_MS:-$start_ms}"
exec "$@"
