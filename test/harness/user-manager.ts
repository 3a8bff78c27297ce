import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers.js';

// A real, private `systemd --user` for tests, on a machine whose PID 1 is not systemd.
//
// The one hazard: systemd started in the root cgroup moves every process on the machine (PID 1
// included) into /init.scope. So the manager is started by user-manager.sh, which first moves
// itself into a cgroup2 directory of its own (a new name per manager), checks that it is there,
// and only then enters a new cgroup namespace, where that directory is the root systemd sees.
// The same shell mounts a fresh cgroup2, a tmpfs on /run/systemd and the pty script(1) gives it
// on /dev/console, all in a private mount namespace. stop() ends the manager and proves that no
// process, cgroup, namespace or mount is left, and that PID 1 is still where it was.

const SCRIPT = path.join(ROOT, 'test', 'harness', 'user-manager.sh');
const SYSTEMD = '/lib/systemd/systemd';
const SYSTEM_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

/** The real systemctl: looked up in the system directories, never on a test's PATH. */
const SYSTEMCTL = findOnSystem('systemctl') ?? '/usr/bin/systemctl';

let counter = 0;
const running = new Set<UserManager>();

// A test run that dies between start() and stop() must not leave a manager behind.
process.on('exit', () => {
  for (const manager of running) manager.killNow();
});

