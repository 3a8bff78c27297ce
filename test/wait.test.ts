import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, Sandbox, needTool, show, type RunResult } from './helpers.js';
import { shellQuote } from '../src/errors.js';

// `enable --now --wait`: the limactl stand-in's `list --json NAME` answers one status per call
// (sb.limaStatuses), so "Starting for three polls, then Running" is counted in calls, never in
// seconds. The sandbox's clock moves only in the program's pauses (LIMA_AUTOSTART_FAKE_CLOCK), one
// second each: --wait=19 polls at once and after each of 19 pauses, 20 times in all. On macOS
// the plan asks first (is the instance running outside launchd?): that first answer is Stopped.

const TARGET = `gui/${process.getuid?.() ?? 0}/io.lima-vm.autostart.default`;

/** The `limactl list` calls of the wait, in order: after the last call to anything else (the plan asks Lima too). */
function polls(sb: Sandbox): string[][] {
  const calls = sb.calls();
  const planEnd = calls.map((c) => c[0] !== 'limactl').lastIndexOf(true);
  return calls.slice(planEnd + 1).filter((c) => c[0] === 'limactl' && c[1] === 'list');
}

function numbered(count: number): string {
  return Array.from({ length: count }, (_, i) => `ha line ${i + 1}\n`).join('');
}

function registeredAndLoaded(sb: Sandbox): void {
  assert.ok(existsSync(sb.agentPlist()), 'the LaunchAgent is gone');
  assert.deepEqual(sb.loaded(), [TARGET]);
}

