#!/usr/bin/env bash
# Resource figures of the dashboard for the closing note: idle CPU and
# resident memory of `switchboard` (the simulated fleet and the monitor run
# inside it) on the default configuration, in a detached tmux session
# (120x40 unless MEASURE_SIZE says otherwise), untouched after start.
#
# Usage: bash scripts/measure.sh
#   MEASURE_CPU_SECONDS=60  length of the idle-CPU window [60]
#   MEASURE_WARMUP=5        seconds left out after the first screen [5]
#   MEASURE_MINUTES=10      when resident memory is read, in minutes from
#                           start (may be fractional, e.g. 0.5) [10]
#   MEASURE_BIN=path        measure this binary instead of building one
#   MEASURE_SIZE=WxH        the terminal's size [120x40]; from 44 lines the
#                           detail pane's chart is drawn too
#   MEASURE_ARGS="..."      more flags for the dashboard, e.g. "--demo-traffic 0"
#
# CPU is (utime+stime) from /proc/PID/stat over the window, in ticks of
# CLK_TCK, as a percentage of one core. Memory is VmRSS (and the peak,
# VmHWM) from /proc/PID/status. Goals: idle CPU under 3% of one core,
# RSS under 60 MB. Exits 0 when the figures were taken (whatever they are),
# 2 when they could not be.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
repo=$(pwd)
say() { printf 'measure: %s\n' "$*"; }
die() { printf 'measure: %s\n' "$*" >&2; exit 2; }
log() { say "$@"; }

cpu_seconds=${MEASURE_CPU_SECONDS:-60}
warmup=${MEASURE_WARMUP:-5}
minutes=${MEASURE_MINUTES:-10}
size=${MEASURE_SIZE:-120x40}
cols=${size%x*} lines=${size#*x}
case "$cols$lines" in *[!0-9]*|'') die "MEASURE_SIZE must be WxH, e.g. 160x48, not $size" ;; esac
rss_at=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')

. scripts/tmux.sh
need_tmux

tmux_sandbox measure
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  T kill-server >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

bin=${MEASURE_BIN:-}
if [ -z "$bin" ]; then
  go build -o "$tmp/switchboard" . || die "go build failed"
  bin=$tmp/switchboard
fi
[ -x "$bin" ] || die "$bin is not an executable"

export LANG=C.UTF-8 LC_ALL=C.UTF-8
cat >"$tmp/run" <<EOF
#!/bin/sh
cd "$repo" || exit 97
echo \$\$ >"$tmp/pid"
exec env TERM=xterm-256color "$bin" --no-history ${MEASURE_ARGS:-}
EOF
chmod +x "$tmp/run"
printf 'set -g status off\n' >"$tmp/tmux.conf"

T -f "$tmp/tmux.conf" new-session -d -s m -x "$cols" -y "$lines" "$tmp/run" || die "tmux new-session failed"
for _ in $(seq 1 50); do [ -s "$tmp/pid" ] && break; sleep 0.1; done
pid=$(cat "$tmp/pid" 2>/dev/null)
[ -n "$pid" ] || die "the dashboard did not start"
t_start=$(date +%s.%N)
for _ in $(seq 1 50); do T capture-pane -p -t m | grep -q Switchboard && break; sleep 0.1; done
T capture-pane -p -t m | grep -q Switchboard || die "the dashboard shows no screen after 5s"

hz=$(getconf CLK_TCK)
alive() { [ -r "/proc/$pid/stat" ] && [ "$(awk '{print $3}' "/proc/$pid/stat")" != Z ]; }
# ticks: utime+stime of the whole process (every thread). Fields are
# counted after the ")" closing the command name.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
now() { date +%s.%N; }
tmux_pid=$(T display-message -p '#{pid}')

say "pid $pid, $(tmux -V), $size, CLK_TCK=$hz, $(nproc) cores"
say "warm-up ${warmup}s, then idle CPU over ${cpu_seconds}s"
sleep "$warmup"
alive || die "the dashboard exited during the warm-up"
c0=$(ticks "$pid"); x0=$(ticks "$tmux_pid"); w0=$(now)
sleep "$cpu_seconds"
alive || die "the dashboard exited during the CPU window"
c1=$(ticks "$pid"); x1=$(ticks "$tmux_pid"); w1=$(now)
cpu=$(awk -v a="$c0" -v b="$c1" -v s="$w0" -v e="$w1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz / (e - s) * 100 }')
tcpu=$(awk -v a="$x0" -v b="$x1" -v s="$w0" -v e="$w1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz / (e - s) * 100 }')
say "idle CPU: $cpu% of one core ($((c1 - c0)) ticks in $(awk -v s="$w0" -v e="$w1" 'BEGIN { printf "%.1f", e - s }')s); tmux server: $tcpu%"
say "RSS after the CPU window: $(( $(kb "$pid" VmRSS) / 1024 )) MB"

# Memory: sampled every minute until rss_at seconds from start.
while :; do
  el=$(awk -v s="$t_start" -v n="$(now)" 'BEGIN { printf "%d", n - s }')
  [ "$el" -ge "$rss_at" ] && break
  left=$((rss_at - el)); [ "$left" -gt 60 ] && left=60
  sleep "$left"
  alive || die "the dashboard exited after ${el}s"
  el=$(awk -v s="$t_start" -v n="$(now)" 'BEGIN { printf "%d", n - s }')
  say "  at ${el}s: VmRSS $(kb "$pid" VmRSS) kB, threads $(kb "$pid" Threads)"
done
rss=$(kb "$pid" VmRSS); hwm=$(kb "$pid" VmHWM)
total=$(ticks "$pid"); el=$(awk -v s="$t_start" -v n="$(now)" 'BEGIN { printf "%.0f", n - s }')
avg=$(awk -v t="$total" -v hz="$hz" -v el="$el" 'BEGIN { printf "%.2f", t / hz / el * 100 }')

verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v < g) ? "under the goal" : "OVER the goal" }'; }
rss_mb=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
echo
echo "switchboard dashboard, default fleet, idle in tmux $size ($(nproc) cores, $(go version 2>/dev/null | awk '{print $3}'))"
printf '  idle CPU over %ss:      %s%% of one core   (goal < 3%%: %s)\n' "$cpu_seconds" "$cpu" "$(verdict "$cpu" 3)"
printf '  RSS after %s min:       %s MB (peak %s MB)   (goal < 60 MB: %s)\n' "$minutes" "$rss_mb" \
  "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')" "$(verdict "$rss_mb" 60)"
printf '  average CPU since start: %s%% of one core over %ss\n' "$avg" "$el"
printf '  tmux server during the CPU window: %s%% of one core\n' "$tcpu"
