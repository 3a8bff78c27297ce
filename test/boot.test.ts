import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, show } from './helpers.js';
import { BootContainer } from './harness/boot-container.js';
import { sleep, unitView, UNIT_VIEW_PROPERTIES, waitFor, type CommandResult, type UnitView } from './harness/user-manager.js';
import { SYSTEMD_RESTART_SEC } from '../src/tunables.js';

// What --condition=boot is for, proved with real boots: this machine's own OS booted as a
// container (test/harness/boot-container.ts), with its real systemd, logind, polkit, loginctl and
// systemctl, and the real bin/limactl-autostart run by an ordinary user of the container. Only
// limactl is a stand-in (test/fakes/limactl): its `start default --foreground` records the start
// and runs until killed, like the host agent; its `stop default` makes that exit 0.
//
// The steps run in order, on one container whose files last from one boot to the next: enable
// with lingering refused and granted, then boots with nobody logged in. The user's manager is
// asked with setpriv and XDG_RUNTIME_DIR: no step after a boot opens a login session until it has
// checked what started without one. The unit is used as written (RestartSec and all).

const USER = 'limauser';
const HOME = `/home/${USER}`;
const INSTANCE = 'default';
const UNIT = `lima-vm@${INSTANCE}.service`;
const UNIT_FILE = `${HOME}/.config/systemd/user/${UNIT}`;
const WANTS_LINK = `${HOME}/.config/systemd/user/default.target.wants/${UNIT}`;
const LINGER_FILE = `/var/lib/systemd/linger/${USER}`;
/** Where the program notes that it turned lingering on (XDG_STATE_HOME's default). */
const MARKER = `${HOME}/.local/state/limactl-autostart/linger`;
const STAND_INS = `${HOME}/.local/bin`;
const FAKE_DIR = `${HOME}/fake-state`;
/** The user's PATH: limactl in ~/.local/bin, as a user's own install would be; this test's node. */
const USER_PATH = `${STAND_INS}:${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`;
const POLKIT_RULE = '/etc/polkit-1/rules.d/10-limactl-autostart-test-no-linger.rules';
const POLKITD = '/usr/lib/polkit-1/polkitd';
const RESTART_MS = SYSTEMD_RESTART_SEC * 1000;
/** Bound on the wait for a restart: RestartSec, and room for a loaded machine. Not a speed test. */
const RESTART_LIMIT_MS = RESTART_MS + 30_000;

/** Why this machine cannot run the boot tests, beyond what the container harness needs. */
function unavailable(): string | undefined {
  const why = BootContainer.unavailable();
  if (why) return why;
  if (!existsSync(POLKITD)) return `${POLKITD} is not installed (package polkitd): polkit grants and refuses lingering here`;
  if (!existsSync('/usr/bin/dbus-daemon')) return 'dbus-daemon is not installed (package dbus): logind and polkit talk over the system bus';
  if (!existsSync(path.join(ROOT, 'dist', 'bundle'))) return 'the bundle is not built (npm run build)';
  return undefined;
}

