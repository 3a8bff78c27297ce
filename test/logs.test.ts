import assert from 'node:assert/strict';
import { appendFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Sandbox, show, type RunResult } from './helpers.js';
import { placeFixture } from './fixture.js';

// `logs` end to end: on macOS the files the registration names and Lima's ha.stderr.log, read
// here or followed by the real tail(1); on Linux the journal, through the journalctl stand-in, and
// ha.stderr.log the same way.

function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, show(result));
  return result;
}

/** `count` numbered lines: "NAME line 1" … */
function numbered(name: string, count: number): string {
  return Array.from({ length: count }, (_, i) => `${name} line ${i + 1}\n`).join('');
}

describe('logs (macOS)', () => {
  let sb: Sandbox;
  let dir: string;
  beforeEach(() => {
    sb = new Sandbox();
    dir = path.join(sb.limaHome, 'default');
  });
  afterEach(() => sb.cleanup());

  it('shows the files the plist names and Lima\'s ha.stderr.log, each under a heading, the last 50 lines by default; a missing file is said', () => {
    ok(sb.run(['enable', 'default']));
    writeFileSync(path.join(dir, 'launchd.stderr.log'), numbered('launchd', 3));
    writeFileSync(path.join(dir, 'ha.stderr.log'), numbered('ha', 60));
    sb.clearCalls();
    const r = ok(sb.run(['logs', 'default']));
    assert.equal(r.stdout, [
      `==> ${path.join(dir, 'launchd.stdout.log')} <==`,
      '(no such file: nothing was written to it yet)',
      '',
      `==> ${path.join(dir, 'launchd.stderr.log')} <==`,
      numbered('launchd', 3),
      `==> ${path.join(dir, 'ha.stderr.log')} <==`,
      numbered('ha', 60).split('\n').slice(10).join('\n'),
    ].join('\n'));
    assert.equal(r.stderr, '');
    // Reading files asks no one anything.
    assert.deepEqual(sb.allCalls(), []);
  });

  it('-n LINES: the last LINES lines of each file, the whole file when it has fewer; a file without a last newline too', () => {
    ok(sb.run(['enable', 'default']));
    writeFileSync(path.join(dir, 'launchd.stdout.log'), 'only line');
    writeFileSync(path.join(dir, 'ha.stderr.log'), numbered('ha', 200_000));
    const r = ok(sb.run(['logs', 'default', '-n', '2']));
    assert.match(r.stdout, /launchd\.stdout\.log <==\nonly line\n\n==>/);
    assert.match(r.stdout, /ha\.stderr\.log <==\nha line 199999\nha line 200000\n$/);
    const many = ok(sb.run(['logs', 'default', '--lines=40000']));
    const ha = many.stdout.slice(many.stdout.indexOf('ha.stderr.log <==\n') + 'ha.stderr.log <==\n'.length);
    assert.equal(ha.split('\n').length - 1, 40_000);
    assert.ok(ha.startsWith('ha line 160001\n'), ha.slice(0, 40));
    assert.match(ok(sb.run(['logs', 'default', '-n', '0'])).stdout, /ha\.stderr\.log <==\n$/);
  });

  it('an instance without a registration: Lima\'s own log alone', () => {
    writeFileSync(path.join(dir, 'ha.stderr.log'), 'booting\n');
    const r = ok(sb.run(['logs', 'default']));
    assert.equal(r.stdout, `==> ${path.join(dir, 'ha.stderr.log')} <==\nbooting\n`);
  });

  it('a plist Lima wrote: its relative log paths are read where launchd writes them, in its WorkingDirectory', () => {
    placeFixture(sb, 'lima-1.0.1/io.lima-vm.autostart.default.plist', sb.agentPlist());
    writeFileSync(path.join(dir, 'launchd.stderr.log'), 'from limactl start\n');
    const r = ok(sb.run(['logs', 'default']));
    assert.match(r.stdout, new RegExp(`==> ${path.join(dir, 'launchd.stderr.log').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} <==\nfrom limactl start\n`));
  });

  it('a plist that cannot be read: said on stderr, Lima\'s log still shown', () => {
    ok(sb.run(['enable', 'default']));
    writeFileSync(sb.agentPlist(), 'not a plist');
    writeFileSync(path.join(dir, 'ha.stderr.log'), 'booting\n');
    const r = ok(sb.run(['logs', 'default']));
    assert.match(r.stderr, /^warning: .*io\.lima-vm\.autostart\.default\.plist: it is not a property list that can be read .*; the log files it names are not shown\n$/);
    assert.equal(r.stdout, `==> ${path.join(dir, 'ha.stderr.log')} <==\nbooting\n`);
  });

  it('-f: tail -F follows every file, a missing one too, until a signal ends it (exit 128 + the signal)', async () => {
    ok(sb.run(['enable', 'default']));
    writeFileSync(path.join(dir, 'ha.stderr.log'), numbered('ha', 5));
    const run = sb.start(['logs', 'default', '-f', '-n', '2']);
    await run.until('tail printed the last 2 lines', () => run.stdout.includes('ha line 5\n'));
    appendFileSync(path.join(dir, 'ha.stderr.log'), 'a new line\n');
    await run.until('tail printed the new line', () => run.stdout.includes('a new line\n'));
    run.kill('SIGTERM');
    // The result comes once the output is closed: by tail too, which is gone.
    const r = await run.result;
    assert.equal(r.code, 143, show(r));
    assert.match(r.stdout, /ha\.stderr\.log <==\nha line 4\nha line 5\na new line\n/);
    assert.ok(!r.stdout.includes('ha line 3'), r.stdout);
    assert.match(r.stderr, /info: .*launchd\.stdout\.log does not exist yet: it is followed once it appears/);
  });

  it('-f with a single file: the same heading as tail gives several', async () => {
    writeFileSync(path.join(dir, 'ha.stderr.log'), 'booting\n');
    const run = sb.start(['logs', 'default', '--follow']);
    await run.until('tail printed the file', () => run.stdout.includes('booting\n'));
    run.kill('SIGINT');
    const r = await run.result;
    assert.equal(r.code, 130, show(r));
    assert.equal(r.stdout, `==> ${path.join(dir, 'ha.stderr.log')} <==\nbooting\n`);
  });

  it('what a log holds is shown with its control characters escaped, tab aside, and each line cut after 4096 characters', () => {
    const haLog = path.join(dir, 'ha.stderr.log');
    writeFileSync(haLog, `a\ttab\n\x1b]0;retitled\x07\x1b[2Jcleared\rback\n${'x'.repeat(5000)}\n`);
    const r = ok(sb.run(['logs', 'default']));
    assert.equal(r.stdout, `==> ${haLog} <==\na\ttab\n\\x1b]0;retitled\\x07\\x1b[2Jcleared\\x0dback\n${'x'.repeat(4096)}… (5000 characters)\n`);
  });

  it('-f: what tail shows is escaped the same way', async () => {
    const haLog = path.join(dir, 'ha.stderr.log');
    writeFileSync(haLog, 'booting\n');
    const run = sb.start(['logs', 'default', '-f']);
    await run.until('tail printed the file', () => run.stdout.includes('booting\n'));
    appendFileSync(haLog, '\x1b[2Jcleared\n');
    await run.until('tail printed the line written later', () => run.stdout.includes('cleared\n'));
    run.kill('SIGTERM');
    const r = await run.result;
    assert.equal(r.code, 143, show(r));
    assert.equal(r.stdout, `==> ${haLog} <==\nbooting\n\\x1b[2Jcleared\n`);
  });

  it('an instance neither in LIMA_HOME nor registered: exit 1, said', () => {
    const r = sb.run(['logs', 'nope']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /^error: no instance "nope" in .*, and no autostart registration for it\n/);
  });

  it('a deleted instance that is still registered: its logs are still shown', () => {
    ok(sb.run(['enable', 'default']));
    writeFileSync(path.join(dir, 'launchd.stderr.log'), 'last words\n');
    const yaml = path.join(dir, 'lima.yaml');
    rmSync(yaml);
    assert.ok(!existsSync(yaml));
    const r = ok(sb.run(['logs', 'default']));
    assert.match(r.stdout, /launchd\.stderr\.log <==\nlast words\n/);
  });

  for (const [args, message] of [
    [['logs'], /^error: logs needs INSTANCE, the name of a Lima instance\n/],
    [['logs', 'bad name'], /^error: invalid instance name "bad name"/],
    [['logs', 'default', '-n', 'many'], /^error: -n \(--lines\) takes a whole number of lines up to 1000000, not "many"/],
    [['logs', 'default', '-n', '-3'], /^error: -n \(--lines\) takes a whole number of lines up to 1000000, not "-3"/],
    [['logs', 'default', '-n', '2', '-n', '3'], /^error: -n \(--lines\) takes a whole number of lines up to 1000000, not "2 3"/],
    [['logs', 'default', '--follow=yes'], /^error: --follow takes true or false, not "yes"/],
  ] as const) {
    it(`${args.join(' ')}: usage error, exit 2`, () => {
      const r = sb.run([...args]);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    });
  }
});

