#!/bin/bash
# A live check of limactl-autostart against the real launchd, for a maintainer on a Mac. It does
# not run in CI, which has no macOS. Read it before you run it.
#
#   npm ci && npm run build
#   test/macos/live.sh             # a stand-in limactl in a temporary LIMA_HOME: no VM starts
#   test/macos/live.sh INSTANCE    # your Lima instance INSTANCE: started, its host agent
#                                  # killed with SIGKILL and brought back, then stopped
#
# Steps: enable --now at login; `launchctl print` shows the job running; kill -9 of the host
# agent; launchd starts a new one (ThrottleInterval is 30 s, so this takes up to about 30 s);
# switch to boot with --now and back, each time running under the new job only; disable --now; the job, the plist and the process are gone. On exit, also after a failure, it
# disables the instance again and removes its temporary files.
set -euo pipefail
[ "$(uname -s)" = Darwin ] || { echo "live.sh: this is $(uname -s); it needs macOS and launchd" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
cli=$repo/bin/limactl-autostart
[ -f "$repo/dist/src/cli.js" ] || { echo "live.sh: run 'npm ci && npm run build' in $repo first" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/limactl-autostart-live.XXXXXX")
instance=${1:-}
if [ -z "$instance" ]; then
  instance=autostart-live-$$
  export LIMA_HOME=$work/lima
  mkdir -p "$LIMA_HOME/$instance" "$work/bin"
  echo '# a stand-in instance for test/macos/live.sh' > "$LIMA_HOME/$instance/lima.yaml"
  # `limactl start NAME --foreground` stays in the foreground, like the host agent.
  cat > "$work/bin/limactl" <<'EOF'
#!/bin/sh
case "$1" in
  --version) echo "limactl version 2.0.3" ;;
  start) trap 'exit 0' INT TERM; while :; do sleep 1; done ;;
esac
EOF
  chmod +x "$work/bin/limactl"
  export PATH="$work/bin:$PATH"
fi
label=io.lima-vm.autostart.$instance
uid=$(id -u)
if launchctl print "gui/$uid" >/dev/null 2>&1; then domain=gui/$uid; else domain=user/$uid; fi
target=$domain/$label

step() { printf '\n== %s\n' "$*"; }
fail() { echo "live.sh: FAILED: $*" >&2; exit 1; }
pid_of() { launchctl print "${1:-$target}" 2>/dev/null | awk '$1 == "pid" && $2 == "=" { print $3; exit }'; }
# The pid of the job's process, once launchd runs one (up to 30 s); empty if it never does.
wait_pid() { local p=; for _ in $(seq 1 30); do p=$(pid_of "$1"); [ -n "$p" ] && break; sleep 1; done; echo "$p"; }
cleanup() { "$cli" disable "$instance" --now >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

step "enable $instance --now (LIMA_HOME=${LIMA_HOME:-$HOME/.lima})"
"$cli" enable "$instance" --now

step "launchctl print $target"
pid=$(wait_pid "$target")
launchctl print "$target" | grep -E '^[[:space:]]*(state|pid|program|path) = ' || true
[ -n "$pid" ] || fail "launchd runs no process for $target"

step "kill -9 $pid (the host agent): launchd must start a new one"
kill -9 "$pid"
new=
for _ in $(seq 1 60); do new=$(pid_of); [ -n "$new" ] && [ "$new" != "$pid" ] && break; new=; sleep 1; done
[ -n "$new" ] || fail "no new host agent within 60 s"
echo "restarted: pid $pid -> $new"

# Switching with --now: the old job must be gone and the instance must end Running under the new
# one (a new job started while the old host agent still stops the VM exits 0 and is never retried).
daemon=system/io.lima-vm.daemon.$instance
step "enable $instance --condition=boot --now (login -> boot; asks for sudo)"
"$cli" enable "$instance" --condition=boot --now
dpid=$(wait_pid "$daemon")
[ -n "$dpid" ] || fail "launchd runs no process for $daemon after the switch"
if launchctl print "$target" >/dev/null 2>&1; then fail "$target is still loaded after the switch"; fi
echo "running under $daemon: pid $dpid"
step "enable $instance --condition=login --now (boot -> login)"
"$cli" enable "$instance" --condition=login --now
new=$(wait_pid "$target")
[ -n "$new" ] || fail "launchd runs no process for $target after the switch back"
if launchctl print "$daemon" >/dev/null 2>&1; then fail "$daemon is still loaded after the switch back"; fi
echo "running under $target: pid $new"

step "disable $instance --now"
"$cli" disable "$instance" --now
for _ in $(seq 1 30); do kill -0 "$new" 2>/dev/null || break; sleep 1; done
if launchctl print "$target" >/dev/null 2>&1; then fail "$target is still loaded"; fi
[ ! -e "$HOME/Library/LaunchAgents/$label.plist" ] || fail "the plist is still there"
if kill -0 "$new" 2>/dev/null; then fail "the host agent (pid $new) still runs"; fi
printf '\nlive.sh: OK\n'
