#!/bin/bash
# A live check of limactl-autostart against the real launchd, for a maintainer on a Mac. It does
# not run in CI, which has no macOS. Read it before you run it.
#
#   npm ci && npm run build
#   test/macos/live.sh             # a stand-in limactl in a temporary LIMA_HOME: no VM starts
#   test/macos/live.sh INSTANCE    # your Lima instance INSTANCE: started, its host agent
#                                  # and its VM killed with SIGKILL and brought back, stopped
#                                  # with `limactl stop` (stays down), then disabled
#   test/macos/live.sh INSTANCE --after-reboot
#                                  # after `enable INSTANCE --condition=boot` and a reboot with
#                                  # nobody logged in (over SSH): the instance is up and answers
#
# Steps: enable --now at login (over SSH without a GUI login: into user/<uid>, with the warning
# that `limactl stop` cannot stop it, and `status` reporting it); `launchctl print` shows the job
# running: the service's /bin/sh, whose child is the host agent; kill -9 of the host agent;
# launchd starts a new one (ThrottleInterval is 30 s, so this takes up to about 30 s) and `status`
# notes the SIGKILL; with a real QEMU instance, kill -9 of the VM process: the service says so in
# launchd.stderr.log, launchd starts it again, and `status` notes it; switch to boot with --now (a
# root-owned daemon log file left in the way is refused with what to do; once it is gone, launchd
# creates both log files as you); `limactl stop` of the boot daemon: it stays down; back to login
# with --now, each time ending with the instance running under the new job only; disable --now;
# the job, the plist and the process are gone. On exit, also after a failure, it disables the instance again and removes
# its temporary files.
set -euo pipefail
[ "$(uname -s)" = Darwin ] || { echo "live.sh: this is $(uname -s); it needs macOS and launchd" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
cli=$repo/bin/limactl-autostart
[ -f "$repo/dist/src/cli.js" ] || { echo "live.sh: run 'npm ci && npm run build' in $repo first" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/limactl-autostart-live.XXXXXX")
instance=${1:-}
after_reboot=
[ "${2:-}" = --after-reboot ] && after_reboot=1
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

dir=${LIMA_HOME:-$HOME/.lima}/$instance

# The host agent: the child of the job's /bin/sh that runs `limactl start INSTANCE --foreground`
# (Lima execs the host agent in that process). Up to 10 s for the shell to start it.
host_agent() {
  local c
  for _ in $(seq 1 10); do
    for c in $(pgrep -P "$1"); do
      ps -o args= -p "$c" | grep -q "limactl start $instance --foreground" && { echo "$c"; return; }
    done
    sleep 1
  done
}
# The instance runs under the job whose pid is $1: that process is the service's /bin/sh, its
# child the host agent, and a real instance is Running in Lima's eyes (up to 3 minutes to boot).
running_under() {
  case $(ps -o comm= -p "$1") in */sh | sh) ;; *) fail "pid $1 is not the service's /bin/sh" ;; esac
  [ -n "$(host_agent "$1")" ] || fail "pid $1 has no child limactl start $instance --foreground"
  [ -n "$real" ] || return 0 # the stand-in limactl has no `list`
  for _ in $(seq 1 180); do [ "$(limactl list --format '{{.Status}}' "$instance")" = Running ] && return 0; sleep 1; done
  fail "Lima does not report $instance Running under the new job"
}
real=${1:-}

if [ -n "$after_reboot" ]; then
  # Run over SSH, with nobody logged in at the GUI, after enable --condition=boot and a reboot.
  trap - EXIT
  step "after the reboot: $instance under system/io.lima-vm.daemon.$instance, Running, answering"
  dpid=$(wait_pid "system/io.lima-vm.daemon.$instance")
  [ -n "$dpid" ] || fail "launchd runs no process for system/io.lima-vm.daemon.$instance"
  running_under "$dpid"
  "$cli" status "$instance" | tee "$work/status"
  grep -q "not answering" "$work/status" && fail "status says the instance is not answering"
  rm -rf "$work"
  printf '\nlive.sh: OK (after reboot)\n'
  exit 0
fi

step "enable $instance --now (LIMA_HOME=${LIMA_HOME:-$HOME/.lima})"
"$cli" enable "$instance" --now 2>"$work/enable.err" || { cat "$work/enable.err" >&2; fail "enable --now"; }
cat "$work/enable.err" >&2
if [ "$domain" = "user/$uid" ]; then
  # No GUI login (SSH): Lima's `limactl stop` would boot out gui/<uid>/…, which does not exist.
  grep -q "\`limactl stop $instance\` will not be able to stop this job" "$work/enable.err" || fail "no warning that limactl stop cannot stop a job in $domain"
  grep -q "launchctl bootout $target" "$work/enable.err" || fail "the warning does not give launchctl bootout $target"
  "$cli" status "$instance" | grep -q "is loaded in launchd's user domain" || fail "status does not report the job in $domain"
  echo "user domain: warned, and status reports it"
else
  echo "(gui/$uid exists: run this over SSH with nobody logged in at the GUI to check the user/$uid warning)"
