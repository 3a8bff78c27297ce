import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, START_AT_LOGIN_BIN, Sandbox, processRuns, show, type Platform, type RunResult } from './helpers.js';

// Hostile cases, one row each: odd files where the program reads, writes that fail, signals,
// races, and input it must not trust. Every row runs the real entry point and asserts the exit
// code, the message, the files on disk (unchanged unless the row says how they change), that no
// temporary, staging or lock file is left behind, and that no stack trace is printed.

interface Row {
  name: string;
  platform: Platform;
  setup?: (sb: Sandbox) => void;
  /** The command line; or a function that runs the program itself (signals, races). */
  args: string[] | ((sb: Sandbox) => Promise<RunResult>);
  env?: (sb: Sandbox) => Record<string, string | undefined>;
  code: number;
  /** Must match stderr (or, for a row whose output is the point, stdout + stderr). */
  message: RegExp;
  stdout?: RegExp;
  /** The files the run changes, checked against the state before it; without it, nothing may change. */
  changed?: (sb: Sandbox, before: Tree) => void;
  /** Why a row cannot run here (said, never silent). */
  unless?: () => string | undefined;
}

/**
 * Every path under the sandbox's HOME, sysroot and TMPDIR, as lstat sees it: links as links,
 * with mode and owner. Directories that hold no file are left out: `systemctl disable` leaves
 * the .wants directory that `enable` made, as systemd does.
 */
type Tree = Record<string, string>;

function tree(sb: Sandbox): Tree {
  const out: Tree = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      const st = lstatSync(p);
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out[p] = `link -> ${readlinkSync(p)}`;
      else if (st.isDirectory()) { if (readdirSync(p, { recursive: true, withFileTypes: true }).some((e) => !e.isDirectory())) out[`${p}/`] = `dir ${meta}`; walk(p); }
      else if (st.isFIFO()) out[p] = `fifo ${meta}`;
      else out[p] = `file ${meta} ${(st.mode & 0o444) ? readFileSync(p).toString('base64') : ''}`;
    }
  };
  for (const dir of [sb.home, sb.sysroot, sb.tmp, outside(sb)]) if (existsSync(dir)) walk(dir);
  return out;
}

/** A directory beside HOME: where a dotfile manager keeps the files it links to. */
function outside(sb: Sandbox): string {
  return path.join(sb.root, 'dotfiles');
}

/** Temporary files, staging copies and locks: none may outlive a run. */
function leftovers(sb: Sandbox): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.tmp$|\.lock$|\.takeover$|^limactl-autostart-.*\.plist$/.test(e.name)) found.push(p);
    }
  };
  for (const dir of [sb.home, sb.sysroot, sb.tmp, path.join(sb.root, 'state')]) walk(dir);
  return found;
}

function assertNoStack(r: RunResult): void {
  assert.doesNotMatch(r.stderr, /^\s+at /m, `stack trace:\n${show(r)}`);
  assert.doesNotMatch(r.stderr, /internal error/, show(r));
}

/** `file` now a link to a 0600 file outside HOME, as GNU stow, chezmoi or home-manager make it. */
function linkToDotfile(sb: Sandbox, file: string, content: string): string {
  mkdirSync(outside(sb), { recursive: true });
  const target = path.join(outside(sb), path.basename(file));
  writeFileSync(target, content, { mode: 0o600 });
  chmodSync(target, 0o600);
  mkdirSync(path.dirname(file), { recursive: true });
  symlinkSync(target, file);
  return target;
}

function mkfifo(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  assert.equal(spawnSync('mkfifo', [file]).status, 0, `mkfifo ${file}`);
}

function serviceFile(sb: Sandbox): string {
  return sb.platform === 'darwin' ? sb.agentPlist() : sb.unitFile();
}

const UNIT_BY_HAND = '[Unit]\nDescription=mine\n[Service]\nExecStart=/usr/bin/true\n';
const PLIST_BY_HAND = '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>Label</key><string>mine</string></dict></plist>\n';
const byHand = (p: Platform): string => (p === 'darwin' ? PLIST_BY_HAND : UNIT_BY_HAND);
/** The stand-in call that fails after the service file was written, on each platform. */
function failAfterWrite(sb: Sandbox): void {
  if (sb.platform === 'darwin') sb.failAlways('launchctl', 'enable', 1);
  // A file this program did not write is reenabled, its own enabled.
  else for (const verb of ['enable', 'reenable']) sb.failAlways('systemctl', verb, 1);
}
const BOTH: Platform[] = ['darwin', 'linux'];

const ROWS: Row[] = [];

// 0. Nothing privileged acts through a path the user can change: every sudo step names only
// paths in root's own directories (the sysroot's LaunchDaemons here), and reads what it writes
// from stdin, never from a file the user could swap before sudo reads it.
function sudoPaths(sb: Sandbox): string[] {
  return sb.calls().filter((c) => c[0] === 'sudo').flatMap((c) => c.filter((a) => a.startsWith('/')));
}
function onlyRootPaths(sb: Sandbox): void {
  const daemons = path.join(sb.sysroot, 'Library', 'LaunchDaemons') + path.sep;
  assert.deepEqual(sudoPaths(sb).filter((p) => !p.startsWith(daemons)), []);
  assert.ok(sudoPaths(sb).length > 0, 'no sudo step ran');
}
for (const [what, first, args] of [
  ['enable at boot', [], ['enable', 'default', '--condition=boot', '--now']],
  ['a switch from login to boot', ['enable', 'default', '--now'], ['enable', 'default', '--condition=boot', '--now']],
  ['a switch from boot to login', ['enable', 'default', '--condition=boot', '--now'], ['enable', 'default', '--condition=login', '--now']],
  ['disable of a boot registration', ['enable', 'default', '--condition=boot', '--now'], ['disable', 'default', '--now']],
] as const) {
  ROWS.push({
    name: `${what}: every sudo step names a path in root's LaunchDaemons only, a symlink planted at the daemon's log files is never followed`,
    platform: 'darwin',
    setup: (sb) => {
      if (first.length > 0) assert.equal(sb.run([...first]).code, 0);
      // A root file elsewhere, linked from where launchd writes the daemon's log.
      for (const log of ['stdout', 'stderr']) linkToDotfile(sb, path.join(sb.limaHome, 'default', `launchd.${log}.log`), 'root\'s\n');
      sb.clearCalls();
    },
    args: [...args],
    code: 0,
    message: /^(?![\s\S]*error)/,
    changed: (sb, before) => {
      onlyRootPaths(sb);
      for (const file of Object.keys(before).filter((f) => f.startsWith(outside(sb)))) assert.equal(tree(sb)[file], before[file], file);
    },
  });
}

// 1. Rollback never weakens a file.
for (const platform of BOTH) {
  ROWS.push(
    {
      name: 'enable over a symlinked service file, a later step fails: the link comes back, its target untouched',
      platform,
      setup: (sb) => { linkToDotfile(sb, serviceFile(sb), byHand(platform)); failAfterWrite(sb); },
      args: ['enable', 'default'],
      code: 1,
      message: /step \d+ of \d+ failed: .*exited with code 1[\s\S]*Rolled back/,
    },
    {
      name: 'disable of a symlinked service file, a later step fails: the link comes back',
      platform,
      setup: (sb) => {
        linkToDotfile(sb, serviceFile(sb), byHand(platform));
        if (platform === 'darwin') {
          // The agent goes first, then the daemon, whose `sudo rm` fails.
          writeFileSync(sb.daemonPlist(), PLIST_BY_HAND);
          sb.failAlways('sudo', 'rm', 1);
        } else {
          sb.failAlways('systemctl', 'daemon-reload', 1);
        }
      },
      args: ['disable', 'default'],
      code: 1,
      message: /Rolled back/,
    },
    {
      name: 'enable over a 0640 file of the user\'s, a later step fails: bytes and mode come back',
      platform,
      setup: (sb) => {
        mkdirSync(path.dirname(serviceFile(sb)), { recursive: true });
        writeFileSync(serviceFile(sb), byHand(platform));
        chmodSync(serviceFile(sb), 0o640);
        failAfterWrite(sb);
      },
      args: ['enable', 'default'],
      code: 1,
      message: /Rolled back/,
    },
    {
      name: 'enable over a group- and world-writable file: the new file is 0644',
      platform,
      setup: (sb) => {
        mkdirSync(path.dirname(serviceFile(sb)), { recursive: true });
        writeFileSync(serviceFile(sb), byHand(platform));
        chmodSync(serviceFile(sb), 0o666);
      },
      args: ['enable', 'default'],
      code: 0,
      message: /replaced .*which limactl-autostart had not written/,
      changed: (sb) => assert.equal(lstatSync(serviceFile(sb)).mode & 0o777, 0o644),
    },
    {
      name: 'a group- and world-writable file that must be restored comes back writable by its owner alone',
      platform,
      setup: (sb) => {
        mkdirSync(path.dirname(serviceFile(sb)), { recursive: true });
        writeFileSync(serviceFile(sb), byHand(platform));
        chmodSync(serviceFile(sb), 0o666);
        failAfterWrite(sb);
      },
      args: ['enable', 'default'],
      code: 1,
      message: /Rolled back/,
      changed: (sb, before) => {
        assert.equal(lstatSync(serviceFile(sb)).mode & 0o777, 0o644);
        assert.equal(readFileSync(serviceFile(sb), 'utf8'), byHand(platform));
        assert.deepEqual(withoutFile(tree(sb), serviceFile(sb)), withoutFile(before, serviceFile(sb)));
      },
    },
    {
      name: 'a file of another owner is restored with its owner (root only can give a file away)',
      platform,
      unless: () => (process.getuid?.() === 0 ? undefined : 'only root can make a file owned by another user'),
      setup: (sb) => {
        mkdirSync(path.dirname(serviceFile(sb)), { recursive: true });
        writeFileSync(serviceFile(sb), byHand(platform));
        chownSync(serviceFile(sb), 4321, 4322);
        failAfterWrite(sb);
      },
      args: ['enable', 'default'],
      code: 1,
      message: /Rolled back/,
    },
  );
}

