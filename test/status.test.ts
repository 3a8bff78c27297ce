import assert from 'node:assert/strict';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, Sandbox, show, type Platform, type RunResult } from './helpers.js';
import { placeFixture } from './fixture.js';

// `status` end to end: the rows and problems it reports for states the stand-ins are told to
// report, in JSON and as a table, and the number of questions it asks the service manager.

interface Row {
  instance: string;
  condition: string;
  keepAlive: boolean | null;
  file: string | null;
  writtenBy: string | null;
  manager: string;
  service: string;
  state: string;
  pid: number | null;
  lastExitCode: number | null;
  problems: { problem: string; fix: string }[];
  notes: string[];
  lima: { status: string | null; hostAgentPID: number | null; startedByService: boolean | null; reachable: { ok: boolean; reason?: string } | null };
}

/** Lima's view of an instance that `limactl list --json` does not list. */
const NOT_LISTED = { status: null, hostAgentPID: null, startedByService: false, reachable: null };

function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, show(result));
  return result;
}

function status(sb: Sandbox, args: string[] = [], env: Record<string, string> = {}): Row[] {
  const r = ok(sb.run(['status', '--json', ...args], env));
  return JSON.parse(r.stdout) as Row[];
}

/** The table `status` prints. */
function table(sb: Sandbox): string {
  const r = sb.run(['status']);
  assert.equal(r.code, 0, show(r));
  return r.stdout;
}

function row(sb: Sandbox, name = 'default', env: Record<string, string> = {}): Row {
  const rows = status(sb, [name], env);
  assert.equal(rows.length, 1);
  return rows[0]!;
}

/** The problem whose text matches, with its fix; fails when there is none. */
function problem(r: Row, re: RegExp): { problem: string; fix: string } {
  const found = r.problems.find((p) => re.test(p.problem));
  assert.ok(found, `no problem matching ${re} in ${JSON.stringify(r.problems, null, 1)}`);
  return found;
}

function setJob(sb: Sandbox, label: string, pid: string, lastExit: string): void {
  mkdirSync(path.join(sb.fakeDir, 'launchd-jobs'), { recursive: true });
  writeFileSync(path.join(sb.fakeDir, 'launchd-jobs', label), `${pid} ${lastExit}\n`);
}

/** The file as written before the machine last booted: a boot (or a login since) should have loaded it. */
function beforeLastBoot(file: string): void {
  const then = new Date(Date.now() - os.uptime() * 1000 - 3600_000);
  utimesSync(file, then, then);
}

function setUnit(sb: Sandbox, unit: string, props: string): void {
  mkdirSync(path.join(sb.fakeDir, 'systemd-show'), { recursive: true });
  writeFileSync(path.join(sb.fakeDir, 'systemd-show', unit), props);
}

