import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { placeFixture } from './fixture.js';
import { Sandbox, show, type Platform, type RunResult } from './helpers.js';

// Fault injection: every step of every plan fails once, and afterwards the machine must be as it
// was before the command. Two kinds of fault:
// - LIMA_AUTOSTART_FAIL_STEP=k makes step k fail before it runs (file steps included);
// - the stand-ins make their N-th call fail, for every N: a real non-zero exit with a message.

interface Scenario {
  name: string;
  platform: Platform;
  setup: (sb: Sandbox) => void;
  args: string[];
}

function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, show(result));
  return result;
}

const SCENARIOS: Scenario[] = [
  { name: 'enable at login --now, nothing registered', platform: 'darwin', setup: () => {}, args: ['enable', 'default', '--now'] },
  {
    name: 'enable at boot --now over a loaded LaunchAgent (login to boot)',
    platform: 'darwin',
    setup: (sb) => { ok(sb.run(['enable', 'default', '--now'])); },
    args: ['enable', 'default', '--condition=boot', '--now'],
  },
  {
    name: 'enable at login --now over a loaded LaunchDaemon (boot to login)',
    platform: 'darwin',
    setup: (sb) => { ok(sb.run(['enable', 'default', '--condition=boot', '--now'])); },
    args: ['enable', 'default', '--now'],
  },
  {
    name: 'enable at login --keep-alive=false over an agent loaded in user/<uid>',
    platform: 'darwin',
    setup: (sb) => {
      ok(sb.run(['enable', 'default']));
      sb.markLoaded(`user/${sb.uid}/io.lima-vm.autostart.default`);
    },
    args: ['enable', 'default', '--keep-alive=false', '--now'],
  },
  {
    name: 'disable --now with a loaded LaunchAgent and a LaunchDaemon',
    platform: 'darwin',
    setup: (sb) => {
      ok(sb.run(['enable', 'default', '--condition=boot', '--now']));
      ok(sb.run(['enable', 'default'])); // removes the daemon's file; its job stays loaded
      writeFileSync(sb.daemonPlist(), readFileSync(sb.agentPlist()), { mode: 0o644 });
      sb.markLoaded(`gui/${sb.uid}/io.lima-vm.autostart.default`);
    },
    args: ['disable', 'default', '--now'],
  },
  { name: 'enable at login --now, nothing registered', platform: 'linux', setup: () => {}, args: ['enable', 'default', '--now'] },
  { name: 'enable at boot, lingering off', platform: 'linux', setup: () => {}, args: ['enable', 'default', '--condition=boot', '--now'] },
  {
    name: 'enable at login --now over a running boot unit (lingering released)',
    platform: 'linux',
    setup: (sb) => { ok(sb.run(['enable', 'default', '--condition=boot', '--now'])); },
    args: ['enable', 'default', '--now'],
  },
  {
    name: 'enable --now over Lima 1.0.1\'s running unit, enabled into multi-user.target (reenable)',
    platform: 'linux',
    setup: (sb) => {
      // As Lima left it: its file, linked from multi-user.target.wants, and the unit running.
      placeFixture(sb, 'lima-1.0.1/lima-vm@default.service', sb.unitFile());
      const unit = path.basename(sb.unitFile());
      const wants = path.join(path.dirname(sb.unitFile()), 'multi-user.target.wants');
      mkdirSync(wants);
      symlinkSync(`../${unit}`, path.join(wants, unit));
      writeFileSync(`${sb.fakeDir}/systemd-active`, `${unit}\n`);
    },
    args: ['enable', 'default', '--now'],
  },
  {
    name: 'disable --now of a running boot unit (lingering released)',
    platform: 'linux',
    setup: (sb) => { ok(sb.run(['enable', 'default', '--condition=boot', '--now'])); },
    args: ['disable', 'default', '--now'],
  },
];

/** Files (with content), loaded launchd jobs, active systemd units and lingering. Directories are
 *  left out: `systemctl disable` leaves the .wants directory that `enable` made, as systemd does. */
