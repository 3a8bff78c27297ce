// The Lima-like half of the limactl stand-in: test/fakes/limactl runs this file, with the node
// whose path a sandbox writes into `node-path` next to it, while $FAKE_DIR/lima-like exists.
// A shell script cannot serve HTTP on a unix socket, accept TCP connections or watch a child
// process, and Lima's own view of an instance needs the host agent's /v1/info, so these parts of
// Lima are mirrored here, as pkg/hostagent, pkg/store/instance.go, pkg/instance/stop.go and
// cmd/limactl/{hostagent,start,list,stop}.go do them (Lima 2.x):
//
//   hostagent --pidfile DIR/ha.pid --socket DIR/ha.sock NAME   the host agent (what `limactl
//       start NAME --foreground` execs once it has moved its stdout/stderr into the log files)
//   start-check NAME    Lima's inspection before a start: exit 0 to go on, 3 when the instance is
//       already Running (the stand-in then exits 0), 1 with "errors inspecting instance: …"
//   list [--json] [NAME…]    `limactl list --json`
//   stop [-f|--force] [NAME]     `limactl stop`
//
// A service passes neither FAKE_DIR nor anything else of the test's: FAKE_DIR comes from the
// environment or from the file `fake-dir` next to this one, as in record.sh. Test controls:
//   $FAKE_DIR/ha-info.silent.NAME   while it exists, NAME's host agent accepts GET /v1/info and
//       never answers (a wedged host agent); each such request adds a line to ha-info.silenced.NAME
//   $FAKE_DIR/ha-ssh.silent.NAME    while it exists, NAME's SSH port accepts connections and
//       stays silent (a guest whose sshd is gone); each one adds a line to ha-ssh.silenced.NAME
//   $FAKE_DIR/lima-like.pids        every host agent and driver started, one pid a line, so that
//       a sandbox can kill what a failed test left running
//   $FAKE_DIR/lima-like.fifo        what the drivers block on (see DRIVER_SCRIPT)
// The host agent writes qemu.pid last: once it exists, the instance is Running.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Lima's bound on /v1/info when it inspects an instance (pkg/store/instance.go). */
const INFO_TIMEOUT_MS = 3000;
/** How long `stop` and the host agent's own shutdown wait for a process to exit: a bound, not a pace. */
const EXIT_BOUND_MS = 30_000;
const SSH_GREETING = 'SSH-2.0-OpenSSH_9.6\r\n';
const INFO_URL = 'http://lima-hostagent/v1/info';
// The "VM": a process whose command line names the instance directory, as QEMU's does. It blocks
// in `read` on a FIFO it holds open for writing too (so no EOF ever comes) rather than in a
// `sleep` child: SIGKILL then leaves no orphan behind, and SIGTERM ends it at once with 0, as a
// guest's poweroff ends QEMU. It says "ready" once its trap is set: a SIGTERM before that would
// kill the shell instead, so the host agent waits for that word before it writes qemu.pid.
const DRIVER_SCRIPT = 'trap "exit 0" TERM; [ -p "$1" ] || exit 70; exec 0<>"$1"; echo ready; exec >/dev/null; read _; exit 0';

// ---------------------------------------------------------------------------------------------
// Go's and logrus' formats, so that the lines read exactly as Lima's.

