# Sourced by the scripts that drive the dashboard in tmux. need_tmux
# installs tmux when it is missing (as root with apt-get, else with
# password-less sudo) or stops the script with die, which the caller
# defines, as it does log.
need_tmux() {
  command -v tmux >/dev/null 2>&1 && return 0
  log "tmux is not installed; installing it"
  if [ "$(id -u)" -eq 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null; } ||
      die "could not install tmux with apt-get; install tmux (3.0 or newer) and run again"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    { sudo -n apt-get update -qq && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null; } ||
      die "could not install tmux with sudo apt-get; install tmux (3.0 or newer) and run again"
  else
    die "tmux is missing and this user ($(id -un)) is not root and has no password-less sudo: install tmux (3.0 or newer) and run again"
  fi
  command -v tmux >/dev/null 2>&1 || die "tmux is still missing after apt-get install"
}

# tmux_sandbox NAME makes a temporary directory ($tmp) and a tmux server of
# the script's own (socket $sock, driven with T ...), apart from any tmux
# the user runs.
tmux_sandbox() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || die "mktemp failed"
  sock="$1-$$"
  unset TMUX TMUX_PANE
}
T() { tmux -u -L "$sock" "$@"; }
