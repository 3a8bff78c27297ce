import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sandbox, show, type RunResult, type SandboxOptions } from './helpers.js';
import { sleep, UserManager, waitFor, type UnitView } from './harness/user-manager.js';
import { environmentOf, parseUnit, unitValues } from '../src/files/unit.js';
import { placeFixture } from './fixture.js';

// The Linux side against a real systemd: every test starts a private `systemd --user` whose HOME
// is the sandbox's HOME (test/harness/), runs the real bin/limactl-autostart with the real
// systemctl, and watches what systemd does with the unit: enable, start, crash, restart, stop,
// disable. Only limactl (and loginctl, unused here) are stand-ins: the limactl stand-in's
// `start INSTANCE --foreground` stays in the foreground like the host agent, or crashes or exits
// at once when told to (test/fakes/limactl).
//
// Restarts: the unit says RestartSec=10 and 5 starts within 600 s. Tests that wait for a restart
// (or for its absence) add a drop-in that lowers RestartSec alone, to RESTART_SEC; one test proves
// that the drop-in changes nothing else systemd reads from the unit, so the start limit counted
// below is the one the unit declares.

const INSTANCE = 'default';
const UNIT = `lima-vm@${INSTANCE}.service`;
const RESTART_SEC = '100ms';
/** Long enough for several restarts at RESTART_SEC: a restart that should not happen would. */
const QUIET_MS = 1000;

interface Lab {
  sb: Sandbox;
  manager: UserManager;
}

type LabOptions = Omit<SandboxOptions, 'platform' | 'without'>;

/** A Linux sandbox and a user manager whose HOME is the sandbox's. */
async function newLab(options: LabOptions = {}): Promise<Lab> {
  // The stand-ins for systemctl, launchctl and sudo are left out: `systemctl` on PATH is the real one.
  const sb = new Sandbox({ ...options, platform: 'linux', without: ['systemctl', 'launchctl', 'sudo'] });
  try {
    return { sb, manager: await UserManager.start({ home: sb.home, runtimeDir: path.join(sb.root, 'run'), log: path.join(sb.root, 'systemd-user.log') }) };
  } catch (err) {
    sb.cleanup();
    throw err;
  }
}

/**
 * A sandbox and a user manager for each test of the describe it is called in; afterwards the
 * manager is stopped and must have left nothing behind.
 */
function withUserManager(options: LabOptions = {}): () => Lab {
  let lab: Lab | undefined;
  beforeEach(async () => {
    lab = await newLab(options);
  });
  afterEach(async function () {
    if (!lab) return;
    const { sb, manager } = lab;
    lab = undefined;
    if (this.currentTest?.state === 'failed') console.log(manager.logTail());
    const left = await manager.stop();
    sb.cleanup();
    assert.deepEqual(left, [], 'the user manager left something behind');
  });
  return () => {
    assert.ok(lab, 'no user manager: beforeEach did not run');
    return lab;
  };
}

function run(lab: Lab, args: string[]): RunResult {
  const r = lab.sb.run(args, lab.manager.env);
  assert.equal(r.code, 0, show(r));
  // The real systemctl did the work: no stand-in recorded a systemctl call.
  assert.deepEqual(lab.sb.calls().filter((c) => c[0] === 'systemctl'), []);
  return r;
}

/**
 * Asserts what systemd reports about the unit and returns all of it. Every state the tests reach
 * goes through here: a status command has to agree with these views.
 */
function expectUnit(lab: Lab, expected: Partial<UnitView>): UnitView {
  const view = lab.manager.unit(UNIT);
  const picked = Object.fromEntries(Object.keys(expected).map((k) => [k, view[k as keyof UnitView]]));
  assert.deepEqual(picked, expected, `systemd's view of ${UNIT}: ${JSON.stringify(view)}\n${lab.manager.logTail(15)}`);
  statusAgrees(lab, view);
  return view;
}

