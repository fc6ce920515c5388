#!/usr/bin/env bash
# Registers the inference workflows' search attributes on a Temporal cluster (production, or any server not
# started by this project). Idempotent: attributes that exist already are left alone.
#   TEMPORAL_ADDRESS=host:7233 TEMPORAL_NAMESPACE=default bash temporal/setup-search-attributes.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cli="${TEMPORAL_CLI_PATH:-temporal}"
address="${TEMPORAL_ADDRESS:-127.0.0.1:7233}"
namespace="${TEMPORAL_NAMESPACE:-default}"
existing="$("$cli" operator search-attribute list --address "$address" --namespace "$namespace" 2>/dev/null || true)"
grep -v '^#' "$here/search-attributes.txt" | while IFS='=' read -r name type; do
  [ -n "$name" ] || continue
  if grep -qw "$name" <<<"$existing"; then
    echo "search attribute $name exists"
  else
    "$cli" operator search-attribute create --address "$address" --namespace "$namespace" --name "$name" --type "$type"
    echo "search attribute $name ($type) created"
  fi
done