function withoutFile(t: Tree, file: string): Tree {
  const { [file]: _, ...rest } = t;
  return rest;
}

// 2. Odd files where a service file should be.
const ODD: { what: string; make: (sb: Sandbox, file: string) => void; status: RegExp }[] = [
  { what: 'a directory', make: (_sb, f) => { mkdirSync(f, { recursive: true }); writeFileSync(path.join(f, 'notes'), 'mine\n'); }, status: /it is a directory, not a file/ },
  { what: 'a FIFO', make: (_sb, f) => mkfifo(f), status: /it is a FIFO, not a file/ },
];
for (const platform of BOTH) {
  for (const odd of ODD) {
    ROWS.push(
      {
        name: `status with ${odd.what} at the service file: a row with the problem, the other instances listed`,
        platform,
        setup: (sb) => { sb.addInstance('other'); odd.make(sb, serviceFile(sb)); },
        args: ['status'],
        code: 0,
        message: /^$/,
        stdout: new RegExp(`^default .*\\n  problem: cannot read .*: ${odd.status.source}\\n    fix: [\\s\\S]*^other `, 'm'),
      },
      {
        name: `enable over ${odd.what}: refused, naming it, nothing changed`,
        platform,
        setup: (sb) => odd.make(sb, serviceFile(sb)),
        args: ['enable', 'default'],
        code: 1,
        message: new RegExp(`is ${odd.what}, not a file[\\s\\S]*Move it away`),
      },
      {
        name: `disable with ${odd.what} at the service file: refused, naming it, nothing changed`,
        platform,
        setup: (sb) => odd.make(sb, serviceFile(sb)),
        args: ['disable', 'default'],
        code: 1,
        message: new RegExp(`is ${odd.what}, not a file`),
      },
      {
        name: `migrate with ${odd.what} at the service file: left alone, said why`,
        platform,
        setup: (sb) => odd.make(sb, serviceFile(sb)),
        args: ['migrate'],
        code: 0,
        message: new RegExp(`left .* alone: it cannot be read \\(.*\\)[\\s\\S]*left 1 alone`),
      },
    );
  }
  ROWS.push(
    {
      name: 'status with a dangling symlink at the service file: a row that says so',
      platform,
      setup: (sb) => { mkdirSync(path.dirname(serviceFile(sb)), { recursive: true }); symlinkSync('/nonexistent/x', serviceFile(sb)); },
      args: ['status'],
      code: 0,
      message: /^$/,
      stdout: /problem: cannot read .*: it is a symbolic link to "\/nonexistent\/x", which does not exist/,
    },
    {
      name: 'enable over a dangling symlink replaces it and says so',
      platform,
      setup: (sb) => { mkdirSync(path.dirname(serviceFile(sb)), { recursive: true }); symlinkSync('/nonexistent/x', serviceFile(sb)); },
      args: ['enable', 'default'],
      code: 0,
      message: /replaced .*, a symbolic link to "\/nonexistent\/x", which does not exist/,
      changed: (sb) => assert.ok(lstatSync(serviceFile(sb)).isFile()),
    },
    {
      name: 'disable removes a dangling symlink',
      platform,
      setup: (sb) => { mkdirSync(path.dirname(serviceFile(sb)), { recursive: true }); symlinkSync('/nonexistent/x', serviceFile(sb)); },
      args: ['disable', 'default'],
      code: 0,
      message: /removed /,
      changed: (sb) => assert.equal(existsSync(serviceFile(sb)) || lstatExists(serviceFile(sb)), false),
    },
    {
      name: 'status with an empty service file: a row with a problem and a fix',
      platform,
      setup: (sb) => { mkdirSync(path.dirname(serviceFile(sb)), { recursive: true }); writeFileSync(serviceFile(sb), ''); },
      args: ['status'],
      code: 0,
      message: /^$/,
      stdout: /problem: .*\n    fix: limactl-autostart enable default/,
    },
  );
}

// 4. Signals: a stand-in call hangs (a sudo password prompt nobody answers) and the run gets a
// signal there; Ctrl-C reaches the whole process group, kill(1) the program alone.
const SIGNALS: { signal: NodeJS.Signals; code: number; group: boolean; how: string }[] = [
  { signal: 'SIGINT', code: 130, group: true, how: 'Ctrl-C (SIGINT to the process group)' },
  { signal: 'SIGTERM', code: 143, group: false, how: 'SIGTERM' },
  { signal: 'SIGHUP', code: 129, group: false, how: 'SIGHUP (the terminal closed)' },
];

/** Runs the program until the stand-in call `hang` (tool.verb) starts, then sends the signal. */
async function interruptAt(sb: Sandbox, args: string[], hang: string, signal: NodeJS.Signals, group: boolean): Promise<RunResult> {
  mkdirSync(path.join(sb.fakeDir, 'hang'), { recursive: true });
  writeFileSync(path.join(sb.fakeDir, 'hang', hang), '');
  const child = spawn(process.execPath, [BIN, ...args], { env: sb.env(), cwd: sb.root, stdio: ['ignore', 'pipe', 'pipe'], detached: group });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const closed = new Promise<number>((resolve) => child.on('close', (code, sig) => resolve(code ?? (sig ? -1 : -2))));
  let ended = false;
  void closed.then(() => { ended = true; });
  // Waits for an event, not for a time: the stand-in writes the file when it starts hanging.
  while (!ended && !existsSync(path.join(sb.fakeDir, 'hanging'))) await sleep(10);
  if (!ended) process.kill(group ? -child.pid! : child.pid!, signal);
  return { code: await closed, stdout, stderr };
}

for (const { signal, code, group, how } of SIGNALS) {
  const undone = new RegExp(`interrupted by ${signal}[\\s\\S]*(Rolled back|Nothing had been changed yet)`);
  ROWS.push(
    {
      name: `${how} at the sudo prompt of a switch from login to boot: the LaunchAgent stays, no LaunchDaemon, exit ${code}`,
      platform: 'darwin',
      setup: (sb) => { assert.equal(sb.run(['enable', 'default']).code, 0); },
      args: (sb) => interruptAt(sb, ['enable', 'default', '--condition=boot'], 'sudo.tee', signal, group),
      code,
      message: undone,
    },
    {
      name: `${how} at the sudo prompt of a switch from boot to login: the LaunchDaemon is back, no LaunchAgent, exit ${code}`,
      platform: 'darwin',
      setup: (sb) => { assert.equal(sb.run(['enable', 'default', '--condition=boot']).code, 0); },
      args: (sb) => interruptAt(sb, ['enable', 'default'], 'sudo.rm', signal, group),
      code,
      message: undone,
    },
    {
      name: `${how} while lingering is turned on: no unit, no marker, exit ${code}`,
      platform: 'linux',
      args: (sb) => interruptAt(sb, ['enable', 'default', '--condition=boot'], 'loginctl.enable-linger', signal, group),
      code,
      message: undone,
    },
  );
}
ROWS.push({
  name: 'SIGTERM while a running unit is stopped (disable --now): the unit file is back, exit 143',
  platform: 'linux',
  setup: (sb) => { assert.equal(sb.run(['enable', 'default', '--now']).code, 0); },
  args: (sb) => interruptAt(sb, ['disable', 'default', '--now'], 'systemctl.stop', 'SIGTERM', false),
  code: 143,
  message: /interrupted by SIGTERM[\s\S]*(Rolled back|Nothing had been changed)/,
});

// 3. Writes that fail, and the lock. As root, permissions do not stop a write: the run is made as
// an unprivileged user (setpriv), in a sandbox that user owns.
const NOBODY = 65534;

