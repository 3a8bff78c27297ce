import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers.js';
import { allPids, cgroupTree, findOnSystem, namespaceOf, pidsIn, sleep, waitFor, type CommandResult } from './user-manager.js';

// Real boots of this machine's own OS, as a container, for tests that need a real PID 1 and a
// real logind: what happens at boot with nobody logged in, what lingering changes.
//
// systemd-nspawn boots an overlay whose lower layer is the host's / (never written) and whose
// upper layer is a tmpfs: the container's changes (a user, a unit, the linger flag) last from one
// boot to the next, for as long as the container object lives, and never reach the host. The
// checkout is bound into the container read-only, at its own path, for the program under test.
// boot-container.sh does the privileged parts: the run's cgroups (NAME/ctl for the harness's own
// processes, NAME/ct for nspawn and the container) in every hierarchy systemd manages, the mounts
// in a private mount namespace held by one process, and the checks that nothing starts in a root
// cgroup. That process, in a session of its own, reads a pipe from this one: when the pipe closes
// (destroy(), or the end of the test process however it ends: SIGINT, SIGTERM, SIGKILL), it
// kills what is left in the run's cgroups, removes them and the run's directory. destroy() powers
// the container off first, and leftovers() proves that nothing is left.
//
// A user's manager is queried with setpriv and XDG_RUNTIME_DIR, never with `systemctl --user -M
// user@`: that opens a login session (and starts the manager), which would spoil "nobody logged in".

const SCRIPT = path.join(ROOT, 'test', 'harness', 'boot-container.sh');
/** PATH of the harness's commands, and of commands in the container. */
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const TOOLS = ['systemd-nspawn', 'machinectl', 'nsenter', 'unshare', 'setpriv'];
/** Bound on one boot: nspawn's start to `is-system-running` (about 3 s on an idle machine). */
const BOOT_LIMIT_MS = 90_000;
/** Bound on one command in the container. */
const COMMAND_LIMIT_MS = 60_000;

let counter = 0;

export interface RunOptions {
  /** Run as this user of the container, without a login session (setpriv). Default: root. */
  user?: string;
  /** The command's whole environment, besides PATH, LANG and (for a user) HOME, USER, LOGNAME, XDG_RUNTIME_DIR. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** The cgroup hierarchies systemd manages here: the hybrid layout's two, or cgroup2 alone. */
function hierarchies(): string[] {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').flatMap((line) => {
    const [left, right] = line.split(' - ');
    if (!right) return [];
    const [fstype, , options] = right.split(' ');
    return [{ point: left!.split(' ')[4]!, fstype: fstype!, options: options ?? '' }];
  });
  const at = (point: string, fstype: string, option?: string): boolean =>
    mounts.some((m) => m.point === point && m.fstype === fstype && (!option || m.options.split(',').includes(option)));
  if (at('/sys/fs/cgroup', 'cgroup2')) return ['/sys/fs/cgroup'];
  if (!at('/sys/fs/cgroup/systemd', 'cgroup', 'name=systemd')) return [];
  return ['/sys/fs/cgroup/systemd', ...(at('/sys/fs/cgroup/unified', 'cgroup2') ? ['/sys/fs/cgroup/unified'] : [])];
}

/** The cgroup of a process in a hierarchy, as /proc/PID/cgroup names it. */
function cgroupIn(pid: number | 'self', hierarchy: string): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    const re = hierarchy === '/sys/fs/cgroup/systemd' ? /^\d+:name=systemd:(.*)$/m : /^0::(.*)$/m;
    return re.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

/** State and parent of a process, from /proc/PID/stat. */
function statOf(pid: number): { state: string; parent: number } | undefined {
  try {
    // The command name may hold spaces and parentheses: the fields after the last ')' are plain.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: state!, parent: Number(parent) };
  } catch {
    return undefined;
  }
}

function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The promise's value, or 'timeout' after `ms`; the timer does not outlive the promise. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What the holder removes at its end: the empty mount points, the console log, nspawn's lock
 * file, the directory. One by one, never recursively: a mount point is never walked into.
 */
function removeRunDir(dir: string): void {
  for (const name of ['root', 'state']) {
    try {
      rmdirSync(path.join(dir, name));
    } catch {
      // Reported by leftovers().
    }
  }
  for (const name of ['console.log', '.#root.lck']) rmSync(path.join(dir, name), { force: true });
  try {
    rmdirSync(dir);
  } catch {
    // Reported by leftovers().
  }
}