/** `status --json` says what systemd says, in its own words (see docs/usage.md#status). */
function statusAgrees(lab: Lab, view: UnitView): void {
  const r = lab.sb.run(['status', '--json', INSTANCE], lab.manager.env);
  assert.equal(r.code, 0, show(r));
  const [row] = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  const file = existsSync(lab.sb.unitFile()) ? readFileSync(lab.sb.unitFile(), 'utf8') : undefined;
  const keepAlive = file === undefined ? null : unitValues(parseUnit(file), 'Service', 'Restart').at(-1) === 'on-failure';
  let state: string;
  if (view.ActiveState === 'active') state = 'running';
  else if (view.ActiveState === 'activating') state = view.SubState === 'auto-restart' ? 'restarting' : 'running';
  else if (view.ActiveState === 'failed') state = keepAlive ? 'start-limit-hit' : 'failed';
  else state = view.LoadState === 'not-found' ? 'not-loaded' : 'loaded';
  assert.deepEqual(
    { state: row?.state, pid: row?.pid, keepAlive: row?.keepAlive, file: row?.file, condition: row?.condition },
    { state, pid: state === 'running' ? view.MainPID : null, keepAlive, file: file === undefined ? null : lab.sb.unitFile(), condition: file === undefined ? 'none' : 'login' },
    `status --json disagrees with systemd's view ${JSON.stringify(view)}:\n${r.stdout}`,
  );
}

/** systemd's view of a running unit, and the host agent its main process (the wrapper) started. */
type Running = UnitView & { hostAgent: number };

/**
 * Waits until the unit runs a main process (other than `not`) whose child is the host agent, and
 * returns systemd's view with the host agent's pid.
 */
function running(lab: Lab, not?: number): Promise<Running> {
  return waitFor(`${UNIT} to run a main process${not ? ` other than ${not}` : ''}`, () => {
    const view = lab.manager.unit(UNIT);
    if (view.ActiveState !== 'active' || view.SubState !== 'running' || view.MainPID <= 0 || view.MainPID === not) return undefined;
    const hostAgent = childOf(view.MainPID);
    return hostAgent !== undefined && lab.sb.hostAgentPids().includes(hostAgent) ? { ...view, hostAgent } : undefined;
  }, 15000, () => `${JSON.stringify(lab.manager.unit(UNIT))}\n${lab.manager.logTail(15)}`);
}

/** The one child of a process, from /proc/PID/task/PID/children. */
function childOf(pid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
    return children.length === 1 ? children[0] : undefined;
  } catch {
    return undefined;
  }
}

function until(lab: Lab, what: string, check: (view: UnitView) => boolean): Promise<UnitView> {
  return waitFor(what, () => {
    const view = lab.manager.unit(UNIT);
    return check(view) ? view : undefined;
  }, 20000, () => `${JSON.stringify(lab.manager.unit(UNIT))}\n${lab.manager.logTail(15)}`);
}

/** How often the stand-in was started as the host agent of the instance. */
function starts(sb: Sandbox): number {
  return sb.calls().filter((c) => c.join('\t') === ['limactl', 'start', INSTANCE, '--foreground'].join('\t')).length;
}

/** Enables the instance with --now and lowered RestartSec, and waits until its host agent runs. */
async function enabledAndRunning(l: Lab, ...flags: string[]): Promise<Running> {
  l.manager.restartSec(UNIT, RESTART_SEC);
  run(l, ['enable', INSTANCE, '--now', ...flags]);
  return running(l);
}

interface ProcessView {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
}

