import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'plist';
import { ROOT, show, type Platform, type RunResult, type Sandbox } from './helpers.js';
import { placeFixture } from './fixture.js';
import { freshlyEnabled, ok, sandboxPool } from './pool.js';

// `limactl-autostart migrate [--dry-run]` end to end: registrations in Lima's locations (the
// fixtures in test/fixtures/, as Lima wrote them, and files of other versions of this program) are
// rewritten as `enable` would write them with the condition and keep-alive they record; files it
// cannot read safely are reported and left byte for byte as they were.

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const AGENT_FIXTURE = 'lima-1.0.1/io.lima-vm.autostart.default.plist';
const DAEMON_FIXTURE = 'lima-2.2/io.lima-vm.daemon.k3s.plist';
const UNIT_FIXTURE = 'lima-1.0.1/lima-vm@default.service';
// The fixtures were written for alice; the daemon runs as its UserName.
const ALICE = { USER: 'alice' };

/** The calls that change something: everything but read-only `launchctl print`. */
function changes(sb: Sandbox): string[][] {
  return sb.calls().filter((c) => !(c[0] === 'launchctl' && c[1] === 'print'));
}

/** Places a fixture (edited), runs migrate, and checks that it left the file alone and changed nothing. */
function migrateLeavesAlone(sb: Sandbox, fixture: string, file: string, edit: (text: string) => string, why: RegExp): RunResult {
  const old = placeFixture(sb, fixture, file, edit);
  const r = ok(sb.run(['migrate']));
  assert.equal(readFileSync(file, 'utf8'), old);
  leftAlone(r, file, why);
  assert.deepEqual(changes(sb), []);
  return r;
}

function leftAlone(r: RunResult, file: string, why: RegExp): void {
  const line = r.stderr.split('\n').find((l) => l.startsWith(`warning: left ${file} alone: `));
  assert.ok(line, `no "left alone" warning for ${file}:\n${show(r)}`);
  assert.match(line, why);
}

