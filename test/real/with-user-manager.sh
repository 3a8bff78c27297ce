#!/bin/bash
# with-user-manager.sh HOME CMD...   (as root)
#
# Runs CMD next to a private, real `systemd --user` manager whose HOME is HOME, with HOME and
# XDG_RUNTIME_DIR pointing at it, then stops the manager. Exits with CMD's status. For tests on a
# machine whose PID 1 is not systemd (a container, CI): nothing outside is changed for longer than
# the run, and nothing outside the manager's own cgroup is touched.
#
# What systemd needs here, and how it gets it:
# - a /run/systemd/system directory, or `systemd --user` exits at once: a private tmpfs on /run,
#   in a mount namespace of its own;
# - never the root cgroup: started there, systemd would move every process of the machine into
#   its init.scope. So the manager first moves into a cgroup of its own, and sees only that one
#   (a cgroup namespace with a fresh cgroup2 mount);
# - a terminal on /dev/console, where a user manager logs: script(1) gives it a pty.
set -eu
[ "$(id -u)" -eq 0 ] || { echo "with-user-manager.sh: run it as root" >&2; exit 2; }
home=$1; shift
lab=$(mktemp -d /tmp/limactl-autostart-manager.XXXXXX)
if [ -d /sys/fs/cgroup/unified ]; then cgroot=/sys/fs/cgroup/unified; else cgroot=/sys/fs/cgroup; fi
cgroup=$cgroot/limactl-autostart-test.$$
mkdir -m 0700 "$lab/runtime"
mkdir "$cgroup"
export MANAGER_HOME=$home MANAGER_RUNTIME=$lab/runtime

cat > "$lab/manager.sh" <<'INNER'
set -e
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/system
mount --bind "$(tty)" /dev/console
exec env -i HOME="$MANAGER_HOME" XDG_RUNTIME_DIR="$MANAGER_RUNTIME" PATH=/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd --user --log-target=console
INNER
setsid sh -c 'echo $$ > "$1/cgroup.procs"; exec script -qfec "unshare --mount --cgroup --propagation private sh $2/manager.sh" "$2/systemd.log"' sh "$cgroup" "$lab" </dev/null >/dev/null 2>&1 &
manager=$!

user() { env HOME="$home" XDG_RUNTIME_DIR="$lab/runtime" "$@"; }
cleanup() {
  user systemctl --user exit >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do kill -0 "$manager" 2>/dev/null || break; sleep 0.1; done
  for pid in $(cat $(find "$cgroup" -name cgroup.procs) 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  wait "$manager" 2>/dev/null || true
  find "$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  rm -rf "$lab"
}
trap cleanup EXIT

state=
for _ in $(seq 1 100); do
  state=$(user systemctl --user show -P SystemState 2>/dev/null || true)
  case $state in running|degraded) break ;; esac
  sleep 0.1
done
case $state in
  running|degraded) ;;
  *) echo "with-user-manager.sh: systemd --user did not come up (state '$state'); its log:" >&2; cat "$lab/systemd.log" >&2; exit 1 ;;
esac
user "$@"
