import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Sandbox, show, type RunResult } from './helpers.js';
import { BOOTSTRAP_RETRY_SEC, POLL_INTERVAL_MS } from '../src/tunables.js';

// Switching login <-> boot with --now against a launchd whose bootout finishes later (the
// launchctl stand-in's teardown model, test/fakes/launchctl): the old job stays known to
// `launchctl print` for a while, Lima reports the instance Running while its host agent stops the
// VM, and bootstrap fails with 37 and then 5 meanwhile. Every count is in calls, never in seconds:
// the sandbox's clock moves only in the program's pauses (LIMA_AUTOSTART_FAKE_CLOCK).

const AGENT = 'io.lima-vm.autostart.default';
const DAEMON = 'io.lima-vm.daemon.default';
const SYSTEM_DAEMON = `system/${DAEMON}`;

function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, show(result));
  return result;
}

/** The index of every call equal to `call` (tool and arguments). */
function indexes(calls: string[][], call: string[]): number[] {
  return calls.flatMap((c, i) => (c.length === call.length && c.every((a, j) => a === call[j]) ? [i] : []));
}

describe('launchd: switching with --now waits for the old job to go', () => {
  let sb: Sandbox;
  afterEach(() => sb?.cleanup());
  const guiAgent = (): string => `gui/${sb.uid}/${AGENT}`;
  const teardown = { prints: 3, busy37: 2, busy5: 2, limaRunning: 3 };

  const cases = [
    { from: 'login', to: 'boot', old: () => guiAgent(), bootstrap: () => ['launchctl', 'bootstrap', 'system', sb.daemonPlist()], loaded: () => [SYSTEM_DAEMON] },
    { from: 'boot', to: 'login', old: () => SYSTEM_DAEMON, bootstrap: () => ['launchctl', 'bootstrap', `gui/${sb.uid}`, sb.agentPlist()], loaded: () => [guiAgent()] },
  ] as const;

  for (const c of cases) {
    it(`${c.from} then ${c.to} --now: bootstraps only after launchd forgot the old job and Lima reports it stopped, retrying 37 and 5`, () => {
      sb = new Sandbox({ platform: 'darwin' });
      ok(sb.run(['enable', 'default', `--condition=${c.from}`, '--now']));
      sb.launchdTeardown(teardown);
      sb.clearCalls();
      const r = ok(sb.run(['enable', 'default', `--condition=${c.to}`, '--now']));
      const calls = sb.calls();
      const bootout = indexes(calls, ['launchctl', 'bootout', c.old()]);
      assert.equal(bootout.length, 1, show(r));
      // The old job was printed until launchd forgot it (3 answers "still there"), and once more
      // before each question to Lima.
      const prints = indexes(calls, ['launchctl', 'print', c.old()]).filter((i) => i > bootout[0]!);
      assert.equal(prints.length, teardown.prints + teardown.limaRunning + 1, JSON.stringify(calls));
      // Lima was asked only once launchd had forgotten the job: 3 times Running, then stopped.
      const lists = indexes(calls, ['limactl', 'list', '--json', 'default']);
      assert.equal(lists.length, teardown.limaRunning + 1, JSON.stringify(calls));
      assert.ok(lists[0]! > prints[teardown.prints]!, 'Lima is asked after launchd forgot the job');
      // Then bootstrap: 2 x 37, 2 x 5, then loaded.
      const bootstraps = indexes(calls, c.bootstrap());
      assert.equal(bootstraps.length, teardown.busy37 + teardown.busy5 + 1, JSON.stringify(calls));
      assert.ok(bootstraps[0]! > lists.at(-1)!, 'no bootstrap before Lima reports the instance stopped');
      assert.deepStrictEqual(sb.loaded(), c.loaded());
      assert.match(r.stderr, new RegExp(`info: waiting until \`launchctl print ${c.old().replace(/\./g, '\\.')}\` fails and Lima no longer reports "default" Running \\(up to 300 s\\)`));
      assert.match(r.stderr, /answered 37: launchd may still be unloading a job; trying again for up to 30 s/);
      assert.doesNotMatch(r.stderr, /already running/, 'no "started outside launchd" warning for our own old job');
    });

    it(`${c.from} then ${c.to} --now: the old job never goes away: exit 1 after the bounded tries, rolled back to the old job`, () => {
      sb = new Sandbox({ platform: 'darwin' });
      ok(sb.run(['enable', 'default', `--condition=${c.from}`, '--now']));
      const oldFile = c.from === 'login' ? sb.agentPlist() : sb.daemonPlist();
      const before = readFileSync(oldFile, 'utf8');
      sb.launchdTeardown({ prints: 1000, busy37: 1, busy5: 0, limaRunning: 0 });
      const r = sb.run(['enable', 'default', `--condition=${c.to}`, '--now']);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, new RegExp(`launchd still knows ${c.old().replace(/\./g, '\\.')} after 300 s: the old host agent has not stopped`));
      assert.match(r.stderr, /Rolled back/);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
      assert.equal(readFileSync(oldFile, 'utf8'), before);
      assert.ok(!existsSync(c.to === 'boot' ? sb.daemonPlist() : sb.agentPlist()));
      // The rollback's bootstrap of the old job met a 37 and tried again.
      assert.deepStrictEqual(sb.loaded(), [c.old()]);
    });
  }

  it('Lima keeps reporting the instance Running: exit 1, naming Lima, rolled back', () => {
    sb = new Sandbox({ platform: 'darwin' });
    ok(sb.run(['enable', 'default', '--now']));
    sb.launchdTeardown({ prints: 0, busy37: 0, busy5: 0, limaRunning: 1000 });
    const r = sb.run(['enable', 'default', '--condition=boot', '--now']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /Lima still reports "default" Running after 300 s/);
    assert.deepStrictEqual(sb.loaded(), [guiAgent()]);
    assert.ok(!existsSync(sb.daemonPlist()));
  });

  it('a bootstrap that keeps failing with 37: exit 1 after the bounded tries, the hint says so', () => {
    sb = new Sandbox({ platform: 'darwin' });
    ok(sb.run(['enable', 'default', '--now']));
    sb.launchdTeardown({ prints: 0, busy37: 1000, busy5: 0, limaRunning: 0 });
    const r = sb.run(['enable', 'default', '--condition=boot', '--now']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /`sudo launchctl bootstrap system '[^']+'` exited with code 37/);
    assert.match(r.stderr, /Tried again for 30 s \(launchd may still be unloading a job\): it still answered 37\./);
    // Asked at once, then after each pause until the bound.
    assert.equal(sb.calls().filter((c) => c[0] === 'sudo' && c[2] === 'bootstrap').length, (BOOTSTRAP_RETRY_SEC * 1000) / POLL_INTERVAL_MS + 1);
    assert.ok(!existsSync(sb.daemonPlist()));
    assert.ok(existsSync(sb.agentPlist()));
    // launchd stays busy, so loading the old job again fails too, and the message says so.
    assert.match(r.stderr, /The rollback was incomplete; fix these by hand[\s\S]*launchctl bootstrap gui\/\d+ /);
  });

  it('a failure after the bootout: the rollback loads the old job again, retrying 37 and 5', () => {
    sb = new Sandbox({ platform: 'darwin' });
    ok(sb.run(['enable', 'default', '--now']));
    sb.launchdTeardown({ prints: 1, busy37: 2, busy5: 1, limaRunning: 1 });
    // The last step is the new bootstrap: it fails before it runs, after the old job was booted
    // out. A fault at step 1 changes nothing and says how many steps there are.
    const first = sb.run(['enable', 'default', '--condition=boot', '--now'], { LIMA_AUTOSTART_FAIL_STEP: '1' });
    const total = Number(/step 1 of (\d+) failed/.exec(first.stderr)?.[1]);
    assert.ok(total > 1, show(first));
    sb.clearCalls();
    const r = sb.run(['enable', 'default', '--condition=boot', '--now'], { LIMA_AUTOSTART_FAIL_STEP: String(total) });
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, new RegExp(`step ${total} of ${total} failed: .*fault injected`));
    assert.match(r.stderr, /Rolled back/);
    assert.deepStrictEqual(sb.loaded(), [guiAgent()]);
    assert.equal(indexes(sb.calls(), ['launchctl', 'bootstrap', `gui/${sb.uid}`, sb.agentPlist()]).length, 4, JSON.stringify(sb.calls()));
  });

  it('--dry-run says which bootout is waited for and that bootstrap is tried again', () => {
    sb = new Sandbox({ platform: 'darwin' });
    ok(sb.run(['enable', 'default', '--now']));
    const r = ok(sb.run(['enable', 'default', '--condition=boot', '--now', '--dry-run']));
    assert.ok(r.stdout.includes(`launchctl bootout ${guiAgent()}  # may fail: it may have stopped meanwhile; then wait until \`launchctl print ${guiAgent()}\` fails and Lima no longer reports "default" Running (up to 300 s)\n`), r.stdout);
    assert.match(r.stdout, /^sudo launchctl bootstrap system '[^']+'  # tried again while it fails with 37 or 5 \(up to 30 s\)$/m);
  });

  describe('--now when the instance already runs outside launchd', () => {
    for (const condition of ['login', 'boot'] as const) {
      it(`--condition=${condition}: says so and gives the two commands that hand it over, stops nothing`, () => {
        sb = new Sandbox({ platform: 'darwin' });
        sb.limaList([{ name: 'default', status: 'Running', hostAgentPID: 999 }]);
        const r = ok(sb.run(['enable', 'default', `--condition=${condition}`, '--now']));
        assert.match(r.stderr, /warning: instance "default" is already running, started outside launchd/);
        assert.ok(r.stderr.includes(`To hand it over to launchd now: limactl stop default, then limactl-autostart enable default --condition=${condition} --now`), show(r));
        assert.equal(sb.calls().filter((c) => c[0] === 'limactl').length, 1, 'one question to Lima');
        assert.ok(!sb.calls().some((c) => c[0] === 'limactl' && c[1] === 'stop'));
      });
    }

    it('no warning when Lima says the instance was started by our job, or is stopped', () => {
      sb = new Sandbox({ platform: 'darwin' });
      sb.limaList([{ name: 'default', status: 'Running', hostAgentPID: 999, autoStartedIdentifier: AGENT }]);
      assert.doesNotMatch(ok(sb.run(['enable', 'default', '--now'])).stderr, /already running/);
      sb.limaList([{ name: 'default', status: 'Stopped' }]);
      assert.doesNotMatch(ok(sb.run(['enable', 'default', '--condition=boot', '--now'])).stderr, /already running/);
    });
  });
});
