import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './helpers.js';

// test/macos/live.sh runs against the real launchd, on a Mac only (docs/testing.md). Here it can
// only be parsed, and its refusal to run elsewhere checked.

const LIVE = path.join(ROOT, 'test', 'macos', 'live.sh');

describe('test/macos/live.sh', () => {
  it('is valid bash', () => {
    const r = spawnSync('bash', ['-n', LIVE], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  it('off macOS, says that it needs macOS and exits 2 before it creates or runs anything', function () {
    if (process.platform === 'darwin') {
      console.log('      skipped: this is a Mac, where live.sh runs for real');
      this.skip();
    }
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'live-sh '));
    try {
      const r = spawnSync('bash', [LIVE], { encoding: 'utf8', env: { PATH: process.env.PATH, TMPDIR: tmp, HOME: tmp }, input: '' });
      assert.equal(r.status, 2, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /needs macOS and launchd/);
      assert.deepEqual(readdirSync(tmp), []);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
