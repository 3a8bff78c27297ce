import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Sandbox, findTool, show, type RunResult } from './helpers.js';

// Bad input: a clear message on stderr (what, why, what to do), the documented exit code,
// no stack trace, nothing written and nothing run.
function assertRefused(sb: Sandbox, args: string[], code: number, message: RegExp, env: Record<string, string | undefined> = {}): RunResult {
  const before = sb.snapshot();
  const result = sb.run(args, env);
  assert.equal(result.code, code, show(result));
  assert.match(result.stderr, message, show(result));
  assert.match(result.stderr, /^error: /m, show(result));
  assert.doesNotMatch(result.stderr, /^\s+at /m, `stack trace in:\n${result.stderr}`);
  assert.equal(result.stdout, '', show(result));
  assert.deepEqual(sb.snapshot(), before);
  assert.deepEqual(sb.calls(), []);
  return result;
}

describe('bad input', () => {
  let sb: Sandbox;
  beforeEach(() => { sb = new Sandbox({ platform: 'darwin' }); });
  afterEach(() => sb.cleanup());

  // A name starting with '-' is read as a flag: see the test of '-a' below.
  const invalidNames = ['a/b', '../default', 'a..b', 'a-', '.a', 'with space', 'default\n', 'ünï', 'x'.repeat(77)];
  for (const name of invalidNames) {
    it(`refuses the instance name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)} with exit 2`, () => {
      assertRefused(sb, ['enable', name], 2, /invalid instance name/);
      assertRefused(sb, ['disable', name], 2, /invalid instance name/);
    });
  }

  it('accepts a 76-character name made of Lima-legal parts (and says it is not found)', () => {
    const name = `a.b_c-${'d'.repeat(70)}`;
    assert.equal(name.length, 76);
    assertRefused(sb, ['enable', name], 1, new RegExp(`instance "${name}" not found in ${sb.limaHome.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('says which LIMA_HOME it looked in when the instance does not exist, exit 1', () => {
    const r = assertRefused(sb, ['enable', 'nosuch'], 1, /instance "nosuch" not found in /);
    assert.match(r.stderr, /limactl list/);
  });

  it('refuses an unknown flag with exit 2', () => {
    assertRefused(sb, ['enable', 'default', '--bogus'], 2, /^error: unknown option "--bogus"$/m);
  });

  it('refuses an unknown condition with exit 2', () => {
    assertRefused(sb, ['enable', 'default', '--condition=reboot'], 2, /condition.*reboot|reboot.*condition/i);
  });

  it('refuses a keep-alive value that is not a boolean with exit 2', () => {
    assertRefused(sb, ['enable', 'default', '--keep-alive=maybe'], 2, /--keep-alive takes true or false, not "maybe"/);
    assertRefused(sb, ['enable', 'default', '--now=yes'], 2, /--now takes true or false/);
  });

  it('treats a name starting with "-" as an unknown flag when given without --, with exit 2', () => {
    assertRefused(sb, ['enable', '-a'], 2, /^error: unknown option "-a"$/m);
  });

  it('refuses enable and disable without an instance, with exit 2, saying where names come from', () => {
    for (const command of ['enable', 'disable']) {
      const r = assertRefused(sb, [command], 2, new RegExp(`^error: ${command} needs INSTANCE, the name of a Lima instance$`, 'm'));
      assert.match(r.stderr, /Run `limactl list` to see the names of your instances/);
      assert.doesNotMatch(r.stderr, /Not enough non-option arguments/);
    }
  });

  it('a mistyped command: did you mean …?, exit 2', () => {
    assertRefused(sb, ['enabel', 'default'], 2, /^error: unknown command "enabel": did you mean enable\?$/m);
    assertRefused(sb, ['stauts'], 2, /did you mean status\?/);
  });

  it('refuses an unknown command and no command, with exit 2', () => {
    assertRefused(sb, ['frobnicate', 'default'], 2, /^error: unknown command "frobnicate"$/m);
    assertRefused(sb, [], 2, /Name a command/);
  });

  it('fails with exit 1 when no limactl is on PATH', () => {
    const bare = new Sandbox({ platform: 'darwin', without: ['limactl'] });
    try {
      const r = assertRefused(bare, ['enable', 'default'], 1, /limactl was not found on PATH/);
      assert.match(r.stderr, /Install Lima|add its bin directory to PATH/);
    } finally {
      bare.cleanup();
    }
  });

  it('fails with exit 1 on an unsupported platform', () => {
    const win = new Sandbox({ platform: 'win32' });
    try {
      assertRefused(win, ['enable', 'default'], 1, /does not support the platform "win32"/);
      assertRefused(win, ['disable', 'default'], 1, /does not support the platform "win32"/);
    } finally {
      win.cleanup();
    }
  });

  it('refuses a relative HOME with exit 1', () => {
    assertRefused(sb, ['enable', 'default'], 1, /HOME is "relative\/home", not an absolute path/, { HOME: 'relative/home' });
  });
});

describe('help and version', () => {
  let sb: Sandbox;
  beforeEach(() => { sb = new Sandbox({ platform: 'darwin' }); });
  afterEach(() => sb.cleanup());

  it('--help lists both commands and exits 0 without running anything', () => {
    const r = sb.run(['--help']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /enable <instance>/);
    assert.match(r.stdout, /disable <instance>/);
    assert.deepEqual(sb.calls(), []);
  });

  it('enable --help shows every flag', () => {
    const r = sb.run(['enable', '--help']);
    assert.equal(r.code, 0, show(r));
    for (const flag of ['--condition', '--keep-alive', '--user', '--now', '--dry-run']) assert.ok(r.stdout.includes(flag), `${flag} missing from:\n${r.stdout}`);
    assert.match(r.stdout, /"login", "boot"/);
    assert.match(r.stdout.replace(/\s+/g, ' '), /--user macOS with --condition=boot only:/);
  });
});

describe('paths that no service file can hold', () => {
  it('refuses a LIMA_HOME with a newline in it, exit 1, nothing written', () => {
    const sb = new Sandbox({ platform: 'linux', limaHomeName: 'lima\nhome' });
    try {
      assertRefused(sb, ['enable', 'default'], 1, /LIMA_HOME .* contains a control character/);
    } finally {
      sb.cleanup();
    }
  });
});

describe('a service manager that is not installed', () => {
  it('a macOS plan previewed without launchctl (`npm run demo` on Linux) says what it assumes, not that gui/<uid> is missing', function () {
    if (findTool('launchctl')) {
      console.log('      skipped: this machine has a launchctl of its own (macOS), so no PATH lacks it');
      this.skip();
    }
    const sb = new Sandbox({ platform: 'darwin', without: ['launchctl'] });
    try {
      const r = sb.run(['enable', 'default', '--dry-run']);
      assert.equal(r.code, 0, show(r));
      assert.equal(r.stderr, `warning: launchctl cannot be run here, so this is a preview: it assumes a GUI login (gui/${sb.uid})\n`);
      assert.match(r.stdout, new RegExp(`launchctl enable gui/${sb.uid}/io\\.lima-vm\\.autostart\\.default`));
    } finally {
      sb.cleanup();
    }
  });

  it('names the command that could not be run and why, exit 1, without a stack trace', () => {
    const sb = new Sandbox({ platform: 'linux', without: ['systemctl'] });
    try {
      // Only the sandbox's directory on PATH: this machine's own systemctl must not be found.
      const r = sb.run(['enable', 'default', '--now'], { PATH: sb.bin });
      assert.equal(r.code, 1, show(r));
      // Asked before any step: is there a user manager? Without systemctl, there is none.
      assert.match(r.stderr, /^error: no systemd user manager answers: `systemctl --user show-environment` could not be run: spawn systemctl ENOENT \(not found on PATH\)$/m, show(r));
      assert.match(r.stderr, /Nothing was changed/);
      assert.ok(!existsSync(sb.unitFile()), 'no unit written');
      assert.doesNotMatch(r.stderr, /^\s+at /m, `stack trace in:\n${r.stderr}`);
    } finally {
      sb.cleanup();
    }
  });
});