describe('logs (Linux)', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = new Sandbox({ platform: 'linux' });
  });
  afterEach(() => sb.cleanup());

  const journalctl = (sb: Sandbox): string[][] => sb.calls().filter((c) => c[0] === 'journalctl');

  it('journalctl --user -u lima-vm@INSTANCE.service, with -n passed on, its output line by line (escaped, as a later test shows); then the last lines of the host agent\'s ha.stderr.log', () => {
    ok(sb.run(['enable', 'default']));
    sb.journal('Nov 27 10:00:00 host limactl[42]: booting\n');
    const haLog = path.join(sb.limaHome, 'default', 'ha.stderr.log');
    writeFileSync(haLog, Array.from({ length: 10 }, (_, i) => `{"level":"info","msg":"line ${i}"}\n`).join(''));
    const r = ok(sb.run(['logs', 'default', '-n', '7']));
    const last7 = Array.from({ length: 7 }, (_, i) => `{"level":"info","msg":"line ${i + 3}"}\n`).join('');
    assert.equal(r.stdout, `Nov 27 10:00:00 host limactl[42]: booting\n==> ${haLog} <==\n${last7}`);
    assert.deepEqual(journalctl(sb), [['journalctl', '--user', '-u', 'lima-vm@default.service', '-n', '7', '--no-pager']]);
    ok(sb.run(['logs', 'default']));
    assert.deepEqual(journalctl(sb).at(-1), ['journalctl', '--user', '-u', 'lima-vm@default.service', '-n', '50', '--no-pager']);
  });

  it('an instance without a unit: the journal all the same, and a host agent log not written yet', () => {
    const r = ok(sb.run(['logs', 'default']));
    assert.equal(r.stdout, `-- No entries --\n==> ${path.join(sb.limaHome, 'default', 'ha.stderr.log')} <==\n(no such file: nothing was written to it yet)\n`);
  });

  it('-f: journalctl -f and tail -F of ha.stderr.log side by side, until a signal ends them and it (exit 128 + the signal)', async () => {
    sb.journal('booting\n');
    const haLog = path.join(sb.limaHome, 'default', 'ha.stderr.log');
    writeFileSync(haLog, '{"msg":"first"}\n');
    const run = sb.start(['logs', 'default', '-f']);
    await run.until('journalctl printed the journal, tail the log', () => run.stdout.includes('booting\n') && run.stdout.includes('{"msg":"first"}\n'));
    appendFileSync(haLog, '{"msg":"later"}\n');
    await run.until('tail -F printed the line written later', () => run.stdout.includes('{"msg":"later"}\n'));
    run.kill('SIGTERM');
    const r = await run.result;
    assert.equal(r.code, 143, show(r));
    assert.deepEqual(journalctl(sb), [['journalctl', '--user', '-u', 'lima-vm@default.service', '-n', '50', '--no-pager', '-f']]);
  });

  it('the journal is shown escaped as the files are, with -f too', async () => {
    sb.journal('\x1b]0;retitled\x07booting\n');
    assert.equal(ok(sb.run(['logs', 'default'])).stdout.split('\n')[0], '\\x1b]0;retitled\\x07booting');
    const run = sb.start(['logs', 'default', '-f']);
    await run.until('journalctl printed the journal', () => run.stdout.includes('booting\n'));
    run.kill('SIGTERM');
    const r = await run.result;
    assert.equal(r.code, 143, show(r));
    assert.ok(r.stdout.includes('\\x1b]0;retitled\\x07booting\n') && !/[\x00-\x08\x0b-\x1f]/.test(r.stdout), JSON.stringify(r.stdout));
  });

  it('journalctl fails: exit 1, with its command and exit code', () => {
    sb.failAlways('journalctl', undefined, 1);
    const r = sb.run(['logs', 'default']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /journalctl: failing with exit code 1, as the test asked\nerror: `journalctl --user -u lima-vm@default\.service -n 50 --no-pager` exited with code 1\n/);
  });
});
