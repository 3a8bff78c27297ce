import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, Sandbox, show } from './helpers.js';

// The rendered service files, byte for byte. The sandbox root differs on every run, so it is
// replaced by /ROOT before comparing. `UPDATE_GOLDEN=1 npm test` rewrites the files.
const GOLDEN = path.join(ROOT, 'test', 'golden');
const update = process.env.UPDATE_GOLDEN === '1';

const cases = [
  { golden: 'io.lima-vm.autostart.default.keep-alive.plist', platform: 'darwin', args: ['--condition=login'], file: (sb: Sandbox) => sb.agentPlist() },
  { golden: 'io.lima-vm.autostart.default.no-keep-alive.plist', platform: 'darwin', args: ['--condition=login', '--keep-alive=false'], file: (sb: Sandbox) => sb.agentPlist() },
  { golden: 'io.lima-vm.daemon.default.keep-alive.plist', platform: 'darwin', args: ['--condition=boot'], file: (sb: Sandbox) => sb.daemonPlist() },
  { golden: 'io.lima-vm.daemon.default.no-keep-alive.plist', platform: 'darwin', args: ['--condition=boot', '--no-keep-alive'], file: (sb: Sandbox) => sb.daemonPlist() },
  { golden: 'lima-vm@default.keep-alive.service', platform: 'linux', args: ['--condition=login'], file: (sb: Sandbox) => sb.unitFile() },
  { golden: 'lima-vm@default.no-keep-alive.service', platform: 'linux', args: ['--condition=boot', '--keep-alive=false'], file: (sb: Sandbox) => sb.unitFile() },
] as const;

describe('golden files', () => {
  for (const c of cases) {
    it(`${c.golden} (${c.args.join(' ')})`, () => {
      const sb = new Sandbox({ platform: c.platform });
      try {
        const result = sb.run(['enable', 'default', ...c.args]);
        assert.equal(result.code, 0, show(result));
        const actual = readFileSync(c.file(sb), 'utf8').split(sb.root).join('/ROOT');
        const golden = path.join(GOLDEN, c.golden);
        if (update) writeFileSync(golden, actual);
        assert.ok(existsSync(golden), `${golden} is missing: run UPDATE_GOLDEN=1 npm test`);
        assert.equal(actual, readFileSync(golden, 'utf8'));
      } finally {
        sb.cleanup();
      }
    });
  }

  it('pins the keep-alive semantics: restart on a crash, never after a clean exit', () => {
    // KeepAlive SuccessfulExit=true or Crashed=false would restart after `limactl stop`.
    const agent = readFileSync(path.join(GOLDEN, 'io.lima-vm.autostart.default.keep-alive.plist'), 'utf8');
    assert.match(agent, /<key>Crashed<\/key>\s*<true\/>/);
    assert.match(agent, /<key>SuccessfulExit<\/key>\s*<false\/>/);
    const off = readFileSync(path.join(GOLDEN, 'io.lima-vm.autostart.default.no-keep-alive.plist'), 'utf8');
    assert.doesNotMatch(off, /KeepAlive/);
    const unit = readFileSync(path.join(GOLDEN, 'lima-vm@default.keep-alive.service'), 'utf8');
    assert.match(unit, /^Restart=on-failure$/m);
    assert.match(unit, /^WantedBy=default\.target$/m);
    assert.match(readFileSync(path.join(GOLDEN, 'lima-vm@default.no-keep-alive.service'), 'utf8'), /^Restart=no$/m);
  });
});