describe('--condition=boot on Linux, in real boots of a container with a real logind', function () {
  this.timeout(120_000);
  let c: BootContainer | undefined;
  /** The step that failed: the later ones depend on it, and say so instead of failing for it. */
  let broken: string | undefined;

  before(async function () {
    const why = unavailable();
    if (why) {
      if (process.env.CI === 'true') throw new Error(`CI=true, and the boot tests cannot run: ${why}`);
      console.log(`    skipped, the boot tests: ${why}`);
      this.skip();
    }
    c = await BootContainer.create();
    await c.boot();
    await setUp(c);
  });

  after(async function () {
    if (!c) return;
    const container = c;
    c = undefined;
    const left = await container.destroy();
    assert.deepEqual(left, [], 'the boot tests left something on the host');
  });

  afterEach(async function () {
    // Only for the step that failed: the ones after it did not run.
    if (this.currentTest?.state !== 'failed' || this.currentTest.title !== broken || !c) return;
    console.log(await diagnosis(c));
  });

  function step(title: string, fn: (c: BootContainer) => Promise<void>): void {
    it(title, async () => {
      if (broken) throw new Error(`not run: it needs the state the step "${broken}" leaves`);
      assert.ok(c, 'no container: the before hook did not run');
      try {
        await fn(c);
      } catch (err) {
        broken = title;
        throw err;
      }
    });
  }

  step('the harness sees what the running container holds: its cgroups, processes and namespaces', async (c) => {
    const held = c.leftovers();
    assert.ok(held.some((l) => l.startsWith('cgroup directories: ') && l.includes(c.name)), held.join('\n'));
    assert.ok(held.some((l) => l.startsWith('processes in ')), held.join('\n'));
    assert.ok(held.some((l) => l.startsWith("processes in the run's namespaces")), held.join('\n'));
    // The user can run the program from the checkout, and only limactl is a stand-in.
    const version = await c.run([BIN, '--version'], { user: USER, env: { PATH: USER_PATH } });
    assert.equal(version.code, 0, show(version));
    assert.equal((await c.run(['sh', '-c', 'for t in loginctl systemctl limactl; do command -v $t; done'], { user: USER, env: { PATH: USER_PATH } })).stdout,
      `/usr/bin/loginctl\n/usr/bin/systemctl\n${STAND_INS}/limactl\n`);
  });

  step('lingering refused (a polkit rule): enable says so, gives the administrator\'s command, and rolls back', async (c) => {
    writeFileSync(c.file(POLKIT_RULE), `polkit.addRule(function (action, subject) {
  if (action.id == "org.freedesktop.login1.set-self-linger" && subject.user == "${USER}") return polkit.Result.NO;
});
`);
    // polkitd reads its rules when it starts: no race with its file watch.
    await root(c, ['systemctl', 'restart', 'polkit.service']);
    const r = await c.login(USER, [BIN, 'enable', INSTANCE, '--condition=boot'], { PATH: USER_PATH });
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /`loginctl enable-linger limauser` exited with code 1/, show(r));
    assert.match(r.stderr, /run `sudo loginctl enable-linger limauser`, then enable again/, show(r));
    assert.match(r.stderr, /Rolled back/, show(r));
    assert.equal(r.stderr.includes('    at '), false, `a stack trace:\n${r.stderr}`);
    assert.deepEqual(present(c), { unit: false, wants: false, linger: false, marker: false });
    assert.equal(starts(c), 0);
  });

  step('lingering turned on by the administrator: enable works, and disable leaves that lingering on', async (c) => {
    rmSync(c.file(POLKIT_RULE));
    await root(c, ['systemctl', 'restart', 'polkit.service']);
    // `sudo loginctl enable-linger limauser`, as the message says (root needs no sudo here).
    await root(c, ['loginctl', 'enable-linger', USER]);
    const enabled = await c.login(USER, [BIN, 'enable', INSTANCE, '--condition=boot'], { PATH: USER_PATH });
    assert.equal(enabled.code, 0, show(enabled));
    assert.match(enabled.stderr, /lingering was already on for limauser; disable will leave it on/, show(enabled));
    assert.deepEqual(present(c), { unit: true, wants: true, linger: true, marker: false });
    const disabled = await c.login(USER, [BIN, 'disable', INSTANCE], { PATH: USER_PATH });
    assert.equal(disabled.code, 0, show(disabled));
    assert.match(disabled.stderr, /lingering stays on for limauser: it was on before limactl-autostart/, show(disabled));
    assert.deepEqual(present(c), { unit: false, wants: false, linger: true, marker: false });
    // Back to no lingering, for the user to turn on.
    await root(c, ['loginctl', 'disable-linger', USER]);
    assert.equal(present(c).linger, false);
  });

  step('enable --condition=boot in a login session: the unit enabled, lingering turned on by the user, and noted as the program\'s', async (c) => {
    const r = await c.login(USER, [BIN, 'enable', INSTANCE, '--condition=boot'], { PATH: USER_PATH });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stderr, /instance "default" starts at boot \(lingering on for limauser\)/, show(r));
    assert.deepEqual(present(c), { unit: true, wants: true, linger: true, marker: true });
    assert.match(readFileSync(c.file(UNIT_FILE), 'utf8'), /^# Generated by limactl-autostart .*condition=boot keep-alive=true/);
    // enable without --now starts nothing.
    assert.equal(starts(c), 0);
  });

  step('power off, boot: with no login session at all, lima-vm@default.service is active and the stand-in started once', async (c) => {
    await c.poweroff();
    await c.boot();
    const view = await running(c);
    await noLogin(c);
    assert.equal(starts(c), 1);
    // The main process is the wrapper (templates/service.sh); the host agent its child.
    assert.equal(hostAgentPid(c, 'ppid'), view.MainPID);
    assert.equal(view.NRestarts, 0);
    assert.equal((await root(c, ['systemctl', 'is-active', `user@${c.uid(USER)}.service`])).stdout.trim(), 'active');
    // status, run as the user without a session, agrees: running, at boot, nothing to fix.
    const status = await c.run([BIN, 'status', '--json', INSTANCE], { user: USER, env: { PATH: USER_PATH } });
    assert.equal(status.code, 0, show(status));
    const [row] = JSON.parse(status.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual({ state: row?.state, pid: row?.pid, condition: row?.condition, keepAlive: row?.keepAlive, problems: row?.problems },
      { state: 'running', pid: view.MainPID, condition: 'boot', keepAlive: true, problems: [] });
  });

  step(`kill -9 of the host agent: restarted after RestartSec=${SYSTEMD_RESTART_SEC}, a new main process, NRestarts=1`, async (c) => {
    const before = await view(c);
    await root(c, ['kill', '-KILL', String(hostAgentPid(c))]);
    const after = await running(c, before.MainPID, RESTART_LIMIT_MS);
    assert.ok(after.NRestarts >= 1, JSON.stringify(after));
    assert.equal(starts(c), 2);
    await noLogin(c);
  });

  step('a clean exit (`limactl stop default`): it stays down', async (c) => {
    const before = await view(c);
    const stop = await c.run(['limactl', 'stop', INSTANCE], { user: USER, env: { PATH: USER_PATH } });
    assert.equal(stop.code, 0, show(stop));
    const stopped = await until(c, `${UNIT} to stop`, (v) => v.ActiveState !== 'active');
    // No restart scheduled (that would be activating/auto-restart), and none comes within RestartSec.
    assert.deepEqual([stopped.ActiveState, stopped.SubState, stopped.Result, stopped.NRestarts], ['inactive', 'dead', 'success', before.NRestarts]);
    await staysDown(c, (v) => v.ActiveState === 'inactive' && v.NRestarts === before.NRestarts);
    assert.equal(starts(c), 2);
    await noLogin(c);
  });

  step('disable --now: the unit gone, the service stopped, lingering off again; the next boot starts nothing', async (c) => {
    const start = await c.run(['systemctl', '--user', 'start', UNIT], { user: USER });
    assert.equal(start.code, 0, show(start));
    await running(c);
    assert.equal(starts(c), 3);
    const r = await c.login(USER, [BIN, 'disable', INSTANCE, '--now'], { PATH: USER_PATH });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stderr, /lingering turned off for limauser: limactl-autostart had turned it on/, show(r));
    assert.deepEqual(present(c), { unit: false, wants: false, linger: false, marker: false });
    // Stopped: the host agent is gone, and nothing runs it again.
    const agents = await c.run(['pgrep', '-u', USER, '-f', `limactl start ${INSTANCE} --foreground`]);
    assert.equal(agents.code, 1, `a host agent runs: ${agents.stdout}`);
    assert.notEqual(hostAgentPid(c), 0);
    assert.equal(starts(c), 3);

    await c.poweroff();
    await c.boot();
    await nothingStarted(c, 3);
  });

  step('enable --condition=login (no lingering), boot: not started without a login session; a login starts it', async (c) => {
    const r = await c.login(USER, [BIN, 'enable', INSTANCE, '--condition=login'], { PATH: USER_PATH });
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(present(c), { unit: true, wants: true, linger: false, marker: false });
    await c.poweroff();
    await c.boot();
    await nothingStarted(c, 3);
    // The unit is fine: a login session starts it. The session waits until the stand-in, run by
    // the unit's main process, has noted its start (the unit is active as soon as the process is
    // forked, before the script runs): ending the session first would stop the unit too early.
    const noted = `[ "$(systemctl --user show --property=MainPID --value ${UNIT})" = "$(cat ${FAKE_DIR}/host-agent.${INSTANCE}.ppid 2>/dev/null)" ]`;
    const login = await c.login(USER, ['sh', '-c', `i=0; until systemctl --user is-active --quiet ${UNIT} && ${noted}; do i=$((i + 1)); [ $i -gt 300 ] && exit 1; sleep 0.1; done`]);
    assert.equal(login.code, 0, `${UNIT} did not start at login\n${show(login)}`);
    assert.equal(starts(c), 4);
    const off = await c.login(USER, [BIN, 'disable', INSTANCE, '--now'], { PATH: USER_PATH });
    assert.equal(off.code, 0, show(off));
  });

  step('enable --condition=boot --keep-alive=false, boot: started; after kill -9 it stays down', async (c) => {
    const r = await c.login(USER, [BIN, 'enable', INSTANCE, '--condition=boot', '--keep-alive=false'], { PATH: USER_PATH });
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(present(c), { unit: true, wants: true, linger: true, marker: true });
    await c.poweroff();
    await c.boot();
    await running(c);
    await noLogin(c);
    assert.equal(starts(c), 5);
    await root(c, ['kill', '-KILL', String(hostAgentPid(c))]);
    const failed = await until(c, `${UNIT} to fail`, (v) => v.ActiveState === 'failed');
    assert.deepEqual([failed.SubState, failed.Result, failed.NRestarts, failed.MainPID], ['failed', 'signal', 0, 0]);
    await staysDown(c, (v) => v.ActiveState === 'failed' && v.NRestarts === 0);
    assert.equal(starts(c), 5);
  });
});

