import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT, Sandbox, show, type RunResult } from './helpers.js';

// bin/ runs the bundle (dist/bundle/limactl-autostart.cjs), with templates precompiled at build
// time. The modules tsc writes to dist/src/ run the same program unbundled and compile the
// templates from templates/ when they render. Both must print the same plans, byte for byte.
const UNBUNDLED = pathToFileURL(path.join(ROOT, 'dist', 'src', 'cli.js')).href;

function runUnbundled(sb: Sandbox, args: string[]): RunResult {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { main } from ${JSON.stringify(UNBUNDLED)}; await main(process.argv.slice(1));`, '--', ...args], {
    env: sb.env(), encoding: 'utf8', cwd: sb.root, input: '',
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// The LaunchDaemon's staging copy has a random name.
const stable = (text: string): string => text.replace(/limactl-autostart-[0-9a-f]{12}\.plist/g, 'limactl-autostart-STAGING.plist');

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
        assert.equal(stable(bundled.stdout), stable(unbundled.stdout));
        assert.equal(stable(bundled.stderr), stable(unbundled.stderr));
        assert.ok(bundled.stdout.length + bundled.stderr.length > 0, 'both printed nothing');
      } finally {
        sb.cleanup();
      }
    });
  }

  /** The files a run of bin/limactl-autostart loads (CommonJS and ES modules), as Node's debug log names them. */
  function loadedFiles(platform: 'darwin' | 'linux', args: string[]): string[] {
    const sb = new Sandbox({ platform });
    try {
      const r = sb.run(args, { NODE_DEBUG: 'module,esm' });
      assert.equal(r.code, 0, show(r));
      const commonjs = [...r.stderr.matchAll(/^MODULE \d+: load "([^"]+)" for module/gm)].map((m) => m[1]!);
      const esm = [...r.stderr.matchAll(/^ESM \d+: Storing (file:\S+) /gm)].map((m) => fileURLToPath(m[1]!));
      const files = [...commonjs, ...new Set(esm)].map((f) => path.relative(ROOT, f));
      // Node's own modules that cost enough to be loaded only when needed (tools/bundle.ts).
      const lazy = [...r.stderr.matchAll(/^MODULE \d+: load built-in module (node:(?:child_process|crypto|fs\/promises))$/gm)].map((m) => m[1]!);
      return [...files, ...new Set(lazy)];
    } finally {
      sb.cleanup();
    }
  }

  it('is what bin/ runs: a dry run on Linux loads the bundle and the template runtime, not yargs, plist or dist/src', () => {
    const loaded = loadedFiles('linux', ['enable', 'default', '--dry-run']);
    // node:child_process: every enable asks limactl its version.
    assert.deepEqual(loaded, ['bin/limactl-autostart', 'dist/bundle/limactl-autostart.cjs', 'dist/bundle/vendor/handlebars-runtime.cjs', 'node:child_process']);
  });

  it('loads the plist reader to check a plist', () => {
    const dryRun = loadedFiles('darwin', ['enable', 'default', '--condition=boot', '--dry-run']);
    assert.ok(dryRun.includes('dist/bundle/vendor/plist.cjs'), dryRun.join(', '));
  });

  it('loads yargs, an ES module in node_modules, for --help', () => {
    assert.ok(loadedFiles('darwin', ['--help']).includes('node_modules/yargs/index.mjs'));
  });

  it('answers --version from the entry point, package.json and limactl alone', () => {
    assert.deepEqual(loadedFiles('darwin', ['--version']), ['bin/limactl-autostart', 'dist/bundle/limactl-autostart.cjs', 'node:child_process']);
  });
});
