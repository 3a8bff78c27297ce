import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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
  function loadedBy(sb: Sandbox, args: string[]): { files: string[]; stdout: string } {
    const r = sb.run(args, { NODE_DEBUG: 'module,esm' });
    assert.equal(r.code, 0, show(r));
    const commonjs = [...r.stderr.matchAll(/^MODULE \d+: load "([^"]+)" for module/gm)].map((m) => m[1]!);
    const esm = [...r.stderr.matchAll(/^ESM \d+: Storing (file:\S+) /gm)].map((m) => fileURLToPath(m[1]!));
    const files = [...commonjs, ...new Set(esm)].map((f) => path.relative(ROOT, f));
    // Node's own modules that cost enough to be loaded only when needed (tools/bundle.ts).
    const lazy = [...r.stderr.matchAll(/^MODULE \d+: load built-in module (node:(?:child_process|crypto|fs\/promises))$/gm)].map((m) => m[1]!);
    return { files: [...files, ...new Set(lazy)], stdout: r.stdout };
  }

  function loadedFiles(platform: 'darwin' | 'linux', args: string[]): string[] {
    const sb = new Sandbox({ platform });
    try {
      return loadedBy(sb, args).files;
    } finally {
      sb.cleanup();
    }
  }

  it('is what bin/ runs: a dry run on Linux loads the bundle and the template runtime, not yargs, plist or dist/src', () => {
    const loaded = loadedFiles('linux', ['enable', 'default', '--dry-run']);
    // semver and node:child_process: every enable asks limactl its version.
    assert.deepEqual(loaded, ['bin/limactl-autostart', 'bin/load-bundle.cjs', 'dist/bundle/vendor/handlebars-runtime.cjs', 'dist/bundle/vendor/semver.cjs', 'node:child_process']);
  });

  it('checks a rendered plist with the plist package, without node:crypto', () => {
    const dryRun = loadedFiles('darwin', ['enable', 'default', '--condition=boot', '--dry-run']);
    assert.deepEqual(dryRun.filter((f) => f.startsWith('dist/bundle/vendor/')), ['dist/bundle/vendor/handlebars-runtime.cjs', 'dist/bundle/vendor/plist.cjs', 'dist/bundle/vendor/semver.cjs']);
    // The staging copy's random name comes from /dev/urandom.
    assert.ok(!dryRun.includes('node:crypto'), dryRun.join(', '));
  });

  for (const platform of ['darwin', 'linux'] as const) {
    it(`status on ${platform} reads the program's own files without the template runtime, semver or yargs`, () => {
      const sb = new Sandbox({ platform, instances: ['default', 'other'] });
      try {
        assert.equal(sb.run(['enable', 'default']).code, 0);
        assert.equal(sb.run(['enable', 'other', '--condition=boot']).code, 0);
        const { files, stdout } = loadedBy(sb, ['status', '--json']);
        const rows = JSON.parse(stdout) as { instance: string; condition: string; problems: unknown[] }[];
        assert.deepEqual(rows.map((r) => [r.instance, r.condition]), [['default', 'login'], ['other', 'boot']]);
        // The bundle, and on macOS the plist package that reads plists: no template runtime, semver or yargs.
        assert.deepEqual(files, ['bin/limactl-autostart', 'bin/load-bundle.cjs', ...(platform === 'darwin' ? ['dist/bundle/vendor/plist.cjs'] : []), 'node:child_process']);
        // A file from an older version is compared by semver, loaded for it.
        const file = platform === 'darwin' ? sb.agentPlist() : sb.unitFile();
        writeFileSync(file, readFileSync(file, 'utf8').replace(/Generated by limactl-autostart \S+:/, 'Generated by limactl-autostart 0.0.1:'));
        const older = loadedBy(sb, ['status', '--json', 'default']);
        assert.ok(older.files.includes('dist/bundle/vendor/semver.cjs'), older.files.join(', '));
        assert.match(older.stdout, /written by limactl-autostart 0\.0\.1, older than this/);
      } finally {
        sb.cleanup();
      }
    });
  }

  it('reads a plist with CDATA to the same facts', () => {
    const sb = new Sandbox({ platform: 'darwin' });
    try {
      assert.equal(sb.run(['enable', 'default']).code, 0);
      const before = JSON.parse(sb.run(['status', '--json']).stdout) as unknown;
      const text = readFileSync(sb.agentPlist(), 'utf8');
      const limaHome = /<key>LIMA_HOME<\/key>\s*<string>([^<]*)<\/string>/.exec(text);
      assert.ok(limaHome, text);
      const cdata = text.replace(limaHome[0], `<key>LIMA_HOME</key><string><![CDATA[${limaHome[1]!.replace(/&amp;/g, '&')}]]></string>`);
      assert.notEqual(cdata, text);
      writeFileSync(sb.agentPlist(), cdata);
      const { files, stdout } = loadedBy(sb, ['status', '--json']);
      assert.ok(files.includes('dist/bundle/vendor/plist.cjs'), files.join(', '));
      assert.deepEqual(JSON.parse(stdout), before);
      // A plist neither reader accepts is reported, not read as something.
      writeFileSync(sb.agentPlist(), text.replace('</dict>', '</array>'));
      const broken = JSON.parse(sb.run(['status', '--json']).stdout) as { problems: { problem: string }[] }[];
      assert.ok(broken[0]!.problems.some((p) => p.problem.startsWith(`cannot read ${sb.agentPlist()}`)), JSON.stringify(broken));
    } finally {
      sb.cleanup();
    }
  });

  it('loads yargs, an ES module in node_modules, for --help', () => {
    assert.ok(loadedFiles('darwin', ['--help']).includes('node_modules/yargs/index.mjs'));
  });

  it('answers --version from the entry point, package.json and limactl alone', () => {
    assert.deepEqual(loadedFiles('darwin', ['--version']), ['bin/limactl-autostart', 'bin/load-bundle.cjs', 'dist/bundle/vendor/semver.cjs', 'node:child_process']);
  });
});