describe('migrate on macOS', () => {
  const make = sandboxPool();
  const sandbox = (platform: Platform, instances = ['default', 'k3s']): Sandbox => make({ platform, instances });

  it('rewrites Lima\'s LaunchAgent and LaunchDaemon as enable would, keeping their conditions and their keep-alive (none: never restarted); starts and stops nothing', () => {
    const sb = sandbox('darwin');
    placeFixture(sb, AGENT_FIXTURE, sb.agentPlist());
    placeFixture(sb, DAEMON_FIXTURE, sb.daemonPlist('k3s'));
    // As a login and a boot left them: both jobs loaded from the old files.
    sb.markLoaded(`gui/${sb.uid}/io.lima-vm.autostart.default`);
    sb.markLoaded('system/io.lima-vm.daemon.k3s');
    const loaded = sb.loaded();
    const r = ok(sb.run(['migrate'], ALICE));
    assert.equal(r.stdout, '');
    assert.equal(readFileSync(sb.agentPlist(), 'utf8'), freshlyEnabled(make, sb, ['default', '--keep-alive=false'], (f) => f.agentPlist(), ALICE));
    assert.equal(readFileSync(sb.daemonPlist('k3s'), 'utf8'), freshlyEnabled(make, sb, ['k3s', '--condition=boot', '--keep-alive=false'], (f) => f.daemonPlist('k3s'), ALICE));
    // The new files are in place and enabled; the loaded jobs are left as they are, and never
    // `launchctl disable`d.
    assert.deepEqual(changes(sb).map((c) => c.slice(0, 3)), [
      ['launchctl', 'enable', `gui/${sb.uid}/io.lima-vm.autostart.default`],
      // The plist, written by root from stdin; the daemon's log files are left to launchd.
      ['sudo', 'tee', '--'],
      ['sudo', 'launchctl', 'enable'],
      ['launchctl', 'enable', 'system/io.lima-vm.daemon.k3s'],
    ]);
    assert.deepEqual(sb.loaded(), loaded);
    assert.equal(sb.versionProbes(), 1);
    assert.ok(r.stderr.includes(`info: rewriting the LaunchAgent ${sb.agentPlist()} (not written by limactl-autostart): condition=login, keep-alive=false (it sets neither KeepAlive nor Restart=: never restarted)\n`), show(r));
    assert.ok(r.stderr.includes(`info: rewriting the LaunchDaemon ${sb.daemonPlist('k3s')} (not written by limactl-autostart): condition=boot, keep-alive=false (it sets neither KeepAlive nor Restart=: never restarted)\n`), show(r));
    assert.ok(r.stderr.includes('info: migrate: rewrote 2, 0 up to date, left 0 alone\n'), show(r));
    assert.match(r.stderr, /keeps its old settings until it is loaded again/);
  });

  for (const [fixture, keepAlive] of [['lima-pr5086/io.lima-vm.autostart.default.plist', true], ['lima-pr5086-no-keep-alive/io.lima-vm.autostart.default.plist', false]] as const) {
    it(`Lima's own LaunchAgent written with --keep-alive${keepAlive ? '' : '=false'} (lima-vm/lima#5086) keeps its keep-alive`, () => {
      const sb = sandbox('darwin');
      placeFixture(sb, fixture, sb.agentPlist());
      const r = ok(sb.run(['migrate']));
      assert.equal(readFileSync(sb.agentPlist(), 'utf8'), freshlyEnabled(make, sb, ['default', `--keep-alive=${keepAlive}`], (f) => f.agentPlist()));
      assert.ok(r.stderr.includes(`keep-alive=${keepAlive} (${keepAlive ? 'from its settings' : 'it sets neither KeepAlive nor Restart=: never restarted'})`), show(r));
    });
  }

  it('a second migrate finds everything up to date: no file changes, nothing but read-only calls', () => {
    const sb = sandbox('darwin');
    placeFixture(sb, AGENT_FIXTURE, sb.agentPlist());
    placeFixture(sb, DAEMON_FIXTURE, sb.daemonPlist('k3s'));
    ok(sb.run(['migrate'], ALICE));
    const before = sb.snapshot();
    sb.clearCalls();
    const r = ok(sb.run(['migrate'], ALICE));
    assert.deepEqual(sb.snapshot(), before);
    assert.deepEqual(changes(sb), []);
    assert.ok(r.stderr.includes(`info: ${sb.agentPlist()} is up to date\n`), show(r));
    assert.ok(r.stderr.includes(`info: ${sb.daemonPlist('k3s')} is up to date\n`), show(r));
    assert.ok(r.stderr.includes('info: migrate: rewrote 0, 2 up to date, left 0 alone\n'), show(r));
  });

  it('a foreign plist with keys limactl-autostart does not write is reported and left alone, byte for byte', () => {
    const sb = sandbox('darwin');
    const why = /it has settings limactl-autostart does not write: AbandonProcessGroup, SoftResourceLimits\. To replace it anyway: `limactl-autostart enable default --condition=login`$/;
    const r = migrateLeavesAlone(sb, 'hand-edited-keys/io.lima-vm.autostart.default.plist', sb.agentPlist(), (t) => t, why);
    assert.ok(r.stderr.includes('info: migrate: rewrote 0, 0 up to date, left 1 alone\n'), show(r));
  });

  it('a hand-added PATH (lima-vm/lima#2444) whose directories are all kept is rewritten', () => {
    const sb = sandbox('darwin');
    placeFixture(sb, 'hand-edited-path/io.lima-vm.autostart.default.plist', sb.agentPlist());
    ok(sb.run(['migrate']));
    assert.equal(readFileSync(sb.agentPlist(), 'utf8'), freshlyEnabled(make, sb, ['default', '--keep-alive=false'], (f) => f.agentPlist()));
  });

  it('a PATH with a directory limactl-autostart would drop (MacPorts) is left alone', () => {
    const sb = sandbox('darwin');
    const macports = (t: string): string => t.replace('<string>/opt/homebrew/bin:', '<string>/opt/local/bin:/opt/homebrew/bin:');
    migrateLeavesAlone(sb, 'hand-edited-path/io.lima-vm.autostart.default.plist', sb.agentPlist(), macports, /its PATH has directories limactl-autostart would drop: \/opt\/local\/bin\./);
  });

  for (const [what, edit, why] of [
    ['a plist that does not parse (cut short)', (t: string) => t.slice(0, 300), /it is not a property list that can be read/],
    ['a plist whose Label is not the file\'s', (t: string) => t.replace('<string>io.lima-vm.autostart.default</string>', '<string>com.example.vm</string>'), /its Label is "com\.example\.vm", not "io\.lima-vm\.autostart\.default"/],
    ['a plist that runs something else', (t: string) => t.replace('<string>start</string>', '<string>shell</string>'), /it does not run `limactl start default --foreground`/],
    ['a plist with another environment variable', (t: string) => t.replace('<key>RunAtLoad</key>', '<key>EnvironmentVariables</key><dict><key>QEMU_SYSTEM_AARCH64</key><string>/opt/qemu</string></dict><key>RunAtLoad</key>'), /it sets environment variables limactl-autostart does not set: QEMU_SYSTEM_AARCH64/],
  ] as const) {
    it(`${what} is left alone`, () => {
      const sb = sandbox('darwin');
      migrateLeavesAlone(sb, AGENT_FIXTURE, sb.agentPlist(), edit, why);
    });
  }

  it('an instance registered both at login and at boot: both files are left alone', () => {
    const sb = sandbox('darwin');
    const agent = placeFixture(sb, AGENT_FIXTURE, sb.agentPlist());
    const daemon = placeFixture(sb, DAEMON_FIXTURE, sb.daemonPlist('default'), (t) => t.replaceAll('k3s', 'default'));
    const r = ok(sb.run(['migrate'], ALICE));
    assert.equal(readFileSync(sb.agentPlist(), 'utf8'), agent);
    assert.equal(readFileSync(sb.daemonPlist('default'), 'utf8'), daemon);
    for (const file of [sb.agentPlist(), sb.daemonPlist('default')]) leftAlone(r, file, /"default" is registered both at login and at boot/);
    assert.deepEqual(changes(sb), []);
  });

  it('a registration of an instance that is gone is left alone, with the command that removes it', () => {
    const sb = sandbox('darwin', ['default']);
    const old = placeFixture(sb, DAEMON_FIXTURE, sb.daemonPlist('k3s'));
    const r = ok(sb.run(['migrate'], ALICE));
    assert.equal(readFileSync(sb.daemonPlist('k3s'), 'utf8'), old);
    leftAlone(r, sb.daemonPlist('k3s'), /instance "k3s" not found in .*`limactl-autostart disable k3s` removes the registration/);
  });

  it('a registration that starts the instance in another LIMA_HOME is left alone: migrate says which LIMA_HOME to use', () => {
    const sb = sandbox('darwin');
    const old = placeFixture(sb, AGENT_FIXTURE, sb.agentPlist());
    const other = path.join(sb.root, 'other lima');
    mkdirSync(path.join(other, 'default'), { recursive: true });
    writeFileSync(path.join(other, 'default', 'lima.yaml'), '');
    // Lima's file has no LIMA_HOME: its job used Lima's default, ~/.lima.
    const r = ok(sb.run(['migrate'], { LIMA_HOME: other }));
    assert.equal(readFileSync(sb.agentPlist(), 'utf8'), old);
    leftAlone(r, sb.agentPlist(), new RegExp(`LIMA_HOME=${sb.limaHome.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, and this run's LIMA_HOME is .*other lima`));
  });

  it('a file from an older limactl-autostart keeps its keep-alive=false; one from a newer version is left alone', () => {
    const sb = sandbox('darwin');
    ok(sb.run(['enable', 'default', '--keep-alive=false']));
    ok(sb.run(['enable', 'k3s', '--condition=boot']));
    const current = readFileSync(sb.agentPlist(), 'utf8');
    // An older version with another ThrottleInterval, say.
    const older = current.replace(`limactl-autostart ${VERSION}:`, 'limactl-autostart 0.0.9:').replace('<integer>30</integer>', '<integer>10</integer>');
    assert.notEqual(older.replace('0.0.9', VERSION), current);
    writeFileSync(sb.agentPlist(), older);
    const newer = readFileSync(sb.daemonPlist('k3s'), 'utf8').replace(`limactl-autostart ${VERSION}:`, 'limactl-autostart 9.0.0:');
    writeFileSync(sb.daemonPlist('k3s'), newer);
    sb.clearCalls();
    const r = ok(sb.run(['migrate']));
    assert.equal(readFileSync(sb.agentPlist(), 'utf8'), current);
    assert.ok(r.stderr.includes(`(written by limactl-autostart 0.0.9): condition=login, keep-alive=false (from its header)`), show(r));
    assert.equal(readFileSync(sb.daemonPlist('k3s'), 'utf8'), newer);
    leftAlone(r, sb.daemonPlist('k3s'), /written by limactl-autostart 9\.0\.0, which is newer than this one/);
  });

  it('a foreign KeepAlive <false/> is kept as keep-alive=false', () => {
    const sb = sandbox('darwin');
    placeFixture(sb, AGENT_FIXTURE, sb.agentPlist(), (t) => t.replace('<key>RunAtLoad</key>', '<key>KeepAlive</key>\n\t<false/>\n\t<key>RunAtLoad</key>'));
    const r = ok(sb.run(['migrate']));
    assert.equal(readFileSync(sb.agentPlist(), 'utf8'), freshlyEnabled(make, sb, ['default', '--keep-alive=false'], (f) => f.agentPlist()));
    assert.match(r.stderr, /keep-alive=false \(from its settings\)/);
  });

  it('--dry-run prints each plan on stdout and changes nothing', () => {
    const sb = sandbox('darwin');
    placeFixture(sb, AGENT_FIXTURE, sb.agentPlist());
    placeFixture(sb, DAEMON_FIXTURE, sb.daemonPlist('k3s'));
    const before = sb.snapshot();
    const r = ok(sb.run(['migrate', '--dry-run'], ALICE));
    assert.deepEqual(sb.snapshot(), before);
    assert.deepEqual(changes(sb), []);
    // The plans' headers, without the undo each command would get if a later step failed.
    const headers = r.stdout.split('\n').filter((l) => l.startsWith('# ') && !l.startsWith('# if a step fails') && !l.startsWith('#   after '));
    assert.deepEqual(headers, [
      '# enable "default" at login (launchd, keep-alive false)',
      '# dry run: nothing below was done',
      '# enable "k3s" at boot (launchd, keep-alive false)',
      '# dry run: nothing below was done',
    ]);
    // The plist shown is the one a real run writes.
    const shown = /<<'EOF'\n([\s\S]*?)\nEOF/.exec(r.stdout)![1]!;
    assert.deepEqual(parse(shown), parse(freshlyEnabled(make, sb, ['default', '--keep-alive=false'], (f) => f.agentPlist())));
    assert.ok(r.stderr.includes('info: would rewrite the LaunchAgent '), show(r));
    assert.ok(r.stderr.includes('info: migrate: would rewrite 2, 0 up to date, left 0 alone\n'), show(r));
  });

  it('with nothing registered: says so, exit 0, changes nothing', () => {
    const sb = sandbox('darwin');
    const before = sb.snapshot();
    const r = ok(sb.run(['migrate']));
    assert.equal(r.stderr, 'info: no autostart registrations in Lima\'s locations; nothing to do\n');
    assert.deepEqual(sb.snapshot(), before);
    assert.deepEqual(sb.calls(), []);
  });

  it('a failure on one registration (sudo tee) leaves that file as it was, migrates the others, and exits 1', () => {
    const sb = sandbox('darwin');
    placeFixture(sb, AGENT_FIXTURE, sb.agentPlist());
    const daemon = placeFixture(sb, DAEMON_FIXTURE, sb.daemonPlist('k3s'));
    sb.failAlways('sudo', 'tee', 1);
    const r = sb.run(['migrate'], ALICE);
    assert.equal(r.code, 1, show(r));
    assert.equal(readFileSync(sb.agentPlist(), 'utf8'), freshlyEnabled(make, sb, ['default', '--keep-alive=false'], (f) => f.agentPlist(), ALICE));
    assert.equal(readFileSync(sb.daemonPlist('k3s'), 'utf8'), daemon);
    assert.match(r.stderr, /^error: enable "k3s" at boot \(launchd, keep-alive false\): step \d+ of \d+ failed: `sudo tee -- .* exited with code 1: sudo: failing with exit code 1, as the test asked$/m);
    assert.match(r.stderr, /^error: 1 of 2 registrations could not be rewritten; each was left as it was$/m);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  });
});

describe('migrate on Linux', () => {
  const make = sandboxPool();
  const sandbox = (platform: Platform, instances = ['default', 'k3s']): Sandbox => make({ platform, instances });
  const UNIT = 'lima-vm@default.service';

  it('rewrites Lima\'s unit (WantedBy=multi-user.target) at login, keep-alive from Restart=on-failure, and reenables it', () => {
    const sb = sandbox('linux');
    placeFixture(sb, UNIT_FIXTURE, sb.unitFile());
    const r = ok(sb.run(['migrate']));
    assert.equal(readFileSync(sb.unitFile(), 'utf8'), freshlyEnabled(make, sb, ['default'], (f) => f.unitFile()));
    assert.deepEqual(sb.calls(), [['systemctl', '--user', 'show-environment'], ['systemctl', '--user', 'daemon-reload'], ['systemctl', '--user', 'reenable', UNIT]]);
    assert.ok(r.stderr.includes(`info: rewriting the user unit ${sb.unitFile()} (not written by limactl-autostart): condition=login (lingering is off for limauser), keep-alive=true (from its settings)\n`), show(r));
    assert.match(r.stderr, /the new unit applies from its next start/);
  });

  it('with lingering on, Lima\'s unit is taken as registered for boot; lingering is left as it was', () => {
    const sb = sandbox('linux');
    placeFixture(sb, UNIT_FIXTURE, sb.unitFile());
    mkdirSync(path.dirname(sb.lingerFile()), { recursive: true });
    writeFileSync(sb.lingerFile(), '');
    const r = ok(sb.run(['migrate']));
    assert.match(readFileSync(sb.unitFile(), 'utf8'), /condition=boot keep-alive=true/);
    assert.ok(r.stderr.includes('condition=boot (lingering is on for limauser)'), show(r));
    assert.ok(r.stderr.includes('info: lingering was already on for limauser; disable will leave it on\n'), show(r));
    assert.ok(!sb.calls().some((c) => c[0] === 'loginctl'));
    assert.ok(existsSync(sb.lingerFile()));
  });

  it('Restart=no is kept as keep-alive=false', () => {
    const sb = sandbox('linux');
    placeFixture(sb, UNIT_FIXTURE, sb.unitFile(), (t) => t.replace('Restart=on-failure', 'Restart=no'));
    ok(sb.run(['migrate']));
    assert.equal(readFileSync(sb.unitFile(), 'utf8'), freshlyEnabled(make, sb, ['default', '--keep-alive=false'], (f) => f.unitFile()));
  });

  for (const [what, edit, why] of [
    ['a unit with a setting limactl-autostart does not write', (t: string) => t.replace('[Service]', '[Service]\nNice=10'), /it has settings limactl-autostart does not write: Service\.Nice/],
    ['a unit with another ExecStart', (t: string) => t.replace('start %i --foreground', 'shell %i'), /it does not run `limactl start default --foreground`/],
    ['a unit that is not a unit', () => 'this is not\na unit file\n', /it is not a unit file that can be read/],
  ] as const) {
    it(`${what} is left alone`, () => {
      const sb = sandbox('linux');
      migrateLeavesAlone(sb, UNIT_FIXTURE, sb.unitFile(), edit, why);
    });
  }
});

describe('migrate: bad input', () => {
  const make = sandboxPool();
  const sandbox = (platform: Platform, instances = ['default', 'k3s']): Sandbox => make({ platform, instances });
  it('an unknown flag or an argument: exit 2, nothing run', () => {
    const sb = sandbox('darwin');
    for (const [args, message] of [[['migrate', '--now'], /^error: unknown option "--now"$/m], [['migrate', 'default'], /^error: unexpected "default": migrate takes no other word$/m]] as const) {
      const r = sb.run([...args]);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, message);
      assert.deepEqual(sb.allCalls(), []);
    }
  });
});
