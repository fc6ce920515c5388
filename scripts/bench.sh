#!/usr/bin/env bash
# Runs one benchmark (bench/NAME.ts, built to dist/bench/NAME.js) the way every `npm run bench:*` does:
# through scripts/ready.sh (tools provisioned, npm packages and the build brought up to date), bulk-pipeline
# and event-latency also through scripts/with-services.sh (PostgreSQL, MinIO and a Temporal dev server, or those already
# named by DATABASE_URL, MINIO_ENDPOINT, TEMPORAL_ADDRESS).
#
#   bash scripts/bench.sh NAME [--tiny] [ARGS...]
#
# --tiny (or BENCH_TINY=1): a few tiles, seconds, to check that the benchmark runs and prints its figures;
# its numbers mean nothing. Other ARGS go to the benchmark.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="${1:-}"
if [ -z "$name" ] || [ ! -f "$repo/bench/$name.ts" ]; then
  echo "usage: bash scripts/bench.sh NAME [--tiny] [ARGS...], NAME one of:" $(cd "$repo/bench" && ls *.ts | sed -e 's/\.ts$//' -e '/^bench-util$/d') >&2
  exit 2
fi
shift
if [ "${1:-}" = --tiny ]; then
  export BENCH_TINY=1
  shift
fi
if [ "${BENCH_TINY:-}" = 1 ]; then echo "• tiny mode: a check that $name runs; its figures mean nothing"; fi

case "$name" in
  bulk-pipeline | event-latency | faults | scene) exec bash "$repo/scripts/ready.sh" test bash "$repo/scripts/with-services.sh" node "$repo/dist/bench/$name.js" "$@" ;;
  *) exec bash "$repo/scripts/ready.sh" demo node "$repo/dist/bench/$name.js" "$@" ;;
esac
