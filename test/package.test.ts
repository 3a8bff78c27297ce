import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
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
