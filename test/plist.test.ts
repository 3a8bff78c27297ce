import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'plist';
import { needTool, Sandbox, show, type SandboxOptions, serviceArgv } from './helpers.js';
import { launchdProblems } from './launchd-keys.js';
import { readTypedPlist } from './plist-typed.js';

// Every plist the program renders (agent and daemon, login and boot, keep-alive on and off, plain
// and hostile paths) is read by two independent parsers: the `plist` package, and libplist through
// Debian's plistutil, which converts it to the binary format and back. Both must read the same
// values, and the values that went in. Each plist is also checked key by key against the types
// launchd.plist(5) documents (test/launchd-keys.ts); negative controls prove that the check rejects
// what it should.

interface Rendered {
  name: string;
  kind: 'agent' | 'daemon';
  text: string;
  sb: Sandbox;
}

const PATHS: Array<{ label: string; options: Omit<SandboxOptions, 'platform'> }> = [
  { label: 'plain paths', options: {} },
  { label: '&, <, >, quotes, % and $ in the paths', options: { homeName: `home & <dir> "q" 'a' 100% $HOME`, limaHomeName: 'lima %h ${LIMA_HOME} &amp;', binName: 'bin > & <b> $PATH' } },
];

const RUNS: Array<{ name: string; kind: 'agent' | 'daemon'; args: string[] }> = [
  { name: 'LaunchAgent (login), keep-alive', kind: 'agent', args: [] },
  { name: 'LaunchAgent (login), no keep-alive', kind: 'agent', args: ['--keep-alive=false'] },
  { name: 'LaunchDaemon (boot), keep-alive', kind: 'daemon', args: ['--condition=boot'] },
  { name: 'LaunchDaemon (boot), no keep-alive', kind: 'daemon', args: ['--condition=boot', '--no-keep-alive'] },
  { name: 'LaunchDaemon (boot) for another user', kind: 'daemon', args: ['--condition=boot', '--user=other'] },
];

/**
 * plistutil FROM TO FORMAT. plistutil 2.2 exits 0 even when it cannot convert ("ERROR: Failed to
 * convert input file."), so success is: nothing on stderr and a non-empty output file.
 */
function plistutil(tool: string, from: string, to: string, format: 'bin' | 'xml'): { ok: boolean; output: string } {
  const r = spawnSync(tool, ['-i', from, '-o', to, '-f', format], { encoding: 'utf8' });
  if (r.error) throw r.error;
  const output = `${r.stdout}${r.stderr}`;
  return { ok: r.status === 0 && r.stderr === '' && existsSync(to) && readFileSync(to).length > 0, output: `exit ${r.status}: ${output}` };
}

/** The plist converted to binary and back to XML by libplist. */
function throughLibplist(tool: string, sb: Sandbox, text: string, name: string): string {
  const xml = path.join(sb.tmp, `${name}.plist`);
  const bin = path.join(sb.tmp, `${name}.bplist`);
  const back = path.join(sb.tmp, `${name}.back.plist`);
  writeFileSync(xml, text);
  const toBinary = plistutil(tool, xml, bin, 'bin');
  assert.ok(toBinary.ok, `plistutil to binary: ${toBinary.output}`);
  assert.equal(readFileSync(bin).subarray(0, 8).toString('latin1'), 'bplist00');
  const toXml = plistutil(tool, bin, back, 'xml');
  assert.ok(toXml.ok, `plistutil back to XML: ${toXml.output}`);
  return readFileSync(back, 'utf8');
}

