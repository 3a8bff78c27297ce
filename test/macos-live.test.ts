import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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

  // What it greps for must be what the program says, or it would fail on a Mac for the wrong reason.
  it('checks the words the program prints: the user/<uid> warning, the user-domain problem, the SIGKILL and VM-death notes', () => {
    const script = readFileSync(LIVE, 'utf8');
    const program = ['src/backends/launchd.ts', 'src/diagnose.ts', 'src/commands/status.ts', 'templates/service.sh'].map((f) => readFileSync(path.join(ROOT, f), 'utf8')).join('');
    for (const words of ['will not be able to stop this job', "is loaded in launchd's user domain", 'the host agent was killed by SIGKILL', 'the VM stopped on its own', 'not answering']) {
      assert.ok(script.includes(words), `live.sh does not check ${JSON.stringify(words)}`);
      assert.ok(program.includes(words), `the program does not say ${JSON.stringify(words)}`);
    }
    // Each restart and the switch both ways end with the instance running under the new job, and the daemon's logs are checked.
    assert.ok((script.match(/^\s*running_under "\$/gm)?.length ?? 0) >= 5, 'running_under after each restart and switch');
    assert.match(script, /grep "limactl-autostart: \$instance: the VM stopped" "\$dir\/launchd.stderr.log"/);
    assert.match(script, /stat -f %Su "\$log"/);
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