/** As root in the container; a failure is an error with the command's output. */
async function root(c: BootContainer, argv: string[]): Promise<CommandResult> {
  const r = await c.run(argv);
  if (r.code !== 0) throw new Error(`\`${argv.join(' ')}\` in the container exited with ${r.code}\n${r.stdout}${r.stderr}`);
  return r;
}

/**
 * The container's user, its instance and the limactl stand-in. The checkout's parent
 * directories are made searchable for the user (in the container only), so that it can run
 * bin/limactl-autostart where it is.
 */
async function setUp(c: BootContainer): Promise<void> {
  const script = `set -eu
useradd -m -s /bin/bash ${USER}
d=$(dirname "$1")
while [ "$d" != / ]; do chmod o+x "$d"; d=$(dirname "$d"); done
install -d -o ${USER} -g ${USER} ${HOME}/.local ${STAND_INS} ${FAKE_DIR} ${FAKE_DIR}/fail ${HOME}/.lima ${HOME}/.lima/${INSTANCE}
install -o ${USER} -g ${USER} -m 755 "$1/test/fakes/limactl" ${STAND_INS}/limactl
install -o ${USER} -g ${USER} -m 644 "$1/test/fakes/record.sh" ${STAND_INS}/record.sh
echo ${FAKE_DIR} > ${STAND_INS}/fake-dir
echo '# a Lima instance for tests' > ${HOME}/.lima/${INSTANCE}/lima.yaml
chown ${USER}:${USER} ${STAND_INS}/fake-dir ${HOME}/.lima/${INSTANCE}/lima.yaml
`;
  await root(c, ['sh', '-c', script, 'sh', ROOT]);
}