/** A process as a leftover report names it: pid, name, state and parent. */
function describeProcess(pid: number): string {
  const stat = statOf(pid);
  return stat ? `${pid} (${commOf(pid)}, state ${stat.state}, parent ${stat.parent})` : `${pid} (gone)`;
}

/**
 * The host's state that a container run could change if it were not confined: system files a
 * boot or a `useradd` writes, logind's and nspawn's directories, the modes of the checkout and its
 * parents (the container makes them searchable for its user, in the overlay). One line per path.
 */
function hostFiles(): string[] {
  const paths = [
    '/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow', '/etc/subuid', '/etc/subgid', '/etc/machine-id', '/etc/polkit-1/rules.d',
    '/home', '/var/lib/systemd/linger', '/var/lib/machines', '/var/log/journal', '/run/systemd', '/run/user', '/run/host',
  ];
  const ancestors: string[] = [];
  for (let dir = ROOT; dir !== path.dirname(dir); dir = path.dirname(dir)) ancestors.push(dir);
  return [...paths, ...ancestors].map((p) => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return `${p}: absent`;
    }
    const mode = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    // Other runs write in the checkout's parents (/tmp, say): of those, only the modes count.
    if (st.isDirectory()) return `${p}: directory ${mode}${ancestors.includes(p) ? '' : ` [${readdirSync(p).sort().join(' ')}]`}`;
    if (st.isFile()) return `${p}: file ${mode} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    return `${p}: other ${mode}`;
  });
}

/** Host mounts a run could touch: under /run, /sys/fs/cgroup, /dev, the run's directory, or named for the run. */
function hostMounts(dir: string, name: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((line) => line.split(' ').slice(4).join(' '))
    .filter((line) => /^\/(run|sys\/fs\/cgroup|dev)\b/.test(line) || line.startsWith(`${dir}`) || line.includes(name))
    .sort();
}

export class BootContainer {
  /** The run's temporary directory on the host: mount points, the console log of every boot. */
  readonly dir: string;
  readonly name: string;
  private readonly machine: string;
  private readonly hierarchies: string[];
  private readonly holder: ChildProcess;
  private holderExited = false;
  private holderStderr = '';
  /** The process that holds the mount namespace (the overlay), once it said it is ready. */
  private holderNs = 0;
  private nspawn: ChildProcess | undefined;
  private nspawnExit: Promise<number | null> | undefined;
  private nspawnGone = false;
  /** The container's PID 1, as the host numbers it. */
  private leader = 0;
  private boots = 0;
  private logins = 0;
  private readonly namespaces = new Set<string>();
  private readonly before: { cgroups: string[]; files: string[]; mounts: string[] };

  /**
   * Why containers cannot be booted here, or undefined when they can: root, Linux, the tools of
   * systemd-container and util-linux, overlayfs, and writable cgroup hierarchies systemd knows.
   */
  static unavailable(): string | undefined {
    if (process.platform !== 'linux') return `this is ${process.platform}, not Linux`;
    if (process.getuid?.() !== 0) return 'not running as root, and booting a container needs cgroups, namespaces and mounts';
    for (const tool of TOOLS) {
      if (!findOnSystem(tool)) return `${tool} is not installed${tool === 'systemd-nspawn' || tool === 'machinectl' ? ' (package systemd-container)' : ''}`;
    }
    if (!/\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'))) return 'the kernel has no overlay file system';
    // nspawn's --bind-ro= separates its fields with ':'.
    if (ROOT.includes(':')) return `the checkout's path (${ROOT}) holds a ':', and systemd-nspawn --bind-ro= cannot take it`;
    const found = hierarchies();
    if (found.length === 0) return 'no cgroup hierarchy that systemd manages (cgroup2 at /sys/fs/cgroup, or name=systemd at /sys/fs/cgroup/systemd)';
    for (const h of found) {
      try {
        accessSync(h, constants.W_OK);
      } catch {
        return `the cgroup hierarchy ${h} is not writable`;
      }
    }
    return undefined;
  }

  /**
   * Starts the holder of the run's directory (a new temporary one), cgroups and mounts; boot()
   * then boots the container.
   */
  static async create(): Promise<BootContainer> {
    const why = BootContainer.unavailable();
    if (why) throw new Error(`cannot boot a container: ${why}`);
    const container = new BootContainer(mkdtempSync(path.join(os.tmpdir(), 'limactl-autostart-boot.')));
    try {
      await container.waitForHolder();
    } catch (err) {
      await container.destroy();
      throw err;
    }
    return container;
  }

  private constructor(dir: string) {
    this.dir = dir;
    this.name = `limactl-autostart-boot-${process.pid}-${++counter}`;
    this.machine = `lat-boot-${process.pid}-${counter}`;
    this.hierarchies = hierarchies();
    this.before = { cgroups: this.hierarchies.map((h) => `${cgroupIn(1, h)} ${cgroupIn('self', h)}`), files: hostFiles(), mounts: hostMounts(dir, this.name) };
    mkdirSync(path.join(dir, 'root'));
    mkdirSync(path.join(dir, 'state'));
    this.holder = spawn('/bin/sh', [SCRIPT, 'hold'], {
      detached: true, // its own session: no signal meant for the test run reaches it
      stdio: ['pipe', 'pipe', 'pipe'],
      env: this.scriptEnv(),
    });
    this.holder.stderr!.setEncoding('utf8').on('data', (chunk: string) => { this.holderStderr += chunk; });
    this.holder.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const pid = /^ready (\d+)$/m.exec(chunk)?.[1];
      if (pid) this.holderNs = Number(pid);
    });
    this.holder.on('exit', () => { this.holderExited = true; });
  }

  private scriptEnv(): Record<string, string> {
    return { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', BC_NAME: this.name, BC_HIERARCHIES: this.hierarchies.join(' '), BC_DIR: this.dir, BC_MACHINE: this.machine, BC_BIND_RO: ROOT };
  }

  private async waitForHolder(): Promise<void> {
    await waitFor('the overlay and its mount namespace', () => {
      if (this.holderExited) throw new Error(`boot-container.sh hold exited before it was ready:\n${this.holderStderr}`);
      return this.holderNs > 0;
    }, 20_000, () => this.holderStderr);
    const ns = namespaceOf(this.holderNs, 'mnt');
    if (!ns || ns === namespaceOf(process.pid, 'mnt')) throw new Error('the overlay is not in a mount namespace of its own');
    this.namespaces.add(ns);
  }

  /** The console log of every boot so far (nspawn's and systemd's messages). */
  get consoleLog(): string {
    return path.join(this.dir, 'console.log');
  }

  /** Boots the container and waits until systemd says the system is running (or degraded). */
  async boot(): Promise<void> {
    if (this.nspawn) throw new Error('the container is running already');
    const log = openSync(this.consoleLog, 'a');
    writeFileSync(log, `\n=== boot ${++this.boots} ===\n`);
    const child = spawn('nsenter', ['-t', String(this.holderNs), '-m', '--', '/bin/sh', SCRIPT, 'boot'], {
      detached: true,
      stdio: ['ignore', log, log],
      env: this.scriptEnv(),
    });
    closeSync(log);
    this.nspawn = child;
    this.nspawnGone = false;
    this.nspawnExit = new Promise((resolve) => child.on('exit', (code) => {
      this.nspawnGone = true;
      resolve(code);
    }));
    const nspawnPid = child.pid!;
    this.leader = await waitFor('the container\'s PID 1', () => {
      if (this.nspawnGone) throw new Error(`systemd-nspawn exited during the boot\n${this.consoleTail()}`);
      return allPids().find((pid) => statOf(pid)?.parent === nspawnPid && commOf(pid) === 'systemd');
    }, BOOT_LIMIT_MS, () => this.consoleTail());
    const pidNs = namespaceOf(this.leader, 'pid');
    if (!pidNs || pidNs === namespaceOf(process.pid, 'pid')) throw new Error('the container has no PID namespace of its own');
    this.namespaces.add(pidNs);
    for (const h of this.hierarchies) {
      // nspawn moves itself one level down (ct/supervisor), beside the container's cgroups.
      const at = cgroupIn(nspawnPid, h);
      if (at !== `/${this.name}/ct` && !at?.startsWith(`/${this.name}/ct/`)) throw new Error(`systemd-nspawn is in cgroup ${at} of ${h}, not in /${this.name}/ct`);
    }
    // is-system-running --wait fails until the manager's socket exists.
    await waitFor('the container\'s /run/systemd/private', () => {
      if (this.nspawnGone) throw new Error(`systemd-nspawn exited during the boot\n${this.consoleTail()}`);
      return existsSync(this.file('/run/systemd/private'));
    }, BOOT_LIMIT_MS, () => this.consoleTail());
    const state = await this.run(['systemctl', 'is-system-running', '--wait'], { timeoutMs: BOOT_LIMIT_MS });
    if (!['running', 'degraded'].includes(state.stdout.trim())) {
      throw new Error(`the container's system state is '${state.stdout.trim()}' ${state.stderr}\n${(await this.run(['systemctl', '--failed', '--no-pager'])).stdout}\n${this.consoleTail()}`);
    }
  }

  /** `systemctl poweroff` in the container, and the end of nspawn. */
  async poweroff(): Promise<void> {
    if (!this.nspawn) return;
    const r = await this.run(['systemctl', 'poweroff']);
    // systemctl may lose its connection as the manager goes down: only a refusal before that counts.
    if (r.code !== 0 && !this.nspawnGone) throw new Error(`systemctl poweroff in the container exited with ${r.code}: ${r.stderr}`);
    const code = await within(this.nspawnExit!, BOOT_LIMIT_MS);
    if (code === 'timeout') throw new Error(`the container did not power off within ${BOOT_LIMIT_MS} ms\n${this.consoleTail()}`);
    this.nspawn = undefined;
    this.leader = 0;
    if (code !== 0) throw new Error(`systemd-nspawn exited with ${code} after poweroff\n${this.consoleTail()}`);
  }

  /**
   * A path of the running container, as the host reaches it (through /proc/PID/root): to read
   * and write the container's files without a process in it. An absolute symbolic link on the
   * way would resolve on the host: the paths the tests use have none.
   */
  file(p: string): string {
    if (!this.leader) throw new Error('the container is not running');
    return path.join(`/proc/${this.leader}/root`, p);
  }

  /** Runs a command in the container: as root, or as a user without any login session. */
  run(argv: string[], options: RunOptions = {}): Promise<CommandResult> {
    const { user } = options;
    const env: Record<string, string> = {
      PATH: SYSTEM_PATH,
      LANG: 'C.UTF-8',
      ...(user ? { HOME: `/home/${user}`, USER: user, LOGNAME: user, XDG_RUNTIME_DIR: `/run/user/${this.uid(user)}` } : {}),
      ...options.env,
    };
    const command = ['env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv];
    const as = user ? ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups', '--'] : [];
    return this.exec([...as, ...command], options.timeoutMs ?? COMMAND_LIMIT_MS);
  }

  /** The uid of a user of the container. */
  uid(user: string): number {
    const line = readFileSync(this.file('/etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
    if (!line) throw new Error(`the container has no user ${user}`);
    return Number(line.split(':')[2]);
  }

  /**
   * Runs a command as `user` in a real login session (`machinectl shell user@.host`): PAM and
   * logind make the session, and with it XDG_RUNTIME_DIR and the user's manager. machinectl
   * forwards a terminal, not the command's streams or exit code: those go through files.
   */
  async login(user: string, argv: string[], env: Record<string, string> = {}): Promise<CommandResult> {
    const out = `/tmp/login-${++this.logins}`;
    const made = await this.run(['install', '-d', '-o', user, '-g', user, '-m', '700', out]);
    if (made.code !== 0) throw new Error(`install -d ${out}: ${made.stderr}`);
    const script = 'o=$1; shift; "$@" > "$o/stdout" 2> "$o/stderr" < /dev/null; echo $? > "$o/code"';
    const r = await this.exec(['machinectl', '--quiet', 'shell', ...Object.entries(env).map(([k, v]) => `--setenv=${k}=${v}`), `${user}@.host`, '/bin/sh', '-c', script, 'sh', out, ...argv], COMMAND_LIMIT_MS);
    const read = (name: string): string | undefined => {
      try {
        return readFileSync(this.file(path.join(out, name)), 'utf8');
      } catch {
        return undefined;
      }
    };
    const code = read('code');
    if (code === undefined) throw new Error(`machinectl shell ${user}@.host ran nothing: exit ${r.code}\n${r.stdout}${r.stderr}`);
    return { code: Number(code), stdout: read('stdout') ?? '', stderr: read('stderr') ?? '' };
  }

  private exec(command: string[], timeoutMs: number): Promise<CommandResult> {
    if (!this.leader) throw new Error('the container is not running');
    return new Promise((resolve, reject) => {
      const child = spawn('/bin/sh', [SCRIPT, 'exec', String(this.leader), ...command], {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: this.scriptEnv(),
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // Gone already.
        }
        reject(new Error(`\`${command.join(' ')}\` in the container did not finish within ${timeoutMs} ms\n${stdout}${stderr}`));
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  /** The last lines of the console log of the boots so far. */
  consoleTail(lines = 40): string {
    const text = existsSync(this.consoleLog) ? readFileSync(this.consoleLog, 'utf8') : '(no console log)';
    return `--- container console (${this.consoleLog}), last ${lines} lines\n${text.split('\n').slice(-lines).join('\n')}${this.holderStderr ? `\n--- boot-container.sh stderr\n${this.holderStderr}` : ''}`;
  }

  /**
   * What the run has left on the host: processes in its cgroups or its namespaces, its cgroup
   * directories, its processes, changed mounts, PID 1 or the test process moved to another
   * cgroup, changed system files (hostFiles()). Empty when nothing is left.
   */
  leftovers(): string[] {
    const found: string[] = [];
    for (const h of this.hierarchies) {
      const top = path.join(h, this.name);
      const dirs = cgroupTree(top);
      if (dirs.length > 0) found.push(`cgroup directories: ${dirs.join(', ')}`);
      const pids = pidsIn(top);
      if (pids.length > 0) found.push(`processes in ${top}: ${pids.join(' ')}`);
    }
    const inNamespaces = allPids().filter((pid) => {
      const mnt = namespaceOf(pid, 'mnt');
      const pidNs = namespaceOf(pid, 'pid');
      return (mnt !== undefined && this.namespaces.has(mnt)) || (pidNs !== undefined && this.namespaces.has(pidNs));
    });
    if (inNamespaces.length > 0) found.push(`processes in the run's namespaces (${[...this.namespaces].join(', ')}): ${inNamespaces.map(describeProcess).join(', ')}`);
    if (!this.holderExited) found.push(`boot-container.sh hold (pid ${this.holder.pid}) is still running`);
    if (this.nspawn) found.push(`systemd-nspawn (pid ${this.nspawn.pid}) is still running`);
    if (existsSync(this.dir)) found.push(`the run's directory ${this.dir} is still there: [${readdirSync(this.dir).join(' ')}]`);
    const cgroups = this.hierarchies.map((h) => `${cgroupIn(1, h)} ${cgroupIn('self', h)}`);
    if (cgroups.join('\n') !== this.before.cgroups.join('\n')) found.push(`PID 1 or the test process moved: cgroups (PID 1, this process) were ${this.before.cgroups.join(', ')}, are ${cgroups.join(', ')}`);
    const mounts = hostMounts(this.dir, this.name);
    if (mounts.join('\n') !== this.before.mounts.join('\n')) found.push(`host mounts changed:\n  before: ${this.before.mounts.join('\n          ')}\n  after:  ${mounts.join('\n          ')}`);
    const files = hostFiles();
    const changed = files.filter((line, i) => line !== this.before.files[i]);
    if (changed.length > 0) found.push(`host files changed: ${changed.join('; ')} (were: ${this.before.files.filter((line, i) => line !== files[i]).join('; ')})`);
    return found;
  }

  /**
   * Ends the run: powers the container off if it runs, lets the holder kill what is left and
   * remove the cgroups and the run's directory (or does it itself if the holder cannot), then
   * returns leftovers().
   */
  async destroy(): Promise<string[]> {
    if (this.nspawn && this.leader) {
      try {
        await this.poweroff();
      } catch {
        // Killed below.
      }
    }
    this.holder.stdin?.end();
    try {
      await waitFor('boot-container.sh hold to clean up and exit', () => this.holderExited, 30_000);
    } catch {
      // Killed below.
    }
    for (let i = 0; i < 100 && (!this.holderExited || this.hierarchies.some((h) => existsSync(path.join(h, this.name)))); i++) {
      this.killNow();
      await sleep(50);
    }
    if (existsSync(this.dir)) removeRunDir(this.dir);
    if (this.nspawnExit) await within(this.nspawnExit, 10_000);
    this.nspawn = undefined;
    // A process killed a moment ago may still be on its way out (exiting, or a zombie that its
    // parent has yet to reap): it is given a bounded time to go.
    try {
      await waitFor('the run to leave nothing behind', () => this.leftovers().length === 0, 10_000);
    } catch {
      // Reported below.
    }
    return this.leftovers();
  }

  /** What the holder does when it ends, done from here: SIGKILL to every process of the run, removal of its cgroups. */
  private killNow(): void {
    const kill = (pid: number | undefined): void => {
      if (!pid) return;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    kill(this.holder.pid);
    kill(this.nspawn?.pid);
    for (const h of this.hierarchies) {
      const top = path.join(h, this.name);
      if (existsSync(path.join(top, 'cgroup.kill'))) {
        try {
          writeFileSync(path.join(top, 'cgroup.kill'), '1');
        } catch {
          // Kernels before 5.14 have no cgroup.kill: each process is signalled below.
        }
      }
      for (const pid of pidsIn(top)) kill(pid);
      for (const dir of cgroupTree(top)) {
        try {
          rmdirSync(dir);
        } catch {
          // Still populated for a moment after the kill; the caller tries again.
        }
      }
    }
  }
}