describe('plists, read by two parsers and checked against launchd.plist(5)', () => {
  const rendered: Rendered[] = [];
  const sandboxes: Sandbox[] = [];

  before(() => {
    for (const paths of PATHS) {
      const sb = new Sandbox({ ...paths.options, platform: 'darwin' });
      sandboxes.push(sb);
      for (const run of RUNS) {
        const r = sb.run(['enable', 'default', ...run.args]);
        assert.equal(r.code, 0, show(r));
        const file = run.kind === 'agent' ? sb.agentPlist() : sb.daemonPlist();
        rendered.push({ name: `${run.name}, ${paths.label}`, kind: run.kind, text: readFileSync(file, 'utf8'), sb });
      }
    }
  });

  after(() => {
    for (const sb of sandboxes) sb.cleanup();
  });

  for (const paths of PATHS) {
    for (const run of RUNS) {
      const name = `${run.name}, ${paths.label}`;
      const get = (): Rendered => rendered.find((r) => r.name === name)!;

      it(`${name}: plistutil converts it to binary and back without loss; both parsers read the values that went in`, function () {
        const tool = needTool(this, 'plistutil', 'libplist-utils');
        const { sb, text, kind } = get();
        const back = throughLibplist(tool, sb, text, kind);
        // The same plist for both parsers, types included (an <integer> stays an <integer>).
        assert.deepStrictEqual(parse(back), parse(text));
        assert.deepStrictEqual(readTypedPlist(back), readTypedPlist(text));
        // And it holds what went in, hostile characters and all.
        const values = parse(text) as Record<string, unknown>;
        const dir = path.join(sb.limaHome, 'default');
        assert.deepStrictEqual(values.ProgramArguments, serviceArgv(sb.limactl));
        assert.equal((values.EnvironmentVariables as Record<string, string>).LIMA_HOME, sb.limaHome);
        assert.equal(values.WorkingDirectory, dir);
        assert.equal(values.StandardErrorPath, path.join(dir, 'launchd.stderr.log'));
      });

      it(`${name}: every key is one launchd.plist(5) documents, with its type`, () => {
        const { text, kind } = get();
        assert.deepEqual(launchdProblems(readTypedPlist(text), kind), []);
      });
    }
  }

  describe('negative controls: the checks reject a broken plist', () => {
    // Each mutation must change the text, and the check must name what is wrong.
    const MUTATIONS: Array<{ what: string; kind: 'agent' | 'daemon'; from: RegExp; to: string; problem: string }> = [
      { what: 'a misspelt key', kind: 'agent', from: /<key>KeepAlive<\/key>/, to: '<key>KeepAlvie</key>', problem: 'job.KeepAlvie: not a key' },
      { what: 'a misspelt key inside KeepAlive', kind: 'agent', from: /<key>SuccessfulExit<\/key>/, to: '<key>SuccesfulExit</key>', problem: 'job.KeepAlive.SuccesfulExit: not a key' },
      { what: 'a key in the wrong case', kind: 'daemon', from: /<key>ExitTimeOut<\/key>/, to: '<key>ExitTimeout</key>', problem: 'job.ExitTimeout: not a key' },
      { what: 'RunAtLoad as a string', kind: 'agent', from: /<key>RunAtLoad<\/key>\s*<true\/>/, to: '<key>RunAtLoad</key><string>true</string>', problem: 'job.RunAtLoad: expected boolean, found string "true"' },
      { what: 'ThrottleInterval as a string', kind: 'agent', from: /<integer>30<\/integer>/, to: '<string>30</string>', problem: 'job.ThrottleInterval: expected integer, found string "30"' },
      { what: 'ThrottleInterval as a real', kind: 'daemon', from: /<integer>30<\/integer>/, to: '<real>30</real>', problem: 'job.ThrottleInterval: expected integer, found real' },
      { what: 'an integer that is not one', kind: 'agent', from: /<integer>300<\/integer>/, to: '<integer>300.5</integer>', problem: 'job.ExitTimeOut: expected integer' },
      { what: 'Crashed as an integer', kind: 'agent', from: /<key>Crashed<\/key>\s*<true\/>/, to: '<key>Crashed</key><integer>1</integer>', problem: 'job.KeepAlive.Crashed: expected boolean, found integer' },
      { what: 'ProgramArguments as a string', kind: 'agent', from: /<key>ProgramArguments<\/key>\s*<array>[\s\S]*?<\/array>/, to: '<key>ProgramArguments</key><string>limactl start default</string>', problem: 'job.ProgramArguments: expected array of string' },
      { what: 'an environment variable as an integer', kind: 'daemon', from: /(<key>LIMA_HOME<\/key>\s*)<string>[^<]*<\/string>/, to: '$1<integer>1</integer>', problem: 'job.EnvironmentVariables.LIMA_HOME: expected string, found integer' },
      { what: 'a ProcessType launchd does not know', kind: 'agent', from: /<string>Standard<\/string>/, to: '<string>Standart</string>', problem: 'job.ProcessType: expected one of Background, Standard, Adaptive, Interactive' },
      { what: 'UserName in a LaunchAgent', kind: 'agent', from: /<key>Label<\/key>/, to: '<key>UserName</key><string>limauser</string><key>Label</key>', problem: 'job.UserName: only for daemons' },
      { what: 'LimitLoadToSessionType in a LaunchDaemon', kind: 'daemon', from: /<key>Label<\/key>/, to: '<key>LimitLoadToSessionType</key><string>Aqua</string><key>Label</key>', problem: 'job.LimitLoadToSessionType: only for agents' },
      { what: 'a key given twice', kind: 'agent', from: /<key>RunAtLoad<\/key>/, to: '<key>RunAtLoad</key><false/><key>RunAtLoad</key>', problem: 'job.RunAtLoad: given twice' },
      { what: 'no Label', kind: 'daemon', from: /<key>Label<\/key>\s*<string>[^<]*<\/string>/, to: '', problem: 'job.Label: missing' },
    ];
    const plain = (kind: 'agent' | 'daemon'): Rendered => rendered.find((r) => r.kind === kind && r.name.endsWith('plain paths'))!;

    for (const m of MUTATIONS) {
      it(`launchd.plist(5) check: ${m.what} (${m.kind})`, () => {
        const { text } = plain(m.kind);
        const broken = text.replace(m.from, m.to);
        assert.notEqual(broken, text, 'the mutation changed nothing');
        const problems = launchdProblems(readTypedPlist(broken), m.kind);
        assert.ok(problems.some((p) => p.includes(m.problem)), `expected a problem with ${JSON.stringify(m.problem)}, got ${JSON.stringify(problems)}`);
      });
    }

    it('the typed reading refuses XML that is not a property list', () => {
      const { text } = plain('agent');
      assert.throws(() => readTypedPlist(text.replace('<string>default</string>', '<string>default</strin>')), /not well-formed/);
      assert.throws(() => readTypedPlist(text.replace('<key>RunAtLoad</key>', '')), /<true> where a <key> belongs|has <true>/);
      assert.throws(() => readTypedPlist(text.replace('<true/>', '<yes/>')), /<yes> is not a property list element/);
    });

    // The `plist` package (and the typed reading, on the same XML parser) let a raw & pass: libplist
    // is the strict one of the two.
    it('plistutil refuses a plist that is not well-formed (a raw &), so its round trip is a real parse', function () {
      const tool = needTool(this, 'plistutil', 'libplist-utils');
      const { sb, text } = plain('agent');
      const broken = text.replace('<string>default</string>', '<string>a & b</string>');
      assert.notEqual(broken, text);
      const xml = path.join(sb.tmp, 'broken.plist');
      writeFileSync(xml, broken);
      const r = plistutil(tool, xml, path.join(sb.tmp, 'broken.bplist'), 'bin');
      assert.equal(r.ok, false, `plistutil accepted a raw &: ${r.output}`);
    });
  });
});