describe('V8\'s code cache of the bundle (bin/load-bundle.cjs)', () => {
  let sb: Sandbox;
  afterEach(() => sb?.cleanup());
  const dir = (): string => path.join(sb.cacheHome, 'limactl-autostart', 'v8');
  const files = (): string[] => (existsSync(dir()) ? readdirSync(dir()).sort() : []);
  const identity = (file: string): string => {
    const st = statSync(path.join(dir(), file));
    return `${st.ino} ${st.mtimeMs}`;
  };

  it('is written per command by the first run, and taken as it is by the next: same output', () => {
    sb = new Sandbox({ platform: 'darwin' });
    const first = sb.run(['enable', 'default', '--condition=boot', '--dry-run']);
    assert.equal(first.code, 0, show(first));
    const [cache] = files();
    assert.match(cache ?? '', new RegExp(`^${process.version.replace(/\./g, '\\.')}-${process.arch}-\\d+-\\d+-enable\\.bin$`), files().join(', '));
    const written = identity(cache!);
    const second = sb.run(['enable', 'default', '--condition=boot', '--dry-run']);
    assert.equal(stable(second.stdout), stable(first.stdout));
    assert.equal(second.stderr, first.stderr);
    // Written again only when V8 rejects it: the same file means V8 took it.
    assert.equal(identity(cache!), written, 'the cache was rejected and written again');
    assert.equal(sb.run(['status', '--json']).code, 0);
    assert.deepEqual(files(), [cache, cache!.replace(/-enable\.bin$/, '-status.bin')]);
  });

  it('a damaged cache is rejected by V8 and written anew, and the run is the same', () => {
    sb = new Sandbox({ platform: 'linux' });
    const first = sb.run(['enable', 'default', '--dry-run']);
    const [cache] = files();
    writeFileSync(path.join(dir(), cache!), 'not a code cache');
    const damaged = sb.run(['enable', 'default', '--dry-run']);
    assert.equal(damaged.code, 0, show(damaged));
    assert.equal(damaged.stdout, first.stdout);
    assert.equal(damaged.stderr, first.stderr);
    assert.notEqual(readFileSync(path.join(dir(), cache!), 'utf8'), 'not a code cache');
  });

  it('the caches of another build of the bundle are removed when one is written', () => {
    sb = new Sandbox({ platform: 'linux' });
    mkdirSync(dir(), { recursive: true });
    writeFileSync(path.join(dir(), `${process.version}-${process.arch}-1-2-enable.bin`), 'an older build');
    assert.equal(sb.run(['enable', 'default', '--dry-run']).code, 0);
    assert.equal(files().length, 1);
    assert.doesNotMatch(files()[0]!, /-1-2-enable\.bin$/);
  });

  it('without XDG_CACHE_HOME and HOME, nothing is cached and the command runs all the same', () => {
    sb = new Sandbox({ platform: 'linux' });
    const r = sb.run(['--version'], { XDG_CACHE_HOME: undefined, HOME: undefined });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^limactl-autostart version /);
    assert.deepEqual(files(), []);
  });
});