fi

step "launchctl print $target"
pid=$(wait_pid "$target")
launchctl print "$target" | grep -E '^[[:space:]]*(state|pid|program|path) = ' || true
[ -n "$pid" ] || fail "launchd runs no process for $target"

running_under "$pid"
# A new process for the job, other than $1, within 60 s (ThrottleInterval is 30 s).
restarted() {
  local new=
  for _ in $(seq 1 60); do new=$(pid_of); [ -n "$new" ] && [ "$new" != "$1" ] && break; new=; sleep 1; done
  [ -n "$new" ] || fail "launchd started no new process within 60 s"
  echo "$new"
}
agent=$(host_agent "$pid")
step "kill -9 $agent (the host agent): launchd must start the job again"
kill -9 "$agent"
new=$(restarted "$pid")
echo "restarted: pid $pid -> $new"
launchctl print "$target" | grep -E 'last (exit code|terminating signal)' || true
"$cli" status "$instance" | grep -q "note: the host agent was killed by SIGKILL" || fail "status does not note the SIGKILL restart"
running_under "$new"

if [ -n "$real" ] && [ -f "$dir/qemu.pid" ]; then
  vm=$(cat "$dir/qemu.pid")
  step "kill -9 $vm (the VM, QEMU): the host agent exits 0, the service exits 1, launchd starts it again"
  kill -9 "$vm"
  pid=$new
  new=$(restarted "$pid")
  grep "limactl-autostart: $instance: the VM stopped" "$dir/launchd.stderr.log" || fail "launchd.stderr.log does not say that the VM stopped"
  "$cli" status "$instance" | grep -q "the VM stopped on its own" || fail "status does not note the VM's death"
  running_under "$new"
elif [ -n "$real" ]; then
  echo "(no qemu.pid: a vz instance's VM runs in an XPC service this script cannot tie to $instance; kill its com.apple.Virtualization.VirtualMachine process by hand to check the same)"
fi

# Switching with --now: the old job must be gone and the instance must end Running under the new
# one (a new job started while the old host agent still stops the VM exits 0 and is never retried).
daemon=system/io.lima-vm.daemon.$instance
me=$(id -un)
step "a root-owned $dir/launchd.stderr.log in the way (asks for sudo): enable refuses, changes nothing"
sudo touch "$dir/launchd.stderr.log" && sudo chown root:wheel "$dir/launchd.stderr.log"
if "$cli" enable "$instance" --condition=boot --now 2>"$work/refused.err"; then fail "enable --condition=boot accepted a root-owned daemon log"; fi
grep -q "Remove it" "$work/refused.err" || { cat "$work/refused.err" >&2; fail "the refusal does not say to remove the file"; }
[ -n "$(pid_of)" ] || fail "the refusal stopped $target"
rm -f "$dir/launchd.stderr.log" # the user's own directory: no sudo
step "enable $instance --condition=boot --now (login -> boot)"
"$cli" enable "$instance" --condition=boot --now
dpid=$(wait_pid "$daemon")
[ -n "$dpid" ] || fail "launchd runs no process for $daemon after the switch (exit 78: a log file it cannot open?)"
for log in "$dir/launchd.stdout.log" "$dir/launchd.stderr.log"; do
  [ "$(stat -f %Su "$log")" = "$me" ] || fail "$log belongs to $(stat -f %Su "$log"), not $me, whom the daemon runs as"
done
echo "both log files belong to $me"
if launchctl print "$target" >/dev/null 2>&1; then fail "$target is still loaded after the switch"; fi
running_under "$dpid"
echo "running under $daemon: pid $dpid"
if [ -n "$real" ]; then
  # For a boot daemon Lima's `limactl stop` signals the host agent: a stop asked for, not a failure.
  step "limactl stop $instance: the daemon's job ends with exit 0 and stays down"
  limactl stop "$instance"
  sleep 35 # longer than ThrottleInterval: a restart would have come by now
  [ -z "$(pid_of "$daemon")" ] || fail "launchd started $daemon again after limactl stop"
  "$cli" enable "$instance" --condition=boot --now
  dpid=$(wait_pid "$daemon")
  running_under "$dpid"
fi
step "enable $instance --condition=login --now (boot -> login)"
"$cli" enable "$instance" --condition=login --now
new=$(wait_pid "$target")
[ -n "$new" ] || fail "launchd runs no process for $target after the switch back"
if launchctl print "$daemon" >/dev/null 2>&1; then fail "$daemon is still loaded after the switch back"; fi
running_under "$new"
echo "running under $target: pid $new"

step "disable $instance --now"
"$cli" disable "$instance" --now
for _ in $(seq 1 30); do kill -0 "$new" 2>/dev/null || break; sleep 1; done
if launchctl print "$target" >/dev/null 2>&1; then fail "$target is still loaded"; fi
[ ! -e "$HOME/Library/LaunchAgents/$label.plist" ] || fail "the plist is still there"
if kill -0 "$new" 2>/dev/null; then fail "the host agent (pid $new) still runs"; fi
printf '\nlive.sh: OK\n'
