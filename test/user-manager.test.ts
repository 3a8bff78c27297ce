import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, ROOT, Sandbox } from './helpers.js';
import { placeFixture } from './fixture.js';
import { sandboxPool } from './pool.js';

// Lima's unit as Lima 1.0.1 registered it (WantedBy=multi-user.target, enabled with the real
// `systemctl --user enable`), then adopted by `enable` and by `migrate`, against a real, private
// systemd user manager (test/real/with-user-manager.sh) and the real systemctl. The stand-ins
// elsewhere show which commands run; this shows what systemd makes of them: the stale
// multi-user.target link is gone, the default.target link is there, and a running unit is not
// restarted.

const MANAGER = path.join(ROOT, 'test', 'real', 'with-user-manager.sh');
const UNIT = 'lima-vm@default.service';

/** Why the real user manager cannot run here, or undefined when it can. */
function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'a private systemd --user needs root (mount and cgroup namespaces)';
  for (const file of ['/lib/systemd/systemd', '/usr/bin/systemctl', '/usr/bin/unshare', '/usr/bin/script']) {
    if (!existsSync(file)) return `${file} is missing`;
  }
  return undefined;
}

/** Fails under CI=true (.ci/run runs as root and installs systemd), else skips and says why. */
function needManager(ctx: Mocha.Context): void {
  const why = unavailable();
  if (!why) return;
  if (process.env.CI === 'true') assert.fail(`the real systemd user manager cannot run: ${why}`);
  console.log(`      skipped: ${why}`);
  ctx.skip();
}

/** Runs a shell script next to the sandbox's own user manager; the real systemctl comes from /usr/bin. */
function withManager(sb: Sandbox, script: string): string {
  const r = spawnSync(MANAGER, [sb.home, 'sh', '-ec', script, 'sh', process.execPath, BIN], { env: sb.env(), encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `with-user-manager.sh failed (${r.error?.message ?? r.status})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r.stdout;
}

/**
 * Lima's unit, with a stand-in for the Cellar limactl it recorded so that it can run: `start %i
 * --foreground` stays in the foreground, as the host agent does. Lima does not quote ExecStart=,
 * so the stand-in lives outside the sandbox, whose path has a space; `cellar` is removed after.
 */
function limaUnit(sb: Sandbox, cellar: string): void {
  const limactl = path.join(cellar, 'limactl');
  writeFileSync(limactl, '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
  placeFixture(sb, 'lima-1.0.1/lima-vm@default.service', sb.unitFile(), (t) => t.replace('/home/linuxbrew/.linuxbrew/Cellar/lima/1.0.1/bin/limactl', limactl));
}

/** Lima's `start-at-login`: systemctl --user enable, as Lima ran it; then the unit is started. */
const LIMA_ENABLE_AND_START = `systemctl --user daemon-reload; systemctl --user enable ${UNIT} 2>/dev/null; systemctl --user start ${UNIT}; systemctl --user show -P MainPID ${UNIT}`;

function link(sb: Sandbox, target: string): string {
  return path.join(path.dirname(sb.unitFile()), `${target}.wants`, UNIT);
}

describe('adoption with a real systemd user manager', () => {
  const make = sandboxPool();
  let cellar: string | undefined;
  afterEach(() => {
    if (cellar) rmSync(cellar, { recursive: true, force: true });
    cellar = undefined;
  });

  for (const command of ['enable default', 'migrate']) {
    it(`${command}: Lima's multi-user.target link is replaced by a default.target link, and the running unit keeps running`, function () {
      needManager(this);
      // No systemctl stand-in: the real one on PATH talks to the sandbox's manager.
      const sb = make({ platform: 'linux', without: ['systemctl'] });
      cellar = mkdtempSync(path.join(os.tmpdir(), 'limactl-autostart-cellar.'));
      limaUnit(sb, cellar);
      const out = withManager(sb, [
        LIMA_ENABLE_AND_START,
        `test -L "${link(sb, 'multi-user.target')}"`,
        `"$1" "$2" ${command} >/dev/null`,
        `systemctl --user is-enabled ${UNIT}`,
        `systemctl --user is-active ${UNIT}`,
        `systemctl --user show -P MainPID ${UNIT}`,
        `systemctl --user show -P FragmentPath ${UNIT}`,
      ].join('\n')).trim().split('\n');
      const [pidBefore, enabled, active, pidAfter, fragment] = out;
      assert.equal(enabled, 'enabled', out.join('\n'));
      assert.equal(active, 'active', out.join('\n'));
      assert.equal(pidAfter, pidBefore, 'the unit was restarted');
      assert.equal(fragment, sb.unitFile());
      assert.ok(!existsSync(link(sb, 'multi-user.target')) && !isLink(link(sb, 'multi-user.target')), 'the multi-user.target link is still there');
      assert.ok(isLink(link(sb, 'default.target')), 'no default.target link');
      assert.equal(readlinkSync(link(sb, 'default.target')), sb.unitFile());
      assert.match(readFileSync(sb.unitFile(), 'utf8'), /^# Generated by limactl-autostart .*condition=login keep-alive=true/);
    });
  }
});

function isLink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}
