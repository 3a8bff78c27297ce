import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './helpers.js';
import type { BenchResult } from '../bench/bench.js';

const BENCH = path.join(ROOT, 'dist', 'bench', 'bench.js');

// Runs the benchmark end to end, one pair per case, to prove that `npm run bench` works. The
// figures themselves are not judged here: speed is measured by the benchmark, never asserted by a test.
describe('bench', () => {
  it('times every case against the floor, prints the table and writes the JSON file', function () {
    this.timeout(120_000);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'limactl-autostart bench '));
    try {
      const out = path.join(dir, 'result.json');
      // An earlier result with one case: its figures go beside this run's.
      const earlier = path.join(dir, 'earlier.json');
      writeFileSync(earlier, JSON.stringify({ schema: 2, commit: 'abc1234', cases: [{ id: 'version', label: '--version', available: true, program: { medianMs: 123.4 }, ratio: 1.5, over: true }] }));
      const r = spawnSync(process.execPath, [BENCH, '--runs', '1', '--warmup', '0', '--rss-runs', '1', '--instances', '1', '--out', out, '--compare', earlier], { encoding: 'utf8' });
      assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
      const result = JSON.parse(readFileSync(out, 'utf8')) as BenchResult;
      assert.equal(result.schema, 2);
      assert.deepEqual(result.cases.map((c) => c.id), [
        'version', 'enable-dry-run-darwin', 'enable-dry-run-linux', 'status-json-darwin-1', 'status-json-linux-1',
      ]);
      assert.equal(result.runs, 1);
      assert.equal(result.target, 1.25);
      assert.equal(result.machine.node, process.version);
      for (const c of result.cases) {
        if (!c.available && process.env.CI !== 'true' && c.reason?.startsWith('not available: the compiled limactl stand-in cannot be built')) {
          // Without a C compiler the cases that ask the compiled limactl are reported, not timed (.ci/run installs one).
          console.log(`      ${c.id}: ${c.reason}`);
          continue;
        }
        assert.ok(c.available, `${c.id}: ${c.reason}`);
        for (const side of [c.floor!, c.program!]) {
          assert.equal(side.samplesMs.length, 1, c.id);
          assert.ok(side.medianMs > 0, `${c.id}: ${JSON.stringify(c)}`);
          assert.ok(side.peakRssKiB === null || side.peakRssKiB > 1024, `${c.id}: a Node process takes more than 1 MiB`);
        }
        // One pair: the ratio is that pair's, and it is marked exactly when above the target.
        assert.equal(c.ratioSamples?.length, 1, c.id);
        assert.ok(Math.abs(c.ratio! - c.program!.samplesMs[0]! / c.floor!.samplesMs[0]!) < 0.01, `${c.id}: ${JSON.stringify(c)}`);
        assert.equal(c.over, c.ratio! > result.target, c.id);
        const row = r.stdout.split('\n').find((l) => l.startsWith(`| ${c.label} `));
        assert.ok(row, `the table has no row for ${c.label}:\n${r.stdout}`);
        assert.match(row, new RegExp(`\\| +${c.ratio!.toFixed(2)}×${c.over ? ' over' : ''} \\|`), `${c.id}: the row shows its ratio, marked when above the target`);
        assert.match(row, c.id === 'version' ? /\| +123\.4 \| +1\.50× over \|$/ : /\| +not measured \| +\|$/, `${c.id}: the earlier result's figures`);
      }
      assert.match(r.stdout, /\| before ms \(abc1234\) \| before ratio \|/);
      assert.match(r.stdout, /^(above 1\.25× the floor: .+|every case measured is within 1\.25× the floor)$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown option with exit 2 and its usage', () => {
    const r = spawnSync(process.execPath, [BENCH, '--rnus', '3'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown option "--rnus"/);
    assert.match(r.stderr, /usage: npm run bench/);
  });

  it('refuses to compare with a file of the earlier, `node -e 0` benchmark', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'limactl-autostart bench '));
    try {
      const old = path.join(dir, 'old.json');
      writeFileSync(old, JSON.stringify({ schema: 1, cases: [] }));
      const r = spawnSync(process.execPath, [BENCH, '--compare', old], { encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /not a result of this benchmark \(schema 1, not 2\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