function processOf(pid: number): ProcessView {
  const nul = (file: string): string[] => readFileSync(`/proc/${pid}/${file}`, 'utf8').replace(/\0$/, '').split('\0');
  const env: Record<string, string> = {};
  for (const entry of nul('environ')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return { argv: nul('cmdline'), env, cwd: readlinkSync(`/proc/${pid}/cwd`) };
}

/**
 * The main process is the wrapper (templates/service.sh) for the unit's limactl and instance; its
 * child, the host agent, is the limactl stand-in run as `limactl start INSTANCE --foreground`, in
 * the environment and directory the unit promised, with the manager's HOME.
 */
function checkHostAgent(lab: Lab, view: Running): void {
  const { sb } = lab;
  const main = processOf(view.MainPID);
  assert.deepEqual([...main.argv.slice(0, 2), ...main.argv.slice(3)], ['/bin/sh', '-c', 'limactl-autostart', sb.limactl, INSTANCE]);
  const proc = processOf(view.hostAgent);
  // The stand-in is a #!/bin/sh script: the kernel runs /bin/sh with the script's path first.
  assert.deepEqual(proc.argv, ['/bin/sh', sb.limactl, 'start', INSTANCE, '--foreground']);
  const unit = parseUnit(readFileSync(sb.unitFile(), 'utf8'));
  const promised = Object.fromEntries(environmentOf(unit).map((v) => [v.name, v.value]));
  assert.deepEqual(Object.keys(promised), ['LIMA_HOME', 'PATH']);
  assert.equal(promised.LIMA_HOME, sb.limaHome);
  assert.ok(promised.PATH!.startsWith(`${sb.bin}:`), promised.PATH);
  assert.equal(proc.env.LIMA_HOME, promised.LIMA_HOME);
  assert.equal(proc.env.PATH, promised.PATH);
  // The unit sets no HOME: the user manager passes its own.
  assert.equal(proc.env.HOME, sb.home);
  assert.equal(proc.cwd, path.join(sb.limaHome, INSTANCE));
}

function gone(pid: number): boolean {
  return !existsSync(`/proc/${pid}`);
}

describe('systemd --user, for real', function () {
  before(function () {
    const why = UserManager.unavailable();
    if (!why) return;
    if (process.env.CI === 'true') throw new Error(`CI=true, and the real-systemd tests cannot run: ${why}`);
    console.log(`    skipped, the real-systemd tests: ${why}`);
    this.skip();
  });

  describe('enable at login, keep-alive on', () => {
    const lab = withUserManager();

    it('enable: is-enabled says enabled; started, the main process runs `limactl start default --foreground` with the unit\'s LIMA_HOME, PATH and directory', async () => {
      const l = lab();
      run(l, ['enable', INSTANCE]);
      const enabled = l.manager.systemctl('is-enabled', UNIT);
      assert.deepEqual([enabled.code, enabled.stdout.trim()], [0, 'enabled'], enabled.stderr);
      // enable without --now starts nothing.
      expectUnit(l, { LoadState: 'loaded', UnitFileState: 'enabled', ActiveState: 'inactive', SubState: 'dead', MainPID: 0 });
      assert.equal(starts(l.sb), 0);

      const start = l.manager.systemctl('start', UNIT);
      assert.equal(start.code, 0, start.stderr);
      const view = await running(l);
      expectUnit(l, { ActiveState: 'active', SubState: 'running', NRestarts: 0, MainPID: view.MainPID });
      checkHostAgent(l, view);
      assert.equal(starts(l.sb), 1);
    });

    it('the drop-in the tests use lowers RestartSec alone: systemd reads every other value from the unit as written', () => {
      const l = lab();
      run(l, ['enable', INSTANCE]);
      const properties = ['Restart', 'RestartUSec', 'StartLimitBurst', 'StartLimitIntervalUSec', 'TimeoutStopUSec', 'KillMode', 'ExecStart', 'WorkingDirectory', 'Environment', 'Type'];
      const before = l.manager.show(UNIT, properties);
      assert.equal(before.RestartUSec, '10s');
      assert.equal(before.StartLimitBurst, '5');
      assert.equal(before.StartLimitIntervalUSec, '10min');
      assert.equal(before.Restart, 'on-failure');
      l.manager.restartSec(UNIT, RESTART_SEC);
      const reload = l.manager.systemctl('daemon-reload');
      assert.equal(reload.code, 0, reload.stderr);
      const after = l.manager.show(UNIT, properties);
      assert.equal(after.RestartUSec, RESTART_SEC);
      assert.deepEqual({ ...after, RestartUSec: before.RestartUSec }, before);
    });

    it('kill -9 of the host agent: a new main process, NRestarts=1', async () => {
      const l = lab();
      const first = await enabledAndRunning(l);
      process.kill(first.hostAgent, 'SIGKILL');
      const second = await running(l, first.MainPID);
      expectUnit(l, { ActiveState: 'active', SubState: 'running', NRestarts: 1, MainPID: second.MainPID });
      assert.ok(gone(first.MainPID), `the killed process ${first.MainPID} is still there`);
      checkHostAgent(l, second);
      assert.equal(starts(l.sb), 2);
    });

    it('a clean exit 0 (SIGINT, as `limactl stop` sends the host agent) is not restarted', async () => {
      const l = lab();
      const first = await enabledAndRunning(l);
      process.kill(first.hostAgent, 'SIGINT');
      await until(l, `${UNIT} to stop`, (v) => v.ActiveState === 'inactive');
      await sleep(QUIET_MS);
      expectUnit(l, { ActiveState: 'inactive', SubState: 'dead', Result: 'success', NRestarts: 0, MainPID: 0, UnitFileState: 'enabled' });
      assert.equal(starts(l.sb), 1);
    });

    for (const [label, mode] of [['fails at once (exit 1)', { exit: 1 }], ['crashes at once (SIGKILL)', 'crash']] as const) {
      it(`a host agent that ${label}: started exactly StartLimitBurst times, then given up on (a manual start is refused too); enable --now starts it again`, async () => {
        const l = lab();
        l.manager.restartSec(UNIT, RESTART_SEC);
        l.sb.hostAgent(mode);
        run(l, ['enable', INSTANCE, '--now']);
        const declared = unitValues(parseUnit(readFileSync(l.sb.unitFile(), 'utf8')), 'Unit', 'StartLimitBurst');
        assert.equal(declared.length, 1);
        const burst = Number(declared[0]);
        assert.ok(burst > 1, `StartLimitBurst=${declared[0]}`);
        assert.equal(l.manager.show(UNIT, ['StartLimitBurst']).StartLimitBurst, String(burst));

        await until(l, `${UNIT} to give up`, (v) => v.ActiveState === 'failed');
        // systemd 252 keeps the Result of the last failure (exit-code, signal); its log says why it
        // gave up. NRestarts counts the restart it scheduled and then refused.
        const given = expectUnit(l, { ActiveState: 'failed', SubState: 'failed', MainPID: 0, NRestarts: burst, Result: typeof mode === 'string' ? 'signal' : 'exit-code' });
        assert.ok(readFileSync(l.manager.log, 'utf8').includes(`${UNIT}: Start request repeated too quickly.`), l.manager.logTail(15));
        await sleep(QUIET_MS);
        assert.deepEqual(l.manager.unit(UNIT), given);
        assert.equal(starts(l.sb), burst);

        // The limit holds against a manual start too (why enable --now runs reset-failed first).
        const manual = l.manager.systemctl('start', UNIT);
        assert.notEqual(manual.code, 0, 'a manual start after the start limit succeeded');
        assert.equal(starts(l.sb), burst);

        l.sb.hostAgent('stay');
        run(l, ['enable', INSTANCE, '--now']);
        const view = await running(l);
        checkHostAgent(l, view);
        assert.equal(starts(l.sb), burst + 1);
      });
    }
  });

  describe('enable at login, keep-alive off', () => {
    const lab = withUserManager();

    it('kill -9 of the host agent: the unit stays failed', async () => {
      const l = lab();
      const first = await enabledAndRunning(l, '--keep-alive=false');
      process.kill(first.hostAgent, 'SIGKILL');
      await until(l, `${UNIT} to fail`, (v) => v.ActiveState === 'failed');
      await sleep(QUIET_MS);
      expectUnit(l, { ActiveState: 'failed', SubState: 'failed', Result: 'signal', NRestarts: 0, MainPID: 0 });
      assert.equal(starts(l.sb), 1);
      // How systemd says "killed by SIGKILL", which status reads (ExecMainCode 2 is CLD_KILLED).
      assert.deepEqual(l.manager.show(UNIT, ['ExecMainCode', 'ExecMainStatus']), { ExecMainCode: '2', ExecMainStatus: '9' });
      // Nothing restarts it without keep-alive: a failure, not a note.
      const r = run(l, ['status', '--json', INSTANCE]);
      const [row] = JSON.parse(r.stdout) as { notes: string[]; problems: { problem: string }[] }[];
      assert.deepEqual(row!.notes, []);
      assert.ok(row!.problems.some((p) => /the host agent failed \(last exit code 9\)/.test(p.problem)), r.stdout);
    });
  });

  describe('enable --now, disable, disable --now', () => {
    const lab = withUserManager();

    /** Whether systemd lists the unit: loaded units (any state) and unit files. */
    function listed(l: Lab): { units: boolean; files: boolean } {
      const units = l.manager.systemctl('list-units', '--all', '--plain', '--no-legend');
      const files = l.manager.systemctl('list-unit-files', '--plain', '--no-legend');
      assert.equal(units.code, 0, units.stderr);
      // list-unit-files exits 1 when it lists nothing.
      return { units: units.stdout.includes(UNIT), files: files.stdout.includes(UNIT) };
    }

    it('enable --now: enabled and running when it returns', async () => {
      const l = lab();
      run(l, ['enable', INSTANCE, '--now']);
      expectUnit(l, { LoadState: 'loaded', UnitFileState: 'enabled', ActiveState: 'active', SubState: 'running' });
      const view = await running(l);
      checkHostAgent(l, view);
    });

    it('enable --now --wait: waits while the started unit\'s host agent boots, and exits 0 once Lima reports it Running', async () => {
      const l = lab();
      // Lima's view follows the host agent (test/fakes/limactl): Stopped until the unit's
      // `limactl start default --foreground` has booted, Running while it runs.
      writeFileSync(path.join(l.sb.fakeDir, 'lima-list.live'), '');
      // The host agent holds its boot until the test lets it go: the wait must see it Stopped first.
      const hold = path.join(l.sb.fakeDir, 'host-agent.hold');
      writeFileSync(hold, '');
      // Polls on the real clock until Lima says Running: the bound is out of reach, mocha's timeout ends a wait that never does.
      const enable = l.sb.start(['enable', INSTANCE, '--now', '--wait'], { ...l.manager.env, LIMA_AUTOSTART_FAKE_CLOCK: undefined });
      await enable.until('the wait to see the instance Stopped', () => enable.stderr.includes(`waiting for "${INSTANCE}": Lima says Stopped`));
      // systemd has started the unit: its main process is the held host agent.
      const view = await running(l);
      rmSync(hold);
      const r = await enable.result;
      assert.equal(r.code, 0, show(r));
      assert.match(r.stderr, new RegExp(`info: "${INSTANCE}" is Running \\(after \\d+ s\\)\n$`));
      // What Lima reported Running is the host agent the unit's main process started.
      assert.equal(Number(readFileSync(path.join(l.sb.fakeDir, `lima-running.${INSTANCE}`), 'utf8')), view.hostAgent);
      assert.deepEqual(l.sb.calls().filter((c) => c[0] === 'systemctl'), []);
      expectUnit(l, { UnitFileState: 'enabled', ActiveState: 'active', SubState: 'running', MainPID: view.MainPID });
    });

    it('disable: not enabled, the unit file gone, daemon-reload done: systemd lists the unit no more', () => {
      const l = lab();
      run(l, ['enable', INSTANCE]);
      assert.equal(listed(l).files, true);
      run(l, ['disable', INSTANCE]);
      assert.ok(!existsSync(l.sb.unitFile()), 'the unit file is still there');
      assert.ok(!existsSync(path.join(l.sb.home, '.config', 'systemd', 'user', 'default.target.wants', UNIT)), 'the default.target.wants link is still there');
      const enabled = l.manager.systemctl('is-enabled', UNIT);
      assert.notEqual(enabled.code, 0, `is-enabled: ${enabled.stdout}`);
      // Without the daemon-reload, systemd would still have the unit loaded from the deleted file.
      expectUnit(l, { LoadState: 'not-found', ActiveState: 'inactive' });
      assert.deepEqual(listed(l), { units: false, files: false });
    });

    it('disable without --now leaves a running instance running', async () => {
      const l = lab();
      run(l, ['enable', INSTANCE, '--now']);
      const before = await running(l);
      run(l, ['disable', INSTANCE]);
      assert.ok(!existsSync(l.sb.unitFile()));
      expectUnit(l, { LoadState: 'not-found', ActiveState: 'active', SubState: 'running', MainPID: before.MainPID });
      assert.ok(!gone(before.MainPID));
      assert.equal(listed(l).files, false);
    });

    it('disable --now: stopped, the main process gone, not enabled, not listed', async () => {
      const l = lab();
      run(l, ['enable', INSTANCE, '--now']);
      const before = await running(l);
      run(l, ['disable', INSTANCE, '--now']);
      await waitFor(`the main process ${before.MainPID} to end`, () => gone(before.MainPID));
      assert.ok(!existsSync(l.sb.unitFile()));
      expectUnit(l, { LoadState: 'not-found', ActiveState: 'inactive', MainPID: 0 });
      assert.deepEqual(listed(l), { units: false, files: false });
      assert.equal(starts(l.sb), 1);
    });
  });

  describe('HOME, LIMA_HOME and limactl\'s directory with a space, % and $', () => {
    const lab = withUserManager({ homeName: 'home %h 100% $HOME', limaHomeName: 'lima %i ${LIMA_HOME} $$', binName: 'bin %% $PATH' });

    it('enable --now starts the right process with the right environment, and a crash restarts the same', async () => {
      const l = lab();
      assert.match(l.manager.home, /%h 100% \$HOME$/);
      const first = await enabledAndRunning(l);
      checkHostAgent(l, first);
      process.kill(first.hostAgent, 'SIGKILL');
      const second = await running(l, first.MainPID);
      checkHostAgent(l, second);
      expectUnit(l, { NRestarts: 1 });
    });
  });

  describe('adoption of the unit Lima 1.0.1 registered (WantedBy=multi-user.target)', () => {
    const lab = withUserManager();
    let cellar: string | undefined;
    afterEach(() => {
      if (cellar) rmSync(cellar, { recursive: true, force: true });
      cellar = undefined;
    });

    for (const command of [['enable', INSTANCE], ['migrate']]) {
      it(`${command.join(' ')}: the multi-user.target link is replaced by a default.target link, and the running unit keeps running`, () => {
        const l = lab();
        // Lima's unit names a Cellar limactl, unquoted in ExecStart=, so its stand-in lives outside
        // the sandbox, whose path has a space. It stays in the foreground, as the host agent does.
        cellar = mkdtempSync(path.join(os.tmpdir(), 'limactl-autostart-cellar.'));
        const limactl = path.join(cellar, 'limactl');
        writeFileSync(limactl, '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
        placeFixture(l.sb, 'lima-1.0.1/lima-vm@default.service', l.sb.unitFile(), (t) => t.replace('/home/linuxbrew/.linuxbrew/Cellar/lima/1.0.1/bin/limactl', limactl));
        const wants = (target: string): string => path.join(path.dirname(l.sb.unitFile()), `${target}.wants`, UNIT);
        // What Lima's start-at-login did, then a start.
        for (const args of [['daemon-reload'], ['enable', UNIT], ['start', UNIT]]) {
          const r = l.manager.systemctl(...args);
          assert.equal(r.code, 0, `systemctl --user ${args.join(' ')}: ${r.stderr}`);
        }
        assert.ok(isLink(wants('multi-user.target')), 'Lima\'s enable made no multi-user.target link');
        const before = l.manager.unit(UNIT);
        assert.equal(before.ActiveState, 'active', JSON.stringify(before));

        run(l, command);

        assert.equal(l.manager.systemctl('is-enabled', UNIT).stdout.trim(), 'enabled');
        const after = l.manager.unit(UNIT);
        assert.equal(after.ActiveState, 'active', JSON.stringify(after));
        assert.equal(after.MainPID, before.MainPID, 'the unit was restarted');
        assert.equal(l.manager.show(UNIT, ['FragmentPath']).FragmentPath, l.sb.unitFile());
        assert.ok(!isLink(wants('multi-user.target')), 'the multi-user.target link is still there');
        assert.equal(readlinkSync(wants('default.target')), l.sb.unitFile());
        assert.match(readFileSync(l.sb.unitFile(), 'utf8'), /^# Generated by limactl-autostart .*condition=login keep-alive=true/);
      });
    }
  });

  describe('no user manager, and a manager with nothing to show', () => {
    const lab = withUserManager({ instances: [] });

    it('status with no instance and no registration: the question with no units is answered, exit 0', () => {
      const r = run(lab(), ['status']);
      assert.equal(r.stdout, 'No Lima instances and no autostart registrations.\n');
    });

    it('the real systemctl with no manager behind XDG_RUNTIME_DIR: enable, disable --now and status exit 1 with its message, nothing changes', () => {
      const sb = new Sandbox({ platform: 'linux', without: ['systemctl', 'launchctl', 'sudo'] });
      try {
        const empty = path.join(sb.root, 'run-empty');
        mkdirSync(empty);
        const env = { XDG_RUNTIME_DIR: empty, DBUS_SESSION_BUS_ADDRESS: `unix:path=${empty}/bus` };
        // A unit written by hand, so that disable has something to do.
        mkdirSync(path.dirname(sb.unitFile()), { recursive: true });
        writeFileSync(sb.unitFile(), '[Service]\nExecStart=/bin/true\n');
        const before = sb.snapshot();
        for (const args of [['enable', 'default', '--now'], ['disable', 'default', '--now'], ['status']]) {
          const r = sb.run(args, env);
          assert.equal(r.code, 1, show(r));
          assert.match(r.stderr, /^error: no systemd user manager answers: `systemctl --user (show-environment|show --property=\S+ -- lima-vm@default\.service)` exited with code 1: Failed to connect to bus: /m, show(r));
          assert.doesNotMatch(r.stderr, /^\s+at /m);
        }
        assert.deepEqual(sb.snapshot(), before, 'nothing on disk changed');
      } finally {
        sb.cleanup();
      }
    });
  });

  describe('the harness', () => {
    it('sees what a running manager holds, and after stop() nothing: no process, cgroup, namespace or mount', async () => {
      const lab = await newLab();
      let manager: UserManager | undefined = lab.manager;
      try {
        const { cgroup } = manager;
        // The check is not blind: while the manager runs, it reports its cgroup and its processes.
        const held = manager.leftovers();
        assert.ok(held.some((l) => l.startsWith('cgroup directories: ') && l.includes(cgroup)), held.join('\n'));
        assert.ok(held.some((l) => l.startsWith(`processes in ${cgroup}: `)), held.join('\n'));
        assert.ok(held.some((l) => l.startsWith("processes in the manager's namespaces")), held.join('\n'));
        const left = await manager.stop();
        manager = undefined;
        assert.deepEqual(left, []);
        assert.ok(!existsSync(cgroup));
      } finally {
        await manager?.stop();
        lab.sb.cleanup();
      }
    });
  });
});

function isLink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}