/** strconv.Quote, for the characters paths and messages here contain. */
function goQuote(s) {
  const named = { '"': '\\"', '\\': '\\\\', '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (named[ch]) out += named[ch];
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** fmt's %#q: backquoted when strconv.CanBackquote allows, else double-quoted. */
function sharpQ(s) {
  return /^[^`\x00-\x08\x0a-\x1f\x7f\ufeff]*$/.test(s) ? `\`${s}\`` : goQuote(s);
}

/** encoding/json's output: JSON.stringify, plus the HTML-safe escapes Go applies by default. */
function goJSON(value) {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** time.RFC3339 in local time, logrus' default timestamp. */
function rfc3339(d = new Date()) {
  const offset = -d.getTimezoneOffset();
  const local = new Date(d.getTime() + offset * 60_000).toISOString().slice(0, 19);
  if (offset === 0) return `${local}Z`;
  const a = Math.abs(offset);
  return `${local}${offset > 0 ? '+' : '-'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** time.RFC3339Nano, what encoding/json writes for a time.Time (hostagent events). */
function rfc3339Nano(d = new Date()) {
  const base = rfc3339(d);
  const ms = d.getMilliseconds();
  if (ms === 0) return base;
  const frac = String(ms).padStart(3, '0').replace(/0+$/, '');
  return `${base.slice(0, 19)}.${frac}${base.slice(19)}`;
}

function writeAll(fd, text) {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      // A non-blocking pipe that is full for a moment.
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

/** One line of logrus' JSONFormatter: the keys sorted, as json.Marshal of a map writes them. */
function logJSON(level, msg, fields = {}) {
  const entry = { ...fields, level, msg, time: rfc3339() };
  const sorted = Object.fromEntries(Object.keys(entry).sort().map((k) => [k, entry[k]]));
  writeAll(2, `${goJSON(sorted)}\n`);
}

/** One line of logrus' TextFormatter without a terminal: what limactl itself prints. */
function logText(level, msg, fields = {}) {
  const value = (s) => (/[^A-Za-z0-9\-._/@^+]/.test(s) ? goQuote(s) : s);
  const parts = [`time=${value(rfc3339())}`, `level=${level}`, `msg=${value(msg)}`];
  for (const k of Object.keys(fields).sort()) parts.push(`${k}=${value(String(fields[k]))}`);
  writeAll(2, `${parts.join(' ')}\n`);
}

/** logrus.Fatal: the line, then exit 1. */
function fatal(msg) {
  logText('fatal', msg);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Where things are.

function fakeDir() {
  if (process.env.FAKE_DIR) return process.env.FAKE_DIR;
  try {
    return readFileSync(path.join(HERE, 'fake-dir'), 'utf8').trim();
  } catch {
    throw new Error('FAKE_DIR is not set and there is no fake-dir next to the stand-in: stand-ins run only inside a test sandbox');
  }
}

/** dirnames.LimaDir(): LIMA_HOME, else ~/.lima (Go's os.UserHomeDir wants HOME). */
function limaHome() {
  if (process.env.LIMA_HOME) return process.env.LIMA_HOME;
  if (!process.env.HOME) fatal('$HOME is not defined');
  return path.join(process.env.HOME, '.lima');
}

const instanceDir = (name) => path.join(limaHome(), name);

function register(pid) {
  appendFileSync(path.join(fakeDir(), 'lima-like.pids'), `${pid}\n`);
}

/** Written whole or not at all: a reader never sees an empty pid file. */
function writeAtomically(file, text) {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

// ---------------------------------------------------------------------------------------------
// Lima's inspection (pkg/store/instance.go).

/**
 * Whether a process runs: signal 0, as Lima sends. A zombie counts as gone: it has exited, only
 * its parent (a test process whose event loop is busy in a spawnSync) has not reaped it yet.
 */
function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return e.code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

/** store.ReadPIDFile: 0 when there is no file or its process is gone (then the file is removed). */
function readPidFile(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return { pid: 0 };
    return { pid: 0, error: `open ${file}: ${e.message}` };
  }
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t)) return { pid: 0, error: `strconv.Atoi: parsing ${goQuote(t)}: invalid syntax` };
  const pid = Number(t);
  if (pid <= 0) return { pid: 0, error: `invalid pid ${pid} in ${file}` };
  if (!alive(pid)) {
    rmSync(file, { force: true });
    return { pid: 0 };
  }
  return { pid };
}

const ERRNO_TEXT = { ENOENT: 'no such file or directory', ECONNREFUSED: 'connection refused', EACCES: 'permission denied', ENOTDIR: 'not a directory' };

/** The host agent client's Info(), with Lima's bound; errors worded as Go's net/http words them. */
function getInfo(sock) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = http.get({ socketPath: sock, path: '/v1/info', headers: { Host: 'lima-hostagent' }, agent: false });
    const timer = setTimeout(() => {
      finish({ error: `Get ${goQuote(INFO_URL)}: context deadline exceeded` });
      req.destroy();
    }, INFO_TIMEOUT_MS);
    req.on('error', (e) => {
      const text = ERRNO_TEXT[e.code];
      finish({ error: text && e.syscall === 'connect' ? `Get ${goQuote(INFO_URL)}: dial unix ${sock}: connect: ${text}` : `Get ${goQuote(INFO_URL)}: ${e.message}` });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => { body += d; });
      res.on('error', (e) => finish({ error: `Get ${goQuote(INFO_URL)}: ${e.message}` }));
      res.on('end', () => {
        if (Math.floor(res.statusCode / 100) !== 2) return finish({ error: `unexpected HTTP status ${res.statusMessage}, body=${sharpQ(body)}` });
        try {
          finish({ info: JSON.parse(body) });
        } catch (e) {
          finish({ error: e.message });
        }
      });
    });
  });
}

/** store.Inspect for the qemu driver: undefined when NAME has no lima.yaml. */
async function inspect(name) {
  const dir = instanceDir(name);
  if (!existsSync(path.join(dir, 'lima.yaml'))) return undefined;
  const inst = { name, dir, status: '', hostAgentPID: 0, driverPID: 0, sshLocalPort: 0, autoStartedIdentifier: '', errors: [] };
  const ha = readPidFile(path.join(dir, 'ha.pid'));
  if (ha.error) {
    inst.status = 'Broken';
    inst.errors.push(ha.error);
  }
  inst.hostAgentPID = ha.pid;
  if (ha.pid) {
    // A pid reused after a reboot names a process that does not serve this socket: the same
    // error as a host agent that does not answer.
    const sock = path.join(dir, 'ha.sock');
    const r = await getInfo(sock);
    if (r.error) {
      inst.status = 'Broken';
      inst.errors.push(`failed to get Info from ${sharpQ(sock)}: ${r.error}`);
    } else {
      inst.sshLocalPort = r.info.sshLocalPort ?? 0;
      inst.autoStartedIdentifier = r.info.autoStartedIdentifier ?? '';
    }
  }
  const driver = readPidFile(path.join(dir, 'qemu.pid'));
  if (driver.error) {
    inst.status = 'Broken';
    inst.errors.push(driver.error);
  }
  inst.driverPID = driver.pid;
  if (!inst.status) {
    if (inst.hostAgentPID && inst.driverPID) inst.status = 'Running';
    else if (!inst.hostAgentPID && !inst.driverPID) inst.status = 'Stopped';
    else if (inst.hostAgentPID) {
      inst.errors.push('host agent is running but driver is not');
      inst.status = 'Broken';
    } else {
      inst.errors.push('qemu driver is running but host agent is not');
      inst.status = 'Broken';
    }
  }
  return inst;
}

// ---------------------------------------------------------------------------------------------
// limactl start / list / stop.

async function startCheck([name]) {
  const inst = await inspect(name);
  if (!inst) fatal(`the limactl stand-in does not create instances: ${path.join(instanceDir(name), 'lima.yaml')} does not exist`);
  if (inst.errors.length > 0) fatal(`errors inspecting instance: [${inst.errors.join(' ')}]`);
  if (inst.status === 'Running') {
    logText('info', `The instance ${sharpQ(name)} is already running. Run \`${name === 'default' ? 'lima' : `limactl shell ${name}`}\` to open the shell.`);
    process.exit(3);
  }
  logText('info', `Starting the instance ${sharpQ(name)} with internal VM driver ${sharpQ('qemu')}`);
  logText('info', 'Running the host agent in the foreground');
  process.exit(0);
}

/** The fields of Lima's Instance that a reader of `list --json` uses, in its struct's order. */
function listObject(inst) {
  const o = { name: inst.name, status: inst.status, dir: inst.dir, vmType: 'qemu' };
  if (inst.sshLocalPort) o.sshLocalPort = inst.sshLocalPort;
  if (inst.hostAgentPID) o.hostAgentPID = inst.hostAgentPID;
  if (inst.driverPID) o.driverPID = inst.driverPID;
  if (inst.autoStartedIdentifier) o.autoStartedIdentifier = inst.autoStartedIdentifier;
  return o;
}

async function list(args) {
  const names = args.filter((a) => !a.startsWith('-'));
  let unmatched = false;
  let wanted = names;
  if (names.length === 0) {
    let entries = [];
    try {
      entries = readdirSync(limaHome()).sort();
    } catch {
      // No LIMA_HOME yet: no instances.
    }
    wanted = entries.filter((n) => !n.startsWith('_') && existsSync(path.join(instanceDir(n), 'lima.yaml')));
    if (wanted.length === 0) {
      logText('warning', 'No instance found. Run `limactl create` to create an instance.');
      return 0;
    }
  }
  const instances = [];
  for (const name of wanted) {
    const inst = await inspect(name);
    if (inst) instances.push(inst);
    else {
      logText('warning', `No instance matching ${name} found.`);
      unmatched = true;
    }
  }
  for (const inst of instances) {
    if (inst.errors.length > 0) logText('warning', `instance ${sharpQ(inst.name)} has errors`, { errors: `[${inst.errors.join(' ')}]` });
  }
  writeAll(1, instances.map((inst) => `${JSON.stringify(listObject(inst))}\n`).join(''));
  return unmatched ? 1 : 0;
}

async function waitUntil(check, boundMs) {
  const until = Date.now() + boundMs;
  while (!(await check())) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

async function stop(args) {
  const force = args.some((a) => a === '-f' || a === '--force' || a === '--force=true');
  const name = args.find((a) => !a.startsWith('-')) ?? 'default';
  const inst = await inspect(name);
  if (!inst) fatal(`instance ${goQuote(name)} does not exist`);
  if (force) {
    // StopForcibly: SIGKILL to whatever the live pid files name, then every *.pid, *.sock, *.tmp.
    if (inst.driverPID > 0) {
      logText('info', `Sending SIGKILL to the qemu driver process ${inst.driverPID}`);
      try { process.kill(inst.driverPID, 'SIGKILL'); } catch (e) { logText('error', e.message); }
    } else logText('info', 'The qemu driver process seems already stopped');
    if (inst.hostAgentPID > 0) {
      logText('info', `Sending SIGKILL to the host agent process ${inst.hostAgentPID}`);
      try { process.kill(inst.hostAgentPID, 'SIGKILL'); } catch (e) { logText('error', e.message); }
    } else logText('info', 'The host agent process seems already stopped');
    logText('info', `Removing *.pid *.sock *.tmp under ${sharpQ(inst.dir)}`);
    for (const f of readdirSync(inst.dir)) {
      if (!/\.(pid|sock|tmp)$/.test(f)) continue;
      const file = path.join(inst.dir, f);
      logText('info', `Removing ${sharpQ(file)}`);
      rmSync(file, { force: true });
    }
    return 0;
  }
  if (inst.status !== 'Running') fatal(`expected status ${sharpQ('Running')}, got ${sharpQ(inst.status)} (maybe use \`limactl stop -f\`?)`);
  logText('info', `Sending SIGINT to hostagent process ${inst.hostAgentPID}`);
  try { process.kill(inst.hostAgentPID, 'SIGINT'); } catch (e) { logText('error', e.message); }
  logText('info', 'Waiting for the host agent and the driver processes to shut down');
  if (!(await waitUntil(() => !alive(inst.hostAgentPID), EXIT_BOUND_MS))) fatal(`the host agent (pid ${inst.hostAgentPID}) did not exit within ${EXIT_BOUND_MS / 1000} s of SIGINT`);
  logText('info', 'Waiting for the instance to shut down');
  if (!(await waitUntil(async () => (await inspect(name))?.status === 'Stopped', EXIT_BOUND_MS))) fatal(`the instance ${name} is not Stopped ${EXIT_BOUND_MS / 1000} s after its host agent exited`);
  logText('info', `The instance ${name} has shut down`);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The host agent (cmd/limactl/hostagent.go, pkg/hostagent, the qemu driver's Start and Stop).

/** What Lima reports as autoStartedIdentifier: launchd's job label, or systemd's unit. */
function autoStartedIdentifier() {
  const xpc = process.env.XPC_SERVICE_NAME;
  if (xpc && xpc !== '0') return xpc;
  if (!process.env.INVOCATION_ID) return '';
  try {
    const lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
    const line = lines.find((l) => l.startsWith('0::')) ?? lines.find((l) => l.includes(':name=systemd:')) ?? '';
    return line.split(':').slice(2).join(':').split('/').reverse().find((part) => part.endsWith('.service')) ?? '';
  } catch {
    return '';
  }
}

/** How Go's exec.ExitError reads (Linux signal names). */
function exitError(code, signal) {
  if (signal) {
    const names = { SIGHUP: 'hangup', SIGINT: 'interrupt', SIGQUIT: 'quit', SIGILL: 'illegal instruction', SIGTRAP: 'trace/breakpoint trap', SIGABRT: 'aborted', SIGBUS: 'bus error', SIGFPE: 'floating point exception', SIGKILL: 'killed', SIGUSR1: 'user defined signal 1', SIGSEGV: 'segmentation fault', SIGUSR2: 'user defined signal 2', SIGPIPE: 'broken pipe', SIGALRM: 'alarm clock', SIGTERM: 'terminated' };
    return `signal: ${names[signal] ?? signal}`;
  }
  return code ? `exit status ${code}` : undefined;
}

function event(status) {
  writeAll(1, `${goJSON({ time: rfc3339Nano(), status })}\n`);
}

function listen(server, ...where) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(...where, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The pid file this host agent wrote: removed when it fails, as Lima's deferred RemoveAll does. */
let ownPidfile;

async function hostagent(args) {
  const option = (flag) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const pidfile = option('--pidfile');
  const socket = option('--socket');
  const name = args[args.length - 1];
  if (!pidfile || !socket || !name) fatal('usage: hostagent --pidfile FILE --socket SOCKET INSTANCE');
  const dir = instanceDir(name);
  const driverPidfile = path.join(dir, 'qemu.pid');
  const control = (kind) => path.join(fakeDir(), `${kind}.${name}`);

  const existing = readPidFile(pidfile);
  if (existing.pid) fatal(`another hostagent may already be running with pid ${existing.pid} (pidfile ${sharpQ(pidfile)})`);
  if (existing.error) fatal(`failed to determine if another hostagent is running: ${existing.error}`);
  writeAtomically(pidfile, `${process.pid}\n`);
  ownPidfile = pidfile;
  register(process.pid);

  let stopping = false;
  let ssh;
  let api;
  let driver;
  let driverExit;
  const driverGone = new Promise((resolve) => { driverExit = resolve; });
  const sshConnections = new Set();
  const identifier = autoStartedIdentifier();
  let sshLocalPort = 0;

  const shutdown = async (reason) => {
    if (stopping) return;
    stopping = true;
    if (reason.signal) logJSON('info', `Received ${reason.signal}, shutting down the host agent`);
    else {
      const err = exitError(reason.code, reason.exitSignal);
      logJSON('info', `Driver stopped due to error: ${err === undefined ? '%!q(<nil>)' : sharpQ(err)}`);
    }
    logJSON('info', 'Shutting down the host agent');
    if (driver) {
      logJSON('info', 'Shutting down QEMU with the power button');
      if (driver.exitCode === null && driver.signalCode === null) {
        logJSON('info', 'Sending QMP system_powerdown command');
        driver.kill('SIGTERM');
        const bound = setTimeout(() => driver.kill('SIGKILL'), EXIT_BOUND_MS);
        const { code, signal } = await driverGone;
        clearTimeout(bound);
        const err = exitError(code, signal);
        logJSON('info', 'QEMU has exited', err ? { error: err } : {});
      } else {
        // Lima's qemu driver, its VM gone, finds no QMP socket to ask for a poweroff.
        const qmp = path.join(dir, 'qmp.sock');
        logJSON('warning', `failed to open the QMP socket ${sharpQ(qmp)}, forcibly killing QEMU`, { error: `dial unix ${qmp}: connect: no such file or directory` });
        logJSON('info', 'QEMU has already exited');
      }
    }
    rmSync(driverPidfile, { force: true });
    event({ exiting: true });
    for (const conn of sshConnections) conn.destroy();
    ssh?.close();
    api?.closeAllConnections();
    api?.close();
    rmSync(socket, { force: true });
    rmSync(pidfile, { force: true });
    process.exit(0);
  };
  // From the moment ha.pid names this process, as Lima's signal.Notify comes before its set-up:
  // a stop while it boots still ends in a clean exit 0.
  process.on('SIGINT', () => void shutdown({ signal: 'SIGINT' }));
  process.on('SIGTERM', () => void shutdown({ signal: 'SIGTERM' }));

  ssh = net.createServer((conn) => {
    sshConnections.add(conn);
    conn.on('error', () => {});
    conn.on('close', () => sshConnections.delete(conn));
    conn.resume();
    if (existsSync(control('ha-ssh.silent'))) appendFileSync(control('ha-ssh.silenced'), `${conn.remotePort}\n`);
    else conn.write(SSH_GREETING);
  });
  await listen(ssh, 0, '127.0.0.1');
  if (stopping) return;
  sshLocalPort = ssh.address().port;

  api = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v1/info') {
      if (existsSync(control('ha-info.silent'))) {
        appendFileSync(control('ha-info.silenced'), `${process.pid}\n`);
        return;
      }
      const info = identifier ? { autoStartedIdentifier: identifier, sshLocalPort } : { sshLocalPort };
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(info));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('404 page not found\n');
  });
  rmSync(socket, { force: true });
  await listen(api, socket);
  if (stopping) return;
  logJSON('info', `hostagent socket created at ${socket}`);
  event({ sshLocalPort });

  // The FIFO the drivers block on; created once per sandbox, by whichever host agent comes first.
  const fifo = path.join(fakeDir(), 'lima-like.fifo');
  if (!existsSync(fifo)) spawnSync('mkfifo', ['-m', '600', fifo]);
  logJSON('info', `Starting QEMU (hint: to watch the boot progress, see ${sharpQ(path.join(dir, 'serial*.log'))})`);
  // Its own process group, as Lima starts QEMU: a signal to the host agent's group spares the VM.
  driver = spawn('/bin/sh', ['-c', DRIVER_SCRIPT, path.join(dir, 'qemu'), fifo], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  driver.on('error', (e) => {
    logJSON('error', `cannot start the driver: ${e.message}`);
    driverExit({ code: 127, signal: null });
    void shutdown({ code: 127 });
  });
  driver.on('exit', (code, signal) => {
    driverExit({ code, signal });
    void shutdown({ code, exitSignal: signal });
  });
  register(driver.pid);
  const ready = await new Promise((resolve) => {
    driver.stdout.once('data', () => resolve(true));
    driver.stdout.once('close', () => resolve(false));
  });
  driver.stdout.destroy();
  if (!ready || stopping) return;
  event({ running: true, sshLocalPort });
  // Last: once qemu.pid exists, everything above is in place and Lima sees the instance Running.
  writeAtomically(driverPidfile, `${driver.pid}\n`);
}

const [verb, ...rest] = process.argv.slice(2);
switch (verb) {
  case 'hostagent':
    hostagent(rest).catch((e) => {
      logJSON('fatal', e.message);
      if (ownPidfile) rmSync(ownPidfile, { force: true });
      process.exit(1);
    });
    break;
  case 'start-check':
    void startCheck(rest);
    break;
  case 'list':
    void list(rest).then((code) => process.exit(code));
    break;
  case 'stop':
    void stop(rest).then((code) => process.exit(code));
    break;
  default:
    fatal(`the limactl stand-in's host agent does not know ${goQuote(verb ?? '')}`);
}
