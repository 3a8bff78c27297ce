import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { needTool, processRuns, Sandbox, show, type RunResult, type Started } from './helpers.js';

// The limactl stand-in in its Lima-like mode (sb.limaLike(), test/fakes/hostagent.mjs), which
// test/keep-alive.test.ts leans on, run the way launchd and systemd run it (stdin not a terminal,
// only LIMA_HOME and PATH, or HOME for launchd). Every wait is for an event (a file, a line, an
// exit) and is bounded; the only clock is Lima's own 3 s bound on /v1/info, which the stand-in
// keeps.

/** Bound on a wait for something the stand-in does at once: a hang fails, it does not measure. */
const BOUND_MS = 20_000;

async function until(what: string, check: () => boolean, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`waited ${BOUND_MS} ms for ${what}\n${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function ok(r: RunResult): RunResult {
  assert.equal(r.code, 0, show(r));
  return r;
}

/** GET /v1/info on the instance's ha.sock, as Lima's client asks it. */
function info(sb: Sandbox): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: path.join(sb.instanceDir(), 'ha.sock'), path: '/v1/info', headers: { Host: 'lima-hostagent' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
  });
}

/** What the SSH port says first: up to the end of its first line. */
function sshGreeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(port, '127.0.0.1');
    let got = '';
    conn.setEncoding('utf8').on('data', (d: string) => {
      got += d;
      if (got.includes('\n')) {
        conn.destroy();
        resolve(got);
      }
    });
    conn.on('error', reject);
  });
}

function haFiles(sb: Sandbox): string[] {
  return ['ha.pid', 'ha.sock', 'qemu.pid'].filter((f) => existsSync(path.join(sb.instanceDir(), f)));
}

/** Each line of logrus' JSON format, its keys sorted as Go's json.Marshal of a map writes them. */
function assertLogrusJSON(log: string): void {
  const lines = log.split('\n').filter(Boolean);
  assert.ok(lines.length > 0, 'ha.stderr.log is empty');
  for (const line of lines) {
    const entry = JSON.parse(line) as Record<string, string>;
    assert.deepEqual(Object.keys(entry), Object.keys(entry).sort(), line);
    assert.match(line, /^\{("error":"[^"]*",)?"level":"(info|warning)","msg":".*","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)"\}$/, line);
  }
}

describe('the limactl stand-in, Lima-like (sb.limaLike())', function () {
  this.timeout(60_000);
  let sb: Sandbox;
  let others: ChildProcess[];

  beforeEach(() => {
    sb = new Sandbox({ platform: 'linux' });
    sb.limaLike();
    others = [];
  });

  afterEach(async () => {
    // Also after a failure: nothing the test started may outlive it.
    sb.killLimaLike();
    for (const p of others) p.kill('SIGKILL');
    await until('every process of the test to end', () => sb.limaLikeProcesses().length === 0 && others.every((p) => p.exitCode !== null || p.signalCode !== null));
    sb.cleanup();
  });

  /** A process that is not Lima's, as a reused pid names after a reboot. */
  function otherProcess(): ChildProcess {
    const p = spawn('sleep', ['600'], { stdio: 'ignore' });
    others.push(p);
    return p;
  }

  /** `limactl start default --foreground` as a service starts it, once its VM runs. */
  async function up(env?: Record<string, string>): Promise<Started> {
    const s = sb.startLimactl(['start', 'default', '--foreground'], env);
    await s.until('the driver to be up (qemu.pid)', () => sb.pidFile('driver') !== undefined);
    return s;
  }

  async function nothingLeft(): Promise<void> {
    await until('no host agent or driver left', () => sb.limaLikeProcesses().length === 0, () => `left: ${sb.limaLikeProcesses().join(' ')}`);
  }

  it('without lima-like, `start --foreground` is the plain stand-in it always was', async () => {
    rmSync(path.join(sb.fakeDir, 'lima-like'));
    const s = sb.startLimactl(['start', 'default', '--foreground']);
    await s.until('the plain stand-in to boot', () => existsSync(path.join(sb.fakeDir, 'lima-running.default')));
    assert.deepEqual(sb.hostAgentPids(), [s.pid]);
    assert.deepEqual(haFiles(sb), []);
    assert.equal(sb.haLog(), '');
    s.kill('SIGTERM');
    assert.equal((await s.result).code, 0);
  });

  it('start --foreground, stdin not a terminal, only LIMA_HOME and PATH: becomes the host agent; list says Running; /v1/info and the SSH port answer', async () => {
    writeFileSync(path.join(sb.instanceDir(), 'ha.stdout.log'), 'an old run\n');
    writeFileSync(path.join(sb.instanceDir(), 'ha.stderr.log'), 'an old run\n');
    const s = await up();
    // exec, as Lima execs its host agent: the pid the service started is the host agent.
    assert.equal(sb.pidFile('ha'), s.pid);
    assert.ok(readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').includes(sb.instanceDir()));
    assert.equal(readlinkSync(`/proc/${s.pid}/fd/1`), path.join(sb.instanceDir(), 'ha.stdout.log'));
    assert.equal(readlinkSync(`/proc/${s.pid}/fd/2`), path.join(sb.instanceDir(), 'ha.stderr.log'));
    const driver = sb.pidFile('driver')!;
    assert.ok(readFileSync(`/proc/${driver}/cmdline`, 'utf8').includes(sb.instanceDir()));
    // What limactl said before it moved its output into the logs went to the service's log.
    await s.until('limactl to say it runs the host agent', () => s.stderr.includes('Running the host agent in the foreground'));
    assert.match(s.stderr, /^time="[^"]+" level=info msg="Starting the instance `default` with internal VM driver `qemu`"$/m);

    const { stderr, sshLocalPort: port, ...l } = sb.listed();
    assert.deepEqual(l, { name: 'default', status: 'Running', dir: sb.instanceDir(), vmType: 'qemu', hostAgentPID: s.pid, driverPID: driver });
    assert.equal(stderr, '');
    assert.ok(port !== undefined && port > 0);
    const answer = await info(sb);
    assert.equal(answer.status, 200);
    assert.equal(answer.type, 'application/json');
    assert.equal(answer.body, `{"sshLocalPort":${port}}`);
    assert.equal(await sshGreeting(port), 'SSH-2.0-OpenSSH_9.6\r\n');

    assert.ok(!sb.haLog().includes('an old run'), 'ha.stderr.log was not recreated');
    assertLogrusJSON(sb.haLog());
    assert.deepEqual(sb.haMessages().slice(0, 1), [`hostagent socket created at ${path.join(sb.instanceDir(), 'ha.sock')}`]);
    const events = readFileSync(path.join(sb.instanceDir(), 'ha.stdout.log'), 'utf8').split('\n').filter(Boolean).map((e) => (JSON.parse(e) as { status: object }).status);
    assert.deepEqual(events, [{ sshLocalPort: port }, { running: true, sshLocalPort: port }]);
    // Recorded without FAKE_DIR in its environment (the sandbox's fake-dir file).
    assert.deepEqual(sb.allCalls().slice(0, 2), [['limactl', 'start', 'default', '--foreground'], ['limactl', 'list', '--json', 'default']]);

    s.kill('SIGINT');
    assert.equal((await s.result).code, 0);
    await nothingLeft();
  });

  it('stdin a terminal: Lima leaves its output on the terminal and says so in both log files', async function () {
    const script = needTool(this, 'script', 'bsdutils');
    // script(1) gives the stand-in a pty for stdin, stdout and stderr.
    const term = spawn(script, ['-qec', `"${sb.limactl}" start default --foreground`, '/dev/null'], { env: sb.serviceEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    others.push(term);
    let out = '';
    term.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const closed = new Promise<number | null>((resolve) => term.on('close', resolve));
    await until('the driver to be up (qemu.pid)', () => sb.pidFile('driver') !== undefined, () => out);
    const note = 'This log file is not used because `limactl start` was launched in the terminal with the `--foreground` option.';
    assert.equal(sb.haLog(), note);
    assert.equal(readFileSync(path.join(sb.instanceDir(), 'ha.stdout.log'), 'utf8'), note);
    assert.equal(sb.listed().status, 'Running');
    process.kill(sb.pidFile('ha')!, 'SIGINT');
    assert.equal(await closed, 0);
    assert.match(out, /"msg":"Received SIGINT, shutting down the host agent"/);
    await nothingLeft();
  });

  it('as launchd runs it (HOME, no LIMA_HOME, XPC_SERVICE_NAME): LIMA_HOME is ~/.lima, and Lima reports the job as autoStartedIdentifier', async () => {
    const env = { HOME: sb.home, PATH: `${sb.bin}:/usr/bin:/bin`, XPC_SERVICE_NAME: 'io.lima-vm.autostart.default' };
    const s = await up(env);
    const l = sb.listed('default', { HOME: sb.home, PATH: env.PATH });
    assert.equal(l.status, 'Running');
    assert.equal(l.autoStartedIdentifier, 'io.lima-vm.autostart.default');
    assert.equal((await info(sb)).body, `{"autoStartedIdentifier":"io.lima-vm.autostart.default","sshLocalPort":${l.sshLocalPort}}`);
    s.kill('SIGTERM');
    assert.equal((await s.result).code, 0);
    await nothingLeft();
  });

  it('a second start while it runs says it is already running, exits 0 and leaves the logs alone', async () => {
    const s = await up();
    const log = path.join(sb.instanceDir(), 'ha.stderr.log');
    const before = { ino: statSync(log).ino, text: sb.haLog() };
    const again = sb.runLimactl(['start', 'default', '--foreground']);
    assert.equal(again.code, 0, show(again));
    assert.match(again.stderr, /level=info msg="The instance `default` is already running\. Run `lima` to open the shell\."/);
    assert.deepEqual({ ino: statSync(log).ino, text: sb.haLog() }, before);
    assert.equal(sb.pidFile('ha'), s.pid);
    s.kill('SIGINT');
    assert.equal((await s.result).code, 0);
    await nothingLeft();
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal}: logs the shutdown, stops the driver, removes ha.pid, ha.sock and qemu.pid, exits 0; list says Stopped`, async () => {
      const s = await up();
      const driver = sb.pidFile('driver')!;
      s.kill(signal);
      const r = await s.result;
      assert.equal(r.code, 0, show(r));
      const messages = sb.haMessages();
      const received = messages.indexOf(`Received ${signal}, shutting down the host agent`);
      assert.ok(received >= 0, messages.join('\n'));
      assert.equal(messages[received + 1], 'Shutting down the host agent');
      assert.ok(!messages.some((m) => m.startsWith('Driver stopped due to error')), messages.join('\n'));
      assertLogrusJSON(sb.haLog());
      assert.deepEqual(haFiles(sb), []);
      assert.ok(!processRuns(driver), `the driver ${driver} still runs`);
      const events = readFileSync(path.join(sb.instanceDir(), 'ha.stdout.log'), 'utf8').trim().split('\n');
      assert.deepEqual((JSON.parse(events.at(-1)!) as { status: object }).status, { exiting: true });
      assert.equal(sb.listed().status, 'Stopped');
      await nothingLeft();
    });
  }

  it('limactl stop: SIGINT to the host agent and waits for its exit; a second stop is refused (not Running), exit 1', async () => {
    const s = await up();
    const r = ok(sb.runLimactl(['stop', 'default']));
    assert.match(r.stderr, new RegExp(`msg="Sending SIGINT to hostagent process ${s.pid}"`));
    assert.match(r.stderr, /msg="The instance default has shut down"/);
    // Gone when stop returns (its parent, this test, reaps it only now).
    assert.ok(!processRuns(s.pid));
    assert.deepEqual(haFiles(sb), []);
    assert.equal((await s.result).code, 0);
    assert.ok(sb.haMessages().includes('Received SIGINT, shutting down the host agent'));
    const again = sb.runLimactl(['stop', 'default']);
    assert.equal(again.code, 1, show(again));
    assert.match(again.stderr, /level=fatal msg="expected status `Running`, got `Stopped` \(maybe use `limactl stop -f`\?\)"/);
    await nothingLeft();
  });

  it('the driver killed (SIGKILL, a VM crash): "Driver stopped due to error: `signal: killed`", then the shutdown, exit 0', async () => {
    const s = await up();
    sb.killDriver('SIGKILL');
    const r = await s.result;
    assert.equal(r.code, 0, show(r));
    const messages = sb.haMessages();
    const stopped = messages.indexOf('Driver stopped due to error: `signal: killed`');
    assert.ok(stopped >= 0, messages.join('\n'));
    assert.equal(messages[stopped + 1], 'Shutting down the host agent');
    // Not the last line: Lima's qemu driver says more while it stops.
    assert.ok(stopped < messages.length - 2, messages.join('\n'));
    assert.ok(sb.haLog().includes('{"level":"info","msg":"Driver stopped due to error: `signal: killed`","time":"'));
    assertLogrusJSON(sb.haLog());
    assert.deepEqual(haFiles(sb), []);
    assert.equal(sb.listed().status, 'Stopped');
    await nothingLeft();
  });

  it('the driver powered off (SIGTERM, it exits 0): "Driver stopped due to error: %!q(<nil>)", escaped as Go escapes it, exit 0', async () => {
    const s = await up();
    sb.killDriver('SIGTERM');
    const r = await s.result;
    assert.equal(r.code, 0, show(r));
    const messages = sb.haMessages();
    const stopped = messages.indexOf('Driver stopped due to error: %!q(<nil>)');
    assert.ok(stopped >= 0, messages.join('\n'));
    assert.equal(messages[stopped + 1], 'Shutting down the host agent');
    assert.ok(sb.haLog().includes('"msg":"Driver stopped due to error: %!q(\\u003cnil\\u003e)"'), sb.haLog());
    assert.ok(!sb.haLog().includes('<nil>'));
    assert.deepEqual(haFiles(sb), []);
    await nothingLeft();
  });

  it('a stale ha.pid naming a live process that is not the host agent: Broken; start fails with errors inspecting instance; stop --force kills it and removes *.pid, *.sock, *.tmp', async () => {
    const other = otherProcess();
    const otherExit = new Promise<NodeJS.Signals | null>((resolve) => other.on('exit', (_code, signal) => resolve(signal)));
    sb.plantPidFile('ha', other.pid!);
    writeFileSync(path.join(sb.instanceDir(), 'ha.stderr.log'), 'before the reboot\n');
    writeFileSync(path.join(sb.instanceDir(), 'lima.yaml.tmp'), '');
    const sock = path.join(sb.instanceDir(), 'ha.sock');

    const l = sb.listed();
    assert.equal(l.status, 'Broken');
    assert.equal(l.hostAgentPID, other.pid);
    assert.match(l.stderr, /level=warning msg="instance `default` has errors" errors="\[failed to get Info from `[^`]+\/ha\.sock`: Get \\"http:\/\/lima-hostagent\/v1\/info\\": dial unix [^"]+: connect: no such file or directory\]"/);

    const start = sb.runLimactl(['start', 'default', '--foreground']);
    assert.equal(start.code, 1, show(start));
    assert.ok(start.stderr.includes(`level=fatal msg="errors inspecting instance: [failed to get Info from \`${sock}\`: Get \\"http://lima-hostagent/v1/info\\": dial unix ${sock}: connect: no such file or directory]"`), start.stderr);
    assert.equal(sb.haLog(), 'before the reboot\n');
    assert.equal(sb.pidFile('ha'), other.pid);

    const force = ok(sb.runLimactl(['stop', '--force', 'default']));
    assert.match(force.stderr, new RegExp(`msg="Sending SIGKILL to the host agent process ${other.pid}"`));
    assert.equal(await otherExit, 'SIGKILL');
    assert.deepEqual(haFiles(sb), []);
    assert.ok(!existsSync(path.join(sb.instanceDir(), 'lima.yaml.tmp')));
    assert.ok(existsSync(path.join(sb.instanceDir(), 'lima.yaml')));
    assert.equal(sb.listed().status, 'Stopped');

    // Recovered: it starts again.
    const s = await up();
    assert.equal(sb.listed().status, 'Running');
    s.kill('SIGINT');
    assert.equal((await s.result).code, 0);
    await nothingLeft();
  });

  it('a ha.pid naming a dead process: Stopped, and the file is gone (Lima removes it)', async () => {
    const dead = spawn('true', { stdio: 'ignore' });
    await new Promise((resolve) => dead.on('exit', resolve));
    sb.plantPidFile('ha', dead.pid!);
    assert.equal(sb.listed().status, 'Stopped');
    assert.equal(sb.pidFile('ha'), undefined);
  });

  it('the host agent killed, the driver left running (an unclean end): Broken; start fails; stop --force kills the driver and removes the pid files', async () => {
    const s = await up();
    const driver = sb.pidFile('driver')!;
    process.kill(s.pid, 'SIGKILL');
    await s.result;
    assert.deepEqual(haFiles(sb), ['ha.pid', 'ha.sock', 'qemu.pid']);
    assert.ok(processRuns(driver));

    const l = sb.listed();
    assert.equal(l.status, 'Broken');
    assert.equal(l.hostAgentPID, undefined);
    assert.equal(l.driverPID, driver);
    assert.match(l.stderr, /errors="\[qemu driver is running but host agent is not\]"/);
    const start = sb.runLimactl(['start', 'default', '--foreground']);
    assert.equal(start.code, 1, show(start));
    assert.match(start.stderr, /level=fatal msg="errors inspecting instance: \[qemu driver is running but host agent is not\]"/);

    ok(sb.runLimactl(['stop', '-f', 'default']));
    await until('the driver to die', () => !processRuns(driver));
    assert.deepEqual(haFiles(sb), []);
    assert.equal(sb.listed().status, 'Stopped');
    await nothingLeft();
  });

  it('stop --force of a Running instance: SIGKILL to the host agent and the driver, the pid files and the socket removed', async () => {
    const s = await up();
    const driver = sb.pidFile('driver')!;
    const r = ok(sb.runLimactl(['stop', '--force', 'default']));
    assert.match(r.stderr, new RegExp(`msg="Sending SIGKILL to the qemu driver process ${driver}"`));
    const end = await s.result;
    assert.equal(end.code, -1, show(end));
    assert.deepEqual(haFiles(sb), []);
    await until('the driver to die', () => !processRuns(driver));
    assert.equal(sb.listed().status, 'Stopped');
    await nothingLeft();
  });

  it('a silent /v1/info (accepted, never answered): Broken after Lima\'s 3 s, start refuses; Running again once the switch is gone', async () => {
    const s = await up();
    sb.silence('info');
    const l = sb.listed();
    assert.equal(l.status, 'Broken');
    assert.match(l.stderr, /errors="\[failed to get Info from `[^`]+`: Get \\"http:\/\/lima-hostagent\/v1\/info\\": context deadline exceeded\]"/);
    assert.equal(sb.silenced('info'), 1);
    const start = sb.runLimactl(['start', 'default', '--foreground']);
    assert.equal(start.code, 1, show(start));
    assert.match(start.stderr, /msg="errors inspecting instance: \[failed to get Info from .*context deadline exceeded\]"/);
    sb.silence('info', false);
    assert.equal(sb.listed().status, 'Running');
    s.kill('SIGINT');
    assert.equal((await s.result).code, 0);
    await nothingLeft();
  });

  it('a silent SSH port: it accepts and never greets; it greets again once the switch is gone', async () => {
    const s = await up();
    const port = sb.listed().sshLocalPort!;
    sb.silence('ssh');
    const quiet = net.connect(port, '127.0.0.1');
    let heard = '';
    quiet.setEncoding('utf8').on('data', (d: string) => { heard += d; });
    quiet.on('error', () => {});
    // The host agent has taken this connection and chosen silence for it.
    await until('the silent connection to be accepted', () => sb.silenced('ssh') === 1);
    sb.silence('ssh', false);
    // A greeting for the first connection would have been written when it was accepted, before
    // the second one was: by the time the second is greeted, the first would have heard one.
    assert.equal(await sshGreeting(port), 'SSH-2.0-OpenSSH_9.6\r\n');
    assert.equal(heard, '');
    assert.ok(!quiet.destroyed && quiet.readyState === 'open');
    assert.equal(sb.listed().status, 'Running');
    quiet.destroy();
    s.kill('SIGINT');
    assert.equal((await s.result).code, 0);
    await nothingLeft();
  });
});
