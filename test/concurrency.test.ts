import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'plist';
import { placeFixture } from './fixture.js';
import { Sandbox, show, type Platform, type RunResult } from './helpers.js';

// Runs on one instance at the same time serialize on the lock in the instance directory: the end
// state is always the state one of them asked for, never a mix of two.

function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, show(result));
  return result;
}

const REQUESTS = [
  ['enable', 'default', '--now'],
  ['enable', 'default', '--keep-alive=false', '--now'],
  ['disable', 'default', '--now'],
];

/** Every file in a directory, recursively, for spotting leftovers (temporary files, locks). */
function allFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => path.join(e.parentPath, e.name));
}

for (const platform of ['darwin', 'linux'] as Platform[]) {
  describe(`concurrency (${platform}): 20 enable/disable runs on one instance at once`, function () {
    this.timeout(120_000);
    let sb: Sandbox;
    afterEach(() => sb.cleanup());

    it('end in one of the requested states, with a file that parses, and leave no temporary file or lock', async () => {
      sb = new Sandbox({ platform });
      const file = platform === 'darwin' ? sb.agentPlist() : sb.unitFile();
      // The renders each request produces on its own, in the same sandbox.
      const renders = new Set<string>();
      for (const args of REQUESTS.slice(0, 2)) {
        ok(sb.run(args));
        renders.add(readFileSync(file, 'utf8'));
      }
      assert.equal(renders.size, 2);
      ok(sb.run(['disable', 'default', '--now']));

      const runs = Array.from({ length: 20 }, (_, i) => sb.runAsync(REQUESTS[i % REQUESTS.length]!));
      const results = await Promise.all(runs);
      for (const r of results) ok(r);

      if (existsSync(file)) {
        const text = readFileSync(file, 'utf8');
        assert.ok(renders.has(text), `the file is not one of the expected renders:\n${text}`);
        if (platform === 'darwin') parse(text);
      }
      // Each run finished what it started: a registration with its job loaded, or neither.
      const label = 'io.lima-vm.autostart.default';
      if (platform === 'darwin') {
        assert.deepEqual(sb.loaded(), existsSync(file) ? [`gui/${sb.uid}/${label}`] : []);
      } else {
        const active = readFileSync(path.join(sb.fakeDir, 'systemd-active'), 'utf8').split('\n').filter(Boolean);
        assert.deepEqual(active, existsSync(file) ? ['lima-vm@default.service'] : []);
      }
      const leftovers = [...allFiles(path.dirname(file)), ...allFiles(sb.tmp), ...allFiles(path.join(sb.limaHome, 'default'))]
        .filter((f) => /\.tmp$|\.lock|limactl-autostart-[0-9a-f]+\.plist$/.test(f));
      assert.deepEqual(leftovers, []);
    });
  });
}

describe('the instance lock', function () {
  this.timeout(60_000);
  let sb: Sandbox;
  afterEach(() => sb.cleanup());

  it('a lock left by a process that died is taken over', () => {
    sb = new Sandbox({ platform: 'linux' });
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const lock = path.join(sb.limaHome, 'default', 'autostart.lock');
    writeFileSync(lock, `${dead.stdout} ${os.hostname()}\n`);
    ok(sb.run(['enable', 'default']));
    assert.ok(existsSync(sb.unitFile()));
    assert.ok(!existsSync(lock), 'released after the run');
  });

  it('a lock held by a live process is waited for, and the run goes on once it is released', async () => {
    sb = new Sandbox({ platform: 'linux' });
    const lock = path.join(sb.limaHome, 'default', 'autostart.lock');
    writeFileSync(lock, `${process.pid} ${os.hostname()}\n`); // this test process: alive
    const pending = sb.runAsync(['enable', 'default']);
    let finished = false;
    void pending.then(() => { finished = true; });
    await sleep(1500);
    assert.equal(finished, false, 'the run waited');
    assert.ok(!existsSync(sb.unitFile()), 'and changed nothing while waiting');
    rmSync(lock); // the holder is done
    const r = ok(await pending);
    assert.match(r.stderr, new RegExp(`waiting for another limactl-autostart run on instance "default" \\(pid ${process.pid}\\)`));
    assert.ok(existsSync(sb.unitFile()));
  });

  it('migrate waits for the lock, then decides from the file as the holder left it', async () => {
    sb = new Sandbox({ platform: 'linux' });
    placeFixture(sb, 'lima-1.0.1/lima-vm@default.service', sb.unitFile());
    const lock = path.join(sb.limaHome, 'default', 'autostart.lock');
    writeFileSync(lock, `${process.pid} ${os.hostname()}\n`);
    const pending = sb.runAsync(['migrate']);
    await sleep(1500);
    // Meanwhile the holder gives the unit a setting a rewrite would drop.
    const edited = placeFixture(sb, 'lima-1.0.1/lima-vm@default.service', sb.unitFile(), (t) => t.replace('[Service]\n', '[Service]\nNice=5\n'));
    rmSync(lock);
    const r = ok(await pending);
    assert.match(r.stderr, /left .* alone: it has settings limactl-autostart does not write: Service\.Nice/, show(r));
    assert.equal(readFileSync(sb.unitFile(), 'utf8'), edited);
  });

  it('--dry-run takes no lock: it runs while another run holds it', () => {
    sb = new Sandbox({ platform: 'linux' });
    const lock = path.join(sb.limaHome, 'default', 'autostart.lock');
    writeFileSync(lock, `${process.pid} ${os.hostname()}\n`);
    ok(sb.run(['enable', 'default', '--dry-run']));
    assert.equal(readFileSync(lock, 'utf8'), `${process.pid} ${os.hostname()}\n`, 'the other run\'s lock is untouched');
  });
});
