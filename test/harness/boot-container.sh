#!/bin/sh
# Boots this machine's own OS as a container with systemd-nspawn, for tests that need real boots
# and a real logind. test/harness/boot-container.ts runs it (as root); read that file first.
#
# Stages (the first argument):
#   hold     Creates the run's cgroups, moves itself into NAME/ctl of each, and runs `mounts` in a
#            private mount namespace. When `mounts` ends (its stdin, a pipe from the test process,
#            closed: the test is done, or died), it kills whatever is left in the run's cgroups,
#            moves back to where it came from, and removes the cgroups and the run's directory.
#   mounts   In the private mount namespace: a tmpfs, an overlay whose lower layer is the host's /
#            (never written) and whose upper layer is on that tmpfs, and a tmpfs over /run/systemd
#            (nspawn's scratch files). Prints "ready PID", then waits for the end of its stdin.
#   boot     Entered into the `mounts` namespace with nsenter: moves itself into NAME/ct of each
#            hierarchy, then becomes systemd-nspawn, which boots the overlay.
#   exec PID CMD...
#            Moves itself into NAME/ctl, then runs CMD in every namespace of the container whose
#            PID 1 is PID (as the host numbers it).
#
# Environment (all required):
#   BC_NAME         the run's cgroup name, new for every run (other runs may be going on)
#   BC_HIERARCHIES  the cgroup hierarchies systemd manages, space-separated: /sys/fs/cgroup on a
#                   cgroup2-only host; /sys/fs/cgroup/systemd (and /sys/fs/cgroup/unified) otherwise
#   BC_DIR          the run's temporary directory: root/ and state/ are mount points in it,
#                   console.log the console of every boot, .#root.lck nspawn's lock on root/
#   BC_MACHINE      the container's name (its hostname)
#   BC_BIND_RO      a host directory the container sees, read-only, at the same path: the checkout
#                   (nspawn puts a tmpfs on the container's /tmp, and the checkout may be on a file
#                   system of its own, which the overlay of / does not show)
set -eu

# Systemd started in a root cgroup would take over the whole machine: nothing here starts a
# process of the container before it has checked that it sits in the run's own cgroup.
move_into() { # SUBGROUP: move this shell into BC_NAME/SUBGROUP of every hierarchy, and check it
  for h in $BC_HIERARCHIES; do
    echo $$ > "$h/$BC_NAME/$1/cgroup.procs"
    want="/$BC_NAME/$1"
    if [ "$h" = /sys/fs/cgroup/systemd ]; then
      here=$(sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup)
    else
      here=$(sed -n 's/^0:://p' /proc/self/cgroup)
    fi
    if [ "$here" != "$want" ]; then
      echo "boot-container.sh: in cgroup '$here' of $h, not '$want': stopping" >&2
      exit 1
    fi
  done
}

pids_in() { # DIR: every process in the cgroup DIR and below it
  find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null || true
}

teardown() {
  # Runs to its end whatever fails, also when the test process, which reads stderr, is gone.
  set +e
  trap '' PIPE
  # Out of the run's cgroups first: what is left in them is then only what has to go.
  for h in $BC_HIERARCHIES; do echo $$ > "$h$(origin "$h")/cgroup.procs"; done
  for h in $BC_HIERARCHIES; do
    [ -e "$h/$BC_NAME/cgroup.kill" ] && echo 1 > "$h/$BC_NAME/cgroup.kill" 2>/dev/null || true
  done
  # SIGKILL to the container (its PID 1 takes its whole PID namespace along), to nspawn and to
  # the commands run in the container, until the run's cgroups are empty.
  i=0
  while :; do
    left=$(for h in $BC_HIERARCHIES; do pids_in "$h/$BC_NAME"; done | sort -u)
    [ -z "$left" ] && break
    i=$((i + 1))
    if [ "$i" -gt 200 ]; then
      echo "boot-container.sh: processes left in the run's cgroups: $(echo $left)" >&2
      break
    fi
    kill -KILL $left 2>/dev/null || true
    sleep 0.05
  done
  # The container's systemd leaves its own cgroups behind when it is killed: children first.
  for h in $BC_HIERARCHIES; do
    i=0
    while [ -d "$h/$BC_NAME" ]; do
      find "$h/$BC_NAME" -depth -type d -exec rmdir {} + 2>/dev/null || true
      i=$((i + 1))
      if [ "$i" -gt 100 ]; then
        echo "boot-container.sh: cannot remove $h/$BC_NAME" >&2
        break
      fi
      [ -d "$h/$BC_NAME" ] && sleep 0.05
    done
  done
  # The mount points are empty here (the mounts were made in the namespace that is gone): one by
  # one, never recursively.
  rmdir "$BC_DIR/root" "$BC_DIR/state" 2>/dev/null || true
  rm -f "$BC_DIR/console.log" "$BC_DIR/.#root.lck"
  rmdir "$BC_DIR" || echo "boot-container.sh: cannot remove $BC_DIR" >&2
}

case "${1:-}" in
hold)
  origins=''
  for h in $BC_HIERARCHIES; do
    if [ "$h" = /sys/fs/cgroup/systemd ]; then
      o=$(sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup)
    else
      o=$(sed -n 's/^0:://p' /proc/self/cgroup)
    fi
    origins="$origins$h=${o%/}
"
  done
  origin() { printf '%s' "$origins" | sed -n "s|^$1=||p"; }
  for h in $BC_HIERARCHIES; do mkdir "$h/$BC_NAME"; done
  trap teardown EXIT
  trap 'exit 1' INT TERM HUP
  for h in $BC_HIERARCHIES; do mkdir "$h/$BC_NAME/ctl" "$h/$BC_NAME/ct"; done
  move_into ctl
  unshare --mount --propagation private -- /bin/sh "$0" mounts || true
  ;;
mounts)
  mount -t tmpfs -o mode=755,size=2G "$BC_NAME-state" "$BC_DIR/state"
  mkdir "$BC_DIR/state/upper" "$BC_DIR/state/work"
  mount -t overlay -o "lowerdir=/,upperdir=$BC_DIR/state/upper,workdir=$BC_DIR/state/work" "$BC_NAME-root" "$BC_DIR/root"
  # nspawn keeps scratch files and locks in /run/systemd/nspawn. Where systemd is PID 1 that is
  # its own tmpfs; here it would be the host's /run, so it gets a tmpfs of its own.
  if [ ! -d /run/systemd/system ] && [ -d /run/systemd ]; then
    mount -t tmpfs -o mode=755 "$BC_NAME-run" /run/systemd
  fi
  echo "ready $$"
  # Holds the namespace, and its mounts, until the test closes this pipe (or dies).
  exec cat > /dev/null
  ;;
boot)
  move_into ct
  exec systemd-nspawn --directory="$BC_DIR/root" --boot --machine="$BC_MACHINE" \
    --register=no --keep-unit --private-network --console=passive --bind-ro="$BC_BIND_RO"
  ;;
exec)
  leader=$2
  shift 2
  move_into ctl
  exec nsenter -t "$leader" -m -u -i -n -p -C -- "$@"
  ;;
*)
  echo "boot-container.sh: unknown stage '${1:-}'" >&2
  exit 2
  ;;
esac