/** The files that say what is registered: the unit, its default.target link, the linger flag, the marker. */
function present(c: BootContainer): { unit: boolean; wants: boolean; linger: boolean; marker: boolean } {
  const is = (p: string): boolean => {
    try {
      lstatSync(c.file(p));
      return true;
    } catch {
      return false;
    }
  };
  return { unit: is(UNIT_FILE), wants: is(WANTS_LINK), linger: is(LINGER_FILE), marker: is(MARKER) };
}

/** How many times the stand-in's `start default --foreground` ran, over all boots. */
function starts(c: BootContainer): number {
  const file = c.file(`${FAKE_DIR}/host-agent.pids`);
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}

/** The pid the stand-in's last `start default --foreground` noted (0: none yet), or its parent's. */
function hostAgentPid(c: BootContainer, which: 'pid' | 'ppid' = 'pid'): number {
  const file = c.file(`${FAKE_DIR}/host-agent.${INSTANCE}.${which}`);
  return existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0;
}


/**
 * What the user's manager says about the unit, asked without a session (setpriv and
 * XDG_RUNTIME_DIR). Waits for the manager's socket: after a boot, logind starts the manager of a
 * lingering user.
 */
async function view(c: BootContainer): Promise<UnitView> {
  const socket = `/run/user/${c.uid(USER)}/systemd/private`;
  await waitFor(`${USER}'s manager (${socket})`, () => existsSync(c.file(socket)), 60_000);
  const r = await c.run(['systemctl', '--user', 'show', `--property=${UNIT_VIEW_PROPERTIES.join(',')}`, UNIT], { user: USER });
  if (r.code !== 0) throw new Error(`systemctl --user show ${UNIT} exited ${r.code}: ${r.stderr}`);
  return unitView(Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])));
}

