import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { binaryLimactlUnavailable, ROOT, Sandbox, show, type RunResult } from './helpers.js';

// The Lima version: `limactl --version` is asked once per run, with a short timeout, by the commands that
// write registrations and by --version, and compared with plugin.yaml's range. Whatever limactl
// answers (or does not answer), the command goes on and does its work.

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const RANGE = />=2\.0\.0 <3\.0\.0/.source;

interface Case {
  name: string;
  env: Record<string, string>;
  /** What --version prints for limactl. */
  shown: string;
  /** The advice on stderr: a regexp per line, in order. */
  advice: RegExp[];
}

const CASES: Case[] = [
  {
    name: 'limactl version 1.2.0 (older than plugins)',
    env: { FAKE_LIMA_VERSION: '1.2.0' },
    shown: '1.2.0',
    advice: [new RegExp(`^warning: Lima 1\\.2\\.0 is older than this plugin needs \\(${RANGE}\\): \`limactl autostart\` will not find it, because Lima runs plugins from 2\\.0 on\\. Run \`limactl-autostart …\` directly, or upgrade Lima\\.$`)],
  },
  { name: 'limactl version 2.0.3 (in range, before the built-in command)', env: { FAKE_LIMA_VERSION: '2.0.3' }, shown: '2.0.3', advice: [] },
  {
    name: 'limactl version 2.2.0-beta.1 (a pre-release of 2.2: the built-in command wins)',
    env: { FAKE_LIMA_VERSION: '2.2.0-beta.1' },
    shown: '2.2.0-beta.1',
    advice: [/^info: on Lima 2\.2\.0-beta\.1, `limactl autostart` runs Lima's built-in command, not this plugin; call this plugin as `limactl-autostart …`$/],
  },
  {
    name: 'limactl version 3.0.0 (newer than the range)',
    env: { FAKE_LIMA_VERSION: '3.0.0' },
    shown: '3.0.0',
    advice: [new RegExp(`^warning: Lima 3\\.0\\.0 is newer than the versions limactl-autostart is made for \\(${RANGE}\\); going on$`), /^info: on Lima 3\.0\.0, `limactl autostart` runs Lima's built-in command/],
  },
  {
    name: 'a garbage version string',
    env: { FAKE_LIMA_VERSION: 'garbage-123' },
    shown: 'unknown',
    advice: [new RegExp(`^warning: could not read Lima's version from \`.*/limactl --version\`, which printed "limactl version garbage-123"; limactl-autostart is made for Lima ${RANGE}; going on$`)],
  },
  {
    name: 'a limactl that hangs (killed after the timeout)',
    env: { FAKE_LIMA_HANG: '1' },
    shown: 'unknown',
    advice: [/^warning: could not learn Lima's version: `.*\/limactl --version`: it did not answer within 2 s; going on without it$/],
  },
];

function adviceLines(r: RunResult): string[] {
  return r.stderr.split('\n').filter((l) => /^(warning|info): (Lima |on Lima |could not (read|learn) Lima)/.test(l));
}

function assertAdvice(r: RunResult, advice: RegExp[]): void {
  const lines = adviceLines(r);
  assert.equal(lines.length, advice.length, show(r));
  advice.forEach((re, i) => assert.match(lines[i]!, re, show(r)));
}

describe('the Lima version', () => {
  let sb: Sandbox;
  afterEach(() => sb?.cleanup());

  for (const c of CASES) {
    describe(c.name, () => {
      it('--version prints both versions, says what the user should know, exits 0', () => {
        sb = new Sandbox({ platform: 'darwin' });
        const r = sb.run(['--version'], c.env);
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout, `limactl-autostart version ${VERSION}\nlimactl version ${c.shown} (${sb.limactl})\n`);
        assertAdvice(r, c.advice);
        assert.equal(sb.versionProbes(), 1);
      });

      it('enable says the same and registers the instance all the same', () => {
        sb = new Sandbox({ platform: 'linux' });
        const r = sb.run(['enable', 'default'], c.env);
        assert.equal(r.code, 0, show(r));
        assertAdvice(r, c.advice);
        assert.ok(existsSync(sb.unitFile()));
        assert.equal(sb.versionProbes(), 1);
        assert.doesNotMatch(r.stderr, /^\s+at /m);
      });
    });
  }

  it('a limactl whose --version fails: a warning with its exit code and error, and enable goes on', () => {
    sb = new Sandbox({ platform: 'darwin' });
    sb.failAlways('limactl', '--version', 3);
    const r = sb.run(['enable', 'default']);
    assert.equal(r.code, 0, show(r));
    assertAdvice(r, [/^warning: could not learn Lima's version: `.*\/limactl --version`: it exited with code 3: limactl: failing with exit code 3, as the test asked; going on without it$/]);
    assert.ok(existsSync(sb.agentPlist()));
  });

  it('--version without limactl on PATH says so and exits 0', () => {
    sb = new Sandbox({ platform: 'darwin', without: ['limactl'] });
    const r = sb.run(['--version']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, `limactl-autostart version ${VERSION}\nlimactl not found on PATH\n`);
    assert.equal(r.stderr, '');
  });

  it('with --dry-run the warning of an old Lima is on stderr, and stdout holds the plan alone', () => {
    sb = new Sandbox({ platform: 'darwin' });
    const r = sb.run(['enable', 'default', '--dry-run'], { FAKE_LIMA_VERSION: '1.2.0' });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^# enable "default" at login/);
    assert.doesNotMatch(r.stdout, /Lima 1\.2\.0/);
    assertAdvice(r, CASES[0]!.advice);
  });

  describe('who asks', () => {
    const asks: Array<[string, string[], number]> = [
      ['enable', ['enable', 'default'], 1],
      ['enable --dry-run', ['enable', 'default', '--dry-run'], 1],
      ['migrate', ['migrate'], 1],
      ['start-at-login', ['start-at-login'], 1],
      // disable needs no limactl (it works after Lima is gone), so it does not ask.
      ['disable', ['disable', 'default'], 0],
      ['start-at-login --enabled=false', ['start-at-login', '--enabled=false'], 0],
      ['--help', ['--help'], 0],
      ['enable --help', ['enable', '--help'], 0],
      // Bad input is refused before anything runs.
      ['enable with an invalid name', ['enable', '../x'], 0],
      ['enable of an instance that does not exist', ['enable', 'nosuch'], 0],
    ];
    for (const [what, args, probes] of asks) {
      it(`${what}: ${probes === 0 ? 'does not run limactl' : 'runs limactl --version once'}`, () => {
        sb = new Sandbox({ platform: 'darwin' });
        sb.run(args);
        assert.equal(sb.versionProbes(), probes, JSON.stringify(sb.allCalls()));
      });
    }
  });
});

describe('the Lima version of a limactl binary', () => {
  let sb: Sandbox;
  before(function () {
    const why = binaryLimactlUnavailable();
    if (!why) return;
    if (process.env.CI === 'true') throw new Error(`CI=true, and ${why}`);
    console.log(`    skipped, the tests of a compiled limactl: ${why}`);
    this.skip();
  });
  afterEach(() => sb?.cleanup());

  it('is asked on every run, once per run, and nothing is remembered', () => {
    sb = new Sandbox({ platform: 'linux' });
    sb.useBinaryLimactl();
    const lima22 = { FAKE_LIMA_VERSION: '2.2.0' };
    const first = sb.run(['enable', 'default', '--dry-run'], lima22);
    assert.equal(first.code, 0, show(first));
    assert.equal(adviceLines(first).length, 1, show(first));
    const again = sb.run(['enable', 'default', '--dry-run'], lima22);
    assert.equal(again.stdout, first.stdout);
    assert.equal(again.stderr, first.stderr);
    const version = sb.run(['--version'], lima22);
    assert.equal(version.stdout, `limactl-autostart version ${VERSION}\nlimactl version 2.2.0 (${sb.limactl})\n`);
    assert.deepEqual(adviceLines(version), adviceLines(first));
    assert.equal(sb.versionProbes(), 3, JSON.stringify(sb.allCalls()));
    // An upgrade of Lima at the same path is seen at once.
    assertAdvice(sb.run(['enable', 'default', '--dry-run'], { FAKE_LIMA_VERSION: '1.2.0' }), CASES[0]!.advice);
    assert.equal(sb.versionProbes(), 4);
    assert.ok(!existsSync(sb.cacheHome), 'something was written to XDG_CACHE_HOME');
  });
});