/** `mode`: what the directories in `readOnly` get for the run; `umask`: the run's, as the shell sets it. */
function runUnprivileged(sb: Sandbox, args: string[], readOnly: string[], { mode = 0o555, umask }: { mode?: number; umask?: string } = {}): RunResult {
  const root = process.getuid?.() === 0;
  if (root) spawnSync('chown', ['-R', `${NOBODY}:${NOBODY}`, sb.root]);
  for (const dir of readOnly) chmodSync(dir, mode);
  const program = root ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, BIN, ...args] : [process.execPath, BIN, ...args];
  const argv = umask === undefined ? program : ['sh', '-c', `umask ${umask} && exec "$@"`, 'sh', ...program];
  const r = spawnSync(argv[0]!, argv.slice(1), { env: sb.env(), cwd: sb.root, encoding: 'utf8', input: '', timeout: 20_000 });
  for (const dir of readOnly) chmodSync(dir, 0o755);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const noSetpriv = (): string | undefined => (process.getuid?.() === 0 && !existsSync('/usr/bin/setpriv') && !existsSync('/bin/setpriv') ? 'running as root without setpriv (util-linux), permissions cannot be tested' : undefined);
const unitDir = (sb: Sandbox): string => path.dirname(sb.unitFile());
const agentDir = (sb: Sandbox): string => path.dirname(sb.agentPlist());

ROWS.push(
  {
    name: 'enable into a unit directory the user cannot write: exit 1, the path and EACCES named, no temporary file',
    platform: 'linux',
    unless: noSetpriv,
    setup: (sb) => mkdirSync(unitDir(sb), { recursive: true }),
    args: async (sb) => runUnprivileged(sb, ['enable', 'default'], [unitDir(sb)]),
    code: 1,
    message: /write .*lima-vm@default\.service.*EACCES[\s\S]*Nothing had been changed yet/,
    changed: (sb, before) => assert.deepEqual(withoutOwners(tree(sb)), withoutOwners(before)),
  },
  {
    name: 'enable into a LaunchAgents directory the user cannot write: exit 1, the path and EACCES named, no temporary file',
    platform: 'darwin',
    unless: noSetpriv,
    setup: (sb) => mkdirSync(agentDir(sb), { recursive: true }),
    args: async (sb) => runUnprivileged(sb, ['enable', 'default'], [agentDir(sb)]),
    code: 1,
    message: /write .*io\.lima-vm\.autostart\.default\.plist.*EACCES[\s\S]*Nothing had been changed yet/,
    changed: (sb, before) => assert.deepEqual(withoutOwners(tree(sb)), withoutOwners(before)),
  },
  {
    name: 'disable of a unit in a directory the user cannot write: exit 1, the rollback puts the link back',
    platform: 'linux',
    unless: noSetpriv,
    setup: (sb) => { assert.equal(sb.run(['enable', 'default']).code, 0); },
    args: async (sb) => runUnprivileged(sb, ['disable', 'default'], [unitDir(sb)]),
    code: 1,
    message: /rm -f .*lima-vm@default\.service.*EACCES[\s\S]*Rolled back/,
    changed: (sb, before) => assert.deepEqual(withoutOwners(tree(sb)), withoutOwners(before)),
  },
  {
    name: 'enable at boot with a TMPDIR the user cannot write: nothing is staged there, root writes the plist from stdin',
    platform: 'darwin',
    unless: noSetpriv,
    args: async (sb) => runUnprivileged(sb, ['enable', 'default', '--condition=boot'], [sb.tmp]),
    code: 0,
    message: /starts at boot/,
    changed: (sb) => assert.ok(existsSync(sb.daemonPlist())),
  },
  {
    name: 'an instance directory the user cannot write: the lock cannot be made, exit 1, its path named',
    platform: 'linux',
    unless: noSetpriv,
    args: async (sb) => runUnprivileged(sb, ['enable', 'default'], [path.join(sb.limaHome, 'default')]),
    code: 1,
    message: /cannot create the lock .*autostart\.lock: EACCES/,
    changed: (sb, before) => assert.deepEqual(withoutOwners(tree(sb)), withoutOwners(before)),
  },
  {
    name: 'a file where the unit directory should be: exit 1, the path named',
    platform: 'linux',
    setup: (sb) => { mkdirSync(path.dirname(unitDir(sb)), { recursive: true }); writeFileSync(unitDir(sb), 'in the way\n'); },
    args: ['enable', 'default'],
    code: 1,
    message: /mkdir -p .*systemd\/user.*(EEXIST|ENOTDIR)/,
  },
  {
    name: 'a file where the LaunchAgents directory should be: exit 1, the path named',
    platform: 'darwin',
    setup: (sb) => { mkdirSync(path.dirname(agentDir(sb)), { recursive: true }); writeFileSync(agentDir(sb), 'in the way\n'); },
    args: ['enable', 'default'],
    code: 1,
    message: /mkdir -p .*LaunchAgents.*(EEXIST|ENOTDIR)/,
  },
  {
    name: 'a directory where the lock should be: exit 1, the lock named, no wait',
    platform: 'linux',
    setup: (sb) => mkdirSync(path.join(sb.limaHome, 'default', 'autostart.lock', 'x'), { recursive: true }),
    args: ['enable', 'default'],
    code: 1,
    message: /cannot read the lock .*autostart\.lock: EISDIR/,
  },
);
for (const [what, content] of [['an empty lock', ''], ['a garbled lock', 'not a pid\n']] as const) {
  for (const platform of BOTH) {
    ROWS.push({
      name: `${what} (not this program's: it never leaves one) is taken over at once`,
      platform,
      setup: (sb) => writeFileSync(path.join(sb.limaHome, 'default', 'autostart.lock'), content),
      args: ['enable', 'default'],
      code: 0,
      message: /^(?![\s\S]*waiting)[\s\S]*starts at login/,
      changed: (sb) => assert.ok(lstatSync(serviceFile(sb)).isFile()),
    });
  }
}
for (const platform of BOTH) {
  ROWS.push({
    name: 'a lock written before the last boot, its pid now another live program\'s, is taken over at once',
    platform,
    setup: (sb) => {
      const lock = path.join(sb.limaHome, 'default', 'autostart.lock');
      writeFileSync(lock, `${process.pid} ${os.hostname()}\n`);
      utimesSync(lock, new Date('2001-01-01'), new Date('2001-01-01'));
    },
    args: ['enable', 'default'],
    code: 0,
    message: /^(?![\s\S]*waiting)[\s\S]*starts at login/,
    changed: (sb) => assert.ok(lstatSync(serviceFile(sb)).isFile()),
  });
}

// 5. State instances share: lingering is decided under one user-wide lock, whatever the order.
function parallel(sb: Sandbox, runs: string[][]): Promise<RunResult> {
  return Promise.all(runs.map((args) => sb.runAsync(args))).then((results) => ({
    code: Math.max(...results.map((r) => r.code)),
    stdout: results.map((r) => r.stdout).join(''),
    stderr: results.map((r) => r.stderr).join(''),
  }));
}
const lingering = (sb: Sandbox): boolean => existsSync(sb.lingerFile());
ROWS.push(
  {
    name: 'enable A at boot alongside disable B, the last boot unit: lingering stays on, A at boot',
    platform: 'linux',
    setup: (sb) => {
      sb.addInstance('a');
      sb.addInstance('b');
      assert.equal(sb.run(['enable', 'b', '--condition=boot']).code, 0);
    },
    args: (sb) => parallel(sb, [['enable', 'a', '--condition=boot'], ['disable', 'b']]),
    code: 0,
    message: /starts at boot \(lingering on/,
    changed: (sb) => {
      assert.ok(lingering(sb), 'lingering is on');
      assert.match(readFileSync(sb.unitFile('a'), 'utf8'), /condition=boot/);
      assert.equal(lstatExists(sb.unitFile('b')), false);
    },
  },
  {
    name: 'two parallel disables of the last two boot units: lingering ends off',
    platform: 'linux',
    setup: (sb) => {
      sb.addInstance('a');
      sb.addInstance('b');
      for (const name of ['a', 'b']) assert.equal(sb.run(['enable', name, '--condition=boot']).code, 0);
    },
    args: (sb) => parallel(sb, [['disable', 'a'], ['disable', 'b']]),
    code: 0,
    message: /lingering turned off/,
    changed: (sb) => {
      assert.equal(lingering(sb), false, 'lingering is off');
      assert.equal(lstatExists(sb.unitFile('a')) || lstatExists(sb.unitFile('b')), false);
    },
  },
);

// 6. Input the program trusts too much.
for (const platform of BOTH) {
  ROWS.push(
    {
      name: '--condition given twice is a usage error',
      platform,
      args: ['enable', 'default', '--condition=login', '--condition=boot'],
      code: 2,
      message: /--condition is given twice \("--condition=login" and "--condition=boot"\)/,
    },
    {
      name: '--keep-alive and --no-keep-alive together are a usage error',
      platform,
      args: ['enable', 'default', '--keep-alive', '--no-keep-alive'],
      code: 2,
      message: /--keep-alive is given twice/,
    },
    {
      name: 'a USER that is not an account name is refused before it reaches loginctl or UserName',
      platform,
      args: ['enable', 'default', '--condition=boot'],
      env: () => ({ USER: '-x\nroot' }),
      code: 1,
      message: /USER is "-x\\nroot", not a valid account name/,
    },
    {
      name: 'a registration whose file name is no instance name is said quoted, not listed, no control character printed',
      platform,
      setup: (sb) => {
        const file = platform === 'darwin' ? sb.agentPlist('bad\x1b[31mname') : sb.unitFile('bad\x1b[31mname');
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, byHand(platform));
      },
      args: ['status'],
      code: 0,
      message: /ignored ".*bad\\u001b\[31mname.*": "bad\\u001b\[31mname" is not a Lima instance name/,
      stdout: /^(?![\s\S]*\x1b)[\s\S]*^default /m,
    },
    {
      name: 'stdout closed early (`enable --dry-run | true`): ends quietly',
      platform,
      args: (sb) => closedStdout(sb, ['enable', 'default', '--dry-run']),
      code: 0,
      message: /^(?![\s\S]*(EPIPE|Error))/,
    },
  );
}

