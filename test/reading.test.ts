import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildBinary } from 'plist';
import { show, type Platform, type RunResult, type Sandbox } from './helpers.js';
import { fixtureText, placeFixture } from './fixture.js';
import { ok, sandboxPool } from './pool.js';

// Files as the real entry point reads them. status, migrate and enable read a file through one
// reader, so they say the same of it; a file that cannot be read is reported in the program's own
// words, and nothing of the XML parser's console output (`[xmldom warning] …`) reaches stderr.

const AGENT_FIXTURE = 'lima-1.0.1/io.lima-vm.autostart.default.plist';
const UNIT_FIXTURE = 'lima-1.0.1/lima-vm@default.service';

interface Row { keepAlive: boolean | null; condition: string; problems: { problem: string; fix: string }[] }

function statusRow(sb: Sandbox): Row {
  const r = ok(sb.run(['status', '--json', 'default']));
  assert.doesNotMatch(r.stderr, /xmldom/, show(r));
  return (JSON.parse(r.stdout) as Row[])[0]!;
}

/** migrate's word on the file: rewritten with keep-alive=…, or left alone, and why. */
function migrateSays(sb: Sandbox, file: string): string {
  const r = ok(sb.run(['migrate', '--dry-run']));
  assert.doesNotMatch(r.stderr, /xmldom/, show(r));
  const line = r.stderr.split('\n').find((l) => l.includes(file));
  assert.ok(line, show(r));
  return line;
}

