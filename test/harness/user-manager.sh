#!/bin/sh
# Starts a private `systemd --user` on a machine whose PID 1 is not systemd. test/harness/user-manager.ts
# runs it (as root) and stops the manager again; read that file first.
#
# Stage 1 (no argument): leave the root cgroup, then run stage 2 on a pty from script(1).
# Stage 2 (`namespaced`, inside unshare --mount --cgroup): mount a fresh cgroup2, a tmpfs on
# /run/systemd with /run/systemd/system, the pty on /dev/console, and become systemd.
#
# Environment (all required):
#   UM_CGROUP       the new cgroup2 directory to move into, e.g. /sys/fs/cgroup/unified/NAME
#   UM_CGROUP_PATH  the same cgroup as /proc/self/cgroup names it, e.g. /NAME
#   UM_HOME, UM_RUNTIME_DIR   HOME and XDG_RUNTIME_DIR of the manager
#   UM_LOG          where script(1) writes the manager's console (its log)
#   UM_SYSTEMD      the systemd binary
set -eu
case "${1:-}" in
'')
  # Started in the root cgroup, systemd would move EVERY process on the machine (PID 1 included)
  # into /init.scope. So this shell moves itself into its own, empty cgroup first, and checks
  # that it got there before anything else happens.
  echo $$ > "$UM_CGROUP/cgroup.procs"
  here=$(sed -n 's/^0:://p' /proc/self/cgroup)
  if [ "$here" != "$UM_CGROUP_PATH" ]; then
    echo "user-manager.sh: in cgroup '$here', not '$UM_CGROUP_PATH': not starting systemd" >&2
    exit 1
  fi
  export UM_SCRIPT="$0"
  # script(1) gives systemd a terminal: a user manager logs to /dev/console.
  SHELL=/bin/sh exec script -qfec 'exec unshare --mount --cgroup --propagation private /bin/sh "$UM_SCRIPT" namespaced' "$UM_LOG"
  ;;
namespaced)
  # In a new cgroup namespace the current cgroup is the root: systemd sees only its own subtree.
  here=$(sed -n 's/^0:://p' /proc/self/cgroup)
  if [ "$here" != / ]; then
    echo "user-manager.sh: the cgroup namespace root is not this cgroup ('$here'): not starting systemd" >&2
    exit 1
  fi
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
  # systemd --user exits at once without /run/systemd/system ("the system has not been booted
  # with systemd"). A tmpfs in this mount namespace only: the host's /run is not touched.
  if [ -d /run/systemd ]; then
    mount -t tmpfs tmpfs /run/systemd
  else
    mount -t tmpfs tmpfs /run
    mkdir /run/systemd
  fi
  mkdir /run/systemd/system
  mount --bind "$(tty)" /dev/console
  exec env -i HOME="$UM_HOME" XDG_RUNTIME_DIR="$UM_RUNTIME_DIR" LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    "$UM_SYSTEMD" --user --log-target=console
  ;;
*)
  echo "user-manager.sh: unknown stage '$1'" >&2
  exit 2
  ;;
esac
