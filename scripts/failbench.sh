#!/usr/bin/env bash
# Before and after: builds switchboard at a base revision (default: the
# parent of the first commit of issue 11's work, given as $1) and at the
# working tree, and runs scripts/failbench on each: what a client gets from
# each fault failover should rescue an answer from.
#
#   scripts/failbench.sh [base-revision]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-10324b6}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/base" "$base"
(cd "$tmp/base" && go build -o "$tmp/before" .)
go build -o "$tmp/after" .
go build -o "$tmp/failbench" ./scripts/failbench
"$tmp/failbench" -bin "$tmp/before" -label before
"$tmp/failbench" -bin "$tmp/after" -label after | tail -n +2