describe('reading registration files through the entry point', () => {
  const make = sandboxPool();
  // On macOS the agent is loaded, as a login leaves it: status then speaks of the file, not of a
  // job that is not loaded.
  const sandbox = (platform: Platform): Sandbox => {
    const sb = make({ platform, instances: ['default'] });
    if (platform === 'darwin') sb.markLoaded(`gui/${sb.uid}/io.lima-vm.autostart.default`);
    return sb;
  };

  describe('status and migrate say the same keep-alive', () => {
    const cases: Array<{ platform: Platform; what: string; edit: (t: string) => string; keepAlive: boolean; said: boolean }> = [
      { platform: 'linux', what: 'Restart=on-success', edit: (t) => t.replace('Restart=on-failure', 'Restart=on-success'), keepAlive: false, said: true },
      { platform: 'linux', what: 'Restart=always', edit: (t) => t.replace('Restart=on-failure', 'Restart=always'), keepAlive: true, said: true },
      { platform: 'linux', what: 'no Restart=', edit: (t) => t.replace('Restart=on-failure', ''), keepAlive: false, said: false },
      { platform: 'darwin', what: 'no KeepAlive', edit: (t) => t, keepAlive: false, said: false },
      { platform: 'darwin', what: 'KeepAlive {SuccessfulExit: true}', edit: (t) => t.replace('<key>RunAtLoad</key>', '<key>KeepAlive</key><dict><key>SuccessfulExit</key><true/></dict><key>RunAtLoad</key>'), keepAlive: false, said: true },
      { platform: 'darwin', what: 'KeepAlive <true/>', edit: (t) => t.replace('<key>RunAtLoad</key>', '<key>KeepAlive</key><true/><key>RunAtLoad</key>'), keepAlive: true, said: true },
    ];
    for (const c of cases) {
      it(`${c.platform}, ${c.what}: status says keep-alive ${c.keepAlive}; migrate keeps it${c.said ? '' : ', saying why'}`, () => {
        const sb = sandbox(c.platform);
        const file = c.platform === 'darwin' ? sb.agentPlist() : sb.unitFile();
        placeFixture(sb, c.platform === 'darwin' ? AGENT_FIXTURE : UNIT_FIXTURE, file, c.edit);
        const row = statusRow(sb);
        assert.equal(row.keepAlive, c.keepAlive);
        const written = c.keepAlive;
        const expected = c.said ? `keep-alive=${c.keepAlive} (from its settings)` : 'keep-alive=false (it sets neither KeepAlive nor Restart=: never restarted)';
        assert.ok(migrateSays(sb, file).endsWith(expected), migrateSays(sb, file));
        // The fix status offers writes the file as migrate would.
        const fixes = row.problems.map((p) => p.fix).filter((f) => f.startsWith('limactl-autostart enable'));
        assert.ok(fixes.length > 0, JSON.stringify(row.problems));
        for (const fix of fixes) assert.equal(fix.includes('--keep-alive=false'), !written, fix);
      });
    }

    it('linux: a unit without the header, with lingering on, is at boot for status and for migrate', () => {
      const sb = sandbox('linux');
      placeFixture(sb, UNIT_FIXTURE, sb.unitFile());
      mkdirSync(path.dirname(sb.lingerFile()), { recursive: true });
      writeFileSync(sb.lingerFile(), '');
      const row = statusRow(sb);
      assert.equal(row.condition, 'boot');
      assert.ok(row.problems.every((p) => !p.fix.startsWith('limactl-autostart enable') || p.fix.includes('--condition=boot')), JSON.stringify(row));
      assert.match(migrateSays(sb, sb.unitFile()), /condition=boot \(lingering is on for limauser\)/);
    });

    it('linux: Lima\'s unit (%i in ExecStart, %h in WorkingDirectory) is read, not reported as unreadable', () => {
      const sb = sandbox('linux');
      placeFixture(sb, UNIT_FIXTURE, sb.unitFile());
      const row = statusRow(sb);
      assert.equal(row.keepAlive, true);
      assert.ok(!row.problems.some((p) => /cannot read/.test(p.problem)), JSON.stringify(row));
      // The Cellar path Lima 1.0.1 recorded is not on this machine.
      assert.ok(row.problems.some((p) => p.problem.includes('/home/linuxbrew/.linuxbrew/Cellar/lima/1.0.1/bin/limactl, which no longer exists')), JSON.stringify(row));
    });
  });

  describe('plists the XML parser complains about: the program\'s own message, no [xmldom …] on stderr', () => {
    const plain = (sb: Sandbox): string => fixtureText(sb, AGENT_FIXTURE);
    const unreadable: Array<{ what: string; content: (sb: Sandbox) => string | Buffer; why: RegExp }> = [
      { what: 'an empty file', content: () => '', why: /missing root element/ },
      { what: 'cut short', content: (sb) => plain(sb).slice(0, 300), why: /unclosed xml tag|not well-formed|unclosed/ },
      { what: 'a tag that does not close', content: (sb) => plain(sb).replace('</string>', '</strin>'), why: /"string" != "strin"/ },
      { what: 'an entity XML does not define', content: (sb) => plain(sb).replace('<string>start</string>', '<string>&start;</string>'), why: /entity not found:&start; \(line \d+\)/ },
      { what: 'an entity of an internal DTD subset', content: (sb) => plain(sb).replace(/<!DOCTYPE[^>]*>/, '<!DOCTYPE plist [<!ENTITY s "start">]>').replace('<string>start</string>', '<string>&s;</string>'), why: /entity not found:&s;/ },
      { what: 'bytes that claim to be a binary plist', content: () => Buffer.concat([Buffer.from('bplist00'), Buffer.alloc(40, 0xff)]), why: /\S/ },
      { what: 'XML that is not a property list', content: () => '<?xml version="1.0"?>\n<html><body/></html>\n', why: /First element should be <plist>/ },
    ];
    for (const u of unreadable) {
      it(`${u.what}: status reports it, migrate leaves it alone, enable replaces it, each saying why`, () => {
        const sb = sandbox('darwin');
        const content = u.content(sb);
        mkdirSync(path.dirname(sb.agentPlist()), { recursive: true });
        writeFileSync(sb.agentPlist(), content);
        const row = statusRow(sb);
        const cannot = row.problems.find((p) => p.problem.startsWith(`cannot read ${sb.agentPlist()}: `));
        assert.ok(cannot, JSON.stringify(row));
        assert.match(cannot.problem, u.why);
        assert.equal(cannot.fix, 'limactl-autostart enable default --condition=login');
        assert.equal(row.keepAlive, null);

        const left = migrateSays(sb, sb.agentPlist());
        assert.match(left, /^warning: left .* alone: it is not a property list (that can be read \(.+\)|with a dictionary)\. To replace it anyway: `limactl-autostart enable default --condition=login`$/);
        assert.deepEqual(readFileSync(sb.agentPlist()), Buffer.from(content));

        const r: RunResult = ok(sb.run(['enable', 'default']));
        assert.doesNotMatch(r.stderr, /xmldom/, show(r));
        assert.ok(r.stderr.includes(`info: replaced ${sb.agentPlist()}, which limactl-autostart had not written; not carried over: it is not a property list`), show(r));
        assert.equal(statusRow(sb).problems.length, 0);
      });
    }

    // Lima's plist has no KeepAlive: never restarted, and migrate keeps it so; the binary one has one.
    const readable: Array<{ what: string; content: (sb: Sandbox) => string | Buffer; keepAlive?: true }> = [
      { what: 'comments and character references', content: (sb) => plain(sb).replace('<dict>', '<!-- hand-made -->\n<dict>\n<!-- a comment -->').replace('<string>start</string>', '<string>&#x73;tart</string>') },
      { what: 'no DOCTYPE and no XML declaration', content: (sb) => plain(sb).replace(/<\?xml[^>]*>\n<!DOCTYPE[^>]*>\n/, '') },
      { what: 'a CDATA section', content: (sb) => plain(sb).replace('<string>start</string>', '<string><![CDATA[start]]></string>') },
      { what: 'the binary format (plutil -convert binary1)', content: (sb) => Buffer.from(buildBinary({
        Label: 'io.lima-vm.autostart.default',
        ProgramArguments: [sb.limactl, 'start', 'default', '--foreground'],
        RunAtLoad: true,
        KeepAlive: true,
      })), keepAlive: true },
    ];
    for (const g of readable) {
      it(`${g.what}: read like any other plist, nothing on stderr about it`, () => {
        const sb = sandbox('darwin');
        mkdirSync(path.dirname(sb.agentPlist()), { recursive: true });
        writeFileSync(sb.agentPlist(), g.content(sb));
        const r = ok(sb.run(['status', '--json', 'default']));
        assert.equal(r.stderr, '');
        const row = (JSON.parse(r.stdout) as Row[])[0]!;
        assert.ok(!row.problems.some((p) => /cannot read/.test(p.problem)), JSON.stringify(row));
        assert.match(migrateSays(sb, sb.agentPlist()), new RegExp(`^info: would rewrite the LaunchAgent .* \\(not written by limactl-autostart\\): condition=login, keep-alive=${g.keepAlive ?? false}`));
      });
    }
  });
});
