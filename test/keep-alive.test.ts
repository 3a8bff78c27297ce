import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { processRuns, Sandbox, show, type RunResult } from './helpers.js';
import { LaunchdJob, type JobExit } from './harness/launchd-job.js';
import { sleep, UserManager, waitFor } from './harness/user-manager.js';

// What the service runs (templates/service.sh) decides whether keep-alive starts an instance
// again. Lima's host agent exits 0 when the VM dies, as when it is stopped: the script tells the
// two apart from the host agent's log, and exits 1 for a VM that died. These tests run the
// program's own registration files the way the service managers do, with the Lima-like limactl
// stand-in (sb.limaLike(), test/fakes/hostagent.mjs) as the host agent and its "VM":
//   launchd: test/harness/launchd-job.ts runs the plist as launchd runs a LaunchAgent;
//   systemd: a real `systemd --user` runs the unit (test/harness/user-manager.ts).
// Every wait is for an event and bounded; "stays down" is watched for several restart delays.

const INSTANCE = 'default';
const UNIT = `lima-vm@${INSTANCE}.service`;
/** The restart delay the tests use, in place of ThrottleInterval and RestartSec. */
const RESTART_MS = 100;
/** Long enough for several restarts: one that should not happen would. */
const QUIET_MS = 1500;
const BOUND_MS = 30_000;

function ok(r: RunResult): RunResult {
  assert.equal(r.code, 0, show(r));
  return r;
}

/** The parent of a process, from /proc/PID/stat (the field after the command's closing paren). */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Waits until the instance runs with a host agent whose parent is `main` and a driver other than `not`. */
function up(sb: Sandbox, main: () => number | undefined, not?: number): Promise<{ hostAgent: number; driver: number }> {
  return waitFor('the instance to run under the service', () => {
    const [hostAgent, driver] = [sb.pidFile('ha'), sb.pidFile('driver')];
    if (hostAgent === undefined || driver === undefined || driver === not || !processRuns(driver)) return undefined;
    const m = main();
    return m !== undefined && parentOf(hostAgent) === m ? { hostAgent, driver } : undefined;
  }, BOUND_MS, () => sb.haLog());
}

