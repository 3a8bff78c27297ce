import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BIN, ROOT, Sandbox, show, type RunResult } from './helpers.js';

// bin/ runs the bundle (dist/bundle/limactl-autostart.mjs). The modules tsc writes to dist/src/
// run the same program unbundled. Both read the templates from templates/ and must print the
// same plans, byte for byte.
const UNBUNDLED = pathToFileURL(path.join(ROOT, 'dist', 'src', 'cli.js')).href;

function runUnbundled(sb: Sandbox, args: string[]): RunResult {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { main } from ${JSON.stringify(UNBUNDLED)}; await main(process.argv.slice(1));`, '--', ...args], {
    env: sb.env(), encoding: 'utf8', cwd: sb.root, input: '',
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}


describe('the bundle', () => {
  const cases = [
    { platform: 'darwin', args: ['enable', 'default', '--condition=login', '--dry-run'] },
    { platform: 'darwin', args: ['enable', 'default', '--condition=boot', '--keep-alive=false', '--user', 'other', '--dry-run'] },
    { platform: 'linux', args: ['enable', 'default', '--condition=login', '--dry-run'] },
    { platform: 'linux', args: ['enable', 'default', '--condition=boot', '--no-keep-alive', '--now', '--dry-run'] },
    { platform: 'linux', args: ['enable', 'missing', '--dry-run'] },
    { platform: 'darwin', args: ['enable', 'default', '--condition=sometimes'] },
    { platform: 'darwin', args: ['--help'] },
  ] as const;
  for (const c of cases) {
    it(`prints what the unbundled modules print: ${c.platform} ${c.args.join(' ')}`, () => {
      const sb = new Sandbox({ platform: c.platform });
      try {
        const bundled = sb.run([...c.args]);
        const unbundled = runUnbundled(sb, [...c.args]);
        assert.equal(bundled.code, unbundled.code, `${show(bundled)}\n--- unbundled\n${show(unbundled)}`);
        assert.equal(bundled.stdout, unbundled.stdout);
        assert.equal(bundled.stderr, unbundled.stderr);
        assert.ok(bundled.stdout.length + bundled.stderr.length > 0, 'both printed nothing');
      } finally {
        sb.cleanup();
      }
    });
  }

  /** The files a run of bin/limactl-autostart loads (CommonJS and ES modules), as Node's debug log names them. */
  function loadedBy(sb: Sandbox, args: string[]): { files: string[]; stdout: string } {
    const r = sb.run(args, { NODE_DEBUG: 'module,esm' });
    assert.equal(r.code, 0, show(r));
    const commonjs = [...r.stderr.matchAll(/^MODULE \d+: load "([^"]+)" for module/gm)].map((m) => m[1]!);
    const esm = [...r.stderr.matchAll(/^ESM \d+: Storing (file:\S+) /gm)].map((m) => fileURLToPath(m[1]!));
    return { files: [...new Set([...commonjs, ...esm])].map((f) => path.relative(ROOT, f)), stdout: r.stdout };
  }

  function loadedFiles(platform: 'darwin' | 'linux', args: string[]): string[] {
    const sb = new Sandbox({ platform });
    try {
      return loadedBy(sb, args).files;
    } finally {
      sb.cleanup();
    }
  }

  const outsideBundle = (files: string[]): string[] => files.filter((f) => !f.startsWith('dist/bundle/') && !f.startsWith('bin/'));
  const parser = (files: string[]): string[] => files.filter((f) => /^dist\/bundle\/yargs-[^/]+\.mjs$/.test(f));

  it('is what bin/ runs: a dry run loads bin/ and dist/bundle/ alone, nothing from node_modules or dist/src', () => {
    const loaded = loadedFiles('linux', ['enable', 'default', '--dry-run']);
    assert.ok(loaded.includes('dist/bundle/limactl-autostart.mjs'), loaded.join(', '));
    assert.deepEqual(outsideBundle(loaded), []);
  });

  it('--help loads yargs from the bundle, not from node_modules', () => {
    const loaded = loadedFiles('darwin', ['--help']);
    assert.equal(parser(loaded).length, 1, loaded.join(', '));
    assert.deepEqual(outsideBundle(loaded), []);
  });

  it('--version loads its own command and no other, and no backend', () => {
    const loaded = loadedFiles('darwin', ['--version']);
    assert.ok(loaded.includes('dist/bundle/limactl-autostart.mjs'), loaded.join(', '));
    assert.equal(loaded.filter((f) => /^dist\/bundle\/version-[^/]+\.mjs$/.test(f)).length, 1, loaded.join(', '));
    assert.deepEqual(loaded.filter((f) => /^dist\/bundle\/(launchd|systemd|enable|disable|status|logs|migrate|complete|start-at-login|wait)-[^/]+\.mjs$/.test(f)), []);
    assert.deepEqual(outsideBundle(loaded), []);
  });

  it('completion loads neither semver nor the reader of registration files: what starts every command needs neither', () => {
    const loaded = loadedFiles('linux', ['completion', 'bash']).filter((f) => f.startsWith('dist/bundle/'));
    // esbuild heads each module it bundles with a comment naming it.
    const modules = loaded.flatMap((f) => readFileSync(path.join(ROOT, f), 'utf8').match(/^\/\/ (node_modules\/semver|src\/files\/registration\.ts)\b.*$/gm) ?? []);
    assert.deepEqual(modules, []);
  });

  for (const platform of ['darwin', 'linux'] as const) {
    it(`status on ${platform} runs from the bundle alone`, () => {
      const sb = new Sandbox({ platform, instances: ['default', 'other'] });
      try {
        assert.equal(sb.run(['enable', 'default']).code, 0);
        assert.equal(sb.run(['enable', 'other', '--condition=boot']).code, 0);
        const { files, stdout } = loadedBy(sb, ['status', '--json']);
        const rows = JSON.parse(stdout) as { instance: string; condition: string; problems: unknown[] }[];
        assert.deepEqual(rows.map((r) => [r.instance, r.condition]), [['default', 'login'], ['other', 'boot']]);
        assert.deepEqual(outsideBundle(files), []);
      } finally {
        sb.cleanup();
      }
    });
  }
});

describe('what a run leaves behind', () => {
  let sb: Sandbox;
  afterEach(() => sb?.cleanup());

  it('no command writes a cache: nothing in XDG_CACHE_HOME or ~/.cache', () => {
    sb = new Sandbox({ platform: 'linux', instances: ['default'] });
    for (const args of [['--version'], ['--help'], ['enable', 'default', '--dry-run'], ['enable', 'default'], ['status', '--json'], ['migrate'], ['disable', 'default']]) {
      const r = sb.run(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${show(r)}`);
    }
    assert.ok(!existsSync(sb.cacheHome), `${sb.cacheHome} was written`);
    assert.ok(!existsSync(path.join(sb.home, '.cache')), `${path.join(sb.home, '.cache')} was written`);
  });
});

describe('a reader that leaves early (`status | head -1`)', () => {
  // The shell writes to the pipe until a write fails, that is until the test has closed the
  // reading end; only then does it start the program, so its output surely meets a closed pipe.
  const WAIT_FOR_NO_READER = 'trap "" PIPE; while printf x 2>/dev/null; do :; done; exec "$@"';

  for (const args of [['status', '--json'], ['status'], ['--version'], ['enable', 'default', '--dry-run']]) {
    it(`${args.join(' ')}: ends quietly, without a stack trace`, async () => {
      const sb = new Sandbox({ platform: 'linux', instances: ['default'] });
      try {
        const child = spawn('sh', ['-c', WAIT_FOR_NO_READER, 'sh', process.execPath, BIN, ...args], { env: sb.env(), stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.destroy();
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
        const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
        assert.equal(stderr, '');
        assert.equal(code, 0);
      } finally {
        sb.cleanup();
      }
    });
  }
});
