import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/, two levels below it). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'limactl-autostart');
/** The second executable: Lima's deprecated `limactl start-at-login`. */
export const START_AT_LOGIN_BIN = path.join(ROOT, 'bin', 'limactl-start-at-login');
/**
 * A run that takes longer than this is killed and fails its test: a program that hangs must fail
 * a test, not hang the suite (spawnSync blocks mocha's own timeout). Not a speed limit: every run
 * takes a small fraction of it.
 */
const RUN_LIMIT_MS = 20_000;
const VERSION_PROBE = ['limactl', '--version'];
const FAKES = path.join(ROOT, 'test', 'fakes');
const STAND_INS = ['launchctl', 'systemctl', 'loginctl', 'sudo', 'limactl', 'journalctl', 'fdesetup'];

export type Platform = 'darwin' | 'linux' | 'win32';

export interface SandboxOptions {
  platform?: Platform;
  /** Instances created under LIMA_HOME (a lima.yaml each). */
  instances?: string[];
  /** Name of the directory that is HOME, inside the sandbox root. */
  homeName?: string;
  /** Name of the directory that is LIMA_HOME, inside HOME. */
  limaHomeName?: string;
  /** Name of the directory holding the stand-in executables (limactl's directory). */
  binName?: string;
  /** Leave the stand-ins off PATH (a machine without Lima or without the service managers). */
  without?: string[];
}

let compiledLimactl: string | undefined;
let cannotCompile: string | undefined;

/**
 * Why test/fakes/limactl-binary.c cannot be compiled here (no C compiler), or undefined. It is
 * compiled once per test run, into the system's temporary directory.
 */
export function binaryLimactlUnavailable(): string | undefined {
  if (compiledLimactl || cannotCompile) return cannotCompile;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'limactl-autostart-cc-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'limactl');
  const r = spawnSync('cc', ['-O2', '-o', out, path.join(FAKES, 'limactl-binary.c')], { encoding: 'utf8' });
  if (r.status === 0) compiledLimactl = out;
  else cannotCompile = `the compiled limactl stand-in cannot be built: cc ${r.error ? `cannot run (${r.error.message})` : `exited with ${r.status}: ${r.stderr.trim()}`}`;
  return cannotCompile;
}

/**
 * A throw-away machine for one test: HOME, LIMA_HOME and a sysroot inside a temporary
 * directory whose name has a space, and stand-in executables first on PATH. Nothing outside
 * the root is touched; tests never see the real HOME, /Library or ~/.config.
 */
/** One instance as `limactl list --json` prints it. */
export interface Listed {
  name: string;
  status: string;
  dir: string;
  vmType: string;
  sshLocalPort?: number;
  hostAgentPID?: number;
  driverPID?: number;
  autoStartedIdentifier?: string;
}

export class Sandbox {
  readonly root: string;
  readonly home: string;
  readonly limaHome: string;
  readonly bin: string;
  readonly sysroot: string;
  readonly fakeDir: string;
  readonly platform: Platform;
  readonly user = 'limauser';

  constructor(options: SandboxOptions = {}) {
    this.root = mkdtempSync(path.join(os.tmpdir(), 'limactl-autostart test '));
    this.platform = options.platform ?? 'darwin';
    this.home = path.join(this.root, options.homeName ?? 'home dir');
    this.limaHome = path.join(this.home, options.limaHomeName ?? '.lima');
    this.bin = path.join(this.root, options.binName ?? 'lima bin');
    this.sysroot = path.join(this.root, 'sysroot');
    this.fakeDir = path.join(this.root, 'fake-state');
    for (const dir of [this.home, this.limaHome, this.bin, this.fakeDir, path.join(this.fakeDir, 'fail'), path.join(this.sysroot, 'Library', 'LaunchDaemons'), this.tmp]) {
      mkdirSync(dir, { recursive: true });
    }
    for (const tool of STAND_INS.filter((t) => !options.without?.includes(t))) {
      cpSync(path.join(FAKES, tool), path.join(this.bin, tool));
    }
    cpSync(path.join(FAKES, 'record.sh'), path.join(this.bin, 'record.sh'));
    cpSync(path.join(FAKES, 'hostagent.mjs'), path.join(this.bin, 'hostagent.mjs'));
    // For a stand-in started by a real service manager, which passes only the unit's environment.
    writeFileSync(path.join(this.bin, 'fake-dir'), this.fakeDir);
    // The Lima-like host agent is JavaScript, and a service's PATH need not lead to a node.
    writeFileSync(path.join(this.bin, 'node-path'), process.execPath);
    for (const name of options.instances ?? ['default']) this.addInstance(name);
  }