/** The program with a reader that has gone before it writes (`| true`, `| head -1`). */
async function closedStdout(sb: Sandbox, args: string[]): Promise<RunResult> {
  const child = spawn(process.execPath, [BIN, ...args], { env: sb.env(), cwd: sb.root, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  return { code, stdout: '', stderr };
}

// 7. Second round: everything a user or another program hands the program.
for (const platform of BOTH) {
  const unitOrPlist = (sb: Sandbox): string => serviceFile(sb);
  ROWS.push(
    {
      name: 'a relative PATH entry is never where limactl is taken from: the limactl in the current directory is passed over',
      platform,
      setup: (sb) => writeFileSync(path.join(sb.root, 'limactl'), '#!/bin/sh\necho "limactl version 2.0.3"\n', { mode: 0o755 }),
      args: ['enable', 'default'],
      env: (sb) => ({ PATH: `.:${sb.env().PATH}` }),
      code: 0,
      message: /starts at login/,
      changed: (sb) => {
        const text = readFileSync(unitOrPlist(sb), 'utf8');
        assert.ok(text.includes(path.join(sb.bin, 'limactl')), text);
        assert.ok(!text.includes(path.join(sb.root, 'limactl')), text);
      },
    },
    {
      name: 'only relative PATH entries: limactl is not found, exit 1',
      platform,
      setup: (sb) => writeFileSync(path.join(sb.root, 'limactl'), '#!/bin/sh\n', { mode: 0o755 }),
      args: ['enable', 'default'],
      env: () => ({ PATH: '.:bin' }),
      code: 1,
      message: /limactl was not found on PATH/,
    },
    ...['--now.x=false', '--keep-alive.x=false', '--dry-run.x', '--constructor', '--__proto__'].map((flag): Row => ({
      name: `${flag}: an option that is not one of ours, whatever its spelling, is a usage error`,
      platform,
      args: ['enable', 'default', flag],
      code: 2,
      message: /^error: unknown option /m,
    })),
    ...[['disable', 'default', '--', '--dry-run'], ['enable', 'default', '--', 'extra'], ['status', '--', 'default'], ['enable', 'default', 'extra']].map((args): Row => ({
      name: `\`${args.join(' ')}\`: a word no command uses is a usage error, after -- too`,
      platform,
      setup: (sb) => { if (args[0] === 'disable') assert.equal(sb.run(['enable', 'default']).code, 0); },
      args,
      code: 2,
      message: /after "--" is not used|^error: unexpected "extra": enable takes one INSTANCE$/m,
    })),
    ...[['logs', 'default', '-n', '99999999999999999999999'], ['logs', 'default', '-n', '1e3'], ['logs', 'default', '-n', '0x10'], ['enable', 'default', '--now', '--wait=99999999999999999999']].map((args): Row => ({
      name: `\`${args.join(' ')}\`: a number out of range or not in digits is a usage error`,
      platform,
      args,
      code: 2,
      message: /not a number of seconds up to|takes a whole number of lines up to/,
    })),
    {
      name: 'a symbolic link loop at the service file: status says so, enable replaces it, no stack trace',
      platform,
      setup: (sb) => { mkdirSync(path.dirname(unitOrPlist(sb)), { recursive: true }); symlinkSync(unitOrPlist(sb), unitOrPlist(sb)); },
      args: (sb) => {
        const status = sb.run(['status']);
        assert.equal(status.code, 0, show(status));
        assert.match(status.stdout, /problem: cannot read .*ELOOP/, show(status));
        return Promise.resolve(sb.run(['enable', 'default']));
      },
      code: 0,
      message: /starts at login/,
      changed: (sb) => assert.ok(lstatSync(unitOrPlist(sb)).isFile()),
    },
    {
      name: 'a control character in what Lima says (the status word) is shown escaped in the table',
      platform,
      setup: (sb) => sb.limaList('{"name":"default","status":"Run\\u001b]0;pwned\\u0007ning"}\n'),
      args: ['status'],
      code: 0,
      message: /^$/,
      stdout: /^(?![\s\S]*[\x1b\x07])[\s\S]*Run\\x1b\]0;pwned\\x07ning/,
    },
    {
      name: 'a LIMA_HOME directory whose name is no instance name (an escape sequence) is not listed, and nothing of it is printed raw',
      platform,
      setup: (sb) => sb.addInstance('\x1b]0;pwned\x07'),
      args: ['status'],
      code: 0,
      message: /^$/,
      stdout: /^(?![\s\S]*[\x1b\x07])[\s\S]*^default /m,
    },
    {
      name: 'a 1 MB line in the service file: status, enable and migrate quote a bounded excerpt',
      platform,
      setup: (sb) => {
        mkdirSync(path.dirname(unitOrPlist(sb)), { recursive: true });
        writeFileSync(unitOrPlist(sb), `${'x'.repeat(1 << 20)}\n`);
      },
      args: (sb) => {
        const status = sb.run(['status']);
        const migrate = sb.run(['migrate']);
        for (const r of [status, migrate]) assert.ok(r.stdout.length + r.stderr.length < 5000, `${r.stdout.length + r.stderr.length} characters`);
        return Promise.resolve(sb.run(['enable', 'default', '--dry-run']));
      },
      code: 0,
      message: /^(?![\s\S]{5000})/,
    },
    {
      name: 'stdout on a full disk (`status >/dev/full`): one line that says so, exit 1, no stack trace',
      platform,
      unless: () => (existsSync('/dev/full') ? undefined : 'this system has no /dev/full'),
      args: (sb) => runWithStdout(sb, ['status'], '/dev/full'),
      code: 1,
      message: /^error: cannot write to standard output: ENOSPC\n$/,
    },
    {
      name: 'stderr closed early (`enable default 2>&1 >/dev/null | head -1`): a finished operation still exits 0',
      platform,
      args: (sb) => closedStderr(sb, ['enable', 'default']),
      code: 0,
      message: /^$/,
      changed: (sb) => assert.ok(existsSync(unitOrPlist(sb))),
    },
  );
}
ROWS.push(
  {
    name: 'a symbolic link loop at the daemon\'s log file: refused before any step, exit 1, no sudo',
    platform: 'darwin',
    setup: (sb) => { const log = path.join(sb.limaHome, 'default', 'launchd.stdout.log'); symlinkSync(log, log); },
    args: ['enable', 'default', '--condition=boot'],
    code: 1,
    message: /cannot read .*launchd\.stdout\.log: ELOOP/,
  },
  ...['a directory', 'a FIFO'].map((what): Row => ({
    name: `disable with ${what} at the unit: refused before systemctl changes anything, the .wants link untouched`,
    platform: 'linux',
    setup: (sb) => {
      assert.equal(sb.run(['enable', 'default']).code, 0);
      rmSync(sb.unitFile());
      if (what === 'a FIFO') mkfifo(sb.unitFile());
      else mkdirSync(sb.unitFile());
      sb.clearCalls();
    },
    args: ['disable', 'default'],
    code: 1,
    message: new RegExp(`is ${what}, not a file`),
    changed: (sb, before) => {
      assert.deepEqual(tree(sb), before);
      assert.deepEqual(sb.calls().filter((c) => c[0] === 'systemctl' && !['show-environment', 'is-active'].includes(c[2]!)), []);
    },
  })),
  {
    name: 'SIGTERM while `limactl --version` hangs: the run ends with 143, and that limactl is gone too',
    platform: 'linux',
    args: (sb) => interruptedChildGone(sb, ['enable', 'default'], 'limactl.--version', 'SIGTERM', false),
    code: 143,
    message: /^$/,
  },
);

// 8. Each rule at every place it applies: every sudo step, every command's words, every number,
// every path read, every text from outside that is printed, every child, every directory made.

/** The calls that change something: every call but the questions that only read. */
function changingCalls(sb: Sandbox): string[][] {
  const asks = (c: string[]): boolean => (c[0] === 'launchctl' && c[1] === 'print')
    || (c[0] === 'systemctl' && ['show-environment', 'is-active', 'show'].includes(c[2]!))
    || (c[0] === 'limactl' && c[1] === 'list') || c[0] === 'fdesetup';
  return sb.calls().filter((c) => !asks(c));
}

/** The file's header made that of an older version of this program: migrate rewrites it. */
function ageHeader(file: string): void {
  const text = readFileSync(file, 'utf8');
  assert.match(text, /Generated by limactl-autostart \S+:/);
  writeFileSync(file, text.replace(/Generated by limactl-autostart \S+:/, 'Generated by limactl-autostart 0.0.1:'));
}

/** The daemon's log files linked to a file outside HOME, as anything running as the user could. */
function plantLogLinks(sb: Sandbox): void {
  for (const log of ['stdout', 'stderr']) linkToDotfile(sb, path.join(sb.limaHome, 'default', `launchd.${log}.log`), 'root\'s\n');
}

function outsideUntouched(sb: Sandbox, before: Tree): void {
  for (const file of Object.keys(before).filter((f) => f.startsWith(outside(sb)))) assert.equal(tree(sb)[file], before[file], file);
}

ROWS.push(
  {
    name: 'migrate of a LaunchDaemon: every sudo step names a path in root\'s LaunchDaemons only, a symlink planted at the daemon\'s log files is never followed',
    platform: 'darwin',
    setup: (sb) => {
      assert.equal(sb.run(['enable', 'default', '--condition=boot']).code, 0);
      ageHeader(sb.daemonPlist());
      plantLogLinks(sb);
      sb.clearCalls();
    },
    args: ['migrate'],
    code: 0,
    message: /rewriting the LaunchDaemon/,
    changed: (sb, before) => {
      onlyRootPaths(sb);
      outsideUntouched(sb, before);
      assert.doesNotMatch(readFileSync(sb.daemonPlist(), 'utf8'), /limactl-autostart 0\.0\.1:/);
    },
  },
  {
    name: 'a boot registration whose start fails: the rollback\'s sudo steps name root\'s LaunchDaemons only, the planted links untouched',
    platform: 'darwin',
    setup: (sb) => {
      assert.equal(sb.run(['enable', 'default', '--condition=boot']).code, 0);
      ageHeader(sb.daemonPlist());
      plantLogLinks(sb);
      sb.failAlways('launchctl', 'bootstrap', 1);
      sb.clearCalls();
    },
    args: ['enable', 'default', '--condition=boot', '--now'],
    code: 1,
    message: /Rolled back/,
    changed: (sb, before) => {
      onlyRootPaths(sb);
      assert.ok(sb.calls().some((c) => c[0] === 'sudo' && c[1] === 'tee'), 'the daemon was written, then restored');
      assert.deepEqual(tree(sb), before);
    },
  },
);

// Completion offers only names that pass the instance-name rule, registered ones too.
for (const platform of BOTH) {
  ROWS.push({
    name: 'completion of disable, status and logs offers no registered name that is not an instance name (`$(…)`, backquotes, a space, an escape)',
    platform,
    setup: (sb) => {
      for (const name of ['$(touch pwned)', '`touch pwned`', 'a b', 'x\x1b]0;t\x07']) {
        const file = platform === 'darwin' ? sb.agentPlist(name) : sb.unitFile(name);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, byHand(platform));
      }
    },
    args: (sb) => {
      const offered = (command: string): RunResult => sb.run(['--get-yargs-completions', 'limactl-autostart', command, '']);
      for (const command of ['disable', 'status']) {
        const r = offered(command);
        assert.deepEqual(r.stdout.split('\n').filter((w) => w !== '' && !w.startsWith('-')), ['default'], show(r));
      }
      return Promise.resolve(offered('logs'));
    },
    code: 0,
    message: /^$/,
    stdout: /^(?:-.*\n)+default\n$/,
  });
}

