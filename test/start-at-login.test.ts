import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { START_AT_LOGIN_BIN, show, type Platform, type RunResult, type Sandbox } from './helpers.js';
import { sandboxPool, type MakeSandbox } from './pool.js';
import { normalizedCalls, normalizedSnapshot } from './fixture.js';

// Lima's deprecated `limactl start-at-login [INSTANCE] [--enabled[=BOOL]]`, reached two ways:
// `limactl-autostart start-at-login …` and the second executable `limactl-start-at-login …`.
// Each test runs the shim in one sandbox and the command it stands for in another, and requires
// the same files and the same calls; the shim adds one deprecation line on stderr, nothing else.

type Way = { name: string; run: (sb: Sandbox, args: string[]) => RunResult };
const WAYS: Way[] = [
  { name: 'limactl-autostart start-at-login', run: (sb, args) => sb.run(['start-at-login', ...args]) },
  { name: 'limactl-start-at-login', run: (sb, args) => sb.runBin(START_AT_LOGIN_BIN, args) },
];

function deprecation(replacement: string): string {
  return `warning: start-at-login is deprecated: use \`limactl-autostart ${replacement}\` instead\n`;
}

/**
 * Runs `setup` in two fresh sandboxes, then the shim in one and `equivalent` in the other, and
 * checks that both did the same: exit code, files, calls, version probe, stdout; and that the
 * shim's stderr is the deprecation line followed by exactly what the new command said.
 */
function sameAs(make: MakeSandbox, platform: Platform, way: Way, shimArgs: string[], equivalent: string[], replacement: string, setup: (sb: Sandbox) => void = () => {}): { got: RunResult; actual: Sandbox } {
  const expected = make({ platform, instances: ['default', 'k3s'] });
  const actual = make({ platform, instances: ['default', 'k3s'] });
  setup(expected);
  setup(actual);
  expected.clearCalls();
  actual.clearCalls();
  const want = expected.run(equivalent);
  const got = way.run(actual, shimArgs);
  assert.equal(got.code, want.code, `${show(got)}\n--- the new command:\n${show(want)}`);
  assert.equal(got.stdout, '', show(got));
  assert.equal(got.stderr, deprecation(replacement) + want.stderr.replaceAll(expected.root, actual.root), show(got));
  assert.deepEqual(normalizedSnapshot(actual), normalizedSnapshot(expected));
  assert.deepEqual(normalizedCalls(actual), normalizedCalls(expected));
  assert.equal(actual.versionProbes(), expected.versionProbes());
  return { got, actual };
}

for (const platform of ['darwin', 'linux'] as const) {
  describe(`start-at-login (deprecated) on ${platform}`, () => {
    const make = sandboxPool();
    for (const way of WAYS) {
      describe(way.name, () => {
        it('without arguments registers "default" at login with keep-alive, like `enable default --condition=login`', () => {
          const { actual: sb } = sameAs(make, platform, way, [], ['enable', 'default', '--condition=login'], 'enable default --condition=login');
          assert.ok(existsSync(platform === 'darwin' ? sb.agentPlist() : sb.unitFile()));
          assert.equal(sb.versionProbes(), 1, 'limactl --version is asked once');
        });

        for (const flag of ['--enabled', '--enabled=true', '--enabled true']) {
          it(`k3s ${flag} is \`enable k3s --condition=login\``, () => {
            sameAs(make, platform, way, ['k3s', ...flag.split(' ')], ['enable', 'k3s', '--condition=login'], 'enable k3s --condition=login');
          });
        }

        for (const flag of ['--enabled=false', '--no-enabled', '--enabled false']) {
          it(`${flag} removes the registration of "default", like \`disable default\``, () => {
            const setup = (sb: Sandbox): void => {
              assert.equal(sb.run(['enable', 'default']).code, 0);
            };
            const { actual: sb } = sameAs(make, platform, way, flag.split(' '), ['disable', 'default'], 'disable default', setup);
            assert.ok(!existsSync(platform === 'darwin' ? sb.agentPlist() : sb.unitFile()));
          });
        }

        it('an instance that does not exist: the same error and exit code 1 as enable', () => {
          const { got: r } = sameAs(make, platform, way, ['nosuch'], ['enable', 'nosuch', '--condition=login'], 'enable nosuch --condition=login');
          assert.equal(r.code, 1);
          assert.match(r.stderr, /^error: instance "nosuch" not found in /m);
        });

        it('an invalid instance name: the same error and exit code 2 as enable, nothing run', () => {
          const { got: r, actual } = sameAs(make, platform, way, ['../x'], ['enable', '../x', '--condition=login'], 'enable ../x --condition=login');
          assert.equal(r.code, 2);
          assert.match(r.stderr, /^error: invalid instance name "\.\.\/x"/m);
          assert.deepEqual(actual.allCalls(), []);
        });
      });
    }
  });
}

describe('start-at-login: bad usage', () => {
  const make = sandboxPool();
  for (const way of WAYS) {
    for (const [args, message] of [
      [['--enabled=maybe'], /--enabled takes true or false, not "maybe"/],
      [['default', 'k3s'], /^error: unexpected "k3s": start-at-login takes one INSTANCE$/m],
      [['--now'], /^error: unknown option "--now"$/m],
    ] as const) {
      it(`${way.name} ${args.join(' ')}: exit 2, a message, nothing written or run`, () => {
        const sb = make({ platform: 'darwin' });
        const before = sb.snapshot();
        const r = way.run(sb, [...args]);
        assert.equal(r.code, 2, show(r));
        assert.match(r.stderr, message);
        assert.match(r.stderr, /^error: /m);
        assert.doesNotMatch(r.stderr, /^\s+at /m);
        assert.equal(r.stdout, '');
        assert.deepEqual(sb.snapshot(), before);
        assert.deepEqual(sb.allCalls(), []);
      });
    }
  }
});

describe('start-at-login: help', () => {
  const make = sandboxPool();
  it('--help of limactl-autostart shows start-at-login as deprecated, with its replacement', () => {
    const sb = make({ platform: 'darwin' });
    const r = sb.run(['--help']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /start-at-login \[instance\]/);
    assert.match(r.stdout, /\[deprecated: use `enable INSTANCE --condition=login` or `disable INSTANCE`\]/);
    assert.deepEqual(sb.allCalls(), []);
  });

  it('limactl-start-at-login --help shows its own name, that it is deprecated and its replacement, INSTANCE, its default and --enabled, and runs nothing', () => {
    const sb = make({ platform: 'darwin' });
    const r = sb.runBin(START_AT_LOGIN_BIN, ['--help']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^limactl-start-at-login \[INSTANCE\] \[--enabled\[=true\|false\]\]\n/);
    assert.match(r.stdout, /Deprecated: .*\nUse `limactl-autostart enable INSTANCE --condition=login` instead/);
    assert.doesNotMatch(r.stdout, /limactl-autostart <command>/);
    assert.match(r.stdout, /\[default: "default"\]/);
    assert.match(r.stdout, /--enabled/);
    assert.equal(r.stderr, '');
    assert.deepEqual(sb.allCalls(), []);
  });
});
