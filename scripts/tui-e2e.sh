#!/usr/bin/env bash
# End-to-end test of the dashboard: the real binary, in a detached tmux
# session of fixed size, driven with send-keys and read with capture-pane,
# like a person at a terminal. Needs no TTY, so it runs in CI. The
# dashboard's API listens on a free port (read off the header), and one
# request goes through it while the dashboard has a provider off and one down.
#
# Usage: bash scripts/tui-e2e.sh
#   TUI_E2E_VERBOSE=1  print the screen after every step
#   TUI_E2E_KEEP=1     keep the temporary directory (binary, last screens)
#
# Exit status 0 when every step passed; 1 when one failed; 2 when it could
# not start (no Go, no tmux and no way to install it, build failure).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
repo=$(pwd)

log() { printf 'tui-e2e: %s\n' "$*"; }
die() { printf 'tui-e2e: %s\n' "$*" >&2; exit 2; }

# ---------------------------------------------------------------- tmux
. scripts/tmux.sh
need_tmux

# ---------------------------------------------------------------- build
tmux_sandbox tui-e2e
app_pid=""

serve_pid=""
fleet_pids=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null
  # shellcheck disable=SC2086
  [ -n "$fleet_pids" ] && kill $fleet_pids 2>/dev/null
  if [ -n "$app_pid" ] && running; then
    kill "$app_pid" 2>/dev/null
    sleep 0.2
    kill -9 "$app_pid" 2>/dev/null
  fi
  T kill-server >/dev/null 2>&1
  if [ "${TUI_E2E_KEEP:-}" = 1 ]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 1' INT TERM HUP

log "$(tmux -V), building"
go build -o "$tmp/switchboard" . || die "go build failed"

# A UTF-8 locale for tmux and the dashboard, whatever the CI machine has.
utf8=C.UTF-8
if command -v locale >/dev/null 2>&1 && ! locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
  utf8=$(locale -a 2>/dev/null | grep -iE 'utf-?8$' | head -n1)
  [ -n "$utf8" ] || utf8=C.UTF-8
fi
export LANG="$utf8" LC_ALL="$utf8"

# The pane runs this. The inner shell records its pid, which exec keeps for
# the binary; the outer one waits for it (so it is reaped at once: tmux can
# be slow to reap its own children) and records its exit status.
cat >"$tmp/run" <<EOF
#!/bin/sh
cd "$repo" || exit 97
sh -c 'echo \$\$ >"\$1/pid"; exec env TERM=xterm-256color SWITCHBOARD_ADMIN_KEY=e2e-admin "\$1/switchboard" --config "\$1/config.toml" --no-history --listen 127.0.0.1:0' sh "$tmp"
echo \$? >"$tmp/status"
EOF
chmod +x "$tmp/run"
# The shipped configuration, with its admin API on (step 7b watches it).
sed 's/^#admin_key_env = /admin_key_env = /' config.toml >"$tmp/config.toml"
grep -q '^admin_key_env = ' "$tmp/config.toml" || die "config.toml has no admin_key_env example to turn on"
# The watching dashboard (step 7b), on the first one's API.
cat >"$tmp/watch" <<EOF
#!/bin/sh
exec env TERM=xterm-256color SWITCHBOARD_ADMIN_KEY=e2e-admin "$tmp/switchboard" watch "http://127.0.0.1:\$1"
EOF
chmod +x "$tmp/watch"

# No status line (the pane is the whole window), and a dead pane stays so
# its last screen and exit status can be read.
cat >"$tmp/tmux.conf" <<'EOF'
set -g status off
set -g remain-on-exit on
set -g history-limit 100
EOF

# ---------------------------------------------------------------- helpers
SCREEN=""
# TGT is the session the helpers read and press keys in: the dashboard's,
# or the watching one's (step 7b).
TGT=e2e
capture() { SCREEN=$(T capture-pane -p -t "$TGT" 2>/dev/null); }

