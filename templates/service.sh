# limactl-autostart: what launchd or systemd runs for a Lima instance, as `sh -c THIS limactl-autostart
# LIMACTL INSTANCE`. It runs `limactl start INSTANCE --foreground`, which becomes Lima's host agent,
# and ends with an exit status keep-alive can act on: a VM that died is a failure (Lima's host agent
# exits 0 then), a stop asked for (of the service, or `limactl stop`) or a guest poweroff is not.
limactl=$1 instance=$2
dir=${LIMA_HOME:-$HOME/.lima}/$instance
dir=$(cd "$dir" 2>/dev/null && pwd -P) || dir=${LIMA_HOME:-$HOME/.lima}/$instance
log=$dir/ha.stderr.log
say() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) limactl-autostart: $instance: $*" >&2; }
# A process is this instance's when its command line names the instance directory.
own() { kill -0 "$1" 2>/dev/null && ps -o args= -p "$1" 2>/dev/null | grep -qF -- "$dir/"; }

state=$("$limactl" list --json "$instance" 2>/dev/null)
pid=$(cat "$dir/ha.pid" 2>/dev/null)
# Running, or a host agent of this instance starting: Lima's own start says so and ends.
case $state in *'"status":"Running"'*) exec "$limactl" start "$instance" --foreground ;; esac
[ -n "$pid" ] && own "$pid" && exec "$limactl" start "$instance" --foreground
case $state in *'"status":"Broken"'*)
  # Left by an unclean shutdown: a pid file naming another program (its pid reused) goes, then
  # Lima's own `stop --force` kills what the others name, this instance's, and clears the rest.
  for f in "$dir"/*.pid; do
    p=$(cat "$f" 2>/dev/null) && kill -0 "$p" 2>/dev/null && ! own "$p" && rm -f "$f"
  done
  say "Broken at start (an unclean shutdown?): recovering with limactl stop --force, once"
  "$limactl" stop --force "$instance" >&2 ;;
esac
# No host agent writes the log now: what it holds after the start is this run's.
rm -f "$log"
# launchd and systemd signal this process: the host agent gets the signal, and shuts the VM down.
child= stopping=
for sig in INT TERM HUP; do trap "stopping=1; [ -z \"\$child\" ] || kill -$sig \$child 2>/dev/null" "$sig"; done
"$limactl" start "$instance" --foreground &
child=$!
# A stop that came before the host agent's pid was known is passed on now.
[ -n "$stopping" ] && kill -TERM "$child" 2>/dev/null
while :; do
  wait "$child"
  status=$?
  kill -0 "$child" 2>/dev/null || break
done
[ -n "$stopping" ] && exit 0
grep -q '"msg":"Received SIG' "$log" 2>/dev/null && exit 0
why=$(grep -o '"msg":"Driver stopped due to error: [^"]*' "$log" 2>/dev/null | tail -n 1)
why=${why#'"msg":"'}
case $why in
  '') ;;
  *'%!q(\u003cnil\u003e)'* | *'vz driver state stopped'*) say "the guest powered off: a clean stop"; exit 0 ;;
  *) say "the VM stopped ($why): exit 1, so that keep-alive starts it again"; exit 1 ;;
esac
# Killed by a signal: die of the same one, as the host agent did, for launchd and systemd to see.
if [ "$status" -gt 128 ]; then
  trap - "$((status - 128))" 2>/dev/null
  kill "-$((status - 128))" $$
fi
exit "$status"
