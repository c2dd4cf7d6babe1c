#!/usr/bin/env bash
# Runs every fuzz target in the module for a while each, one after the other.
#
#   scripts/fuzz.sh [seconds]     seconds per target, default 5 (CI); give
#                                 120 or more before calling a parser fuzzed
#
# Targets are discovered with go test -list, never listed here, so a target
# added to any package runs without touching this script. Their seed corpora
# (testdata/fuzz/<Target>/ and f.Add) already run in every go test; this
# mutates them. A target that fails leaves its input in its package's
# testdata/fuzz/<Target>/, which go test then runs as a seed: commit it with
# the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-5}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/fuzz.sh [seconds per target, a positive whole number]" >&2; exit 2; }

# Inputs that write files (FuzzOpen writes a history file per input, and
# bbolt syncs it) run many times faster on a tmpfs, where a sync is free.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  tmp=$(mktemp -d /dev/shm/switchboard-fuzz.XXXXXX)
else
  tmp=$(mktemp -d)
fi
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp

# A safety net for a shared machine: an input that makes a parser allocate
# without bound fails here with "out of memory" instead of bringing in the
# kernel's OOM killer. Targets check their own, far lower, bounds.
ulimit -v $((8 << 20)) # KiB: 8 GiB of address space

# go test -list prints each package's matching names, then "ok <package>
# <time>" (or "? <package> [no test files]").
if ! listing=$(go test -list '^Fuzz' ./... 2>&1); then
  echo "$listing" >&2
  echo "fuzz.sh: listing the fuzz targets failed (does the module build?)" >&2
  exit 1
fi
targets=() # "package name"
names=()
while read -r first pkg _; do
  case $first in
  Fuzz*) names+=("$first") ;;
  ok)
    for n in ${names[@]+"${names[@]}"}; do
      targets+=("$pkg $n")
    done
    names=()
    ;;
  esac
done <<<"$listing"
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz.sh: found no fuzz targets; go test -list said:" >&2
  echo "$listing" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${secs}s each"

failed=()
flakes=0
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "== $name ($pkg)"
  dir=$(go list -f '{{.Dir}}' "$pkg")
  corpus="$dir/testdata/fuzz/$name"
  before=$(ls "$corpus" 2>/dev/null | sort || true)
  # -parallel 1: one fuzzing worker, on a machine with two cores shared with
  # others. -fuzzminimizetime: the default (60s) spends a short run
  # shrinking the inputs it finds interesting instead of fuzzing.
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "${secs}s" -fuzzminimizetime 5s -parallel 1 "$pkg" 2>&1 | tee "$tmp/out"; then
    continue
  fi
  # Go 1.26's fuzzing coordinator can report "context deadline exceeded"
  # when -fuzztime runs out while a worker is busy (go.dev/issue/75804,
  # fixed in Go 1.27): no input failed, and none was written. A real
  # failure (a panic, a broken property, a hang) always writes its input.
  after=$(ls "$corpus" 2>/dev/null | sort || true)
  if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$tmp/out"; then
    echo "fuzz.sh: $name: Go's end-of-fuzztime race (go.dev/issue/75804), not a failing input; counted as passed" >&2
    flakes=$((flakes + 1))
    continue
  fi
  echo "fuzz.sh: $name in $pkg FAILED; the input is in ${dir#"$PWD/"}/testdata/fuzz/$name/ (re-run: go test -run '^$name\$' $pkg)" >&2
  failed+=("$name ($pkg)")
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: ${#failed[@]} of ${#targets[@]} targets failed:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets passed (${secs}s each; ${flakes} met Go's end-of-fuzztime race)"