// limactl from a relative PATH entry: never recorded, never run.
const CWD_LIMACTL_RAN = 'cwd-limactl-ran';
function cwdLimactl(sb: Sandbox): void {
  writeFileSync(path.join(sb.root, 'limactl'), `#!/bin/sh\necho "$*" >> '${path.join(sb.root, CWD_LIMACTL_RAN)}'\necho "limactl version 2.0.3"\n`, { mode: 0o755 });
}
function cwdLimactlNotRun(sb: Sandbox): void {
  assert.ok(!existsSync(path.join(sb.root, CWD_LIMACTL_RAN)), 'the limactl of the current directory was run');
}
for (const platform of BOTH) {
  ROWS.push({
    name: 'an empty PATH entry (the current directory, to a shell) is never where limactl is taken from: neither recorded nor run',
    platform,
    setup: cwdLimactl,
    args: ['enable', 'default', '--now'],
    env: (sb) => ({ PATH: `:${sb.env().PATH}` }),
    code: 0,
    message: /starts at login/,
    changed: (sb) => {
      const text = readFileSync(serviceFile(sb), 'utf8');
      assert.ok(text.includes(path.join(sb.bin, 'limactl')), text);
      assert.ok(!text.includes(path.join(sb.root, 'limactl')), text);
      cwdLimactlNotRun(sb);
    },
  });
}
ROWS.push(...[['--version'], ['status'], ['enable', 'default', '--dry-run'], ['migrate']].map((args): Row => ({
  name: `\`${args.join(' ')}\` with "." first on PATH: the limactl of the current directory is neither run nor named`,
  platform: 'linux',
  setup: (sb) => {
    if (args[0] === 'migrate') assert.equal(sb.run(['enable', 'default']).code, 0);
    cwdLimactl(sb);
  },
  args,
  env: (sb) => ({ PATH: `.:${sb.env().PATH}` }),
  code: 0,
  message: /^(?![\s\S]*error)/,
  stdout: args[0] === '--version' ? /^limactl version 2\.0\.3 \(.*\/lima bin\/limactl\)$/m : /^/,
  changed: (sb, before) => {
    cwdLimactlNotRun(sb);
    assert.deepEqual(tree(sb), before);
  },
})));

// Dot-notation and words after --, for every command and option.
ROWS.push(
  ...[['disable', 'default', '--now.x'], ['status', '--json.x'], ['logs', 'default', '--follow.x'], ['logs', 'default', '--lines.x=5'], ['migrate', '--dry-run.x'],
    ['enable', 'default', '--condition.x=boot'], ['enable', 'default', '--user.x=bob'], ['enable', 'default', '--now', '--wait.x=5'], ['start-at-login', '--enabled.x=false']].map((args): Row => ({
    name: `\`${args.join(' ')}\`: an option with a dot is unknown, for every command and option`,
    platform: 'linux',
    setup: (sb) => { assert.equal(sb.run(['enable', 'default']).code, 0); sb.clearCalls(); },
    args,
    code: 2,
    message: /^error: unknown option "--[\w-]+\.x": did you mean --[\w-]+\?/m,
  })),
  ...[['logs', 'default', '--', '-f'], ['migrate', '--', '--dry-run'], ['start-at-login', '--', 'default'], ['completion', '--', 'zsh'], ['--version', '--', 'x']].map((args): Row => ({
    name: `\`${args.join(' ')}\`: a word after -- is a usage error, for every command`,
    platform: 'linux',
    // An older header: a migrate or start-at-login that ran would rewrite the file.
    setup: (sb) => { assert.equal(sb.run(['enable', 'default']).code, 0); ageHeader(sb.unitFile()); sb.clearCalls(); },
    args,
    code: 2,
    message: /after "--" is not used by any command/,
  })),
  ...[['--enabled.x=false'], ['--', 'default']].map((args): Row => ({
    name: `\`limactl-start-at-login ${args.join(' ')}\`: the same words are refused by Lima's deprecated command`,
    platform: 'linux',
    setup: (sb) => { assert.equal(sb.run(['enable', 'default']).code, 0); ageHeader(sb.unitFile()); sb.clearCalls(); },
    args: (sb) => Promise.resolve(sb.runBin(START_AT_LOGIN_BIN, args)),
    code: 2,
    message: /unknown option "--enabled\.x"|after "--" is not used by any command/,
  })),
);

