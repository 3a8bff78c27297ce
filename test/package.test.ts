import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { ROOT, Sandbox, show } from './helpers.js';

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

  it('the published package holds what bin/ loads: the bundle, its vendor files and bin/package.json', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    const bundle = readdirSync(path.join(ROOT, 'dist', 'bundle'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.cjs'))
      .map((f) => `dist/bundle/${f.split(path.sep).join('/')}`);
    assert.ok(bundle.length > 1, bundle.join(', '));
    for (const f of ['bin/package.json', ...Object.values(pkg.bin), ...bundle]) assert.ok(files.includes(f), `${f} is not in the package: ${files.join(', ')}`);
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