function machineState(sb: Sandbox): Record<string, unknown> {
  const files = Object.fromEntries(Object.entries(sb.snapshot()).filter(([p]) => !p.endsWith('/')));
  const active = existsSync(`${sb.fakeDir}/systemd-active`) ? readFileSync(`${sb.fakeDir}/systemd-active`, 'utf8').split('\n').filter(Boolean).sort() : [];
  return { files, loaded: sb.loaded().sort(), active, lingering: existsSync(sb.lingerFile()) };
}

/** Puts the sandbox back to the saved copy: same paths, so the files written into it stay true. */
function restore(sb: Sandbox, saved: string): void {
  rmSync(sb.root, { recursive: true, force: true });
  cpSync(saved, sb.root, { recursive: true, verbatimSymlinks: true });
}

describe('rollback: a fault at every step leaves the machine as it was', function () {
  this.timeout(300_000);
  const totals = { steps: 0, calls: 0, survived: 0 };
  after(() => {
    console.log(`      ${totals.steps + totals.calls} faults injected (${totals.steps} at plan steps, ${totals.calls} at stand-in calls); ${totals.survived} left the machine as it was, ${totals.steps + totals.calls - totals.survived} did not`);
  });

  for (const scenario of SCENARIOS) {
    describe(`${scenario.platform}: ${scenario.name}`, () => {
      let sb: Sandbox;
      let saved: string;
      before(() => {
        sb = new Sandbox({ platform: scenario.platform });
        scenario.setup(sb);
        sb.clearCalls();
        saved = `${sb.root}.saved`;
        cpSync(sb.root, saved, { recursive: true, verbatimSymlinks: true });
      });
      after(() => {
        sb.cleanup();
        rmSync(saved, { recursive: true, force: true });
      });

      it('at each plan step (LIMA_AUTOSTART_FAIL_STEP)', () => {
        let total: number | undefined;
        for (let k = 1; ; k++) {
          restore(sb, saved);
          const before = machineState(sb);
          const r = sb.run(scenario.args, { LIMA_AUTOSTART_FAIL_STEP: String(k) });
          if (r.code === 0) {
            assert.equal(k - 1, total, `the run succeeded once k passed the last step\n${show(r)}`);
            break;
          }
          totals.steps++;
          assert.equal(r.code, 1, show(r));
          const m = /step (\d+) of (\d+) failed: .*fault injected before this step/.exec(r.stderr);
          assert.ok(m, show(r));
          assert.equal(Number(m[1]), k);
          total ??= Number(m[2]);
          assert.equal(Number(m[2]), total, 'the same plan every time');
          assert.match(r.stderr, k === 1 ? /Nothing had been changed yet/ : /Rolled back|Nothing had been changed yet/);
          assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
          assert.deepEqual(machineState(sb), before, `fault at step ${k}: the machine changed\n${show(r)}`);
          totals.survived++;
        }
        assert.ok((total ?? 0) >= 2, 'a plan of at least two steps');
      });

      it('at each call of launchctl, systemctl, loginctl, sudo or limactl (a real non-zero exit)', () => {
        for (let n = 1; ; n++) {
          restore(sb, saved);
          const before = machineState(sb);
          writeFileSync(`${sb.fakeDir}/fail-call`, `${n} 1\n`);
          const r = sb.run(scenario.args);
          // Every call counts here, `limactl --version` too: it fails harmlessly, with a warning.
          const made = sb.allCalls().length;
          if (made < n) {
            ok(r); // the run made fewer calls than n: nothing failed
            break;
          }
          totals.calls++;
          if (r.code === 0) {
            // The failed call was a question (is it loaded? is it active?) or a command allowed to
            // fail: the run went on and did what was asked.
            totals.survived++;
            continue;
          }
          assert.equal(r.code, 1, show(r));
          // A failed `systemctl --user show-environment` is a missing user manager: refused before any step.
          assert.match(r.stderr, /step \d+ of \d+ failed: `[^`]+` exited with code 1: \S+: call \d+ failing|no systemd user manager answers: `systemctl --user show-environment` exited with code 1: systemctl: call \d+ failing/, show(r));
          assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
          assert.deepEqual(machineState(sb), before, `fault at call ${n}: the machine changed\n${show(r)}`);
          totals.survived++;
        }
      });
    });
  }
});