export interface ManagerOptions {
  /** HOME of the manager: units are read from HOME/.config/systemd/user. */
  home: string;
  /** XDG_RUNTIME_DIR of the manager (created, mode 0700): its private socket lives there. */
  runtimeDir: string;
  /** Where the manager's console output (its log) is written. */
  log: string;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * What systemd says about a unit: the state a status command has to agree with. Values are
 * systemd's own strings (`systemctl show`), MainPID and NRestarts as numbers.
 */
export interface UnitView {
  LoadState: string;
  ActiveState: string;
  SubState: string;
  Result: string;
  UnitFileState: string;
  MainPID: number;
  NRestarts: number;
}

/** The properties of `systemctl show` that make a UnitView. */
export const UNIT_VIEW_PROPERTIES = ['LoadState', 'ActiveState', 'SubState', 'Result', 'UnitFileState', 'MainPID', 'NRestarts'];

/** A UnitView from `systemctl show`'s properties, by name. */
export function unitView(p: Record<string, string | undefined>): UnitView {
  return {
    LoadState: p.LoadState ?? '',
    ActiveState: p.ActiveState ?? '',
    SubState: p.SubState ?? '',
    Result: p.Result ?? '',
    UnitFileState: p.UnitFileState ?? '',
    MainPID: Number(p.MainPID ?? 0),
    NRestarts: Number(p.NRestarts ?? 0),
  };
}

/** The cgroup2 hierarchy to create the manager's cgroup in: hybrid (`unified`) or pure cgroup2. */
function cgroup2Root(): string | undefined {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const points = new Set(mounts.flatMap((line) => {
    const [left, right] = line.split(' - ');
    return right?.startsWith('cgroup2 ') ? [left!.split(' ')[4]!] : [];
  }));
  return ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((p) => points.has(p));
}

/** A tool in the system directories, never on a test's PATH. */
export function findOnSystem(tool: string): string | undefined {
  return SYSTEM_DIRS.map((dir) => path.join(dir, tool)).find((file) => existsSync(file));
}

/** This process's cgroup2 path, e.g. `/` (the line `0::PATH` of /proc/PID/cgroup). */
function cgroupOf(pid: number | 'self'): string | undefined {
  try {
    return /^0::(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

export function namespaceOf(pid: number, kind: 'mnt' | 'cgroup' | 'pid'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

export function allPids(): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
}

/** The mounts of the host that the harness could have touched, as mountinfo lines without ids. */
function hostMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((line) => line.split(' ').slice(4).join(' '))
    .filter((line) => /^\/(run|sys\/fs\/cgroup|dev\/console)\b/.test(line))
    .sort();
}

/** Every cgroup directory under `dir`, children before their parents. */
export function cgroupTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const children = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => cgroupTree(path.join(dir, e.name)));
  return [...children, dir];
}

/** Every process in the cgroup `dir` and below it. */
export function pidsIn(dir: string): number[] {
  return cgroupTree(dir).flatMap((d) => {
    try {
      return readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` until it returns a value other than undefined or false, and returns it; fails with
 * `what` and the last value seen after `timeoutMs`. The timeout is a bound on a wait, not a
 * measurement: no test asserts how fast systemd is.
 */
export async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 15000, detail?: () => string): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await sleep(50);
  }
}

export class UserManager {
  readonly home: string;
  readonly runtimeDir: string;
  readonly log: string;
  /** The manager's cgroup, as the host sees it, and as /proc/PID/cgroup names it. */
  readonly cgroup: string;
  readonly cgroupPath: string;
  private readonly child: ChildProcess;
  private exited = false;
  private stderr = '';
  private readonly before: { pid1: string | undefined; self: string | undefined; mounts: string[]; initScope: boolean };
  private namespaces: { mnt?: string; cgroup?: string } = {};
  private pins: number[] = [];

  /**
   * Why a manager cannot run here, or undefined when it can: it needs root (to create a cgroup
   * and namespaces), a writable cgroup2 hierarchy, systemd, systemctl, script(1) and unshare(1).
   */
  static unavailable(): string | undefined {
    if (process.platform !== 'linux') return `this is ${process.platform}, not Linux`;
    if (process.getuid?.() !== 0) return 'not running as root, and a private user manager needs a cgroup and namespaces of its own';
    if (!existsSync(SYSTEMD)) return `${SYSTEMD} is not installed`;
    for (const tool of ['systemctl', 'script', 'unshare']) {
      if (!findOnSystem(tool)) return `${tool} is not installed`;
    }
    const root = cgroup2Root();
    if (!root) return 'no cgroup2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup';
    try {
      accessSync(root, constants.W_OK);
    } catch {
      return `the cgroup2 hierarchy ${root} is not writable`;
    }
    return undefined;
  }

  static async start(options: ManagerOptions): Promise<UserManager> {
    const why = UserManager.unavailable();
    if (why) throw new Error(`cannot start a systemd user manager: ${why}`);
    const manager = new UserManager(options);
    try {
      await manager.waitUntilRunning();
    } catch (err) {
      await manager.stop();
      throw err;
    }
    return manager;
  }

  private constructor(options: ManagerOptions) {
    this.home = options.home;
    this.runtimeDir = options.runtimeDir;
    this.log = options.log;
    const root = cgroup2Root()!;
    const name = `limactl-autostart-test-${process.pid}-${++counter}`;
    this.cgroup = path.join(root, name);
    // Created at the top of the hierarchy, so /proc/self/cgroup names it /NAME.
    this.cgroupPath = `/${name}`;
    this.before = { pid1: cgroupOf(1), self: cgroupOf('self'), mounts: hostMounts(), initScope: existsSync(path.join(root, 'init.scope')) };
    mkdirSync(this.home, { recursive: true });
    mkdirSync(this.runtimeDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.cgroup);
    this.child = spawn('/bin/sh', [SCRIPT], {
      detached: true, // its own session: no signal meant for the test run reaches it
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        PATH: SYSTEM_DIRS.join(':'),
        UM_CGROUP: this.cgroup,
        UM_CGROUP_PATH: this.cgroupPath,
        UM_HOME: this.home,
        UM_RUNTIME_DIR: this.runtimeDir,
        UM_LOG: this.log,
        UM_SYSTEMD: SYSTEMD,
      },
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => { this.stderr += chunk; });
    this.child.on('exit', () => { this.exited = true; });
    running.add(this);
  }

  /** HOME and XDG_RUNTIME_DIR as a client of this manager must have them. */
  get env(): { HOME: string; XDG_RUNTIME_DIR: string } {
    return { HOME: this.home, XDG_RUNTIME_DIR: this.runtimeDir };
  }

  /** `systemctl --user ARGS` against this manager, with the real systemctl. */
  /**
   * Lowers RestartSec of a unit, and only RestartSec, with a drop-in in HOME: a test waits for a
   * restart without waiting the unit's own RestartSec. Written before the unit is loaded (the
   * daemon-reload of an enable reads it) or followed by a daemon-reload.
   */
  restartSec(unit: string, value: string): void {
    const dir = path.join(this.home, '.config', 'systemd', 'user', `${unit}.d`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'restart-sec.conf'), `[Service]\nRestartSec=${value}\n`);
  }

  systemctl(...args: string[]): CommandResult {
    const r = spawnSync(SYSTEMCTL, ['--user', '--no-pager', ...args], {
      encoding: 'utf8',
      env: { PATH: SYSTEM_DIRS.join(':'), LANG: 'C.UTF-8', SYSTEMD_COLORS: '0', ...this.env },
      input: '',
    });
    if (r.error) throw r.error;
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** `systemctl --user show` of a unit: every property asked for, as systemd spells it. */
  show(unit: string, properties: string[]): Record<string, string> {
    const r = this.systemctl('show', ...properties.map((p) => `--property=${p}`), unit);
    if (r.code !== 0) throw new Error(`systemctl --user show ${unit} exited ${r.code}: ${r.stderr}`);
    const out: Record<string, string> = {};
    for (const line of r.stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return out;
  }

  /** What systemd reports about a unit (see UnitView). */
  unit(unit: string): UnitView {
    return unitView(this.show(unit, UNIT_VIEW_PROPERTIES));
  }

  /** The last lines of the manager's log, for failure messages. */
  logTail(lines = 40): string {
    const text = existsSync(this.log) ? readFileSync(this.log, 'utf8') : '(no log)';
    return `--- systemd --user log (${this.log}), last ${lines} lines\n${text.split('\n').slice(-lines).join('\n')}${this.stderr ? `\n--- user-manager.sh stderr\n${this.stderr}` : ''}`;
  }

  private async waitUntilRunning(): Promise<void> {
    await waitFor('systemd --user to report SystemState running or degraded', () => {
      if (this.exited) throw new Error(`systemd --user exited during start-up\n${this.logTail()}`);
      const r = this.systemctl('show', '--property=SystemState', '--value');
      return ['running', 'degraded'].includes(r.stdout.trim());
    }, 20000, () => this.logTail());
    // The manager puts itself into init.scope of its own cgroup tree.
    const pid = Number(readFileSync(path.join(this.cgroup, 'init.scope', 'cgroup.procs'), 'utf8').split('\n')[0]);
    if (!(pid > 0)) throw new Error(`no systemd process in ${this.cgroup}/init.scope`);
    this.namespaces = { mnt: namespaceOf(pid, 'mnt'), cgroup: namespaceOf(pid, 'cgroup') };
    // Held open until stop() has compared: a namespace's inode number is reused once it is
    // freed, and another manager (another suite on this machine) could then look like a leftover.
    this.pins = (['mnt', 'cgroup'] as const).map((kind) => openSync(`/proc/${pid}/ns/${kind}`, 'r'));
    if (!this.namespaces.mnt || this.namespaces.mnt === namespaceOf(process.pid, 'mnt')) throw new Error('systemd --user is not in a mount namespace of its own');
    if (!this.namespaces.cgroup || this.namespaces.cgroup === namespaceOf(process.pid, 'cgroup')) throw new Error('systemd --user is not in a cgroup namespace of its own');
  }

  /**
   * What this manager has left on the machine: processes in its cgroup or its namespaces, its
   * cgroup directories, host mounts that changed, PID 1 or the test process moved to another
   * cgroup, an init.scope created at the top of the hierarchy. Empty when nothing is left.
   */
  leftovers(): string[] {
    const found: string[] = [];
    const dirs = cgroupTree(this.cgroup);
    if (dirs.length > 0) found.push(`cgroup directories: ${dirs.join(', ')}`);
    const inCgroup = pidsIn(this.cgroup);
    if (inCgroup.length > 0) found.push(`processes in ${this.cgroup}: ${inCgroup.join(' ')}`);
    const inNamespaces = allPids().filter((pid) => {
      const mnt = namespaceOf(pid, 'mnt');
      const cg = namespaceOf(pid, 'cgroup');
      return (mnt !== undefined && mnt === this.namespaces.mnt) || (cg !== undefined && cg === this.namespaces.cgroup);
    });
    if (inNamespaces.length > 0) found.push(`processes in the manager's namespaces (${this.namespaces.mnt}, ${this.namespaces.cgroup}): ${inNamespaces.join(' ')}`);
    if (!this.exited) found.push(`user-manager.sh (pid ${this.child.pid}) is still running`);
    const mounts = hostMounts();
    if (mounts.join('\n') !== this.before.mounts.join('\n')) {
      found.push(`host mounts changed:\n  before: ${this.before.mounts.join('\n          ')}\n  after:  ${mounts.join('\n          ')}`);
    }
    if (cgroupOf(1) !== this.before.pid1) found.push(`PID 1 moved from cgroup ${this.before.pid1} to ${cgroupOf(1)}`);
    if (cgroupOf('self') !== this.before.self) found.push(`the test process moved from cgroup ${this.before.self} to ${cgroupOf('self')}`);
    const initScope = path.join(path.dirname(this.cgroup), 'init.scope');
    if (!this.before.initScope && existsSync(initScope)) found.push(`${initScope} appeared`);
    return found;
  }

  /**
   * Ends the manager: `systemctl --user exit` (it stops its units), then SIGKILL for whatever is
   * left in its cgroup, then removes its cgroup directories. Returns leftovers() afterwards.
   */
  async stop(): Promise<string[]> {
    if (!this.exited) {
      this.systemctl('exit');
      try {
        await waitFor('systemd --user to exit', () => this.exited, 10000);
      } catch {
        // Killed below.
      }
    }
    await this.killRest();
    running.delete(this);
    const found = this.leftovers();
    for (const fd of this.pins.splice(0)) closeSync(fd);
    return found;
  }

  private async killRest(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      this.killNow();
      if (this.exited && pidsIn(this.cgroup).length === 0 && !existsSync(this.cgroup)) return;
      await sleep(50);
    }
  }

  /** SIGKILL to every process of the manager and removal of its cgroups, without waiting. */
  killNow(): void {
    const kill = path.join(this.cgroup, 'cgroup.kill');
    if (existsSync(kill)) {
      try {
        writeFileSync(kill, '1');
      } catch {
        // Kernels before 5.14 have no cgroup.kill: signal each process instead.
      }
    }
    for (const pid of pidsIn(this.cgroup)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const dir of cgroupTree(this.cgroup)) {
      try {
        rmdirSync(dir);
      } catch {
        // Still populated for a moment after the kill; the caller tries again.
      }
    }
  }
}
