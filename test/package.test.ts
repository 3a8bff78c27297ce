import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { bashCompletions, ROOT, Sandbox, show, type RunResult } from './helpers.js';

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
const pluginYaml = readFileSync(path.join(ROOT, 'plugin.yaml'), 'utf8');

function yamlScalar(key: string): string {
  const m = new RegExp(`^${key}:\\s*"?([^"\\n]*)"?\\s*$`, 'm').exec(pluginYaml);
  assert.ok(m, `plugin.yaml has no ${key}`);
  return m[1]!;
}

describe('packaging', () => {
  it('plugin.yaml and package.json carry the same version', () => {
    assert.equal(yamlScalar('version'), pkg.version);
    assert.ok(semver.valid(pkg.version), pkg.version);
  });

  it('plugin.yaml declares a semver range of limactl versions that admits 2.0 and refuses 1.x', () => {
    const range = yamlScalar('limactl');
    assert.ok(semver.validRange(range), range);
    assert.ok(semver.satisfies('2.0.0', range));
    assert.ok(!semver.satisfies('1.2.0', range));
  });

  it('every bin entry is an executable script with a <limactl-desc> line that Lima can read', () => {
    for (const [name, file] of Object.entries(pkg.bin)) {
      assert.ok(name.startsWith('limactl-'), `${name}: Lima only runs limactl-<name> as a plugin`);
      const full = path.join(ROOT, file);
      const text = readFileSync(full, 'utf8');
      assert.ok(text.startsWith('#!'), `${file}: Lima reads descriptions only from scripts`);
      assert.ok(statSync(full).mode & 0o111, `${file} is not executable`);
      // Both ways Lima has read it: anywhere in the file, and from a line starting with '#'.
      assert.match(text, /<limactl-desc>(.+?)<\/limactl-desc>/);
      assert.ok(text.split('\n').some((l) => l.trim().startsWith('#') && /<limactl-desc>.+<\/limactl-desc>/.test(l)));
      assert.match(pluginYaml, new RegExp(`^\\s+- ${name}$`, 'm'), `plugin.yaml does not list ${name}`);
    }
  });

  it('every bin entry starts: --help exits 0 and prints the usage', () => {
    // bin/ has no "type": each file there is CommonJS or an ES module by its own syntax.
    const sb = new Sandbox();
    try {
      for (const file of Object.values(pkg.bin)) {
        const r = spawnSync(process.execPath, [path.join(ROOT, file), '--help'], { env: sb.env(), encoding: 'utf8', input: '' });
        assert.equal(r.status, 0, `${file}: exit ${r.status}\n${r.stderr}`);
        assert.match(r.stdout, /limactl-autostart/, file);
      }
    } finally {
      sb.cleanup();
    }
  });

  it('the published package holds what runs and nothing else: bin/, the bundle, the templates, the docs its messages name, plugin.yaml, README, LICENSE', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path).sort();
    const bundle = readdirSync(path.join(ROOT, 'dist', 'bundle')).map((f) => `dist/bundle/${f}`);
    assert.ok(bundle.includes('dist/bundle/limactl-autostart.mjs'), bundle.join(', '));
    const dir = (name: string): string[] => readdirSync(path.join(ROOT, name)).map((f) => `${name}/${f}`);
    const expected = ['LICENSE', 'README.md', 'bin/package.json', 'package.json', 'plugin.yaml', ...Object.values(pkg.bin), ...bundle, ...dir('templates'), ...dir('docs')];
    assert.deepEqual(files, expected.sort());
  });

  it('the package has no dependencies to install: what it runs is bundled', () => {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
    for (const key of ['dependencies', 'optionalDependencies', 'peerDependencies']) assert.equal(manifest[key], undefined, key);
  });

  it('packed, installed from the tarball into a prefix without the network, both executables run from outside the checkout', function () {
    this.timeout(120_000);
    const sb = new Sandbox({ platform: 'linux' });
    const npm = (args: string[], cwd: string): string => {
      // Its own cache and configuration: nothing is read from or written to the user's.
      const r = spawnSync('npm', [...args, '--cache', path.join(sb.tmp, 'npm-cache'), '--userconfig', path.join(sb.tmp, 'npmrc'), '--no-audit', '--no-fund', '--offline'], { cwd, encoding: 'utf8' });
      assert.equal(r.status, 0, `npm ${args.join(' ')}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };
    try {
      const packed = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', sb.tmp], ROOT)) as Array<{ filename: string }>;
      const prefix = path.join(sb.tmp, 'prefix');
      npm(['install', '--global', '--prefix', prefix, path.join(sb.tmp, packed[0]!.filename)], sb.tmp);
      const run = (name: string, args: string[]): RunResult => {
        const r = spawnSync(path.join(prefix, 'bin', name), args, { cwd: sb.tmp, env: sb.env(), encoding: 'utf8', input: '' });
        return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
      };
      const version = run('limactl-autostart', ['--version']);
      assert.equal(version.code, 0, show(version));
      assert.equal(version.stdout, `limactl-autostart version ${pkg.version}\nlimactl version 2.0.3 (${sb.limactl})\n`);
      const dryRun = run('limactl-autostart', ['enable', 'default', '--dry-run']);
      assert.equal(dryRun.code, 0, show(dryRun));
      assert.equal(dryRun.stdout, sb.run(['enable', 'default', '--dry-run']).stdout);
      // Completion: the script calls the installed limactl-autostart by name, found on PATH.
      const script = run('limactl-autostart', ['completion']);
      assert.equal(script.code, 0, show(script));
      const completed = bashCompletions(script.stdout, { ...sb.env(), PATH: `${path.join(prefix, 'bin')}:${sb.env().PATH}` }, ['limactl-autostart', 'enable', '']);
      assert.equal(completed.stderr, '');
      assert.ok(completed.offered.includes('default') && completed.offered.includes('--condition'), completed.offered.join(' '));
      const startAtLogin = run('limactl-start-at-login', ['--help']);
      assert.equal(startAtLogin.code, 0, show(startAtLogin));
      assert.match(startAtLogin.stdout, /start-at-login/);
    } finally {
      sb.cleanup();
    }
  });

  it('plugin.yaml lists exactly the executables package.json installs', () => {
    const listed = [...pluginYaml.matchAll(/^\s+- (\S+)$/gm)].map((m) => m[1]!).filter((name) => name.startsWith('limactl-'));
    assert.deepEqual(listed.sort(), Object.keys(pkg.bin).sort());
    assert.ok(listed.includes('limactl-start-at-login'));
  });

  it('--version prints the package version and the version of the limactl on PATH', () => {
    const sb = new Sandbox();
    try {
      const r = sb.run(['--version']);
      assert.equal(r.code, 0, show(r));
      assert.equal(r.stdout, `limactl-autostart version ${pkg.version}\nlimactl version 2.0.3 (${sb.limactl})\n`);
      assert.equal(r.stderr, '');
    } finally {
      sb.cleanup();
    }
  });
});
