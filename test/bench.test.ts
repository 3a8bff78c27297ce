import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './helpers.js';
import type { BenchResult } from '../bench/bench.js';

// Runs the benchmark end to end, once per case, to prove that `npm run bench` works. The figures
// themselves are not judged here: speed is measured by the benchmark, never asserted by a test.
describe('bench', () => {
  it('times every case, prints the table and writes the JSON file', function () {
    this.timeout(120_000);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'limactl-autostart bench '));
    try {
      const out = path.join(dir, 'result.json');
      const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bench', 'bench.js'), '--runs', '1', '--warmup', '0', '--rss-runs', '1', '--instances', '1', '--out', out], { encoding: 'utf8' });
      assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
      const result = JSON.parse(readFileSync(out, 'utf8')) as BenchResult;
      assert.deepEqual(result.cases.map((c) => c.id), [
        'node-e-0', 'version', 'help', 'enable-dry-run-darwin-boot', 'enable-dry-run-linux-login', 'status-json-darwin-1', 'status-json-linux-1',
      ]);
      assert.equal(result.runs, 1);
      assert.equal(result.machine.node, process.version);
      for (const c of result.cases) {
        if (c.id.startsWith('status-') && !c.available) {
          // A build without the status command reports the row instead of failing.
          assert.equal(c.reason, 'not available: no status command');
          continue;
        }
        if (!c.available && process.env.CI !== 'true' && c.reason?.startsWith('not available: the compiled limactl stand-in cannot be built')) {
          // Without a C compiler the cases that ask the compiled limactl are reported, not timed (.ci/run installs one).
          console.log(`      ${c.id}: ${c.reason}`);
          continue;
        }
        assert.ok(c.available, `${c.id}: ${c.reason}`);
        assert.equal(c.samplesMs?.length, 1, c.id);
        assert.ok(c.medianMs! > 0 && c.ratio! > 0, `${c.id}: ${JSON.stringify(c)}`);
        assert.ok(c.peakRssKiB === null || c.peakRssKiB! > 1024, `${c.id}: a Node process takes more than 1 MiB`);
      }
      assert.equal(result.cases[0]!.ratio, 1);
      assert.deepEqual(result.cases.map((c) => c.target ?? null), [null, 1.8, null, 2.5, 2.5, 3, 3]);
      for (const c of result.cases) assert.ok(r.stdout.includes(`| ${c.label} `), `the table has no row for ${c.label}:\n${r.stdout}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown option with exit 2 and its usage', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bench', 'bench.js'), '--rnus', '3'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown option "--rnus"/);
    assert.match(r.stderr, /usage: npm run bench/);
  });
});