// A symbolic link loop at every path read.
const selfLink = (file: string): void => { mkdirSync(path.dirname(file), { recursive: true }); symlinkSync(file, file); };
for (const platform of BOTH) {
  ROWS.push(
    {
      name: 'disable with a symbolic link loop at the service file: the link is removed, no stack trace',
      platform,
      setup: (sb) => selfLink(serviceFile(sb)),
      args: ['disable', 'default'],
      code: 0,
      message: /removed /,
      changed: (sb) => assert.equal(lstatExists(serviceFile(sb)), false),
    },
    {
      name: 'migrate with a symbolic link loop at the service file: left alone, ELOOP said',
      platform,
      setup: (sb) => selfLink(serviceFile(sb)),
      args: ['migrate'],
      code: 0,
      message: /left .* alone: it cannot be read \(ELOOP\)[\s\S]*left 1 alone/,
    },
    {
      name: 'a symbolic link loop at the lock: exit 1, the lock and ELOOP named, the link left as it is',
      platform,
      setup: (sb) => selfLink(path.join(sb.limaHome, 'default', 'autostart.lock')),
      args: ['enable', 'default'],
      code: 1,
      message: /cannot read the lock .*autostart\.lock: ELOOP/,
      changed: (sb, before) => {
        assert.deepEqual(tree(sb), before);
        // Not this program's to leave behind: the row made it.
        rmSync(path.join(sb.limaHome, 'default', 'autostart.lock'));
      },
    },
    {
      name: 'status with a symbolic link loop as LIMA_HOME: exit 1, LIMA_HOME and ELOOP named, not "No Lima instances"',
      platform,
      setup: (sb) => selfLink(path.join(sb.root, 'lima-loop')),
      env: (sb) => ({ LIMA_HOME: path.join(sb.root, 'lima-loop') }),
      args: ['status'],
      code: 1,
      message: /^error: cannot read LIMA_HOME ".*lima-loop": ELOOP\n  Make it a directory you can read/,
      stdout: /^$/,
    },
    {
      name: 'a symbolic link loop where the service directory should be: exit 1, the path named, nothing changed',
      platform,
      setup: (sb) => selfLink(path.dirname(serviceFile(sb))),
      args: ['enable', 'default'],
      code: 1,
      message: /mkdir -p .*ELOOP[\s\S]*Nothing had been changed yet/,
    },
  );
}
ROWS.push(
  {
    name: 'logs with a symbolic link loop at the plist: a warning that names ELOOP, Lima\'s log still shown',
    platform: 'darwin',
    setup: (sb) => selfLink(sb.agentPlist()),
    args: ['logs', 'default'],
    code: 0,
    message: /warning: .*it cannot be read \(ELOOP\); the log files it names are not shown/,
    stdout: /^==> .*ha\.stderr\.log <==$/m,
  },
  {
    name: 'a symbolic link loop at a target\'s .wants directory: exit 1, the path and ELOOP named, no stack trace',
    platform: 'linux',
    setup: (sb) => selfLink(path.join(path.dirname(sb.unitFile()), 'default.target.wants')),
    args: ['enable', 'default'],
    code: 1,
    message: /cannot lstat .*default\.target\.wants.*: ELOOP\n  Check that path/,
  },
);

// A cleanup that fails too never hides the error that caused it.
ROWS.push({
  name: 'enable into a unit directory that cannot be searched: the write\'s own EACCES is said, not that of removing its temporary file',
  platform: 'linux',
  unless: noSetpriv,
  setup: (sb) => mkdirSync(unitDir(sb), { recursive: true }),
  args: async (sb) => runUnprivileged(sb, ['enable', 'default'], [unitDir(sb)], { mode: 0o600 }),
  code: 1,
  message: /step 2 of \d+ failed: write .*lima-vm@default\.service.*: EACCES: permission denied, open [\s\S]*Nothing had been changed yet/,
  changed: (sb, before) => assert.deepEqual(withoutOwners(tree(sb)), withoutOwners(before)),
});

