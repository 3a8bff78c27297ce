# Sourced by every stand-in: records the call, then fails if the test told it to.
# A call is one line in $FAKE_DIR/calls: the tool's name and its arguments, tab-separated.
# To make a stand-in fail, a test writes an exit code to $FAKE_DIR/fail/<tool>.<first argument>
# (e.g. fail/launchctl.bootstrap, fail/systemctl.daemon-reload) or to $FAKE_DIR/fail/<tool> (every call). To make only the N-th
# recorded call of any stand-in fail, a test writes "N code" to $FAKE_DIR/fail-call.
# No helper process here, and none per job or unit in the stand-ins that status calls
# (launchctl, systemctl): the benchmark times them with the program.
tool=${0##*/}
# A service manager starts the limactl stand-in with only the environment its unit sets, so a
# sandbox also writes FAKE_DIR into a file next to its copies of the stand-ins.
if [ -z "${FAKE_DIR:-}" ] && [ -f "$(dirname "$0")/fake-dir" ]; then
  FAKE_DIR=$(cat "$(dirname "$0")/fake-dir")
fi
: "${FAKE_DIR:?FAKE_DIR is not set: stand-ins run only inside a test sandbox}"
# The whole line is built first and appended with one write(2): the program runs some commands at
# the same time (`limactl --version` beside launchctl's or systemctl's questions), and O_APPEND
# keeps one short write whole, where several writes per call could interleave with another's.
line=$tool
for a in "$@"; do line="$line	$a"; done
if [ -f "$FAKE_DIR/fail-call" ]; then
  # Counting is part of recording here: under the lock, two calls made at once cannot both
  # count the same line, so exactly one of them is call N.
  read -r n code < "$FAKE_DIR/fail-call"
  count=$(flock "$FAKE_DIR/calls.lock" sh -c 'printf "%s\n" "$1" >> "$2/calls" && wc -l < "$2/calls"' sh "$line" "$FAKE_DIR")
  if [ "$count" -eq "$n" ]; then
    echo "$tool: call $n failing with exit code $code, as the test asked" >&2
    exit "$code"
  fi
else
  printf '%s\n' "$line" >> "$FAKE_DIR/calls"
fi
# `systemctl --user VERB`: the verb is the second argument (fail/systemctl.daemon-reload); the
# first still counts (fail/systemctl.--user fails every call of the user manager).
verb=${1:-}
[ "$verb" = --user ] && verb=${2:-}
# A call told to hang ($FAKE_DIR/hang/<tool>.<verb>, once) says so in $FAKE_DIR/hanging and waits
# until it is killed: a password prompt nobody answers, for the tests of signals.
if [ -f "$FAKE_DIR/hang/$tool.$verb" ] && mv "$FAKE_DIR/hang/$tool.$verb" "$FAKE_DIR/hang/$tool.$verb.done" 2>/dev/null; then
  echo "$$" > "$FAKE_DIR/hanging.new" && mv "$FAKE_DIR/hanging.new" "$FAKE_DIR/hanging"
  exec sleep 600
fi
for f in "$FAKE_DIR/fail/$tool.${1:-}" "$FAKE_DIR/fail/$tool.$verb" "$FAKE_DIR/fail/$tool"; do
  if [ -f "$f" ]; then
    code=$(cat "$f")
    echo "$tool: failing with exit code $code, as the test asked" >&2
    exit "$code"
  fi
done