describe('keep-alive: the service\'s script tells a VM that died from a stop', function () {
  this.timeout(60_000);

  describe('launchd (the plist run as launchd runs a LaunchAgent)', () => {
    let sb: Sandbox;
    let job: LaunchdJob | undefined;
    let others: ChildProcess[];

    beforeEach(() => {
      sb = new Sandbox({ platform: 'darwin' });
      sb.limaLike();
      ok(sb.run(['enable', INSTANCE]));
      others = [];
    });

    afterEach(async () => {
      if (job?.pid !== undefined) await job.bootout();
      job = undefined;
      sb.killLimaLike();
      for (const p of others) p.kill('SIGKILL');
      await waitFor('every process of the test to end', () => sb.limaLikeProcesses().length === 0 && others.every((p) => p.exitCode !== null || p.signalCode !== null), BOUND_MS);
      sb.cleanup();
    });

    const stderrLog = (): string => {
      const file = path.join(sb.instanceDir(), 'launchd.stderr.log');
      return existsSync(file) ? readFileSync(file, 'utf8') : '';
    };
    const load = (): LaunchdJob => (job = new LaunchdJob(sb.agentPlist(), sb.home, RESTART_MS));
    const ended = (j: LaunchdJob, runs: number): Promise<JobExit> =>
      waitFor(`run ${runs} of the job to end`, () => j.exits[runs - 1], BOUND_MS, () => `${stderrLog()}\n${sb.haLog()}`);
    /** The job ended once and was not started again. */
    async function staysDown(j: LaunchdJob): Promise<void> {
      await sleep(QUIET_MS);
      assert.equal(j.exits.length, 1, JSON.stringify(j.exits));
      assert.equal(j.pid, undefined);
      assert.equal(sb.listed().status, 'Stopped');
    }

    it('the VM dies (its driver killed): the host agent exits 0, the script exits 1 and says why, KeepAlive starts it again; status notes it', async () => {
      const j = load();
      const first = await up(sb, () => j.pid);
      const l = sb.listed();
      assert.deepEqual([l.status, l.autoStartedIdentifier], ['Running', 'io.lima-vm.autostart.default']);
      sb.killDriver('SIGKILL');
      assert.deepEqual(await ended(j, 1), { pid: j.exits[0]!.pid, code: 1, signal: null });
      assert.ok(sb.haMessages().includes('Driver stopped due to error: `signal: killed`'), sb.haLog());
      assert.ok(stderrLog().includes('limactl-autostart: default: the VM stopped (Driver stopped due to error: `signal: killed`): exit 1, so that keep-alive starts it again\n'), stderrLog());
      const second = await up(sb, () => j.pid, first.driver);
      assert.notEqual(second.hostAgent, first.hostAgent);
      assert.equal(sb.listed().status, 'Running');

      const [row] = JSON.parse(ok(sb.run(['status', '--json', INSTANCE])).stdout) as { notes: string[] }[];
      assert.ok(row!.notes.some((n) => n.startsWith('the VM stopped on its own, and keep-alive')), JSON.stringify(row));
    });

    it('limactl stop (SIGINT to the host agent): exit 0, and it stays down', async () => {
      const j = load();
      await up(sb, () => j.pid);
      ok(sb.runLimactl(['stop', INSTANCE]));
      assert.deepEqual((await ended(j, 1)).code, 0);
      await staysDown(j);
      assert.ok(!stderrLog().includes('limactl-autostart:'), stderrLog());
    });

    it('the guest powers off (its driver exits 0): exit 0, says so, and it stays down', async () => {
      const j = load();
      await up(sb, () => j.pid);
      sb.killDriver('SIGTERM');
      assert.deepEqual((await ended(j, 1)).code, 0);
      assert.ok(stderrLog().includes('limactl-autostart: default: the guest powered off: a clean stop\n'), stderrLog());
      await staysDown(j);
    });

    it('a bootout (a logout, `launchctl bootout`): SIGTERM reaches the host agent, which shuts the VM down; exit 0', async () => {
      const j = load();
      const { driver } = await up(sb, () => j.pid);
      assert.deepEqual(await j.bootout(), { pid: j.exits[0]!.pid, code: 0, signal: null });
      assert.ok(sb.haMessages().includes('Received SIGTERM, shutting down the host agent'), sb.haLog());
      assert.ok(!processRuns(driver));
      assert.equal(sb.listed().status, 'Stopped');
    });

    it('the host agent killed (SIGKILL): the script dies of SIGKILL too, KeepAlive (Crashed) starts it again; the VM it left is stopped by Lima first', async () => {
      const j = load();
      const first = await up(sb, () => j.pid);
      process.kill(first.hostAgent, 'SIGKILL');
      assert.equal((await ended(j, 1)).signal, 'SIGKILL');
      const second = await up(sb, () => j.pid, first.driver);
      // The driver lives in a process group of its own, as QEMU does: launchd did not end it, Lima's stop --force did.
      assert.ok(!processRuns(first.driver), `the first driver ${first.driver} still runs`);
      assert.ok(stderrLog().includes('limactl-autostart: default: Broken at start (an unclean shutdown?): recovering with limactl stop --force, once\n'), stderrLog());
      assert.ok(processRuns(second.driver));
    });

    it('Broken at start, a stale ha.pid naming another live process (a pid reused after a reboot): that file goes, the process lives, the instance starts', async () => {
      const other = spawn('sleep', ['600'], { stdio: 'ignore' });
      others.push(other);
      sb.plantPidFile('ha', other.pid!);
      assert.equal(sb.listed().status, 'Broken');
      const j = load();
      await up(sb, () => j.pid);
      assert.ok(processRuns(other.pid!), 'the process the stale ha.pid named was killed');
      assert.equal(j.exits.length, 0);
      assert.equal(sb.listed().status, 'Running');
      assert.ok(stderrLog().includes('Broken at start'), stderrLog());
    });
  });

  describe('systemd (a real systemd --user runs the unit)', () => {
    let sb: Sandbox | undefined;
    let manager: UserManager | undefined;

    before(function () {
      const why = UserManager.unavailable();
      if (!why) return;
      if (process.env.CI === 'true') throw new Error(`CI=true, and the real-systemd tests cannot run: ${why}`);
      console.log(`    skipped, the real-systemd tests of keep-alive: ${why}`);
      this.skip();
    });

    afterEach(async () => {
      const left = manager ? await manager.stop() : [];
      sb?.killLimaLike();
      sb?.cleanup();
      manager = undefined;
      sb = undefined;
      assert.deepEqual(left, [], 'the user manager left something behind');
    });

    /** Enables the instance with --now, restarts lowered to RESTART_MS, and waits until it runs. */
    async function started(): Promise<{ sb: Sandbox; m: UserManager; first: { hostAgent: number; driver: number } }> {
      // The real systemctl: its stand-in is left out.
      sb = new Sandbox({ platform: 'linux', without: ['systemctl', 'launchctl', 'sudo'] });
      sb.limaLike();
      const m = (manager = await UserManager.start({ home: sb.home, runtimeDir: path.join(sb.root, 'run'), log: path.join(sb.root, 'systemd-user.log') }));
      m.restartSec(UNIT, `${RESTART_MS}ms`);
      ok(sb.run(['enable', INSTANCE, '--now'], m.env));
      const s = sb;
      const first = await up(s, () => mainPid(m));
      assert.equal(s.listed().autoStartedIdentifier, UNIT);
      return { sb: s, m, first };
    }

    const mainPid = (m: UserManager): number | undefined => {
      const view = m.unit(UNIT);
      return view.ActiveState === 'active' && view.MainPID > 0 ? view.MainPID : undefined;
    };

    async function staysDown(s: Sandbox, m: UserManager): Promise<void> {
      await waitFor(`${UNIT} to stop`, () => m.unit(UNIT).ActiveState === 'inactive', BOUND_MS, () => m.logTail(15));
      await sleep(QUIET_MS);
      const view = m.unit(UNIT);
      assert.deepEqual([view.ActiveState, view.Result, view.NRestarts], ['inactive', 'success', 0], m.logTail(15));
      assert.equal(s.listed().status, 'Stopped');
    }

    it('the VM dies (its driver killed): the unit fails with exit 1 and Restart=on-failure starts it again', async () => {
      const { sb: s, m, first } = await started();
      s.killDriver('SIGKILL');
      const second = await up(s, () => mainPid(m), first.driver);
      assert.equal(m.unit(UNIT).NRestarts, 1);
      assert.notEqual(second.hostAgent, first.hostAgent);
      assert.match(readFileSync(m.log, 'utf8'), /lima-vm@default\.service: Main process exited, code=exited, status=1\/FAILURE/);
    });

    it('limactl stop (SIGINT to the host agent): the unit ends with success and stays down', async () => {
      const { sb: s, m } = await started();
      ok(s.runLimactl(['stop', INSTANCE]));
      await staysDown(s, m);
    });

    it('the guest powers off (its driver exits 0): the unit ends with success and stays down', async () => {
      const { sb: s, m } = await started();
      s.killDriver('SIGTERM');
      await staysDown(s, m);
    });

    it('systemctl --user stop: SIGTERM reaches the host agent (KillMode=mixed), which shuts the VM down', async () => {
      const { sb: s, m, first } = await started();
      const stop = m.systemctl('stop', UNIT);
      assert.equal(stop.code, 0, stop.stderr);
      assert.ok(s.haMessages().includes('Received SIGTERM, shutting down the host agent'), s.haLog());
      assert.ok(!processRuns(first.driver));
      await staysDown(s, m);
    });

    it('the host agent killed (SIGKILL): restarted, and the VM it left ended with the unit', async () => {
      const { sb: s, m, first } = await started();
      process.kill(first.hostAgent, 'SIGKILL');
      const second = await up(s, () => mainPid(m), first.driver);
      assert.equal(m.unit(UNIT).NRestarts, 1);
      assert.ok(!processRuns(first.driver), `the first driver ${first.driver} still runs`);
      assert.ok(processRuns(second.driver));
    });
  });
});