// Text from outside: every place it is printed, escaped (newlines too, where they would break a line).
const EVIL = '/x\n\x1b]0;pwned\x07y';
/** A registration as Lima would write it, whose program, LIMA_HOME (and, in a plist, log file) are `value`. */
function foreignRegistration(sb: Sandbox, value: string): void {
  const file = serviceFile(sb);
  mkdirSync(path.dirname(file), { recursive: true });
  if (sb.platform === 'linux') {
    const c = (v: string): string => v.replace(/\n/g, '\\n');
    writeFileSync(file, `[Unit]\nDescription=x\n[Service]\nExecStart="${c(value)}/limactl" start default --foreground\nEnvironment="LIMA_HOME=${c(value)}"\nRestart=on-failure\n[Install]\nWantedBy=default.target\n`);
  } else {
    writeFileSync(file, `<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>Label</key><string>io.lima-vm.autostart.default</string><key>ProgramArguments</key><array><string>${value}/limactl</string><string>start</string><string>default</string><string>--foreground</string></array><key>EnvironmentVariables</key><dict><key>LIMA_HOME</key><string>${value}</string></dict><key>RunAtLoad</key><true/><key>StandardErrorPath</key><string>${value}</string></dict></plist>\n`);
  }
}
/** Every line of the status table is a row, a problem, a fix or a note: nothing from outside broke one. */
const TABLE = /^(?:(?:INSTANCE|default) .*|  (?:problem|note): .*|    fix: .*)(?:\n(?:(?:INSTANCE|default) .*|  (?:problem|note): .*|    fix: .*))*\n$/;
const NO_CONTROL = /^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$/;
/** Every line of stderr is a message or a hint. */
const MESSAGES = /^(?:(?:info|warning|error): .*|  .*)(?:\n(?:(?:info|warning|error): .*|  .*))*\n$/;
for (const platform of BOTH) {
  ROWS.push(
    {
      name: 'a newline and a tab in what Lima says (the status word) are escaped: the table keeps one line per row',
      platform,
      setup: (sb) => sb.limaList('{"name":"default","status":"Run\\nning\\tnow\\u009b31m"}\n'),
      args: ['status'],
      code: 0,
      message: /^$/,
      stdout: /^(?=[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$)INSTANCE .*\ndefault .*Run\\x0aning\\x09now\\x9b31m.*\n$/,
    },
    {
      name: 'status --json: a C1 control character from Lima is escaped, and the JSON reads back as what Lima said',
      platform,
      setup: (sb) => sb.limaList('{"name":"default","status":"Run\\u009b31mning"}\n'),
      args: (sb) => {
        const r = sb.run(['status', '--json']);
        assert.match(r.stdout, NO_CONTROL, show(r));
        assert.equal((JSON.parse(r.stdout) as { lima: { status: string } }[])[0]!.lima.status, 'Run\x9b31mning');
        return Promise.resolve(r);
      },
      code: 0,
      message: /^$/,
    },
    {
      name: 'a newline and an escape sequence in the service file\'s program and LIMA_HOME: status and migrate escape them, no line broken',
      platform,
      setup: (sb) => foreignRegistration(sb, EVIL),
      args: (sb) => {
        const status = sb.run(['status']);
        assert.match(status.stdout, TABLE, show(status));
        assert.match(status.stdout, NO_CONTROL, show(status));
        assert.match(status.stdout, /the service runs "\/x\\n\\u001b\]0;pwned\\u0007y\/limactl"/, show(status));
        const migrate = sb.run(['migrate']);
        assert.match(migrate.stderr, MESSAGES, show(migrate));
        return Promise.resolve(migrate);
      },
      code: 0,
      message: /^(?=[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$)(?=[\s\S]*LIMA_HOME="\/x\\n\\u001b)/,
      stdout: /^$/,
      changed: (sb, before) => {
        assert.deepEqual(tree(sb), before);
      },
    },
    {
      name: 'a newline in what Lima says while enable --now --wait waits: each message stays one line',
      platform,
      setup: (sb) => sb.limaList('{"name":"default","status":"Start\\ning\\u001b]0;pwned\\u0007"}\n'),
      args: (sb) => {
        const r = sb.run(['enable', 'default', '--now', '--wait=2']);
        assert.match(r.stderr, MESSAGES, show(r));
        return Promise.resolve(r);
      },
      code: 1,
      message: /^(?=[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$)(?=[\s\S]*Lima says "Start\\ning\\u001b\]0;pwned\\u0007")/,
      changed: (sb) => assert.ok(existsSync(serviceFile(sb))),
    },
  );
}
ROWS.push(
  {
    name: 'logs: a log file named in a plist with a newline and an escape sequence is headed escaped',
    platform: 'darwin',
    setup: (sb) => foreignRegistration(sb, EVIL),
    args: ['logs', 'default'],
    code: 0,
    message: /^$/,
    stdout: /^(?=[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$)==> "\/x\\n\\u001b\]0;pwned\\u0007y" <==$/m,
  },
  {
    name: '--version: a limactl in a directory whose name has an escape sequence is named escaped',
    platform: 'linux',
    setup: (sb) => {
      const dir = path.join(sb.root, 'bin\x1b]0;pwned\x07\x9b');
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'limactl'), '#!/bin/sh\necho "limactl version 2.0.3"\n', { mode: 0o755 });
    },
    args: ['--version'],
    env: (sb) => ({ PATH: `${path.join(sb.root, 'bin\x1b]0;pwned\x07\x9b')}:${sb.env().PATH}` }),
    code: 0,
    message: /^$/,
    stdout: /^(?=[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$)[\s\S]*limactl version 2\.0\.3 \(".*bin\\u001b\]0;pwned\\u0007\\u009b\/limactl"\)\n$/,
  },
);

// Every path is checked before the first step that changes anything, the LaunchDaemon's too
// (removed and written with sudo, not by a step of the program's own).
function dirAt(file: string): void {
  mkdirSync(file, { recursive: true });
  writeFileSync(path.join(file, 'notes'), 'mine\n');
}
ROWS.push(
  ...[
    { platform: 'linux', what: 'the unit', first: ['enable', 'default', '--now'], at: (sb: Sandbox) => sb.unitFile(), args: ['disable', 'default', '--now'] },
    { platform: 'darwin', what: 'the LaunchAgent', first: ['enable', 'default', '--now'], at: (sb: Sandbox) => sb.agentPlist(), args: ['disable', 'default', '--now'] },
    { platform: 'darwin', what: 'the LaunchDaemon', first: ['enable', 'default', '--condition=boot', '--now'], at: (sb: Sandbox) => sb.daemonPlist(), args: ['disable', 'default', '--now'] },
    { platform: 'darwin', what: 'the LaunchDaemon, an agent registered', first: ['enable', 'default', '--now'], at: (sb: Sandbox) => sb.daemonPlist(), args: ['disable', 'default', '--now'] },
    { platform: 'darwin', what: 'the LaunchDaemon', first: [], at: (sb: Sandbox) => sb.daemonPlist(), args: ['enable', 'default', '--now'] },
    { platform: 'darwin', what: 'the LaunchDaemon', first: [], at: (sb: Sandbox) => sb.daemonPlist(), args: ['enable', 'default', '--condition=boot', '--now'] },
  ].map(({ platform, what, first, at, args }): Row => ({
    name: `\`${args.join(' ')}\` with a directory at ${what}: refused before any step, nothing stopped, started or written`,
    platform: platform as Platform,
    setup: (sb) => {
      if (first.length > 0) assert.equal(sb.run(first).code, 0);
      rmSync(at(sb), { force: true });
      dirAt(at(sb));
      sb.clearCalls();
    },
    args,
    code: 1,
    message: /is a directory, not a file\n  Move it away/,
    changed: (sb, before) => {
      assert.deepEqual(tree(sb), before);
      assert.deepEqual(changingCalls(sb), []);
    },
  })),
);

// A full stdout, for every command that writes to it; a closed stderr, for success and failure.
ROWS.push(...[['--version'], ['completion'], ['enable', 'default', '--dry-run'], ['status', '--json'], ['--help'], ['logs', 'default']].map((args): Row => ({
  name: `\`${args.join(' ')} >/dev/full\`: one line that says so, exit 1, no stack trace`,
  platform: args[0] === 'logs' ? 'darwin' : 'linux',
  unless: () => (existsSync('/dev/full') ? undefined : 'this system has no /dev/full'),
  args: (sb) => runWithStdout(sb, args, '/dev/full'),
  code: 1,
  message: /^error: cannot write to standard output: ENOSPC\n$/,
})));
// `limactl --version` runs in a process group of its own (it has a timeout), out of execa's cleanup:
// the program, ending at once on a full stdout, still ends it.
ROWS.push({
  name: '`--version >/dev/full` while `limactl --version` hangs: exit 1, and that limactl is gone too',
  platform: 'linux',
  unless: () => (existsSync('/dev/full') ? undefined : 'this system has no /dev/full'),
  setup: (sb) => {
    mkdirSync(path.join(sb.fakeDir, 'hang'), { recursive: true });
    writeFileSync(path.join(sb.fakeDir, 'hang', 'limactl.--version'), '');
  },
  args: async (sb) => {
    const r = await runWithStdout(sb, ['--version'], '/dev/full');
    for (let i = 0; i < 100 && sandboxProcesses(sb).length > 0; i++) await sleep(20);
    assert.deepEqual(sandboxProcesses(sb), [], 'a stand-in outlived the run');
    return r;
  },
  code: 1,
  message: /^error: cannot write to standard output: ENOSPC\n$/,
});
for (const platform of BOTH) {
  ROWS.push(
    {
      name: 'stderr closed early: a finished disable still exits 0, the file removed',
      platform,
      setup: (sb) => { assert.equal(sb.run(['enable', 'default']).code, 0); },
      args: (sb) => closedStderr(sb, ['disable', 'default']),
      code: 0,
      message: /^$/,
      changed: (sb) => assert.equal(lstatExists(serviceFile(sb)), false),
    },
    {
      name: 'stderr closed early: a failed enable still exits 1, rolled back',
      platform,
      setup: failAfterWrite,
      args: (sb) => closedStderr(sb, ['enable', 'default']),
      code: 1,
      message: /^$/,
    },
  );
}

// A signal ends every child the program started: the `limactl --version` of every command, in
// its own process group (so Ctrl-C to the terminal's group never reaches it), and `limactl list`.
async function interruptedChildGone(sb: Sandbox, args: string[], hang: string, signal: NodeJS.Signals, group: boolean): Promise<RunResult> {
  const r = await interruptAt(sb, args, hang, signal, group);
  const pid = Number(readFileSync(path.join(sb.fakeDir, 'hanging'), 'utf8'));
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(20);
  assert.ok(!alive(pid), `${hang.replace('.', ' ')} (pid ${pid}) outlived the run`);
  return r;
}
ROWS.push(...[
  { platform: 'linux', args: ['enable', 'default'], hang: 'limactl.--version', signal: 'SIGINT', group: true, code: 130 },
  { platform: 'darwin', args: ['enable', 'default', '--condition=boot'], hang: 'limactl.--version', signal: 'SIGHUP', group: false, code: 129 },
  { platform: 'linux', args: ['--version'], hang: 'limactl.--version', signal: 'SIGINT', group: true, code: 130 },
  { platform: 'linux', args: ['migrate'], hang: 'limactl.--version', signal: 'SIGTERM', group: false, code: 143 },
  { platform: 'linux', args: ['status'], hang: 'limactl.list', signal: 'SIGINT', group: true, code: 130 },
  { platform: 'darwin', args: ['status'], hang: 'limactl.list', signal: 'SIGTERM', group: false, code: 143 },
].map(({ platform, args, hang, signal, group, code }): Row => ({
  name: `${signal}${group ? ' to the process group' : ''} while \`${hang.replace('.', ' ')}\` of \`${args.join(' ')}\` hangs: exit ${code}, and that limactl is gone too`,
  platform: platform as Platform,
  setup: (sb) => { if (args[0] === 'migrate') assert.equal(sb.run(['enable', 'default']).code, 0); },
  args: (sb) => interruptedChildGone(sb, args, hang, signal as NodeJS.Signals, group),
  code,
  message: /^(?![\s\S]*(error|Rolled back))/,
})));

// Every number: digits only, within its bound; the bound itself is taken.
ROWS.push(
  ...[['logs', 'default', '-n', '-5'], ['logs', 'default', '-n', '+5'], ['logs', 'default', '-n', '1.5'], ['logs', 'default', '--lines='], ['logs', 'default', '-n', '1000001'], ['logs', 'default', '--lines', ' 5'],
    ['enable', 'default', '--now', '--wait=-1'], ['enable', 'default', '--now', '--wait=1.5'], ['enable', 'default', '--now', '--wait=604801'], ['enable', 'default', '--now', '--wait=1e3'], ['enable', 'default', '--now', '--wait=0x10']].map((args): Row => ({
    name: `\`${args.join(' ')}\`: a number out of range or not in digits is a usage error`,
    platform: 'linux',
    args,
    code: 2,
    message: /^error: (?:-n \(--lines\) takes a whole number of lines up to 1000000, not ".*"|--wait=".*" is not a number of seconds up to 604800)$/m,
  })),
  {
    name: '`logs default -n 1000000`: the bound itself is taken, and passed on as digits',
    platform: 'linux',
    args: ['logs', 'default', '-n', '1000000'],
    code: 0,
    message: /^$/,
    changed: (sb, before) => {
      assert.deepEqual(tree(sb), before);
      const journalctl = sb.calls().find((c) => c[0] === 'journalctl') ?? [];
      assert.equal(journalctl[journalctl.indexOf('-n') + 1], '1000000', journalctl.join(' '));
    },
  },
  {
    name: '`enable default --now --wait=604800`: the bound itself is taken',
    platform: 'linux',
    setup: (sb) => sb.limaStatuses(['Running']),
    args: ['enable', 'default', '--now', '--wait=604800'],
    code: 0,
    message: /waiting up to 604800 s[\s\S]*"default" is Running/,
    changed: (sb) => assert.ok(existsSync(sb.unitFile())),
  },
);

// Every message that quotes a file's content quotes a bounded excerpt.
const MB = `/${'a'.repeat(1 << 20)}`;
for (const platform of BOTH) {
  ROWS.push({
    name: 'a 1 MB program path and LIMA_HOME in the service file: status, migrate and logs quote a bounded excerpt',
    platform,
    setup: (sb) => foreignRegistration(sb, MB),
    args: (sb) => {
      for (const args of [['status'], ['migrate']]) {
        const r = sb.run(args);
        assert.equal(r.code, 0, show(r));
        assert.ok(r.stdout.length + r.stderr.length < 5000, `${args[0]}: ${r.stdout.length + r.stderr.length} characters`);
        assert.match(r.stdout + r.stderr, /"\/a+"… \(10485\d\d characters\)/);
      }
      return Promise.resolve(sb.run(['logs', 'default']));
    },
    code: 0,
    message: /^$/,
    stdout: /^(?![\s\S]{5000})/,
  });
}
ROWS.push({
  name: 'migrate of a LaunchDaemon whose UserName is 1 MB: the warning quotes a bounded excerpt',
  platform: 'darwin',
  setup: (sb) => {
    assert.equal(sb.run(['enable', 'default', '--condition=boot']).code, 0);
    ageHeader(sb.daemonPlist());
    writeFileSync(sb.daemonPlist(), readFileSync(sb.daemonPlist(), 'utf8').replace(`<string>${sb.user}</string>`, `<string>${'u'.repeat(1 << 20)}</string>`));
  },
  args: ['migrate'],
  code: 0,
  message: /^(?![\s\S]{5000})[\s\S]*the daemon runs as "u+"… \(1048576 characters\)[\s\S]*starts at boot as "u+"… \(1048576 characters\)/,
  changed: (sb) => assert.ok(existsSync(sb.daemonPlist())),
});

ROWS.push({
  name: 'status of a LaunchDaemon that exited 78 and whose UserName is 1 MB: the account is named by a bounded excerpt',
  platform: 'darwin',
  setup: (sb) => {
    assert.equal(sb.run(['enable', 'default', '--condition=boot', '--now']).code, 0);
    writeFileSync(sb.daemonPlist(), readFileSync(sb.daemonPlist(), 'utf8').replace(`<string>${sb.user}</string>`, `<string>${'u'.repeat(1 << 20)}</string>`));
    // launchd's last word on the job: it could not open its log files (EX_CONFIG).
    mkdirSync(path.join(sb.fakeDir, 'launchd-jobs'), { recursive: true });
    writeFileSync(path.join(sb.fakeDir, 'launchd-jobs', 'io.lima-vm.daemon.default'), '0 78\n');
  },
  args: ['status'],
  code: 0,
  message: /^$/,
  stdout: /^(?![\s\S]{5000})[\s\S]*exit 78, EX_CONFIG\), most likely because "u+"… \(1048576 characters\) cannot open/,
});

// A lock whose directory cannot be made whole leaves none of it: here the umask takes the
// owner's write permission from every directory made, so the second level cannot be made.
ROWS.push(...[
  { what: 'enable (the lingering lock)', first: [] as string[], args: ['enable', 'default'], lock: 'lingering.lock' },
  { what: 'disable of an instance deleted since (its lock in the state directory)', first: ['enable', 'default'], args: ['disable', 'default'], lock: 'default.lock' },
].map(({ what, first, args, lock }): Row => ({
  name: `${what} with a umask of 0222 and no ~/.local: exit 1, the lock named, no directory left behind`,
  platform: 'linux',
  unless: noSetpriv,
  setup: (sb) => {
    if (first.length > 0) {
      assert.equal(sb.run(first).code, 0);
      rmSync(path.join(sb.limaHome, 'default'), { recursive: true });
    }
    assert.ok(!existsSync(path.join(sb.home, '.local')));
  },
  args: async (sb) => runUnprivileged(sb, args, [], { umask: '0222' }),
  code: 1,
  message: new RegExp(`cannot create the lock .*${lock.replace('.', '\\.')}: EACCES`),
  changed: (sb, before) => {
    assert.ok(!existsSync(path.join(sb.home, '.local')), 'a directory made for the lock was left behind');
    assert.deepEqual(withoutOwners(tree(sb)), withoutOwners(before));
  },
})));

// What the program does where users will ask, pinned as it is: HOME and USER are taken as set
// (USER checked only as an account name), --user is not looked up, and a live holder of a lock
// is waited for, never robbed.
ROWS.push(
  {
    name: 'HOME=/ on macOS: the agent goes to $HOME/Library/LaunchAgents, that is /Library/LaunchAgents (shown by a dry run)',
    platform: 'darwin',
    args: ['enable', 'default', '--dry-run'],
    env: () => ({ HOME: '/' }),
    code: 0,
    message: /^(?![\s\S]*error)/,
    stdout: /^write \/Library\/LaunchAgents\/io\.lima-vm\.autostart\.default\.plist mode 0644 <<'EOF'$/m,
  },
  {
    // Not the account the tests run as (root in a container): USER decides, not the uid.
    name: 'USER is taken as it is set when it is an account name, another account\'s too (USER=daemon): it reaches `loginctl enable-linger daemon`',
    platform: 'linux',
    args: ['enable', 'default', '--condition=boot'],
    env: () => ({ USER: 'daemon' }),
    code: 0,
    message: /starts at boot \(lingering on for daemon\)/,
    changed: (sb) => {
      assert.deepEqual(sb.calls().filter((c) => c[0] === 'loginctl'), [['loginctl', 'enable-linger', 'daemon']]);
      assert.ok(existsSync(path.join(sb.sysroot, 'var', 'lib', 'systemd', 'linger', 'daemon')));
    },
  },
  {
    name: '--user=nosuchuser at boot on macOS: not looked up; a warning that it must reach LIMA_HOME, and the daemon runs as that name',
    platform: 'darwin',
    args: ['enable', 'default', '--condition=boot', '--user=nosuchuser'],
    code: 0,
    message: /^warning: the daemon runs as nosuchuser, who must be able to read and write .*\.lima$[\s\S]*starts at boot as nosuchuser/m,
    changed: (sb) => assert.match(readFileSync(sb.daemonPlist(), 'utf8'), /<key>UserName<\/key>\s*<string>nosuchuser<\/string>/),
  },
  {
    name: 'a lock written since the last boot whose pid is another live program\'s is waited for, not taken over; a signal ends the wait, the lock left as it is',
    platform: 'linux',
    setup: (sb) => writeFileSync(path.join(sb.limaHome, 'default', 'autostart.lock'), `${process.pid}\n`),
    args: async (sb) => {
      const run = sb.start(['enable', 'default']);
      await run.until('it waits for the lock', () => run.stderr.includes('waiting for another limactl-autostart run'));
      run.kill('SIGTERM');
      return run.result;
    },
    code: 143,
    message: new RegExp(`^info: waiting for another limactl-autostart run on instance "default" \\(pid ${process.pid}\\) to finish\\n$`),
    changed: (sb, before) => {
      const lock = path.join(sb.limaHome, 'default', 'autostart.lock');
      assert.deepEqual(tree(sb), before);
      assert.equal(readFileSync(lock, 'utf8'), `${process.pid}\n`);
      // Not this program's to leave behind: the row made it.
      rmSync(lock);
    },
  },
);

/** The running processes started in the sandbox, found by their environment: one may not have got as far as saying its pid. */
function sandboxProcesses(sb: Sandbox): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`FAKE_DIR=${sb.fakeDir}`) && processRuns(pid);
    } catch {
      return false; // gone meanwhile
    }
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs the program with its stdout opened on `file` (a full disk: /dev/full). */
function runWithStdout(sb: Sandbox, args: string[], file: string): Promise<RunResult> {
  const r = spawnSync('sh', ['-c', `exec "$@" >${file}`, 'sh', process.execPath, BIN, ...args], { env: sb.env(), cwd: sb.root, encoding: 'utf8', input: '' });
  return Promise.resolve({ code: r.status ?? -1, stdout: '', stderr: r.stderr });
}

/** Runs the program with its stderr a pipe nobody reads, closed at once. */
async function closedStderr(sb: Sandbox, args: string[]): Promise<RunResult> {
  const child = spawn(process.execPath, [BIN, ...args], { env: sb.env(), cwd: sb.root, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.destroy();
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  return { code, stdout: '', stderr: '' };
}

function withoutOwners(t: Tree): Tree {
  return Object.fromEntries(Object.entries(t).map(([p, v]) => [p, v.replace(/ \d+:\d+/, '')]));
}

function lstatExists(file: string): boolean {
  try { lstatSync(file); return true; } catch { return false; }
}

function runRow(row: Row, sb: Sandbox): Promise<RunResult> {
  if (typeof row.args === 'function') return row.args(sb);
  return Promise.resolve(sb.run(row.args, row.env?.(sb)));
}

describe('hostile cases', function () {
  this.timeout(60_000);
  let sb: Sandbox;
  afterEach(() => sb?.cleanup());

  for (const row of ROWS) {
    it(`${row.platform}: ${row.name}`, async function () {
      const why = row.unless?.();
      if (why) {
        console.log(`      skipped: ${why}`);
        this.skip();
      }
      sb = new Sandbox({ platform: row.platform });
      row.setup?.(sb);
      const before = tree(sb);
      const r = await runRow(row, sb);
      assertNoStack(r);
      assert.equal(r.code, row.code, show(r));
      assert.match(r.stderr, row.message, show(r));
      if (row.stdout) assert.match(r.stdout, row.stdout, show(r));
      if (row.changed) row.changed(sb, before);
      else assert.deepEqual(tree(sb), before, `the files changed\n${show(r)}`);
      assert.deepEqual(leftovers(sb), [], show(r));
    });
  }

  it('has at least 60 rows across both platforms', () => {
    assert.ok(ROWS.length >= 60, `${ROWS.length} rows`);
    assert.ok(ROWS.some((r) => r.platform === 'darwin') && ROWS.some((r) => r.platform === 'linux'));
  });
});