pane_dead() { [ "$(T display-message -p -t "$TGT" '#{pane_dead}' 2>/dev/null)" = 1 ]; }
# running: the binary is alive (not gone, not a zombie).
running() {
  local st
  st=$(awk '{ print $3 }' "/proc/$app_pid/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# wait_until SECONDS COMMAND...: re-captures every 0.2s until COMMAND (which
# reads $SCREEN) succeeds, or SECONDS pass, or the binary dies.
wait_until() {
  local timeout=$1; shift
  local deadline=$((SECONDS + timeout)) tries=0
  # SECONDS is whole seconds: count tries too, so the bound is honest.
  local max=$((timeout * 5 + 1))
  while :; do
    capture
    "$@" && return 0
    if pane_dead; then
      WHY="the binary exited (status $(cat "$tmp/status" 2>/dev/null))"
      return 1
    fi
    tries=$((tries + 1))
    if [ $tries -ge $max ] || [ $SECONDS -gt $deadline ]; then
      WHY="timed out after ${timeout}s"
      return 1
    fi
    sleep 0.2
  done
}
has() { grep -qF -- "$1" <<<"$SCREEN"; }
has_all() { local s; for s in "$@"; do has "$s" || return 1; done; }
lacks() { ! has "$1"; }
# wait_for TEXT SECONDS
wait_for() { wait_until "$2" has "$1"; }

# provider_rows: "name state" for every row of the providers table.
provider_rows() {
  awk '
    $1 == "provider" && $2 == "state" { in_table = 1; next }
    in_table {
      line = $0
      if (line !~ /^(▸ |  )/) exit
      sub(/^▸ /, "", line)
      n = split(line, f, " ")
      if (n < 3) exit
      print f[1], f[3]      # f[2] is the state glyph
    }' <<<"$SCREEN"
}
state_of() { provider_rows | awk -v p="$1" '$1 == p { print $2; exit }'; }
selected() {
  awk '$1 == "provider" && $2 == "state" { t = 1; next } t && /^▸ / { print $2; exit }' <<<"$SCREEN"
}
row_of() { grep -E "^(▸ |  )$1 " <<<"$SCREEN" | head -n1; }
cursor_on() { [ "$(selected)" = "$1" ]; }
state_is() { [ "$(state_of "$1")" = "$2" ]; }
turned_off() { row_of "$1" | grep -qF "off (you)"; }
fault_is_down() { row_of "$1" | grep -qE " on +down "; } # the fault column

# select_provider NAME: counts the rows between the cursor and NAME and
# presses j or k that many times.
select_provider() {
  local want=$1 from to i key n
  capture
  from=$(provider_rows | awk -v s="$(selected)" '$1 == s { print NR; exit }')
  to=$(provider_rows | awk -v p="$want" '$1 == p { print NR; exit }')
  if [ -z "$from" ] || [ -z "$to" ]; then
    WHY="cannot find the cursor ($from) or $want ($to) in the providers table"
    return 1
  fi
  if [ "$to" -ge "$from" ]; then key=j; n=$((to - from)); else key=k; n=$((from - to)); fi
  for ((i = 0; i < n; i++)); do T send-keys -t "$TGT" "$key"; done
  wait_until 3 cursor_on "$want" || { WHY="the cursor is not on $want ($WHY)"; return 1; }
}

# ask TEXT: focuses the console, types TEXT, sends it, and waits until the
# console header says who served this very exchange.
SERVED=""
served_by() { sed -n 's/.*Console .* served by \([a-z0-9-]*\) in .*/\1/p' <<<"$SCREEN" | head -n1; }
answered() {
  has "you › $1" || return 1
  SERVED=$(served_by)
  [ -n "$SERVED" ] && has "why $SERVED:" && has "#  attempt"
}
ask() {
  T send-keys -t e2e /
  wait_for "enter sends" 3 || { WHY="the console did not take the keys ($WHY)"; return 1; }
  T send-keys -t e2e -l "$1"
  wait_for "$1" 3 || { WHY="the prompt did not show what was typed ($WHY)"; return 1; }
  T send-keys -t e2e Enter
  wait_until 30 answered "$1" || { WHY="no \"served by\" for \"$1\" ($WHY)"; return 1; }
}

# ---------------------------------------------------------------- steps
passed=0 failed=0
step() {
  local name=$1; shift
  WHY=""
  if "$@"; then
    passed=$((passed + 1))
    log "ok   $name"
    [ "${TUI_E2E_VERBOSE:-}" = 1 ] && printf '%s\n' "$SCREEN"
  else
    failed=$((failed + 1))
    log "FAIL $name: ${WHY:-assertion failed}"
    capture
    printf '%s\n' "---- last screen (${name}) ----" "$SCREEN" "---- end of screen ----"
    printf '%s\n' "$SCREEN" >"$tmp/fail-$((passed + failed)).txt"
  fi
  return 0
}

TOGGLED=deepinfra # turned off in step 3
FORCED=groq       # forced down in step 5

# The dashboard opens on default_model, Llama in the shipped config.
live_figures() {
  has_all Switchboard "Llama 3.3 70B Instruct" || return 1
  local p
  for p in groq cerebras together; do
    row_of "$p" | grep -qE '[0-9]%' || return 1
  done
}
step1_start() {
  STARTED=$SECONDS
  T -f "$tmp/tmux.conf" new-session -d -s e2e -x 120 -y 40 "$tmp/run" || { WHY="tmux new-session failed"; return 1; }
  T resize-window -t e2e -x 120 -y 40 >/dev/null 2>&1
  local i
  for i in $(seq 1 25); do [ -s "$tmp/pid" ] && break; sleep 0.2; done
  app_pid=$(cat "$tmp/pid" 2>/dev/null)
  [ -n "$app_pid" ] || { WHY="the pane did not start"; return 1; }
  wait_until 5 live_figures || { WHY="no header and live availability for the Llama providers ($WHY)"; return 1; }
  API_PORT=$(sed -n 's/.*API 127\.0\.0\.1:\([0-9]*\) .*/\1/p' <<<"$SCREEN" | head -n1)
  [ -n "$API_PORT" ] || { WHY="the header does not say where the API listens"; return 1; }
}

# figures: the provider rows of the table, which hold every figure (the
# header's clock and health age move on their own, so they do not count).
figures() { local p rest; provider_rows | while read -r p rest; do row_of "$p"; done; }
FIRST_FIGURES=""
figures_moved() { local now; now=$(figures); [ -n "$now" ] && [ "$now" != "$FIRST_FIGURES" ]; }
step1b_moving() {
  capture
  FIRST_FIGURES=$(figures)
  [ -n "$FIRST_FIGURES" ] || { WHY="no provider rows on screen"; return 1; }
  local left=$((STARTED + 10 - SECONDS))
  [ $left -ge 1 ] || left=1
  wait_until "$left" figures_moved || { WHY="the providers' figures did not change within 10s of start, with no typing ($WHY)"; return 1; }
  log "     figures moved ~$((SECONDS - STARTED))s after start"
}

llama_listed() {
  has "Llama 3.3 70B Instruct" || return 1
  local p
  for p in groq cerebras together deepinfra fireworks novita sambanova; do
    row_of "$p" >/dev/null || return 1
  done
}
claude_listed() {
  has "Claude Sonnet 4" || return 1
  local p
  for p in anthropic google-vertex amazon-bedrock; do
    row_of "$p" >/dev/null || return 1
  done
}
step2_model() {
  T send-keys -t e2e m
  wait_until 5 claude_listed || { WHY="Claude Sonnet 4 and its three providers did not show ($WHY)"; return 1; }
  T send-keys -t e2e m
  wait_until 5 llama_listed || { WHY="Llama 3.3 70B Instruct and its seven providers did not show again ($WHY)"; return 1; }
}

step3_toggle() {
  select_provider "$TOGGLED" || return 1
  T send-keys -t e2e Space
  wait_until 3 turned_off "$TOGGLED" || { WHY="$TOGGLED does not say \"off (you)\" ($WHY)"; return 1; }
}

step4_skip() {
  ask "hello from the e2e test" || return 1
  if ! grep -E "^-  $TOGGLED " <<<"$SCREEN" | grep -qF "turned off by the user"; then
    WHY="the trace does not say $TOGGLED was skipped as turned off by the user"; return 1
  fi
  [ "$SERVED" != "$TOGGLED" ] || { WHY="served by $TOGGLED, which is off"; return 1; }
  log "     served by $SERVED; $TOGGLED skipped: turned off by the user"
}

# avail_spark NAME: NAME's availability sparkline, the cells of its row
# under the column title "avail… last …" (its start) up to the error
# rate's title. Bash counts characters in a UTF-8 locale, so the bars
# count one each.
avail_spark() {
  local titles row from to
  titles=$(grep -E '^  provider  +state ' <<<"$SCREEN" | head -n1)
  row=$(row_of "$1")
  [[ $titles =~ (.*)(avail[a-z]*,?\ last) ]] || return 1
  from=${#BASH_REMATCH[1]}
  [[ $titles =~ (.*)(err[a-z ]*,?\ last) ]] || return 1
  to=${#BASH_REMATCH[1]}
  printf '%s' "${row:from:to-from}"
}
# outage_drawn NAME: NAME's availability sparkline has a failed cell (the
# lowest bar), which a healthy provider's never has.
outage_drawn() { avail_spark "$1" | grep -qF '▁'; }

step5_fault() {
  T send-keys -t e2e Escape
  wait_for "? help" 3 || { WHY="esc did not leave the console ($WHY)"; return 1; }
  select_provider "$FORCED" || return 1
  local before
  before=$(avail_spark "$FORCED") || { WHY="no availability sparkline column at 120 columns"; return 1; }
  if grep -qF '▁' <<<"$before"; then WHY="$FORCED's availability shows a failure before any was forced: \"$before\""; return 1; fi
  T send-keys -t e2e f
  wait_until 3 fault_is_down "$FORCED" || { WHY="the fault column of $FORCED does not say down ($WHY)"; return 1; }
  local t0=$SECONDS
  wait_until 20 state_is "$FORCED" down || { WHY="$FORCED is not in state down ($WHY)"; return 1; }
  log "     $FORCED down after ~$((SECONDS - t0))s"
  wait_until 3 outage_drawn "$FORCED" || { WHY="$FORCED's availability sparkline shows no outage: \"$before\" -> \"$(avail_spark "$FORCED")\" ($WHY)"; return 1; }
  log "     availability \"$before\" -> \"$(avail_spark "$FORCED")\""
  ask "second question from the e2e test" || return 1
  [ "$SERVED" != "$FORCED" ] || { WHY="served by $FORCED, which is down"; return 1; }
  [ "$SERVED" != "$TOGGLED" ] || { WHY="served by $TOGGLED, which is off"; return 1; }
  if ! grep -E "^[0-9-]+ +$FORCED " <<<"$SCREEN" | grep -qw down; then
    WHY="the trace does not list $FORCED as down"; return 1
  fi
  log "     served by $SERVED"
}

# api_chat MODEL: one chat completion through the dashboard's API, over
# bash's /dev/tcp (no curl needed); sets API_STATUS and API_PROVIDER.
api_chat() {
  local body="{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi from the e2e test\"}],\"max_tokens\":5}"
  local answer
  exec 3<>"/dev/tcp/127.0.0.1/$API_PORT" || return 1
  printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "${#body}" "$body" >&3
  answer=$(timeout 30 cat <&3)
  exec 3<&-
  API_STATUS=$(head -n1 <<<"$answer" | awk '{ print $2 }')
  API_PROVIDER=$(sed -n 's/^X-Switchboard-Provider: \([a-z0-9-]*\).*/\1/p' <<<"$answer" | head -n1)
}
step_api() {
  api_chat meta-llama/llama-3.3-70b-instruct || { WHY="cannot connect to the API on port $API_PORT"; return 1; }
  [ "$API_STATUS" = 200 ] || { WHY="the API answered $API_STATUS"; return 1; }
  case "$API_PROVIDER" in
  "") WHY="the API's answer does not say who served"; return 1 ;;
  "$FORCED" | "$TOGGLED") WHY="the API was served by $API_PROVIDER, which is down or off"; return 1 ;;
  esac
  log "     API on port $API_PORT: served by $API_PROVIDER"
}

# routed_vs_best: the header (first line) says what routing delivered
# against the best single provider, and the request rate.
routed_vs_best() { head -n1 <<<"$SCREEN" | grep -qE 'req/s .*routed [0-9.]+% (vs best single|/ best) [0-9.]+%'; }
step_header() {
  wait_until 5 routed_vs_best || { WHY="at 120 columns the header does not show routed-vs-best: \"$(head -n1 <<<"$SCREEN")\" ($WHY)"; return 1; }
}

# watcher_gone: the watching session TGT's pane ended within 5 s (the
# pane_dead test of wait_until would call its death a failure).
watcher_gone() {
  local i
  for i in $(seq 1 25); do
    pane_dead && return 0
    sleep 0.2
  done
  WHY="the watching dashboard did not end within 5s of q"
  return 1
}

# step7b_watch: switchboard watch on the dashboard's API shows the same
# fleet (the endpoint turned off in step 3 off there too), and space in it
# turns an endpoint off in the dashboard it watches, whose row says by the
# admin API; space again turns it back on; q ends it.
WATCHED=cerebras
off_admin() { row_of "$1" | grep -qF "off (admin)"; }
back_on() { row_of "$1" | grep -qE " on +"; }
step7b_watch() {
  T -f "$tmp/tmux.conf" new-session -d -s w -x 120 -y 40 "$tmp/watch $API_PORT" || { WHY="tmux new-session failed"; return 1; }
  T resize-window -t w -x 120 -y 40 >/dev/null 2>&1
  TGT=w
  wait_until 10 live_figures || { TGT=e2e; WHY="the watching dashboard shows no live figures ($WHY)"; return 1; }
  wait_until 3 turned_off "$TOGGLED" || { TGT=e2e; WHY="the watching dashboard does not show $TOGGLED off ($WHY)"; return 1; }
  select_provider "$WATCHED" || { TGT=e2e; return 1; }
  T send-keys -t w Space
  wait_until 5 off_admin "$WATCHED" || { TGT=e2e; WHY="the watching dashboard does not show $WATCHED off (admin) ($WHY)"; return 1; }
  TGT=e2e
  wait_until 5 off_admin "$WATCHED" || { WHY="the watched dashboard does not show $WATCHED off (admin) ($WHY)"; return 1; }
  T send-keys -t w Space
  wait_until 5 back_on "$WATCHED" || { WHY="$WATCHED did not come back on in the watched dashboard ($WHY)"; return 1; }
  T send-keys -t w q
  TGT=w
  watcher_gone || { TGT=e2e; return 1; }
  TGT=e2e
}

# step7c_watch_serve: switchboard watch on a switchboard serve: f in the
# watcher forces a fault on serve's simulated provider, which serve's admin
# API then reports; q ends the watcher.
FAULTED=together
admin_get() { # admin_get PORT PATH: serve's admin answer's body, over /dev/tcp
  local answer
  exec 4<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer e2e-admin\r\nConnection: close\r\n\r\n' "$2" >&4
  answer=$(timeout 10 cat <&4)
  exec 4<&-
  printf '%s' "$answer"
}
step7c_watch_serve() {
  env SWITCHBOARD_ADMIN_KEY=e2e-admin "$tmp/switchboard" serve --config "$tmp/config.toml" --no-history --listen 127.0.0.1:0 \
    >"$tmp/serve.out" 2>"$tmp/serve.err" &
  serve_pid=$!
  local port="" i
  for i in $(seq 1 50); do
    port=$(sed -n 's|.*API on http://127\.0\.0\.1:\([0-9]*\)/v1.*|\1|p' "$tmp/serve.out" 2>/dev/null | head -n1)
    [ -n "$port" ] && break
    sleep 0.2
  done
  [ -n "$port" ] || { WHY="serve did not say where it listens: $(cat "$tmp/serve.err")"; return 1; }
  T -f "$tmp/tmux.conf" new-session -d -s w2 -x 120 -y 40 "$tmp/watch $port" || { WHY="tmux new-session failed"; return 1; }
  T resize-window -t w2 -x 120 -y 40 >/dev/null 2>&1
  TGT=w2
  wait_until 10 live_figures || { TGT=e2e; WHY="the dashboard watching serve shows no live figures ($WHY)"; return 1; }
  select_provider "$FAULTED" || { TGT=e2e; return 1; }
  T send-keys -t w2 f
  wait_until 5 fault_is_down "$FAULTED" || { TGT=e2e; WHY="the watcher's fault column of $FAULTED does not say down ($WHY)"; return 1; }
  admin_get "$port" /admin/v1/faults | grep -qF "\"$FAULTED\":\"down\"" || { TGT=e2e; WHY="serve's admin API does not report $FAULTED down"; return 1; }
  T send-keys -t w2 q
  watcher_gone || { TGT=e2e; return 1; }
  TGT=e2e
  kill "$serve_pid" 2>/dev/null
  wait "$serve_pid" 2>/dev/null
  serve_pid=""
}

# step7d_fleet: two switchboard serve replicas of one fleet, through a
# redis-server of the step's own: the watcher on one shows the fleet line
# and, with r, both replicas; Redis killed, it shows the replica cut off;
# Redis back on the same port, the fleet again.
redis_pid=""
start_redis() { # start_redis PORT: a redis-server on it, no persistence; waits until it is ready
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.out" 2>&1 &
  redis_pid=$!
  fleet_pids="$fleet_pids $redis_pid"
  local i
  for i in $(seq 1 50); do
    grep -q "Ready to accept connections" "$tmp/redis.out" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
serve_replica() { # serve_replica NAME: a fleet replica on a free port, written to $tmp/NAME.port
  { cat "$tmp/config.toml"; printf '\n[cluster]\nredis_url = "redis://127.0.0.1:%s"\nreplica = "%s"\nprefix = "e2e-%s"\n' "$REDIS_PORT" "$1" "$$"; } >"$tmp/$1.toml"
  env SWITCHBOARD_ADMIN_KEY=e2e-admin "$tmp/switchboard" serve --config "$tmp/$1.toml" --no-history --listen 127.0.0.1:0 \
    >"$tmp/$1.out" 2>"$tmp/$1.err" &
  fleet_pids="$fleet_pids $!"
  local port="" i
  for i in $(seq 1 50); do
    port=$(sed -n 's|.*API on http://127\.0\.0\.1:\([0-9]*\)/v1.*|\1|p' "$tmp/$1.out" 2>/dev/null | head -n1)
    [ -n "$port" ] && { echo "$port" >"$tmp/$1.port"; return 0; }
    sleep 0.2
  done
  return 1
}
fleet_of_two() { has_all "fleet: 2 replicas" "this is e2e-1" "the fleet's figures"; }
both_replicas() { has_all "e2e-1 (this)" "e2e-2"; }
cut_off() { has_all "fleet: e2e-1 cut off" "out of reach" "cut off: this replica's figures"; }
step7d_fleet() {
  command -v redis-server >/dev/null 2>&1 || { WHY="redis-server is not installed (.ci/run installs it)"; return 1; }
  REDIS_PORT=""
  local p
  for p in $(seq $((21000 + RANDOM % 20000)) 41999); do
    (exec 5<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { REDIS_PORT=$p; break; }
  done
  start_redis "$REDIS_PORT" || { WHY="redis-server did not start: $(cat "$tmp/redis.out")"; return 1; }
  serve_replica e2e-1 || { WHY="replica e2e-1 did not say where it listens: $(cat "$tmp/e2e-1.err")"; return 1; }
  serve_replica e2e-2 || { WHY="replica e2e-2 did not say where it listens: $(cat "$tmp/e2e-2.err")"; return 1; }
  T -f "$tmp/tmux.conf" new-session -d -s w3 -x 140 -y 45 "$tmp/watch $(cat "$tmp/e2e-1.port")" || { WHY="tmux new-session failed"; return 1; }
  T resize-window -t w3 -x 140 -y 45 >/dev/null 2>&1
  TGT=w3
  wait_until 15 fleet_of_two || { TGT=e2e; WHY="the watcher on e2e-1 does not show a fleet of two ($WHY)"; return 1; }
  T send-keys -t w3 r
  wait_until 5 both_replicas || { TGT=e2e; WHY="r does not list both replicas ($WHY)"; return 1; }
  kill "$redis_pid"
  wait "$redis_pid" 2>/dev/null
  wait_until 10 cut_off || { TGT=e2e; WHY="with Redis gone the watcher does not show e2e-1 cut off ($WHY)"; return 1; }
  start_redis "$REDIS_PORT" || { WHY="redis-server did not start again: $(cat "$tmp/redis.out")"; TGT=e2e; return 1; }
  wait_until 15 fleet_of_two || { TGT=e2e; WHY="with Redis back the watcher does not show the fleet of two again ($WHY)"; return 1; }
  grep -c "Redis is out of reach" "$tmp/e2e-1.err" | grep -qx 1 || { TGT=e2e; WHY="e2e-1 did not log once that Redis is out of reach: $(grep -c "out of reach" "$tmp/e2e-1.err")"; return 1; }
  T send-keys -t w3 q
  TGT=w3
  watcher_gone || { TGT=e2e; return 1; }
  TGT=e2e
  local pid
  for pid in $fleet_pids; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  fleet_pids=""
}

help_closed() { lacks "previous model" && has "? help"; }
step6_help() {
  T send-keys -t e2e Escape
  wait_for "? help" 3 || { WHY="esc did not leave the console ($WHY)"; return 1; }
  T send-keys -t e2e '?'
  wait_until 3 has_all "previous model" "scroll answer down" || { WHY="the full help did not open ($WHY)"; return 1; }
  T send-keys -t e2e '?'
  wait_until 3 help_closed || { WHY="the full help did not close ($WHY)"; return 1; }
}

providers_back() { has "Providers" && row_of groq >/dev/null && row_of sambanova >/dev/null; }
screen_back() { lacks "too small" && providers_back; }
step7_resize() {
  T resize-window -t e2e -x 50 -y 12
  wait_for "too small" 3 || { WHY="no \"too small\" at 50x12 ($WHY)"; return 1; }
  T resize-window -t e2e -x 120 -y 40
  wait_until 3 screen_back || { WHY="the providers did not come back at 120x40 ($WHY)"; return 1; }
}

step8_quit() {
  T send-keys -t e2e q
  local i
  for i in $(seq 1 15); do
    running || break
    sleep 0.2
  done
  if running; then WHY="the binary (pid $app_pid) is still running 3s after q"; return 1; fi
  wait_until 2 pane_dead || { WHY="the pane's command did not end ($WHY)"; return 1; }
  local status
  status=$(cat "$tmp/status" 2>/dev/null)
  [ "$status" = 0 ] || { WHY="the binary exited with status ${status:-unknown}"; return 1; }
  app_pid=""
}

start=$SECONDS
step "1 start: header and live availability" step1_start
step "1b no typing: the figures move within 10s of start" step1b_moving
step "2 m, m: Claude Sonnet 4 and its providers, then Llama again" step2_model
step "3 j, space: $TOGGLED off (you)" step3_toggle
step "4 prompt: $TOGGLED skipped, not serving" step4_skip
step "4b header at 120 columns: routed vs best single" step_header
step "5 f: $FORCED down, its availability sparkline shows it, served by another" step5_fault
step "6 API: a request through it avoids $FORCED and $TOGGLED too" step_api
step "7 ?: full help opens and closes" step6_help
step "7b watch: a second dashboard on the API sees the fleet and turns $WATCHED off and on there" step7b_watch
step "7c watch serve: f in the watcher forces $FAULTED down on switchboard serve" step7c_watch_serve
step "7d fleet: the watcher on one of two replicas shows the fleet, each replica, and Redis killed and back" step7d_fleet
step "8 resize 50x12 and back" step7_resize
step "9 q: exits within 3s" step8_quit

log "scenario took $((SECONDS - start))s"
log "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
