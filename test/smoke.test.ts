import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Sandbox, show } from './helpers.js';

describe('sandbox smoke', () => {
  let sb: Sandbox;
  afterEach(() => sb.cleanup());

  it('enable at login on darwin writes the agent and enables it in the gui domain', () => {
    sb = new Sandbox({ platform: 'darwin' });
    const r = sb.run(['enable', 'default']);
    assert.equal(r.code, 0, show(r));
    assert.ok(existsSync(sb.agentPlist()));
    assert.deepEqual(sb.calls(), [
      ['launchctl', 'print', `gui/${sb.uid}`],
      ['launchctl', 'enable', `gui/${sb.uid}/io.lima-vm.autostart.default`],
    ]);
  });

  it('enable at boot on darwin installs the daemon through sudo', () => {
    sb = new Sandbox({ platform: 'darwin' });
    const r = sb.run(['enable', 'default', '--condition=boot', '--now']);
    assert.equal(r.code, 0, show(r));
    assert.ok(existsSync(sb.daemonPlist()), show(r));
    assert.deepEqual(sb.calls().map((c) => c.slice(0, 3)), [
      ['sudo', 'install', '-m'],
      ['sudo', 'launchctl', 'enable'],
      ['launchctl', 'enable', 'system/io.lima-vm.daemon.default'],
      ['sudo', 'launchctl', 'bootout'],
      ['launchctl', 'bootout', 'system/io.lima-vm.daemon.default'],
      ['sudo', 'launchctl', 'bootstrap'],
      ['launchctl', 'bootstrap', 'system'],
    ]);
  });
});