  addInstance(name: string): string {
    const dir = path.join(this.limaHome, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'lima.yaml'), '# a Lima instance for tests\n');
    return dir;
  }

  /**
   * Replaces the limactl stand-in with the compiled one (test/fakes/limactl-binary.c), as a new
   * file each time: a new inode and mtime, as an upgrade of Lima gives. Call
   * binaryLimactlUnavailable() first.
   */
  useBinaryLimactl(): void {
    if (!compiledLimactl) throw new Error('binaryLimactlUnavailable() was not called, or said why it cannot be built');
    rmSync(this.limactl, { force: true });
    cpSync(compiledLimactl, this.limactl);
  }

  /** XDG_CACHE_HOME of every run, next to HOME rather than in it. */
  get cacheHome(): string {
    return path.join(this.root, 'cache');
  }

  get limactl(): string {
    return path.join(this.bin, 'limactl');
  }

  get uid(): number {
    return process.getuid?.() ?? 0;
  }

  /** TMPDIR of the program under test: where the LaunchDaemon's staging copy is written. */
  get tmp(): string {
    return path.join(this.root, 'tmp');
  }

  agentPlist(instance = 'default'): string {
    return path.join(this.home, 'Library', 'LaunchAgents', `io.lima-vm.autostart.${instance}.plist`);
  }

  daemonPlist(instance = 'default'): string {
    return path.join(this.sysroot, 'Library', 'LaunchDaemons', `io.lima-vm.daemon.${instance}.plist`);
  }

  unitFile(instance = 'default'): string {
    return path.join(this.home, '.config', 'systemd', 'user', `lima-vm@${instance}.service`);
  }

  lingerFile(): string {
    return path.join(this.sysroot, 'var', 'lib', 'systemd', 'linger', this.user);
  }

  env(extra: Record<string, string | undefined> = {}): Record<string, string> {
    const env: Record<string, string | undefined> = {
      HOME: this.home,
      LIMA_HOME: this.limaHome,
      USER: this.user,
      PATH: `${this.bin}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`,
      LIMA_AUTOSTART_PLATFORM: this.platform,
      LIMA_AUTOSTART_SYSROOT: this.sysroot,
      FAKE_DIR: this.fakeDir,
      TMPDIR: this.tmp,
      // Outside HOME: the caches a run may write (V8's code cache, limactl's version) are not
      // part of what a test compares.
      XDG_CACHE_HOME: this.cacheHome,
      // Every wait's pause returns at once and moves the program's clock on by its length, so that
      // an outcome depends on what the stand-ins answer, never on the machine's speed.
      LIMA_AUTOSTART_FAKE_CLOCK: '1',
      ...extra,
    };
    return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  }

  /** Runs the real entry point in a subprocess, with only the sandbox's environment. */
  run(args: string[], extraEnv: Record<string, string | undefined> = {}): RunResult {
    return this.runBin(BIN, args, extraEnv);
  }

  /** Runs one of the package's bin/ scripts in a subprocess, with only the sandbox's environment. */
  runBin(bin: string, args: string[], extraEnv: Record<string, string | undefined> = {}): RunResult {
    const result = spawnSync(process.execPath, [bin, ...args], { env: this.env(extraEnv), encoding: 'utf8', cwd: this.root, input: '', timeout: RUN_LIMIT_MS });
    if (result.error) throw new Error(`${path.basename(bin)} ${args.join(' ')}: ${result.error.message} (killed after ${RUN_LIMIT_MS} ms?)\n${result.stderr ?? ''}`);
    return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  }

  /** As run(), without waiting: for runs that must overlap. */
  runAsync(args: string[], extraEnv: Record<string, string | undefined> = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { env: this.env(extraEnv), cwd: this.root, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  /** As run(), without waiting: for a run that a test watches and ends with a signal. */
  start(args: string[], extraEnv: Record<string, string | undefined> = {}): Started {
    return new Started(spawn(process.execPath, [BIN, ...args], { env: this.env(extraEnv), cwd: this.root, stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  /**
   * The calls the stand-ins recorded, each as [tool, ...args], without the read-only
   * `limactl --version` that commands ask once per run (see versionProbes()): the service-manager
   * calls are what most tests are about.
   */
  calls(): string[][] {
    return this.allCalls().filter((call) => !isVersionProbe(call));
  }

  /** How many times `limactl --version` was run. */
  versionProbes(): number {
    return this.allCalls().filter(isVersionProbe).length;
  }

  /** Every call the stand-ins recorded, in order. */
  allCalls(): string[][] {
    const file = path.join(this.fakeDir, 'calls');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => line.split('\t'));
  }

  clearCalls(): void {
    rmSync(path.join(this.fakeDir, 'calls'), { force: true });
  }

  /** Makes a stand-in fail with `code`: for one verb (`launchctl bootstrap`), or for every call. */
  failAlways(tool: string, verb: string | undefined, code: number): void {
    writeFileSync(path.join(this.fakeDir, 'fail', verb ? `${tool}.${verb}` : tool), `${code}\n`);
  }

  /** Takes the systemctl stand-in's user manager away (or gives it back): every `systemctl --user` call then fails as the real one does without a manager. */
  userManager(present: boolean): void {
    const file = path.join(this.fakeDir, 'no-user-manager');
    if (present) rmSync(file, { force: true });
    else writeFileSync(file, '');
  }

  /**
   * How the limactl stand-in's `start INSTANCE --foreground` behaves from its next start on: stay
   * in the foreground like the host agent (the default), crash (SIGKILL) or exit with a code at once.
   */
  hostAgent(mode: 'stay' | 'crash' | { exit: number }): void {
    writeFileSync(path.join(this.fakeDir, 'host-agent'), typeof mode === 'string' ? mode : `exit ${mode.exit}`);
  }

  /**
   * What the limactl stand-in's `list --json` prints from now on: one object per instance, one
   * per line as Lima prints them, or a text as it is (to feed the program something unreadable).
   */
  limaList(answer: { name: string; status: string; hostAgentPID?: number; autoStartedIdentifier?: string }[] | string): void {
    const text = typeof answer === 'string' ? answer : answer.map((i) => `${JSON.stringify(i)}\n`).join('');
    writeFileSync(path.join(this.fakeDir, 'lima-list'), text);
  }

  /**
   * launchd's teardown from now on (see test/fakes/launchctl): a bootout of a running job leaves it
   * known to `prints` more `launchctl print`s; then `busy37` bootstraps fail with 37 and `busy5`
   * with 5; and Lima reports the instance Running for `limaRunning` more `limactl list`s.
   */
  launchdTeardown(t: { prints: number; busy37: number; busy5: number; limaRunning: number }): void {
    writeFileSync(path.join(this.fakeDir, 'launchd-teardown'), `${t.prints} ${t.busy37} ${t.busy5} ${t.limaRunning}\n`);
  }

  /**
   * What the limactl stand-in's `list --json NAME` answers from now on, one status per call, the
   * last one for every later call: ['Starting', 'Starting', 'Running'] boots in three polls.
   */
  limaStatuses(statuses: string[]): void {
    writeFileSync(path.join(this.fakeDir, 'lima-list.statuses'), statuses.map((s) => `${s}\n`).join(''));
  }

  /** What the journalctl stand-in prints: the unit's journal. */
  journal(text: string): void {
    writeFileSync(path.join(this.fakeDir, 'journal'), text);
  }

  /** No GUI login (SSH into a headless Mac): the launchctl stand-in has no gui/<uid> domain and answers 125 for it. */
  noGuiLogin(): void {
    writeFileSync(path.join(this.fakeDir, 'launchd-no-gui'), '');
  }

  /** Makes the limactl stand-in's `list --json` hang (a limactl on a stale network mount, say). */
  limaListHangs(): void {
    writeFileSync(path.join(this.fakeDir, 'lima-list.hang'), '');
  }

  /**
   * Makes the limactl stand-in behave as Lima itself from now on (test/fakes/hostagent.mjs):
   * `start NAME --foreground` moves its output into NAME's ha.stdout.log and ha.stderr.log and
   * becomes a host agent (ha.pid, ha.sock with /v1/info, an SSH port, a driver in qemu.pid);
   * `list --json` and `stop` inspect and stop it as Lima does.
   */
  limaLike(): void {
    writeFileSync(path.join(this.fakeDir, 'lima-like'), '');
  }

  /** Lima's directory of an instance: where its pid files, socket and logs are. */
  instanceDir(instance = 'default'): string {
    return path.join(this.limaHome, instance);
  }

  /** The environment a service gives the stand-in: LIMA_HOME and PATH, nothing of the test's. */
  serviceEnv(extra: Record<string, string> = {}): Record<string, string> {
    return { LIMA_HOME: this.limaHome, PATH: `${this.bin}:/usr/bin:/bin`, ...extra };
  }

  /** Runs the limactl stand-in itself (not the program), by default with a service's environment. */
  runLimactl(args: string[], env: Record<string, string> = this.serviceEnv()): RunResult {
    const r = spawnSync(this.limactl, args, { env, encoding: 'utf8', cwd: this.root, input: '', timeout: RUN_LIMIT_MS });
    if (r.error) throw new Error(`limactl ${args.join(' ')}: ${r.error.message} (killed after ${RUN_LIMIT_MS} ms?)\n${r.stderr ?? ''}`);
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /**
   * Starts the limactl stand-in without waiting, stdin not a terminal, as launchd or systemd
   * start `limactl start NAME --foreground`; by default with a service's environment.
   */
  startLimactl(args: string[], env: Record<string, string> = this.serviceEnv()): Started {
    return new Started(spawn(this.limactl, args, { env, cwd: this.root, stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  /** `limactl list --json NAME` of the stand-in: the one object it prints for NAME, and its stderr. */
  listed(instance = 'default', env?: Record<string, string>): Listed & { stderr: string } {
    const r = this.runLimactl(['list', '--json', instance], env);
    const lines = r.stdout.split('\n').filter(Boolean);
    assert.ok(r.code === 0 && lines.length === 1, show(r));
    return { ...(JSON.parse(lines[0]!) as Listed), stderr: r.stderr };
  }

  /** What the Lima-like host agent of an instance logged (ha.stderr.log), or '' before it exists. */
  haLog(instance = 'default'): string {
    const file = path.join(this.instanceDir(instance), 'ha.stderr.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  /** The `msg` of each JSON line of ha.stderr.log, in order. */
  haMessages(instance = 'default'): string[] {
    return this.haLog(instance).split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { msg: string }).msg);
  }

  /** The pid in an instance's ha.pid (`ha`) or qemu.pid (`driver`), or undefined without one. */
  pidFile(which: 'ha' | 'driver', instance = 'default'): number | undefined {
    const file = path.join(this.instanceDir(instance), which === 'ha' ? 'ha.pid' : 'qemu.pid');
    if (!existsSync(file)) return undefined;
    const text = readFileSync(file, 'utf8').trim();
    return text === '' ? undefined : Number(text);
  }

  /**
   * Writes a pid file as an unclean shutdown leaves it: after a reboot its pid may name a dead
   * process or another one entirely (pass the pid of a process the test started).
   */
  plantPidFile(which: 'ha' | 'driver', pid: number, instance = 'default'): void {
    writeFileSync(path.join(this.instanceDir(instance), which === 'ha' ? 'ha.pid' : 'qemu.pid'), `${pid}\n`);
  }

  /**
   * Ends the Lima-like driver (the "VM") of an instance: SIGKILL is a VM crash, SIGTERM a guest
   * that powers off (the driver exits 0). Returns its pid.
   */
  killDriver(signal: 'SIGKILL' | 'SIGTERM', instance = 'default'): number {
    const pid = this.pidFile('driver', instance);
    if (pid === undefined) throw new Error(`${instance} has no qemu.pid: no driver runs`);
    const cmdline = readProcText(pid, 'cmdline');
    if (!cmdline?.includes(this.instanceDir(instance))) throw new Error(`pid ${pid} of qemu.pid is not ${instance}'s driver: ${cmdline}`);
    process.kill(pid, signal);
    return pid;
  }

  /**
   * Makes the Lima-like host agent of an instance misbehave while `on`: `info`, it accepts GET
   * /v1/info and never answers; `ssh`, its SSH port accepts and never greets. Takes effect at
   * the next request or connection, also for a host agent already running.
   */
  silence(what: 'info' | 'ssh', on = true, instance = 'default'): void {
    const file = path.join(this.fakeDir, `ha-${what}.silent.${instance}`);
    if (on) writeFileSync(file, '');
    else rmSync(file, { force: true });
  }

  /** How many /v1/info requests (`info`) or SSH connections (`ssh`) were left unanswered so far. */
  silenced(what: 'info' | 'ssh', instance = 'default'): number {
    const file = path.join(this.fakeDir, `ha-${what}.silenced.${instance}`);
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
  }

  /**
   * The processes the Lima-like stand-in started (host agents, drivers) that still run. A pid
   * counts only while its command line names this sandbox, so a pid reused by another process
   * is never taken for one of them.
   */
  limaLikeProcesses(): number[] {
    const file = path.join(this.fakeDir, 'lima-like.pids');
    if (!existsSync(file)) return [];
    const pids = [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number))];
    return pids.filter((pid) => processRuns(pid) && (readProcText(pid, 'cmdline')?.includes(this.root) ?? false));
  }

  /** SIGKILL to every process limaLikeProcesses() names: what a failed test left running. */
  killLimaLike(): void {
    for (const pid of this.limaLikeProcesses()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone in between.
      }
    }
  }

  /** The pids of the limactl stand-in's `start --foreground` processes, in the order they started. */
  hostAgentPids(): number[] {
    const file = path.join(this.fakeDir, 'host-agent.pids');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
  }

  /** The jobs the launchctl stand-in holds as loaded, as "<domain>/<label>". */
  loaded(): string[] {
    const file = path.join(this.fakeDir, 'launchd-loaded');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  }

  /** Tells the launchctl stand-in that a job is loaded, as a login or a boot would. */
  markLoaded(target: string): void {
    writeFileSync(path.join(this.fakeDir, 'launchd-loaded'), [...this.loaded(), target].map((t) => `${t}\n`).join(''));
  }

  /** Tells the launchctl stand-in that a loaded job's program is not running (it exited, and nothing restarts it). */
  markIdle(target: string): void {
    writeFileSync(path.join(this.fakeDir, 'launchd-idle'), `${target}\n`, { flag: 'a' });
  }

  /** The loaded jobs the launchctl stand-in holds as not running. */
  idle(): string[] {
    const file = path.join(this.fakeDir, 'launchd-idle');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  }

  /** Every file under HOME and the sysroot with its content: to prove that nothing changed. */
  snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = path.join(dir, name);
        if (statSync(p).isDirectory()) {
          out[`${p}/`] = '';
          walk(p);
        } else {
          out[p] = readFileSync(p, 'utf8');
        }
      }
    };
    walk(this.home);
    walk(this.sysroot);
    walk(this.tmp);
    return out;
  }

  cleanup(): void {
    this.killLimaLike();
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A run of the program under way: its output so far, and its result once it has ended. */
export class Started {
  stdout = '';
  stderr = '';
  readonly result: Promise<RunResult>;
  private ended = false;

  constructor(private readonly child: ChildProcess & { stdout: Readable; stderr: Readable }) {
    child.stdout.setEncoding('utf8').on('data', (d: string) => { this.stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; });
    // 'close': the output pipes are closed, by the program and by every process it left them to.
    this.result = new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        this.ended = true;
        resolve({ code: code ?? (signal ? -1 : -2), stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  /**
   * Waits for an event, not for a time: until `check` holds (looked at every 10 ms). Fails when
   * the run ends first; mocha's timeout bounds a wait for something that never comes.
   */
  async until(what: string, check: () => boolean): Promise<void> {
    while (!check()) {
      if (this.ended) throw new Error(`the run ended before ${what}:\n${show(await this.result)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** The process's pid: for a stand-in that execs, also the pid of what it became. */
  get pid(): number {
    if (this.child.pid === undefined) throw new Error('the process did not start');
    return this.child.pid;
  }
}

/** A file of /proc/PID with its NULs as spaces, or undefined when the process is gone. */
function readProcText(pid: number, file: 'cmdline' | 'stat'): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return undefined;
  }
}

/** Whether a process runs: not gone, and not a zombie (exited, its parent has not reaped it yet). */
export function processRuns(pid: number): boolean {
  const stat = readProcText(pid, 'stat');
  return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A tool of the machine: the first one in /usr/bin, /bin or on PATH. */
export function findTool(name: string): string | undefined {
  const dirs = ['/usr/bin', '/bin', ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean)];
  return dirs.map((dir) => path.join(dir, name)).find((file) => existsSync(file));
}

/**
 * The path of a real tool a test runs. Where it is missing, the test fails under CI=true (.ci/run
 * installs the Debian package `pkg`), and is skipped elsewhere, with a line that says why.
 */
export function needTool(ctx: Mocha.Context, name: string, pkg: string): string {
  const file = findTool(name);
  if (file) return file;
  if (process.env.CI === 'true') throw new Error(`${name} is not installed, and CI=true: this test must run against the real ${name} (.ci/run installs the package ${pkg})`);
  console.log(`      skipped: ${name} is not installed here (install the package ${pkg})`);
  ctx.skip();
}

/**
 * What bash offers for the words of a command line, the last one being typed: the completion
 * `script` (from `limactl-autostart completion`) is sourced in a real bash, which calls its
 * function as it would on Tab, with `env` (its PATH finds limactl-autostart).
 */
export function bashCompletions(script: string, env: Record<string, string>, words: string[]): { offered: string[]; stderr: string } {
  const program = [
    'eval "$COMPLETION_SCRIPT"',
    // The words as bash splits a command line, the cursor on the last one.
    'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}',
    '_limactl_autostart',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', program, 'bash', ...words], { env: { ...env, COMPLETION_SCRIPT: script }, input: '', encoding: 'utf8', timeout: RUN_LIMIT_MS });
  assert.equal(r.status, 0, `bash: exit ${r.status}\n${r.stderr}`);
  return { offered: r.stdout.split('\n').filter(Boolean), stderr: r.stderr };
}

/**
 * What a registration runs for an instance: the script of templates/service.sh without its
 * comment lines, by /bin/sh, with limactl's path and the instance as its arguments.
 */
export function serviceArgv(limactl: string, instance = 'default'): string[] {
  const script = readFileSync(path.join(ROOT, 'templates', 'service.sh'), 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  return ['/bin/sh', '-c', `${script.join('\n')}\n`, 'limactl-autostart', limactl, instance];
}

/** Formats a RunResult for assertion messages. */
export function show(result: RunResult): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

function isVersionProbe(call: string[]): boolean {
  return call.length === VERSION_PROBE.length && call.every((arg, i) => arg === VERSION_PROBE[i]);
}
