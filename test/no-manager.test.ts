import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { show, type RunResult, type Sandbox } from './helpers.js';
import { ok, sandboxPool } from './pool.js';

// Linux with systemctl but no systemd user manager (WSL without systemd, a container, a minimal
// host): the systemctl stand-in answers every `--user` call as the real one does then ("Failed to
// connect to bus", exit 1). enable, disable and status say so before they change or show
// anything; --dry-run still prints the plan, after a warning.

const UNIT = 'lima-vm@default.service';
const PROBE = ['systemctl', '--user', 'show-environment'];
/** With --now, the plan also asks whether the unit runs (the answer decides what a rollback would do). */
const IS_ACTIVE = ['systemctl', '--user', 'is-active', '--quiet', UNIT];
const NO_MANAGER = /^error: no systemd user manager answers: `systemctl --user show-environment` exited with code 1: Failed to connect to bus: No such file or directory$/m;

/** The refusal: exit 1, the message, what to do, and no stack trace. */
function refused(r: RunResult, message = NO_MANAGER): void {
  assert.equal(r.code, 1, show(r));
  assert.match(r.stderr, message);
  assert.match(r.stderr, /the user manager \(`systemd --user`\) is what starts it/);
  assert.match(r.stderr, /`systemd=true` under `\[boot\]` in \/etc\/wsl\.conf/);
  assert.match(r.stderr, /start it with `limactl start`/);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.equal(r.stdout, '');
}

describe('Linux without a systemd user manager', () => {
  const make = sandboxPool();
  const linux = (): Sandbox => make({ platform: 'linux' });

  for (const args of [['enable', 'default'], ['enable', 'default', '--condition=boot'], ['enable', 'default', '--now']]) {
    it(`${args.join(' ')}: exit 1, says so and what to do, and changes nothing`, () => {
      const sb = linux();
      sb.userManager(false);
      const before = sb.snapshot();
      const r = sb.run(args);
      refused(r);
      assert.match(r.stderr, /Nothing was changed\./);
      assert.deepEqual(sb.snapshot(), before, 'nothing on disk changed');
      assert.deepEqual(sb.calls(), args.includes('--now') ? [PROBE, IS_ACTIVE] : [PROBE], 'only read-only questions: no loginctl, no other systemctl call');
    });
  }

  for (const now of [false, true]) {
    it(`disable${now ? ' --now' : ''} of a registered instance: exit 1, the unit and its link stay`, () => {
      const sb = linux();
      ok(sb.run(['enable', 'default', '--condition=boot']));
      sb.userManager(false);
      sb.clearCalls();
      const before = sb.snapshot();
      // Even without --now: `systemctl --user disable` and `daemon-reload` need the manager.
      refused(sb.run(['disable', 'default', ...(now ? ['--now'] : [])]));
      assert.deepEqual(sb.snapshot(), before, 'nothing on disk changed');
      assert.ok(existsSync(sb.unitFile()) && existsSync(sb.lingerFile()));
      assert.deepEqual(sb.calls(), now ? [PROBE, IS_ACTIVE] : [PROBE]);
    });
  }

  it('disable of an instance that is not registered: nothing to do, exit 0, no question asked', () => {
    const sb = linux();
    sb.userManager(false);
    const r = ok(sb.run(['disable', 'default']));
    assert.match(r.stderr, /not registered for autostart; nothing to do/);
    assert.deepEqual(sb.calls(), []);
  });

  it('enable --dry-run: the plan, after a warning that says a real run would stop before it', () => {
    const sb = linux();
    sb.userManager(false);
    const before = sb.snapshot();
    const r = ok(sb.run(['enable', 'default', '--now', '--dry-run']));
    assert.match(r.stdout, /^# enable "default" at login \(systemd, keep-alive true\)$/m);
    assert.match(r.stdout, new RegExp(`systemctl --user start ${UNIT.replace(/[.@]/g, '\\$&')}`));
    assert.match(r.stderr, /^warning: no systemd user manager answers: `systemctl --user show-environment` exited with code 1: Failed to connect to bus: No such file or directory; the plan below would stop before its first step\.$/m);
    assert.match(r.stderr, /`systemd=true` under `\[boot\]` in \/etc\/wsl\.conf/);
    assert.deepEqual(sb.snapshot(), before);
  });

  it('disable --now --dry-run: the plan, after the same warning', () => {
    const sb = linux();
    ok(sb.run(['enable', 'default']));
    sb.userManager(false);
    const r = ok(sb.run(['disable', 'default', '--now', '--dry-run']));
    assert.match(r.stdout, /^# disable "default" \(systemd\)$/m);
    assert.match(r.stderr, /^warning: no systemd user manager answers: .*; the plan below would stop before its first step\.$/m);
    assert.ok(existsSync(sb.unitFile()));
  });

  for (const args of [['status'], ['status', '--json'], ['status', 'default']]) {
    it(`${args.join(' ')}: exit 1 with the message, no table`, () => {
      const sb = linux();
      ok(sb.run(['enable', 'default']));
      sb.userManager(false);
      const r = sb.run(args);
      refused(r, /^error: no systemd user manager answers: `systemctl --user show --property=\S+ -- lima-vm@default\.service` exited with code 1: Failed to connect to bus: No such file or directory$/m);
    });
  }

  it('status with no instance and no registration asks the manager too', () => {
    const sb = make({ platform: 'linux', instances: [] });
    sb.userManager(false);
    refused(sb.run(['status']), /^error: no systemd user manager answers: `systemctl --user show --property=\S+ --` exited with code 1: Failed to connect to bus/m);
    // Given back, the same command works: the refusal came from the manager alone.
    sb.userManager(true);
    assert.match(ok(sb.run(['status'])).stdout, /^No Lima instances and no autostart registrations\.$/m);
  });
});