/** Polls `check` until it returns a value; fails after `timeoutMs` with what it last said. */
async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, last?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `; ${last()}` : ''}`);
    await sleep(200);
  }
}

/** Polls the unit until `check` holds, and returns that view. */
async function until(c: BootContainer, what: string, check: (v: UnitView) => boolean, timeoutMs?: number): Promise<UnitView> {
  let v: UnitView | undefined;
  return poll(what, async () => {
    v = await view(c);
    return check(v) ? v : undefined;
  }, timeoutMs, () => `systemd says ${JSON.stringify(v)}`);
}

/**
 * Waits until the unit runs a main process (other than `not`) and the stand-in has recorded that
 * start: systemd calls a simple service active as soon as it has forked it.
 */
function running(c: BootContainer, not?: number, timeoutMs?: number): Promise<UnitView> {
  return until(c, `${UNIT} to run a main process${not ? ` other than ${not}` : ''}`,
    (v) => v.ActiveState === 'active' && v.MainPID > 0 && v.MainPID !== not && hostAgentPid(c, 'ppid') === v.MainPID, timeoutMs);
}

/**
 * The unit stays as `check` says for RestartSec and a second more: a restart that should not
 * happen would have happened by then. Polled, so that one that does happen fails at once.
 */
async function staysDown(c: BootContainer, check: (v: UnitView) => boolean): Promise<void> {
  const until = Date.now() + RESTART_MS + 1000;
  while (Date.now() < until) {
    const v = await view(c);
    assert.ok(check(v), `${UNIT} came back: ${JSON.stringify(v)}`);
    await sleep(200);
  }
}

/**
 * Nobody logged in during this boot: logind has no session, and its journal of this boot, which
 * says that it started, says of no session.
 */
async function noLogin(c: BootContainer): Promise<void> {
  assert.equal((await root(c, ['loginctl', 'list-sessions', '--no-legend'])).stdout.trim(), '', 'a login session exists');
  const journal = await poll('systemd-logind\'s journal of this boot to say that it started', async () => {
    const text = (await root(c, ['journalctl', '-b', '--no-pager', '-o', 'cat', '-u', 'systemd-logind.service'])).stdout;
    return /^New seat seat0\.$/m.test(text) ? text : undefined;
  });
  assert.doesNotMatch(journal, /New session/, journal);
}

/** After a boot without lingering: no session, no manager for the user, no process of the user, no new start. */
async function nothingStarted(c: BootContainer, startsBefore: number): Promise<void> {
  await noLogin(c);
  assert.equal(present(c).linger, false);
  const manager = await c.run(['systemctl', 'is-active', `user@${c.uid(USER)}.service`]);
  assert.equal(manager.stdout.trim(), 'inactive', show(manager));
  const processes = await c.run(['pgrep', '-u', USER, '-a', '.']);
  assert.equal(processes.code, 1, `${USER} has processes:\n${processes.stdout}`);
  assert.equal(starts(c), startsBefore);
}

/** What the container's journal and the user's manager said, for a failed step. */
async function diagnosis(c: BootContainer): Promise<string> {
  const parts = [c.consoleTail(20)];
  try {
    const journal = await c.run(['journalctl', '--no-pager', '-n', '80']);
    parts.push(`--- the container's journal, last 80 lines\n${journal.stdout}${journal.stderr}`);
    const user = await c.run(['journalctl', '--no-pager', '-n', '40', `_UID=${c.uid(USER)}`]);
    parts.push(`--- what ${USER}'s processes and manager logged, last 40 lines\n${user.stdout}${user.stderr}`);
    const status = await c.run(['systemctl', '--user', 'status', '--no-pager', UNIT], { user: USER });
    parts.push(`--- systemctl --user status ${UNIT}\n${status.stdout}${status.stderr}`);
  } catch (err) {
    parts.push(`(the container cannot be asked: ${(err as Error).message})`);
  }
  return parts.join('\n');
}
