#!/usr/bin/env bash
# The gateway on the shipped fleet under a bounded mixed load for a while:
# builds switchboard, runs `switchboard serve` on the embedded configuration
# (the simulated fleet, no history on disk), and drives it with
# scripts/soakload, which counts what became of every request and samples the
# server's goroutines, memory and open files. Fails on any request lost, hung
# or truncated, on growth, or if the server does not stop cleanly.
#
#   scripts/soak.sh [seconds]     seconds of load, default 60 (CI)
#
# Requests in flight when the time is up finish before the verdict, so a run
# takes a little longer than asked; a hung request makes it wait for the
# client's deadline (twice the router's total timeout, see soakload -deadline).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/soak.sh [seconds of load, a positive whole number]" >&2; exit 2; }

tmp=$(mktemp -d)
server_pid=""
load_pid=""

# stop ends the server (SIGTERM: serve lets requests in flight finish for up
# to 10s) and waits for it; it records the exit status in server_status.
server_status=""
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 1 150); do # 15s
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  server_status=0
  wait "$server_pid" || server_status=$?
  server_pid=""
}

# On every way out: stop what was started, remove what was written.
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$load_pid" ]; then
    kill -TERM "$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
  fi
  stop_server
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "soak.sh: building"
go build -o "$tmp/switchboard" .
go build -o "$tmp/soakload" ./scripts/soakload

# A directory without a config.toml, so that serve takes the embedded one.
# Port 0: the kernel picks a free port, and serve prints the URL.
mkdir "$tmp/run"
(cd "$tmp/run" && exec "$tmp/switchboard" serve --listen 127.0.0.1:0 --no-history >"$tmp/serve.out" 2>"$tmp/serve.log") &
server_pid=$!

url=""
for _ in $(seq 1 300); do # 30s
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "soak.sh: switchboard serve exited while starting:" >&2
    cat "$tmp/serve.out" "$tmp/serve.log" >&2
    exit 1
  fi
  url=$(sed -n 's|.*API on \(http://[^ ]*\)/v1 .*|\1|p' "$tmp/serve.out")
  [ -n "$url" ] && break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "soak.sh: switchboard serve did not say where it listens within 30s:" >&2
  cat "$tmp/serve.out" "$tmp/serve.log" >&2
  exit 1
fi
echo "soak.sh: $(cat "$tmp/serve.out")"

# In the background, so that a TERM to this script reaches it through cleanup.
"$tmp/soakload" -url "$url" -duration "${secs}s" &
load_pid=$!
load_status=0
wait "$load_pid" || load_status=$?
load_pid=""

stop_server
failed=0
if [ "$load_status" -ne 0 ]; then
  failed=1
fi
if [ "$server_status" -ne 0 ]; then
  echo "soak.sh: switchboard serve exited with status $server_status on SIGTERM, want 0" >&2
  failed=1
fi
if grep -nE '^(panic|fatal error):|DATA RACE' "$tmp/serve.log" >&2; then
  echo "soak.sh: the server's log shows a crash (above)" >&2
  failed=1
fi
if [ "$failed" -ne 0 ]; then
  echo "soak.sh: the server's log ends:" >&2
  tail -n 20 "$tmp/serve.log" >&2
  echo "soak.sh: FAILED" >&2
  exit 1
fi
echo "soak.sh: passed ($(wc -l <"$tmp/serve.log") lines of server log, server stopped cleanly)"
