import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers.js';
import { FIXTURES } from './fixture.js';
import { readServiceText as readWith } from '../src/files/registration.js';
import { plistSettings } from '../src/files/plist.js';
import { unitSettings } from '../src/files/unit.js';
import type { Registration } from '../src/model.js';

/** The reader, with the format's settings as its backend hands them in. */
const readServiceText = (r: Registration, content: Buffer) => readWith(r, content, r.kind === 'user unit' ? unitSettings(r.instance) : plistSettings(r));

// The one reader of registration files answers every question about a file: which condition,
// keep-alive (restarted after a crash) and where that comes from, which LIMA_HOME, who wrote it.
// The table holds the answers for the files Lima wrote (test/fixtures/), files edited by hand,
// the program's own (test/golden/), and every Restart= and KeepAlive form. status and migrate
// take these answers as they are (test/status.test.ts, test/migrate.test.ts, and below).

const GOLDEN = path.join(ROOT, 'test', 'golden');

const agent = (instance = 'default'): Registration => ({ kind: 'LaunchAgent', instance, file: `/x/io.lima-vm.autostart.${instance}.plist`, label: `io.lima-vm.autostart.${instance}` });
const daemon = (instance = 'default'): Registration => ({ kind: 'LaunchDaemon', instance, file: `/x/io.lima-vm.daemon.${instance}.plist`, label: `io.lima-vm.daemon.${instance}` });
const unit = (lingering: boolean): Registration => ({ kind: 'user unit', instance: 'default', file: '/x/lima-vm@default.service', lingering });

interface Answers {
  condition: 'login' | 'boot';
  conditionFrom?: 'lingering';
  keepAlive: boolean;
  keepAliveFrom: 'header' | 'settings' | 'unsaid';
  limaHome: string | undefined;
  writtenBy: 'limactl-autostart' | 'lima' | 'hand';
  differences: string[];
}

function answers(registration: Registration, text: string): Answers {
  const file = readServiceText(registration, Buffer.from(text));
  assert.equal(file.unreadable, undefined, `${registration.file}: ${file.unreadable}`);
  if (file.unreadable !== undefined) throw new Error('unreachable');
  const { condition, conditionFrom, keepAlive, keepAliveFrom, limaHome, writtenBy, differences } = file;
  return { condition, ...(conditionFrom ? { conditionFrom } : {}), keepAlive, keepAliveFrom, limaHome, writtenBy, differences };
}

const fixture = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');
const golden = (name: string): string => readFileSync(path.join(GOLDEN, name), 'utf8');
const LIMA_UNIT = 'lima-1.0.1/lima-vm@default.service';
const LIMA_AGENT = 'lima-1.0.1/io.lima-vm.autostart.default.plist';
const OURS = '/ROOT/home dir/.lima';