describe('status (macOS)', () => {
  let sb: Sandbox;
  const agent = 'io.lima-vm.autostart.default';
  const daemon = 'io.lima-vm.daemon.default';
  beforeEach(() => { sb = new Sandbox({ platform: 'darwin' }); });
  afterEach(() => sb.cleanup());

  it('an instance with no registration: condition none, not loaded, no problems', () => {
    assert.deepEqual(row(sb), {
      instance: 'default', condition: 'none', keepAlive: null, file: null, writtenBy: null, manager: 'launchd',
      service: `gui/${sb.uid}/${agent}`, state: 'not-loaded', pid: null, lastExitCode: null, problems: [], notes: [], lima: NOT_LISTED,
    });
  });

  it('login, running: the pid launchd lists; then failed with its last exit code, and a problem', () => {
    ok(sb.run(['enable', 'default', '--now']));
    setJob(sb, agent, '4711', '-');
    assert.deepEqual(row(sb), {
      instance: 'default', condition: 'login', keepAlive: true, file: sb.agentPlist(), writtenBy: 'limactl-autostart', manager: 'launchd',
      service: `gui/${sb.uid}/${agent}`, state: 'running', pid: 4711, lastExitCode: null, problems: [], notes: [], lima: NOT_LISTED,
    });
    setJob(sb, agent, '0', '1');
    const failed = row(sb);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.lastExitCode, 1);
    // Started again through its job: `limactl start` would run the instance outside it.
    assert.equal(problem(failed, /exited with code 1; see `limactl-autostart logs default`$/).fix, 'limactl-autostart enable default --condition=login --now');
    setJob(sb, agent, '0', '0');
    assert.equal(row(sb).state, 'loaded');
  });

  it('several jobs loaded in one domain: each instance gets its own line of the listing', () => {
    for (const name of ['a', 'b', 'c']) sb.addInstance(name);
    for (const name of ['a', 'b', 'c']) ok(sb.run(['enable', name, '--now']));
    setJob(sb, 'io.lima-vm.autostart.b', '4712', '-');
    setJob(sb, 'io.lima-vm.autostart.c', '0', '-9');
    const rows = status(sb, ['a', 'b', 'c']);
    assert.deepEqual(rows.map((r) => [r.instance, r.state, r.pid, r.lastExitCode]), [['a', 'loaded', null, null], ['b', 'running', 4712, null], ['c', 'failed', null, -9]]);
  });

  it('boot without keep-alive, not loaded yet; the agent found in user/<uid> when loaded there', () => {
    ok(sb.run(['enable', 'default', '--condition=boot', '--keep-alive=false']));
    const boot = row(sb);
    assert.equal(boot.condition, 'boot');
    assert.equal(boot.keepAlive, false);
    assert.equal(boot.file, sb.daemonPlist());
    assert.equal(boot.state, 'not-loaded');
    // Registered for boot since the last boot, not in the system domain yet: what enable without
    // --now promises, no problem. Registered before the last boot: the boot should have loaded it.
    assert.deepEqual(boot.problems, []);
    beforeLastBoot(sb.daemonPlist());
    const stale = row(sb);
    assert.deepEqual(stale.problems.map((p) => p.fix), ['limactl-autostart enable default --condition=boot --keep-alive=false --now']);
    assert.match(stale.problems[0]!.problem, /^registered for boot since before the last boot, but system\/io\.lima-vm\.daemon\.default is not loaded in launchd's system domain/);

    ok(sb.run(['enable', 'default']));
    sb.markLoaded(`user/${sb.uid}/${agent}`);
    const login = row(sb);
    assert.equal(login.service, `user/${sb.uid}/${agent}`);
    assert.equal(login.state, 'loaded');
  });

  it('problems: limactl gone, another LIMA_HOME, an older version, a foreign file, each with its fix', () => {
    ok(sb.run(['enable', 'default', '--keep-alive=false']));
    const fix = 'limactl-autostart enable default --condition=login --keep-alive=false';
    rmSync(sb.limactl);
    assert.equal(problem(row(sb), /runs .*limactl, which no longer exists/).fix, fix);

    const other = path.join(sb.root, 'other lima');
    cpSync(sb.limaHome, other, { recursive: true });
    const elsewhere = problem(row(sb, 'default', { LIMA_HOME: other }), /uses LIMA_HOME=/);
    assert.ok(elsewhere.problem.includes(sb.limaHome) && elsewhere.problem.includes(other), elsewhere.problem);

    const text = readFileSync(sb.agentPlist(), 'utf8');
    writeFileSync(sb.agentPlist(), text.replace(/Generated by limactl-autostart \S+:/, 'Generated by limactl-autostart 0.0.1:'));
    assert.equal(problem(row(sb), /written by limactl-autostart 0\.0\.1, older/).fix, fix);
    writeFileSync(sb.agentPlist(), text.replace(/<!--.*?-->\n/s, ''));
    const foreign = row(sb);
    // Without the header, the file is one of ours edited by hand (it has a PATH, which Lima never
    // writes); without KeepAlive it is never restarted, and the fix writes it so, as migrate would.
    assert.equal(foreign.writtenBy, 'hand');
    assert.equal(problem(foreign, /not written by limactl-autostart, and not as Lima writes it/).fix, fix);
    assert.ok(!foreign.problems.some((p) => /older/.test(p.problem)));
  });

  it('a file Lima wrote: status says whose it is, and what its keep-alive does and does not', () => {
    for (const [fixture, restarts] of [['lima-pr5086/io.lima-vm.autostart.default.plist', 'restarted after a host agent crash only, not after the VM dies'], ['lima-2.1/io.lima-vm.autostart.default.plist', 'never restarted']] as const) {
      placeFixture(sb, fixture, sb.agentPlist());
      const r = row(sb);
      assert.equal(r.writtenBy, 'lima');
      const p = problem(r, /^written by Lima/);
      assert.equal(p.problem, `written by Lima (\`limactl start-at-login\` or \`limactl autostart\`): ${restarts}, and without a PATH for Homebrew's QEMU. Lima 2.2 and later write this file too: each program replaces the other's`);
    }
  });

  it('problems: both an agent and a daemon; a daemon plist with the wrong mode and owner; a loaded job without a file', () => {
    ok(sb.run(['enable', 'default', '--condition=boot', '--now']));
    mkdirSync(path.dirname(sb.agentPlist()), { recursive: true });
    writeFileSync(sb.agentPlist(), readFileSync(sb.daemonPlist()));
    assert.match(problem(row(sb), /both a LaunchAgent .* and a LaunchDaemon/).fix, /^limactl-autostart enable default --condition=boot/);
    rmSync(sb.agentPlist());

    chmodSync(sb.daemonPlist(), 0o666);
    chownSync(sb.daemonPlist(), 12345, 0);
    const wrong = problem(row(sb), /launchd refuses to load it/);
    assert.match(wrong.problem, /owned by uid 12345, not root and writable by its group and others \(mode 666\)/);
    assert.equal(wrong.fix, `sudo chown root:wheel '${sb.daemonPlist()}' && sudo chmod 644 '${sb.daemonPlist()}'`);

    rmSync(sb.daemonPlist());
    const orphan = row(sb);
    assert.equal(orphan.condition, 'none');
    assert.equal(orphan.service, `system/${daemon}`);
    assert.equal(orphan.state, 'loaded');
    assert.equal(problem(orphan, /loaded but has no file/).fix, 'limactl-autostart disable default --now');
  });

  it('a host agent killed by SIGKILL (-9) and restarted by keep-alive: a note, not a problem, with what to run instead', () => {
    ok(sb.run(['enable', 'default', '--now']));
    const note = (r: Row): string | undefined => r.notes.find((n) => n.includes('SIGKILL'));
    setJob(sb, agent, '4712', '-9');
    const restarted = row(sb);
    assert.deepEqual([restarted.state, restarted.pid, restarted.lastExitCode, restarted.problems], ['running', 4712, -9, []]);
    assert.equal(note(restarted), 'the host agent was killed by SIGKILL (as `limactl stop --force` does), which keep-alive counts as a crash: launchd started it again. '
      + `To stop the instance and keep it stopped: limactl-autostart disable default --now, or \`limactl stop default\` without --force (${path.join(ROOT, 'docs', 'troubleshooting.md')}: "The instance came back after limactl stop --force")`);
    // Between the kill and the restart (ThrottleInterval): launchd has not started it yet.
    setJob(sb, agent, '0', '-9');
    assert.match(note(row(sb)) ?? '', /launchd starts it again shortly/);
    // Another signal, or an exit code 9, is not a SIGKILL.
    for (const exit of ['-15', '9']) {
      setJob(sb, agent, '4712', exit);
      assert.deepEqual(row(sb).notes, [], exit);
    }
    // Without keep-alive nothing restarts it: no note.
    ok(sb.run(['enable', 'default', '--keep-alive=false']));
    setJob(sb, agent, '0', '-9');
    assert.deepEqual(row(sb).notes, []);
  });

  it('exit 78 (EX_CONFIG): a problem naming both log files, the account that must open them and the fix', () => {
    ok(sb.run(['enable', 'default', '--condition=boot', '--user', 'other', '--now']));
    setJob(sb, daemon, '0', '78');
    const r = row(sb);
    const logs = ['stdout', 'stderr'].map((s) => path.join(sb.limaHome, 'default', `launchd.${s}.log`));
    const quoted = logs.map((l) => `'${l}'`).join(' ');
    const p = problem(r, /exit 78, EX_CONFIG/);
    assert.equal(p.problem, `launchd could not set the job up (exit 78, EX_CONFIG), most likely because other cannot open its log files ${logs[0]} and ${logs[1]} (owned by someone else, in a directory other cannot write, or on a volume not mounted yet); launchd tries again every 30 s, for ever`);
    // Removed, not given away with sudo: nothing privileged acts on a path in the user's directory.
    assert.equal(p.fix, `rm -f ${quoted}   # launchd tries again within 30 s`);
    assert.ok(!r.problems.some((x) => /exited with code 78/.test(x.problem)), 'one problem for the exit, not two');
    // An agent opens them as the user; without keep-alive it must be started again.
    ok(sb.run(['enable', 'default', '--condition=login', '--keep-alive=false', '--now']));
    setJob(sb, agent, '0', '78');
    assert.equal(problem(row(sb), /exit 78/).fix, `rm -f ${quoted} && launchctl kickstart gui/${sb.uid}/${agent}`);
  });

  it('an agent loaded in user/<uid> only: `limactl stop` cannot stop it; the fix is a daemon, or the agent again from a GUI login', () => {
    sb.noGuiLogin();
    ok(sb.run(['enable', 'default', '--now']));
    const r = row(sb);
    const user = `user/${sb.uid}/${agent}`;
    assert.deepEqual([r.service, r.state], [user, 'loaded']);
    const p = problem(r, /loaded in launchd's user domain/);
    assert.equal(p.problem, `${user} is loaded in launchd's user domain (enabled over SSH or without a GUI login): \`limactl stop default\` cannot stop it (Lima stops an agent through gui/<uid> only), and only limactl-autostart disable default --now or launchctl bootout ${user} can`);
    assert.equal(p.fix, 'limactl-autostart enable default --condition=boot --now   # a headless Mac; from a GUI login: limactl-autostart enable default --condition=login --now');
    // The same from a GUI login: gui/<uid> now exists, the job is still in user/<uid>.
    rmSync(path.join(sb.fakeDir, 'launchd-no-gui'));
    problem(row(sb), /loaded in launchd's user domain/);
    // Moved to gui/<uid>: no problem left.
    ok(sb.run(['enable', 'default', '--now']));
    assert.deepEqual(row(sb).problems, []);
  });

  it('registered and not loaded yet: a state (loads at next login), not a problem; registered before the last boot and still not loaded: the Background Items switch is a likely cause', () => {
    ok(sb.run(['enable', 'default']));
    const fresh = row(sb);
    assert.deepEqual([fresh.state, fresh.problems], ['not-loaded', []]);
    assert.match(table(sb), /^default +login +yes +loads at next login +- +/m);
    beforeLastBoot(sb.agentPlist());
    const r = row(sb);
    assert.equal(r.state, 'not-loaded');
    const p = problem(r, /registered for login since before the last boot, but/);
    assert.equal(p.problem, `registered for login since before the last boot, but gui/${sb.uid}/${agent} is not loaded in launchd's GUI login domain, and nothing restarts the instance: `
      + `its "Allow in the Background" switch (System Settings › General › Login Items) is likely off; check with \`sfltool dumpbtm\` (${path.join(ROOT, 'docs', 'troubleshooting.md')}: "macOS: the job is registered but never runs")`);
    assert.equal(p.fix, 'limactl-autostart enable default --condition=login --now');
    // With no GUI login the agent is not expected to be loaded: nothing to say.
    sb.noGuiLogin();
    const ssh = row(sb);
    assert.deepEqual([ssh.service, ssh.problems], [`user/${sb.uid}/${agent}`, []]);
    // A daemon: the same words, for boot (one problem for the fact, as before).
    ok(sb.run(['enable', 'default', '--condition=boot']));
    beforeLastBoot(sb.daemonPlist());
    const boot = row(sb);
    assert.equal(boot.problems.length, 1);
    assert.match(boot.problems[0]!.problem, /^registered for boot since before the last boot, but system\/io\.lima-vm\.daemon\.default is not loaded in launchd's system domain, .* its "Allow in the Background" switch .* `sfltool dumpbtm`/);
  });

  it('lists instances that LIMA_HOME no longer holds but that are still registered, with the fix', () => {
    ok(sb.run(['enable', 'default']));
    rmSync(path.join(sb.limaHome, 'default'), { recursive: true });
    sb.addInstance('other');
    const rows = status(sb);
    assert.deepEqual(rows.map((r) => [r.instance, r.condition]), [['default', 'login'], ['other', 'none']]);
    assert.equal(problem(rows[0]!, /no longer exists in/).fix, 'limactl-autostart disable default --now');
  });
});

describe('status (Linux)', () => {
  let sb: Sandbox;
  const unit = 'lima-vm@default.service';
  beforeEach(() => { sb = new Sandbox({ platform: 'linux' }); });
  afterEach(() => sb.cleanup());

  it('login, running with its MainPID; restarting; start-limit-hit (systemd gave up); failed without keep-alive', () => {
    ok(sb.run(['enable', 'default', '--now']));
    assert.deepEqual(row(sb), {
      instance: 'default', condition: 'login', keepAlive: true, file: sb.unitFile(), writtenBy: 'limactl-autostart', manager: 'systemd',
      service: unit, state: 'running', pid: 4242, lastExitCode: null, problems: [], notes: [], lima: NOT_LISTED,
    });
    setUnit(sb, unit, 'ActiveState=activating\nSubState=auto-restart\nExecMainStatus=137\nMainPID=0\n');
    assert.equal(row(sb).state, 'restarting');
    // Restart=on-failure and failed: systemd gave up. systemd 252 then keeps the last failure's
    // Result (exit-code), newer ones may say start-limit-hit; both are the same state.
    for (const result of ['exit-code', 'start-limit-hit']) {
      setUnit(sb, unit, `ActiveState=failed\nSubState=failed\nResult=${result}\nExecMainStatus=1\nMainPID=0\n`);
      const limit = row(sb);
      assert.deepEqual([limit.state, limit.pid, limit.lastExitCode], ['start-limit-hit', null, 1]);
      assert.equal(problem(limit, /gave up restarting/).fix, `systemctl --user reset-failed ${unit} && systemctl --user start ${unit}`);
    }
    // Without keep-alive, failed is just failed.
    ok(sb.run(['enable', 'default', '--keep-alive=false']));
    setUnit(sb, unit, 'ActiveState=failed\nSubState=failed\nResult=signal\nExecMainStatus=9\nMainPID=0\n');
    const failed = row(sb);
    assert.deepEqual([failed.state, failed.keepAlive, failed.lastExitCode], ['failed', false, 9]);
    assert.equal(problem(failed, /failed \(last exit code 9\)/).fix, `systemctl --user start ${unit}`);
  });

  it('restarting after a SIGKILL (ExecMainCode=2, ExecMainStatus=9, as systemd shows it): a note; an exit code 9 is not a kill', () => {
    ok(sb.run(['enable', 'default', '--now']));
    setUnit(sb, unit, 'ActiveState=activating\nSubState=auto-restart\nResult=signal\nExecMainCode=2\nExecMainStatus=9\nMainPID=0\n');
    const r = row(sb);
    assert.deepEqual([r.state, r.lastExitCode, r.problems], ['restarting', 9, []]);
    assert.equal(r.notes.length, 1);
    assert.match(r.notes[0]!, /^the host agent was killed by SIGKILL \(as `limactl stop --force` does\), which keep-alive counts as a crash: systemd starts it again shortly\. To stop the instance and keep it stopped: limactl-autostart disable default --now/);
    // CLD_EXITED (1): the program exited with code 9.
    setUnit(sb, unit, 'ActiveState=activating\nSubState=auto-restart\nResult=exit-code\nExecMainCode=1\nExecMainStatus=9\nMainPID=0\n');
    assert.deepEqual(row(sb).notes, []);
  });

  it('the VM stopped on its own and the unit was restarted (NRestarts > 0): a note quoting what the service said, escaped; none before a restart', () => {
    ok(sb.run(['enable', 'default', '--now']));
    const said = '2026-12-05T10:00:00Z limactl-autostart: default: the VM stopped (Driver stopped due to error: `signal: killed`\x1b[2J): exit 1, so that keep-alive starts it again';
    sb.journal(`booting\n${said}\nbooting again\n`);
    sb.clearCalls();
    assert.deepEqual(row(sb).notes, []);
    assert.deepEqual(sb.calls().filter((c) => c[0] === 'journalctl'), [], 'the journal was read without a restart');
    setUnit(sb, unit, 'NRestarts=1\n');
    assert.deepEqual(row(sb).notes, [`the VM stopped on its own, and keep-alive started it again: the service said ${JSON.stringify(said)}`]);
    assert.deepEqual(sb.calls().filter((c) => c[0] === 'journalctl'), [['journalctl', '--user', '-u', unit, '-n', '200', '-o', 'cat', '--no-pager']]);
    assert.match(ok(sb.run(['status'])).stdout, /the VM stopped on its own.*\\u001b\[2J/);
    // A journal that does not answer (a stuck journald, a huge journal): status goes on without it after its bound.
    mkdirSync(path.join(sb.fakeDir, 'hang'), { recursive: true });
    writeFileSync(path.join(sb.fakeDir, 'hang', 'journalctl.-u'), '');
    assert.deepEqual(row(sb).notes, []);
    assert.ok(existsSync(path.join(sb.fakeDir, 'hang', 'journalctl.-u.done')), 'the journal was asked, and hung');
  });

  it('problems: not enabled, not read by systemd, lingering off for a boot unit', () => {
    ok(sb.run(['enable', 'default', '--condition=boot']));
    assert.deepEqual(row(sb).problems, []);
    rmSync(sb.lingerFile());
    assert.equal(problem(row(sb), /lingering is off for limauser/).fix, 'loginctl enable-linger limauser');
    setUnit(sb, unit, 'UnitFileState=disabled\n');
    assert.equal(problem(row(sb), /the unit is disabled/).fix, `systemctl --user enable ${unit}`);
    setUnit(sb, unit, 'LoadState=not-found\n');
    assert.equal(problem(row(sb), /has not read the unit file/).fix, 'systemctl --user daemon-reload');
  });
});

describe('status: output and arguments', () => {
  let sb: Sandbox;
  afterEach(() => sb.cleanup());

  it('the table is plain text when stdout is not a terminal, one line per instance and two per problem', () => {
    sb = new Sandbox({ platform: 'linux', instances: ['default', 'web'] });
    ok(sb.run(['enable', 'default', '--now']));
    ok(sb.run(['enable', 'web', '--condition=boot', '--keep-alive=false']));
    rmSync(sb.lingerFile());
    const r = ok(sb.run(['status']));
    assert.doesNotMatch(r.stdout, /\x1b\[/, 'no escape codes');
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^INSTANCE +CONDITION +KEEP-ALIVE +STATE +LIMA +FILE$/);
    assert.match(lines[1]!, new RegExp(`^default +login +yes +running \\(pid 4242\\) +- +${sb.unitFile().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    assert.match(lines[2]!, /^web +boot +no +loaded +- +\//);
    assert.equal(lines[3], '  problem: lingering is off for limauser: the user manager, and the instance, start only at login');
    assert.equal(lines[4], '    fix: loginctl enable-linger limauser');
    assert.equal(lines.length, 6); // and the final newline
    // Columns line up: STATE starts at the same column in every row.
    const col = lines[0]!.indexOf('STATE');
    assert.ok(lines[1]!.slice(col).startsWith('running') && lines[2]!.slice(col).startsWith('loaded'));
  });

  it('a note is one line under its row, after the problems', () => {
    sb = new Sandbox({ platform: 'linux' });
    ok(sb.run(['enable', 'default', '--now']));
    setUnit(sb, 'lima-vm@default.service', 'ActiveState=activating\nSubState=auto-restart\nExecMainCode=2\nExecMainStatus=9\nMainPID=0\n');
    const lines = ok(sb.run(['status'])).stdout.split('\n');
    assert.match(lines[1]!, /^default +login +yes +restarting +- /);
    assert.match(lines[2]!, /^  note: the host agent was killed by SIGKILL .*limactl-autostart disable default --now/);
    assert.equal(lines.length, 4);
  });

  it('named instances only, in the order given; an unknown one is exit 1, an invalid name exit 2', () => {
    sb = new Sandbox({ platform: 'darwin', instances: ['a', 'b', 'c'] });
    assert.deepEqual(status(sb, ['c', 'a']).map((r) => r.instance), ['c', 'a']);
    const unknown = sb.run(['status', 'nope']);
    assert.equal(unknown.code, 1, show(unknown));
    assert.match(unknown.stderr, /error: no instance "nope" in .*, and no autostart registration for it/);
    const invalid = sb.run(['status', 'bad/name']);
    assert.equal(invalid.code, 2, show(invalid));
    assert.equal(invalid.stdout, '');
    for (const r of [unknown, invalid]) assert.doesNotMatch(r.stderr, /^\s+at /m);
  });

  for (const platform of ['darwin', 'linux'] as Platform[]) {
    it(`${platform}: 50 instances cost ${platform === 'darwin' ? 'three launchctl calls (one per domain) and one fdesetup' : 'one systemctl call'}, not one per instance`, () => {
      const names = Array.from({ length: 50 }, (_, i) => `vm${String(i).padStart(2, '0')}`);
      sb = new Sandbox({ platform, instances: names });
      for (const name of names.slice(0, 10)) ok(sb.run(['enable', name, ...(name.endsWith('1') ? ['--condition=boot'] : [])]));
      sb.clearCalls();
      const rows = status(sb);
      assert.equal(rows.length, 50);
      assert.equal(rows.filter((r) => r.condition !== 'none').length, 10);
      const calls = sb.calls();
      if (platform === 'darwin') {
        // Asked at the same time, so in any order. fdesetup: boot daemons are registered.
        assert.deepEqual(calls.map((c) => c.join(' ')).sort(), ['fdesetup isactive', ...[`gui/${sb.uid}`, 'system', `user/${sb.uid}`].map((d) => `launchctl print ${d}`), 'limactl list --json']);
      } else {
        // Asked at the same time, so in any order.
        calls.sort((a, b) => a[0]!.localeCompare(b[0]!));
        assert.equal(calls.length, 2, JSON.stringify(calls));
        assert.deepEqual(calls[0], ['limactl', 'list', '--json']);
        calls.shift();
        assert.deepEqual(calls[0]!.slice(0, 4), ['systemctl', '--user', 'show', '--property=Id,LoadState,ActiveState,SubState,Result,MainPID,ExecMainCode,ExecMainStatus,NRestarts,UnitFileState']);
        assert.deepEqual(calls[0]!.slice(5), names.map((n) => `lima-vm@${n}.service`));
      }
    });
  }

  it('linux: 12 instances that keep-alive restarted: a journal each, asked at once, and no warning of Node\'s on stderr', () => {
    const names = Array.from({ length: 12 }, (_, i) => `vm${String(i).padStart(2, '0')}`);
    sb = new Sandbox({ platform: 'linux', instances: names });
    for (const name of names) {
      ok(sb.run(['enable', name]));
      setUnit(sb, `lima-vm@${name}.service`, 'NRestarts=1\n');
    }
    sb.clearCalls();
    const r = ok(sb.run(['status', '--json']));
    assert.equal(r.stderr, '');
    assert.equal(sb.calls().filter((c) => c[0] === 'journalctl').length, 12);
  });
});

describe('status asks Lima too', () => {
  let sb: Sandbox;
  afterEach(() => sb.cleanup());

  for (const platform of ['darwin', 'linux'] as Platform[]) {
    const darwin = platform === 'darwin';
    const label = darwin ? 'io.lima-vm.autostart.default' : 'lima-vm@default.service';
    const target = (s: Sandbox): string => (darwin ? `gui/${s.uid}/${label}` : label);
    /** Enables "default" at login and has the service manager run its job. */
    const running = (s: Sandbox): void => {
      ok(s.run(['enable', 'default', '--now']));
      if (darwin) setJob(s, label, '4711', '-');
    };

    describe(platform, () => {
      beforeEach(() => { sb = new Sandbox({ platform }); });

      it('Running, started by its registration: the lima object, the LIMA column, no problem', () => {
        running(sb);
        sb.limaList([{ name: 'default', status: 'Running', hostAgentPID: 4711, autoStartedIdentifier: label }, { name: 'other', status: 'Stopped' }]);
        const r = row(sb);
        assert.deepEqual(r.lima, { status: 'Running', hostAgentPID: 4711, startedByService: true, reachable: null });
        assert.deepEqual(r.problems, []);
        const table = ok(sb.run(['status'])).stdout.split('\n');
        const col = table[0]!.indexOf('LIMA');
        assert.ok(col > table[0]!.indexOf('STATE'), table[0]);
        assert.ok(table[1]!.slice(col).startsWith('Running '), table[1]);
      });

      it('the job runs but Lima says Broken or Stopped: a problem naming stale ha.sock/ha.pid, with a restart', () => {
        running(sb);
        for (const word of ['Broken', 'Stopped']) {
          sb.limaList([{ name: 'default', status: word }]);
          const p = problem(row(sb), new RegExp(`runs ${target(sb).replace(/[.@/]/g, '\\$&')}, but Lima says the instance is ${word}`));
          assert.match(p.problem, /stale ha\.sock or ha\.pid/);
          assert.match(p.problem, /; see `limactl-autostart logs default`$/);
          assert.equal(p.fix, `limactl stop --force default; ${darwin ? `launchctl kickstart -k ${target(sb)}` : `systemctl --user restart ${label}`}`);
        }
      });

      it('Lima says Running, but not started by its registration: keep-alive does not apply, with the commands', () => {
        ok(sb.run(['enable', 'default']));
        // Lima 2.0 does not say who started an instance: the service's own state tells.
        for (const other of [undefined, 'io.lima-vm.autostart.elsewhere']) {
          sb.limaList([{ name: 'default', status: 'Running', hostAgentPID: 99, ...(other ? { autoStartedIdentifier: other } : {}) }]);
          const r = row(sb);
          assert.equal(r.lima.startedByService, false);
          const p = problem(r, /Lima says the instance is Running, but it was not started by/);
          assert.match(p.problem, /keep-alive does not apply until it is stopped and started through/);
          assert.equal(p.fix, 'limactl stop default && limactl-autostart enable default --condition=login --now');
        }
        // Not a problem for an instance without a registration.
        sb.addInstance('plain');
        sb.limaList([{ name: 'plain', status: 'Running' }]);
        assert.deepEqual(row(sb, 'plain').problems, []);
      });

      it('Lima says Stopped and the job failed: one problem, with the last exit code, the log and a start through the service', () => {
        ok(sb.run(['enable', 'default', '--now']));
        if (darwin) setJob(sb, label, '0', '1');
        else setUnit(sb, label, 'ActiveState=failed\nSubState=failed\nResult=exit-code\nExecMainStatus=1\nMainPID=0\n');
        sb.limaList([{ name: 'default', status: 'Stopped' }]);
        const r = row(sb);
        assert.equal(r.lima.status, 'Stopped');
        assert.equal(r.problems.length, 1, JSON.stringify(r.problems));
        const [p] = r.problems;
        assert.match(p!.problem, /(code|last exit code) 1\b/);
        assert.match(p!.problem, /; see `limactl-autostart logs default`$/);
        assert.equal(p!.fix, darwin ? 'limactl-autostart enable default --condition=login --now' : `systemctl --user reset-failed ${label} && systemctl --user start ${label}`);
      });

      it('limactl list is asked once per run', () => {
        running(sb);
        sb.limaList([{ name: 'default', status: 'Running' }]);
        sb.clearCalls();
        row(sb);
        assert.equal(sb.calls().filter((c) => c[0] === 'limactl').map((c) => c.join(' ')).join('\n'), 'limactl list --json');
      });

      it('a limactl list that fails, hangs or prints something unreadable: lima.status null, one warning, the rest as before', () => {
        sb.addInstance('web');
        running(sb);
        const cases: [string, () => void, RegExp][] = [
          ['fails', () => sb.failAlways('limactl', 'list', 3), /`limactl list --json` exited with code 3/],
          ['prints something else', () => sb.limaList('time="…" level=fatal msg="no"\n'), /printed a line that is not an instance/],
          ['hangs', () => sb.limaListHangs(), /did not answer within 2 s/],
        ];
        for (const [what, arrange, reason] of cases) {
          arrange();
          const r = ok(sb.run(['status', '--json']));
          const rows = JSON.parse(r.stdout) as Row[];
          assert.deepEqual(rows.map((x) => [x.instance, x.state, x.lima]), [
            ['default', 'running', { status: null, hostAgentPID: null, startedByService: null, reachable: null }],
            ['web', 'not-loaded', { status: null, hostAgentPID: null, startedByService: null, reachable: null }],
          ], what);
          const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
          assert.equal(warnings.length, 1, `${what}: ${r.stderr}`);
          assert.match(warnings[0]!, reason, what);
          assert.match(warnings[0]!, /^warning: Lima's view of the instances is missing \(lima\.status is null\): /, what);
          const table = ok(sb.run(['status', 'web']));
          assert.match(table.stdout, /^web +none +- +not-loaded +\? +-$/m, what);
          assert.match(table.stderr, /^warning: Lima's view of the instances is missing \(the LIMA column says \?\): /, what);
          rmSync(path.join(sb.fakeDir, 'fail'), { recursive: true, force: true });
          mkdirSync(path.join(sb.fakeDir, 'fail'));
        }
      });
    });
  }
});

describe('status asks a Running instance whether it answers (the Lima-like stand-in)', function () {
  this.timeout(60_000);
  let sb: Sandbox;
  afterEach(() => {
    sb.killLimaLike();
    sb.cleanup();
  });

  it('answering: reachable; its SSH silent: "not answering", a problem with the fix; answering again once it speaks', async () => {
    sb = new Sandbox({ platform: 'linux' });
    sb.limaLike();
    const hostAgent = sb.startLimactl(['start', 'default', '--foreground']);
    await hostAgent.until('the VM to run (qemu.pid)', () => sb.pidFile('driver') !== undefined);
    const first = row(sb);
    assert.deepEqual([first.lima.status, first.lima.reachable, first.problems], ['Running', { ok: true }, []]);

    sb.silence('ssh');
    const silent = row(sb);
    assert.equal(silent.lima.reachable?.ok, false);
    const p = problem(silent, /^Lima says the instance is Running, but the guest's SSH on 127\.0\.0\.1:\d+ does not answer \(silent for 2 s\): the VM may be hung, or still booting/);
    assert.equal(p.fix, 'limactl shell default true   # if it stays unanswered: limactl stop default && limactl start default');
    assert.match(ok(sb.run(['status'])).stdout, /^default .* Running, not answering +-$/m);
    assert.ok(sb.silenced('ssh') >= 2, 'the SSH port was not asked');

    sb.silence('ssh', false);
    assert.deepEqual(row(sb).lima.reachable, { ok: true });
    ok(sb.runLimactl(['stop', 'default']));
    assert.equal((await hostAgent.result).code, 0);
  });
});