describe('enable --now --wait', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox();
  });
  afterEach(() => sb.cleanup());

  it('Starting for three polls, then Running: exit 0 after the fourth `limactl list --json default`; progress on stderr, one line per change', () => {
    sb.limaStatuses(['Stopped', 'Starting', 'Starting', 'Starting', 'Running']);
    const r = sb.run(['enable', 'default', '--now', '--wait']);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(polls(sb), Array(4).fill(['limactl', 'list', '--json', 'default']));
    registeredAndLoaded(sb);
    // Not a terminal: whole lines, none written over.
    assert.ok(!r.stderr.includes('\r'), r.stderr);
    const lines = r.stderr.split('\n').filter((l) => /waiting|Running/.test(l));
    assert.match(lines[0]!, /^info: waiting up to 600 s for Lima to report "default" Running$/);
    assert.match(lines[1]!, /^info: waiting for "default": Lima says Starting \(\d+ s\)$/);
    assert.match(lines.at(-2)!, /^info: waiting for "default": Lima says Running \(\d+ s\)$/);
    assert.match(lines.at(-1)!, /^info: "default" is Running \(after \d+ s\)$/);
    assert.equal(r.stdout, '');
  });

  it('on a terminal: one line, written over at each poll, ended before the next message', function () {
    const script = needTool(this, 'script', 'bsdutils');
    sb.limaStatuses(['Stopped', 'Starting', 'Starting', 'Running']);
    // script(1) gives the program a terminal and copies what it writes there to its stdout.
    const r = spawnSync(script, ['-qec', `${shellQuote(process.execPath)} ${shellQuote(BIN)} enable default --now --wait`, '/dev/null'], { env: sb.env(), cwd: sb.root, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const out = r.stdout.replace(/\r\n/g, '\n');
    assert.match(out, /\r\x1b\[Kwaiting for "default": Lima says Starting \(\d+ s\)\r\x1b\[Kwaiting for "default": Lima says Starting \(\d+ s\)\r\x1b\[Kwaiting for "default": Lima says Running \(\d+ s\)\ninfo: "default" is Running/);
  });

  it('INSTANCE after a bare --wait is INSTANCE, not its value; --wait=SECONDS is the bound', () => {
    sb.limaStatuses(['Stopped', 'Running']);
    const r = sb.run(['enable', '--now', '--wait', 'default']);
    assert.equal(r.code, 0, show(r));
    const s = sb.run(['enable', 'default', '--now', '--wait=90']);
    assert.equal(s.code, 0, show(s));
    assert.match(s.stderr, /info: waiting up to 90 s for Lima/);
  });

  it('Broken: exit 1, with the last 20 lines of the log in the message; the registration stays', () => {
    sb.limaStatuses(['Stopped', 'Starting', 'Broken']);
    writeFileSync(path.join(sb.limaHome, 'default', 'ha.stderr.log'), numbered(30));
    const r = sb.run(['enable', 'default', '--now', '--wait']);
    assert.equal(r.code, 1, show(r));
    assert.equal(polls(sb).length, 2);
    assert.match(r.stderr, /error: Lima says "default" is Broken \(after \d+ s\)\n  The last 20 lines of its log \(`limactl-autostart logs default` shows more\):\n/);
    assert.match(r.stderr, /  ==> .*ha\.stderr\.log <==\n  ha line 11\n(  ha line \d+\n){18}  ha line 30\n/);
    assert.ok(!r.stderr.includes('ha line 10\n'), r.stderr);
    assert.match(r.stderr, /launchd\.stdout\.log <==\n  \(no such file: nothing was written to it yet\)/);
    assert.match(r.stderr, /The registration is in place, .* `limactl-autostart status default` names common causes/);
    registeredAndLoaded(sb);
  });

  it('still Starting after the last poll: exit 1, saying what Lima said last', () => {
    sb.limaStatuses(['Starting']);
    const r = sb.run(['enable', 'default', '--now', '--wait=19']);
    assert.equal(r.code, 1, show(r));
    assert.equal(polls(sb).length, 20);
    assert.match(r.stderr, /error: "default" is not Running in time: Lima says Starting \(after \d+ s\)\n  The last 20 lines of its log/);
    registeredAndLoaded(sb);
  });

  it('a short --wait=SECONDS: one poll at once and one after each second (3 s: 4)', () => {
    sb.limaStatuses(['Starting']);
    const r = sb.run(['enable', 'default', '--now', '--wait=3']);
    assert.equal(r.code, 1, show(r));
    assert.equal(polls(sb).length, 4);
    assert.match(r.stderr, /is not Running in time: Lima says Starting/);
  });

  it('Lima does not answer: it keeps asking, and says why at the end', () => {
    sb.failAlways('limactl', 'list', 3);
    const r = sb.run(['enable', 'default', '--now', '--wait=19']);
    assert.equal(r.code, 1, show(r));
    assert.equal(polls(sb).length, 20);
    assert.match(r.stderr, /error: "default" is not Running in time: no answer from Lima \(`limactl list --json` exited with code 3: limactl: failing with exit code 3, as the test asked\)/);
  });

  it('on Linux the message has the unit\'s journal', () => {
    const linux = new Sandbox({ platform: 'linux' });
    try {
      linux.limaStatuses(['Broken']);
      linux.journal('limactl[42]: exiting, status={Running:false Degraded:false Exiting:true Errors:[qemu failed]}\n');
      const r = linux.run(['enable', 'default', '--now', '--wait']);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /error: Lima says "default" is Broken .*\n  The last 20 lines of its log .*\n  limactl\[42\]: exiting, status=.*qemu failed/);
      assert.deepEqual(linux.calls().filter((c) => c[0] === 'journalctl'), [['journalctl', '--user', '-u', 'lima-vm@default.service', '-n', '20', '--no-pager']]);
      assert.ok(existsSync(linux.unitFile()));
    } finally {
      linux.cleanup();
    }
  });

  it('SIGINT during the wait ends the wait alone: exit 130, the registration and the started job stay', async () => {
    sb.limaStatuses(['Starting']);
    // Polls on the real clock until the signal comes: the bound is out of reach.
    const run = sb.start(['enable', 'default', '--now', '--wait'], { LIMA_AUTOSTART_FAKE_CLOCK: undefined });
    await run.until('the wait asked Lima', () => run.stderr.includes('waiting for "default": Lima says Starting'));
    run.kill('SIGINT');
    const r = await run.result;
    assert.equal(r.code, 130, show(r));
    assert.match(r.stderr, /warning: SIGINT: stopped waiting; "default" stays registered and its service keeps starting it/);
    assert.ok(!/rolled back|undoing/i.test(r.stderr), r.stderr);
    registeredAndLoaded(sb);
  });

  it('--dry-run --now --wait: the plan, and nothing to wait for', () => {
    const r = sb.run(['enable', 'default', '--now', '--wait', '--dry-run']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^# enable "default" at login/);
    assert.match(r.stderr, /info: --wait: a dry run starts nothing, so there is nothing to wait for/);
    assert.ok(!sb.calls().some((c) => c[0] === 'launchctl' && c[1] !== 'print'), 'a dry run changed launchd');
    assert.ok(!r.stderr.includes('waiting'), r.stderr);
    assert.ok(!existsSync(sb.agentPlist()));
  });

  for (const [args, message] of [
    [['enable', 'default', '--wait'], /^error: --wait needs --now: it waits for the instance that --now starts\n  Add --now, or leave out --wait\.\n$/],
    [['enable', 'default', '--wait=60', '--dry-run'], /^error: --wait needs --now/],
    [['enable', 'default', '--now', '--wait=soon'], /^error: --wait="soon" is not a number of seconds/],
    [['enable', 'default', '--now', '--wait=-5'], /^error: --wait="-5" is not a number of seconds/],
    [['enable', 'default', '--now', '--wait=5', '--wait=6'], /^error: --wait is given twice/],
  ] as const) {
    it(`${args.join(' ')}: usage error, exit 2, nothing changed or asked`, () => {
      const before = sb.snapshot();
      const r: RunResult = sb.run([...args]);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, message);
      assert.deepEqual(sb.snapshot(), before);
      assert.deepEqual(sb.calls(), []);
    });
  }
});