describe('registration files: one answer to each question', () => {
  const rows: Array<[string, Registration, string, Answers]> = [
    ['Lima 1.0.1 LaunchAgent', agent(), fixture(LIMA_AGENT),
      { condition: 'login', keepAlive: false, keepAliveFrom: 'unsaid', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    ['Lima 1.0.1 unit, lingering off', unit(false), fixture(LIMA_UNIT),
      { condition: 'login', conditionFrom: 'lingering', keepAlive: true, keepAliveFrom: 'settings', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    ['Lima 1.0.1 unit, lingering on', unit(true), fixture(LIMA_UNIT),
      { condition: 'boot', conditionFrom: 'lingering', keepAlive: true, keepAliveFrom: 'settings', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    ['Lima 2.2 LaunchDaemon', daemon('k3s'), fixture('lima-2.2/io.lima-vm.daemon.k3s.plist'),
      { condition: 'boot', keepAlive: false, keepAliveFrom: 'unsaid', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    // Every other variant Lima has written (test/fixtures/README.md): each keeps its keep-alive.
    ['Lima 1.0.2 unit (WantedBy=default.target)', unit(false), fixture('lima-1.0.2/lima-vm@default.service'),
      { condition: 'login', conditionFrom: 'lingering', keepAlive: true, keepAliveFrom: 'settings', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    ['Lima 2.1 LaunchAgent', agent(), fixture('lima-2.1/io.lima-vm.autostart.default.plist'),
      { condition: 'login', keepAlive: false, keepAliveFrom: 'unsaid', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    ['Lima 2.1 unit', unit(true), fixture('lima-2.1/lima-vm@default.service'),
      { condition: 'boot', conditionFrom: 'lingering', keepAlive: true, keepAliveFrom: 'settings', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    ['Lima with #5086, --keep-alive: LaunchAgent with KeepAlive {SuccessfulExit: false}', agent(), fixture('lima-pr5086/io.lima-vm.autostart.default.plist'),
      { condition: 'login', keepAlive: true, keepAliveFrom: 'settings', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    ['Lima with #5086, --keep-alive: LaunchDaemon', daemon('k3s'), fixture('lima-pr5086/io.lima-vm.daemon.k3s.plist'),
      { condition: 'boot', keepAlive: true, keepAliveFrom: 'settings', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    ['Lima with #5086, --keep-alive: unit', unit(false), fixture('lima-pr5086/lima-vm@default.service'),
      { condition: 'login', conditionFrom: 'lingering', keepAlive: true, keepAliveFrom: 'settings', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    ['Lima with #5086, --keep-alive=false: LaunchAgent without KeepAlive (never restarted, kept so)', agent(), fixture('lima-pr5086-no-keep-alive/io.lima-vm.autostart.default.plist'),
      { condition: 'login', keepAlive: false, keepAliveFrom: 'unsaid', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    ['Lima with #5086, --keep-alive=false: LaunchDaemon', daemon('k3s'), fixture('lima-pr5086-no-keep-alive/io.lima-vm.daemon.k3s.plist'),
      { condition: 'boot', keepAlive: false, keepAliveFrom: 'unsaid', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    ['Lima with #5086, --keep-alive=false: unit with Restart=no', unit(false), fixture('lima-pr5086-no-keep-alive/lima-vm@default.service'),
      { condition: 'login', conditionFrom: 'lingering', keepAlive: false, keepAliveFrom: 'settings', limaHome: undefined, writtenBy: 'lima', differences: [] }],
    ['Lima with #5489: LaunchAgent with LIMA_HOME', agent(), fixture('lima-pr5489/io.lima-vm.autostart.default.plist'),
      { condition: 'login', keepAlive: true, keepAliveFrom: 'settings', limaHome: '/Users/lima/.lima', writtenBy: 'lima', differences: [] }],
    ['Lima with #5489: unit with LIMA_HOME', unit(false), fixture('lima-pr5489/lima-vm@default.service'),
      { condition: 'login', conditionFrom: 'lingering', keepAlive: true, keepAliveFrom: 'settings', limaHome: '/home/lima/.lima', writtenBy: 'lima', differences: [] }],
    ['Lima\'s plist with a PATH added by hand', agent(), fixture('hand-edited-path/io.lima-vm.autostart.default.plist'),
      { condition: 'login', keepAlive: false, keepAliveFrom: 'unsaid', limaHome: undefined, writtenBy: 'hand', differences: [] }],
    ['Lima\'s plist with keys added by hand', agent(), fixture('hand-edited-keys/io.lima-vm.autostart.default.plist'),
      { condition: 'login', keepAlive: false, keepAliveFrom: 'unsaid', limaHome: undefined, writtenBy: 'hand', differences: ['it has settings limactl-autostart does not write: AbandonProcessGroup, SoftResourceLimits'] }],
    ['Lima\'s plist with LIMA_HOME, as Lima writes it since lima-vm/lima#5489', agent(), fixture(LIMA_AGENT).replace('<key>RunAtLoad</key>', '<key>EnvironmentVariables</key><dict><key>LIMA_HOME</key><string>/Volumes/vms/lima</string></dict><key>RunAtLoad</key>'),
      { condition: 'login', keepAlive: false, keepAliveFrom: 'unsaid', limaHome: '/Volumes/vms/lima', writtenBy: 'lima', differences: [] }],
    ['Lima\'s unit with LIMA_HOME, as Lima writes it since lima-vm/lima#5489', unit(false), fixture(LIMA_UNIT).replace('Type=simple', 'Type=simple\nEnvironment="LIMA_HOME=/srv/lima 100%%"'),
      { condition: 'login', conditionFrom: 'lingering', keepAlive: true, keepAliveFrom: 'settings', limaHome: '/srv/lima 100%', writtenBy: 'lima', differences: [] }],
    ['our LaunchAgent, keep-alive', agent(), golden('io.lima-vm.autostart.default.keep-alive.plist'),
      { condition: 'login', keepAlive: true, keepAliveFrom: 'header', limaHome: OURS, writtenBy: 'limactl-autostart', differences: [] }],
    ['our LaunchAgent, no keep-alive', agent(), golden('io.lima-vm.autostart.default.no-keep-alive.plist'),
      { condition: 'login', keepAlive: false, keepAliveFrom: 'header', limaHome: OURS, writtenBy: 'limactl-autostart', differences: [] }],
    ['our LaunchDaemon, keep-alive', daemon(), golden('io.lima-vm.daemon.default.keep-alive.plist'),
      { condition: 'boot', keepAlive: true, keepAliveFrom: 'header', limaHome: OURS, writtenBy: 'limactl-autostart', differences: [] }],
    ['our LaunchDaemon, no keep-alive', daemon(), golden('io.lima-vm.daemon.default.no-keep-alive.plist'),
      { condition: 'boot', keepAlive: false, keepAliveFrom: 'header', limaHome: OURS, writtenBy: 'limactl-autostart', differences: [] }],
    // The header decides a unit's condition, whatever lingering is.
    ['our unit at login, keep-alive, lingering on', unit(true), golden('lima-vm@default.keep-alive.service'),
      { condition: 'login', keepAlive: true, keepAliveFrom: 'header', limaHome: OURS, writtenBy: 'limactl-autostart', differences: [] }],
    ['our unit at boot, no keep-alive, lingering off', unit(false), golden('lima-vm@default.no-keep-alive.service'),
      { condition: 'boot', keepAlive: false, keepAliveFrom: 'header', limaHome: OURS, writtenBy: 'limactl-autostart', differences: [] }],
    ['our unit with its Restart= edited by hand', unit(false), golden('lima-vm@default.keep-alive.service').replace('Restart=on-failure', 'Restart=no'),
      { condition: 'login', keepAlive: false, keepAliveFrom: 'header', limaHome: OURS, writtenBy: 'limactl-autostart', differences: ['its header says keep-alive=true, but its Restart= does not restart the instance after a crash'] }],
    ['our plist with its KeepAlive removed by hand', agent(), golden('io.lima-vm.autostart.default.keep-alive.plist').replace(/<key>KeepAlive<\/key>\s*<dict>[\s\S]*?<\/dict>/, ''),
      { condition: 'login', keepAlive: false, keepAliveFrom: 'header', limaHome: OURS, writtenBy: 'limactl-autostart', differences: ['its header says keep-alive=true, but its KeepAlive is not set and does not restart the instance after a crash'] }],
  ];
  for (const [what, registration, text, expected] of rows) {
    it(what, () => {
      assert.deepStrictEqual(answers(registration, text), expected);
    });
  }

  it('a file of ours that no longer parses: unreadable, and still ours by its header', () => {
    const broken = golden('lima-vm@default.no-keep-alive.service').replace('[Service]', 'not a unit line');
    const file = readServiceText(unit(false), Buffer.from(broken));
    assert.match(file.unreadable ?? '', /^it is not a unit file that can be read \(unit line \d+ is neither a section nor Key=value: "not a unit line"\)$/);
    assert.deepEqual([file.condition, file.header?.condition, file.header?.keepAlive], ['boot', 'boot', false]);
  });

  // Keep-alive means "restarted after a crash". Lima's 1.0.1 unit with each Restart= value:
  const RESTART: Array<[string | undefined, boolean]> = [
    [undefined, false], ['no', false], ['on-success', false], ['on-watchdog', false],
    ['on-failure', true], ['on-abnormal', true], ['on-abort', true], ['always', true],
  ];
  for (const [value, keepAlive] of RESTART) {
    it(`a unit with ${value === undefined ? 'no Restart=' : `Restart=${value}`}: keep-alive ${keepAlive}`, () => {
      const text = fixture(LIMA_UNIT).replace('Restart=on-failure', value === undefined ? '' : `Restart=${value}`);
      const a = answers(unit(false), text);
      assert.equal(a.keepAlive, keepAlive);
      assert.equal(a.keepAliveFrom, value === undefined ? 'unsaid' : 'settings');
    });
  }

  it('the last Restart= of a unit counts, as systemd reads it', () => {
    assert.equal(answers(unit(false), fixture(LIMA_UNIT).replace('Restart=on-failure', 'Restart=on-failure\nRestart=no')).keepAlive, false);
    assert.equal(answers(unit(false), fixture(LIMA_UNIT).replace('Restart=on-failure', 'Restart=no\nRestart=always')).keepAlive, true);
  });

  // ...and Lima's 1.0.1 plist with each KeepAlive form.
  const KEEP_ALIVE: Array<[string, string | undefined, boolean]> = [
    ['absent', undefined, false],
    ['<false/>', '<false/>', false],
    ['<true/>', '<true/>', true],
    ['this program\'s dictionary', '<dict><key>Crashed</key><true/><key>SuccessfulExit</key><false/></dict>', true],
    ['{SuccessfulExit: false}', '<dict><key>SuccessfulExit</key><false/></dict>', true],
    ['{Crashed: true}', '<dict><key>Crashed</key><true/></dict>', true],
    ['{Crashed: false} (restarts after every clean exit, never after a crash)', '<dict><key>Crashed</key><false/></dict>', false],
    ['{SuccessfulExit: true} (restarts after exit 0 only)', '<dict><key>SuccessfulExit</key><true/></dict>', false],
    ['an empty dictionary', '<dict/>', false],
    ['{PathState: …} (not about crashes)', '<dict><key>PathState</key><dict><key>/tmp/x</key><true/></dict></dict>', false],
    ['a string', '<string>yes</string>', false],
  ];
  for (const [what, value, keepAlive] of KEEP_ALIVE) {
    it(`a plist with KeepAlive ${what}: keep-alive ${keepAlive}`, () => {
      const text = fixture(LIMA_AGENT).replace('<key>RunAtLoad</key>', value === undefined ? '<key>RunAtLoad</key>' : `<key>KeepAlive</key>${value}<key>RunAtLoad</key>`);
      const a = answers(agent(), text);
      assert.equal(a.keepAlive, keepAlive);
      assert.equal(a.keepAliveFrom, value === undefined ? 'unsaid' : 'settings');
    });
  }
});
