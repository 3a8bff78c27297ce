import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { needTool, ROOT, Sandbox, show, type RunResult, type SandboxOptions, serviceArgv } from './helpers.js';
import { environmentOf, execArgv, parseUnit, unescapeSpecifiers, unitValues } from '../src/files/unit.js';

// End-to-end tests of the systemd backend: every test runs bin/limactl-autostart in a sandbox
// (LIMA_AUTOSTART_PLATFORM=linux) and looks at the unit it wrote, the linger state under the
// sysroot, and the calls the stand-ins recorded. The quoting tests also hand every unit to the
// real `systemd-analyze verify`, and read it back twice: with the project's own parser, and with
// an independent reading written here from systemd.syntax(7), systemd.service(5) and
// systemd.exec(5) (and systemd 252's load-fragment.c, where the man pages are silent).

const UNIT = 'lima-vm@default.service';
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

type Call = string[];

const systemctl = (...args: string[]): Call => ['systemctl', '--user', ...args];
/** Asked by every enable and disable that has something to do, before its plan: is there a user manager? */
const PROBE = systemctl('show-environment');

// ---------------------------------------------------------------------------------------------
// Sandboxes

let sandboxes: Sandbox[] = [];

function linux(options: Omit<SandboxOptions, 'platform'> = {}): Sandbox {
  const sb = new Sandbox({ ...options, platform: 'linux' });
  sandboxes.push(sb);
  // snapshot() walks TMPDIR; older helpers create it only when a run starts.
  mkdirSync(path.join(sb.root, 'tmp'), { recursive: true });
  return sb;
}

/** Called in each describe below: a top-level afterEach would be a root hook for every test file. */
function cleanUpSandboxes(): void {
  afterEach(() => {
    for (const sb of sandboxes) sb.cleanup();
    sandboxes = [];
  });
}

/** A run that must succeed. */
function ok(result: RunResult): RunResult {
  assert.equal(result.code, 0, show(result));
  return result;
}

function noStackTrace(result: RunResult): void {
  assert.doesNotMatch(result.stderr, /^\s{4}at /m, `a stack trace on stderr:\n${show(result)}`);
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

function marker(sb: Sandbox, stateHome = path.join(sb.home, '.local', 'state')): string {
  return path.join(stateHome, 'limactl-autostart', 'linger');
}

/** Lingering turned on by someone else (an administrator), before limactl-autostart ran. */
function lingerByHand(sb: Sandbox): void {
  mkdirSync(path.dirname(sb.lingerFile()), { recursive: true });
  writeFileSync(sb.lingerFile(), '');
}

/**
 * Replaces the sandbox's systemctl stand-in (its copy in the sandbox's bin, not test/fakes) by one
 * that also notes, per call, the verb, XDG_RUNTIME_DIR as the program passed it, and whether
 * $PROBE_FILE existed at that moment; then records the call like every stand-in, and fails one verb
 * alone when told to (the shared failAlways keys on the first argument, always `--user` here).
 */
function observingSystemctl(sb: Sandbox): { failVerb(verb: string, code: number): void; observed(): Array<{ verb: string; runtimeDir: string; probe: string }> } {
  const script = `#!/bin/sh
# Test-local systemctl stand-in, written by test/systemd.test.ts.
verb=$2
if [ -n "\${PROBE_FILE:-}" ]; then
  if [ -e "$PROBE_FILE" ]; then probe=present; else probe=absent; fi
else
  probe=-
fi
printf '%s\\t%s\\t%s\\n' "$verb" "\${XDG_RUNTIME_DIR-<unset>}" "$probe" >> "$FAKE_DIR/systemctl-observed"
. "$(dirname "$0")/record.sh"
if [ -f "$FAKE_DIR/fail-verb/$verb" ]; then
  echo "systemctl: $verb failed, as the test asked" >&2
  exit "$(cat "$FAKE_DIR/fail-verb/$verb")"
fi
exit 0
`;
  const file = path.join(sb.bin, 'systemctl');
  writeFileSync(file, script);
  chmodSync(file, 0o755);
  return {
    failVerb(verb, code) {
      mkdirSync(path.join(sb.fakeDir, 'fail-verb'), { recursive: true });
      writeFileSync(path.join(sb.fakeDir, 'fail-verb', verb), `${code}\n`);
    },
    observed() {
      const log = path.join(sb.fakeDir, 'systemctl-observed');
      if (!existsSync(log)) return [];
      return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((line) => {
        const [verb = '', runtimeDir = '', probe = ''] = line.split('\t');
        return { verb, runtimeDir, probe };
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The dry-run output, read back: `NAME=value cmd args  # may fail: ...`, `mkdir -p P`, `rm -f P`,
// and `write P mode 0644 <<'EOF'` … `EOF` blocks. Words are shell words (the program quotes them
// for a POSIX shell).

interface Action {
  env: Record<string, string>;
  argv: string[];
  note?: string;
}

interface DryRun {
  header: string[];
  actions: Action[];
  writes: Map<string, { mode: string; content: string }>;
  /** The closing comment block: what undoes each command if a later step fails. */
  undo: string[];
}

function shellWords(line: string): { words: Array<{ raw: string; value: string }>; comment?: string } {
  const words: Array<{ raw: string; value: string }> = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (i >= line.length) return { words };
    if (line[i] === '#') return { words, comment: line.slice(i + 1).trim() };
    const start = i;
    let value = '';
    while (i < line.length && line[i] !== ' ' && line[i] !== '\t') {
      const c = line[i]!;
      if (c === "'") {
        const end = line.indexOf("'", i + 1);
        assert.ok(end > i, `unterminated single quote in ${JSON.stringify(line)}`);
        value += line.slice(i + 1, end);
        i = end + 1;
      } else if (c === '"') {
        i++;
        while (line[i] !== '"') {
          assert.ok(i < line.length, `unterminated double quote in ${JSON.stringify(line)}`);
          if (line[i] === '\\' && '"\\$`'.includes(line[i + 1] ?? '')) i++;
          value += line[i++];
        }
        i++;
      } else if (c === '\\') {
        value += line[i + 1] ?? '';
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    words.push({ raw: line.slice(start, i), value });
  }
}

function readDryRun(stdout: string): DryRun {
  const lines = stdout.split('\n');
  assert.equal(lines.pop(), '', 'dry-run output ends with a newline');
  const out: DryRun = { header: [], actions: [], writes: new Map(), undo: [] };
  const undoAt = lines.findIndex((l) => l.startsWith('# if a step fails'));
  if (undoAt >= 0) {
    out.undo = lines.splice(undoAt).slice(1);
    for (const line of out.undo) assert.match(line, /^# {3}after `[^`]+`: .+$/);
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const write = /^write (.+) mode ([0-7]{4})( \(staging copy, removed afterwards\))? <<'EOF'$/.exec(line);
    if (write) {
      const target = shellWords(write[1]!).words.map((w) => w.value);
      assert.equal(target.length, 1, `one path in ${JSON.stringify(line)}`);
      const end = lines.indexOf('EOF', i + 1);
      assert.ok(end > i, `no EOF after ${JSON.stringify(line)}`);
      out.writes.set(target[0]!, { mode: write[2]!, content: `${lines.slice(i + 1, end).join('\n')}\n` });
      out.actions.push({ env: {}, argv: ['write', target[0]!, 'mode', write[2]!] });
      i = end;
      continue;
    }
    if (line.startsWith('#')) {
      assert.equal(out.actions.length, 0, `a comment line between actions: ${JSON.stringify(line)}`);
      out.header.push(line);
      continue;
    }
    const { words, comment } = shellWords(line);
    const env: Record<string, string> = {};
    while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!.raw)) {
      const assignment = words.shift()!.value;
      const eq = assignment.indexOf('=');
      env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
    }
    out.actions.push({ env, argv: words.map((w) => w.value), ...(comment !== undefined ? { note: comment } : {}) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// An independent reading of a unit file, the way systemd 252 reads the settings we write.
//
// systemd.syntax(7): lines are stripped; empty lines and lines starting with # or ; are comments;
//   a line ending in an (unescaped) backslash continues on the next one, the backslash becoming a
//   space; `[Section]` headers; `Key=value` split at the first `=`, both sides stripped.
// systemd.unit(5) "Specifiers": `%%` is a literal `%`; any other `%x` is expanded by systemd, so a
//   unit of ours must contain none (we refuse them here, which catches an unescaped `%h`).
// ExecStart= (systemd.service(5) "Command lines"; load-fragment.c config_parse_exec): the value is
//   split into words with quotes removed and C escapes decoded (\a \b \f \n \r \t \v \\ \" \' \s
//   \xHH \NNN \uXXXX \UXXXXXXXX), then specifiers are resolved per word. The first word, after
//   the prefixes @-:+!, is the executable: systemd refuses it ("Executable name contains special
//   characters") if it holds a quote, a backslash or a control character, and it never expands
//   `$` in it. In the other words, at exec time, `$$` is a `$`, `${NAME}` is replaced, and a word
//   that is `$NAME` alone is replaced and split: a literal `$` must therefore be written `$$`.
// WorkingDirectory= (config_parse_working_directory): no unquoting and no escapes; a leading `-`
//   means "may be missing", `~` means the home directory; then specifiers.
// Environment= (systemd.exec(5)): words as above (quotes removed, C escapes decoded), then
//   specifiers per word; each word is NAME=value; `$` is literal (no variable expansion); a later
//   assignment wins, an empty Environment= resets the list.

type Sections = Map<string, Map<string, string[]>>;

const WHITESPACE = ' \t\n\r';

function readLikeSystemd(text: string): Sections {
  const sections: Sections = new Map();
  let current: Map<string, string[]> | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    // Continuation: an odd number of trailing backslashes.
    while ((/\\+$/.exec(line)?.[0].length ?? 0) % 2 === 1) {
      line = `${line.slice(0, -1)} `;
      let next: string | undefined;
      do next = lines[++i]?.trim(); while (next !== undefined && (next.startsWith('#') || next.startsWith(';')));
      if (next === undefined) break;
      line += next;
    }
    line = line.trim();
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 1) throw new Error(`systemd would ignore line ${i + 1}: ${JSON.stringify(line)}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

function values(sections: Sections, section: string, key: string): string[] {
  return sections.get(section)?.get(key) ?? [];
}

function resolveSpecifiers(word: string): string {
  let out = '';
  for (let i = 0; i < word.length; i++) {
    if (word[i] !== '%') {
      out += word[i];
      continue;
    }
    const next = word[++i];
    if (next !== '%') throw new Error(`systemd would expand the specifier %${next ?? ''} in ${JSON.stringify(word)}`);
    out += '%';
  }
  return out;
}

const SIMPLE_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'", s: ' ' };

/** systemd's cunescape_one(): the escape after a backslash at `at`; returns the text and its length. */
function cEscape(value: string, at: number): [string, number] {
  const c = value[at];
  if (c === undefined) throw new Error(`a backslash ends ${JSON.stringify(value)}`);
  if (c in SIMPLE_ESCAPES) return [SIMPLE_ESCAPES[c]!, 1];
  const hex = (n: number): [string, number] => {
    const digits = value.slice(at + 1, at + 1 + n);
    if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(digits)) throw new Error(`bad \\${c} escape in ${JSON.stringify(value)}`);
    const code = parseInt(digits, 16);
    if (code === 0) throw new Error(`NUL escape in ${JSON.stringify(value)}`);
    return [String.fromCodePoint(code), n + 1];
  };
  if (c === 'x') return hex(2);
  if (c === 'u') return hex(4);
  if (c === 'U') return hex(8);
  if (/[0-7]/.test(c)) {
    const digits = value.slice(at, at + 3);
    if (!/^[0-7]{3}$/.test(digits) || parseInt(digits, 8) === 0 || parseInt(digits, 8) > 255) throw new Error(`bad octal escape in ${JSON.stringify(value)}`);
    return [String.fromCharCode(parseInt(digits, 8)), 3];
  }
  throw new Error(`unknown escape \\${c} in ${JSON.stringify(value)}: systemd refuses it`);
}

/** extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE), repeatedly. */
function systemdWords(value: string): string[] {
  const words: string[] = [];
  let i = 0;
  for (;;) {
    while (i < value.length && WHITESPACE.includes(value[i]!)) i++;
    if (i >= value.length) return words;
    let word = '';
    let quote: string | undefined;
    for (; i < value.length; i++) {
      const c = value[i]!;
      if (c === '\\') {
        const [text, length] = cEscape(value, i + 1);
        word += text;
        i += length;
      } else if (quote) {
        if (c === quote) quote = undefined;
        else word += c;
      } else if (c === '"' || c === "'") {
        quote = c;
      } else if (WHITESPACE.includes(c)) {
        break;
      } else {
        word += c;
      }
    }
    if (quote) throw new Error(`unterminated quote in ${JSON.stringify(value)}`);
    words.push(word);
  }
}

/** The program systemd executes and the arguments it passes, for one ExecStart= value. */
function systemdExecStart(value: string): string[] {
  if (/(^|\s);(\s|$)/.test(value)) throw new Error(`a lone ; separates commands in ${JSON.stringify(value)}`);
  const [first, ...rest] = systemdWords(value);
  if (first === undefined) throw new Error('empty ExecStart=');
  if (/^[-@:+!]/.test(first)) throw new Error(`ExecStart= has a prefix: ${JSON.stringify(first)}`);
  const executable = resolveSpecifiers(first);
  if (/["'\\\x00-\x1f\x7f]/.test(executable)) throw new Error(`systemd refuses the executable ${JSON.stringify(executable)}: it contains special characters`);
  if (!executable.startsWith('/') || executable.endsWith('/')) throw new Error(`not an absolute path to a file: ${JSON.stringify(executable)}`);
  const args = rest.map((word) => {
    const resolved = resolveSpecifiers(word);
    if (/^\$[A-Za-z_]/.test(resolved)) throw new Error(`systemd would replace and split the word ${JSON.stringify(resolved)}`);
    let out = '';
    for (let i = 0; i < resolved.length; i++) {
      if (resolved[i] === '$' && resolved[i + 1] === '$') {
        out += '$';
        i++;
      } else if (resolved[i] === '$' && resolved[i + 1] === '{') {
        throw new Error(`systemd would expand a variable in ${JSON.stringify(resolved)}`);
      } else {
        out += resolved[i];
      }
    }
    return out;
  });
  return [executable, ...args];
}

function systemdWorkingDirectory(value: string): string {
  if (value.startsWith('-')) throw new Error('WorkingDirectory= may be missing (leading -)');
  if (value === '~') throw new Error('WorkingDirectory=~ is the home directory');
  const dir = resolveSpecifiers(value);
  if (!dir.startsWith('/')) throw new Error(`WorkingDirectory= is not absolute: ${JSON.stringify(dir)}`);
  return dir;
}

function systemdEnvironment(lines: string[]): Record<string, string> {
  let env: Record<string, string> = {};
  for (const line of lines) {
    if (line === '') {
      env = {};
      continue;
    }
    for (const word of systemdWords(line)) {
      const assignment = resolveSpecifiers(word);
      const eq = assignment.indexOf('=');
      const name = assignment.slice(0, eq);
      if (eq < 1 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`systemd ignores the assignment ${JSON.stringify(assignment)}`);
      env[name] = assignment.slice(eq + 1);
    }
  }
  return env;
}

interface ServiceView {
  execStart: string[];
  workingDirectory: string;
  environment: Record<string, string>;
}

function serviceLikeSystemd(text: string): ServiceView {
  const sections = readLikeSystemd(text);
  const exec = values(sections, 'Service', 'ExecStart');
  assert.equal(exec.length, 1, 'one ExecStart=');
  const wd = values(sections, 'Service', 'WorkingDirectory');
  assert.equal(wd.length, 1, 'one WorkingDirectory=');
  return { execStart: systemdExecStart(exec[0]!), workingDirectory: systemdWorkingDirectory(wd[0]!), environment: systemdEnvironment(values(sections, 'Service', 'Environment')) };
}

function serviceLikeTheProject(text: string): ServiceView {
  const unit = parseUnit(text);
  const exec = unitValues(unit, 'Service', 'ExecStart');
  assert.equal(exec.length, 1, 'one ExecStart=');
  return {
    execStart: execArgv(exec[0]!),
    workingDirectory: unescapeSpecifiers(unitValues(unit, 'Service', 'WorkingDirectory')[0] ?? ''),
    environment: Object.fromEntries(environmentOf(unit).map((v) => [v.name, v.value])),
  };
}

/** A systemd time span, in seconds (`300`, `5min`, `1h 30s`). */
function seconds(span: string): number {
  const units: Record<string, number> = { '': 1, s: 1, sec: 1, second: 1, seconds: 1, m: 60, min: 60, minute: 60, minutes: 60, h: 3600, hr: 3600, hour: 3600, hours: 3600 };
  let total = 0;
  for (const part of span.trim().split(/\s+/)) {
    const m = /^(\d+)([a-z]*)$/.exec(part);
    if (!m || !(m[2]! in units)) throw new Error(`not a time span: ${JSON.stringify(span)}`);
    total += Number(m[1]) * units[m[2]!]!;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// The real systemd-analyze

function verify(analyze: string, file: string): { code: number | null; output: string } {
  const r = spawnSync(analyze, ['verify', '--man=false', file], { encoding: 'utf8', env: { ...process.env, HOME: path.dirname(file), XDG_CONFIG_HOME: path.dirname(file), SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' } });
  // HOME and XDG_CONFIG_HOME point into the sandbox: verify only reads, but never near the real ones.
  if (r.error) throw r.error;
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

// ---------------------------------------------------------------------------------------------
// What an enabled unit must say

function checkUnit(sb: Sandbox, file: string, o: { condition: 'login' | 'boot'; keepAlive: boolean }): string {
  assert.ok(existsSync(file), `no unit at ${file}`);
  assert.equal(mode(file), 0o644, `mode of ${file}`);
  const text = readFileSync(file, 'utf8');
  const [first] = text.split('\n');
  assert.ok(first!.startsWith(`# Generated by limactl-autostart ${VERSION}: `), `header line: ${first}`);
  assert.ok(first!.includes(`condition=${o.condition} keep-alive=${o.keepAlive}.`), `header line: ${first}`);
  // A user manager has no multi-user.target: a unit wanted by it never starts (lima-vm/lima#2942).
  assert.doesNotMatch(text, /multi-user\.target/);

  const sections = readLikeSystemd(text);
  assert.deepEqual([...sections.keys()], ['Unit', 'Service', 'Install']);
  assert.deepEqual(values(sections, 'Install', 'WantedBy'), ['default.target']);
  assert.deepEqual(values(sections, 'Service', 'Restart'), [o.keepAlive ? 'on-failure' : 'no']);
  // systemd ignores the start limit in [Service] (systemd/systemd#10529).
  for (const key of ['StartLimitIntervalSec', 'StartLimitBurst']) {
    assert.equal(values(sections, 'Unit', key).length, 1, `${key} in [Unit]`);
    assert.match(values(sections, 'Unit', key)[0]!, /^\d+$/, `${key} in [Unit]`);
    assert.deepEqual(values(sections, 'Service', key), [], `${key} must not be in [Service]`);
  }
  assert.equal(values(sections, 'Service', 'RestartSec').length, 1, 'RestartSec in [Service]');
  assert.ok(seconds(values(sections, 'Service', 'RestartSec')[0]!) > 0);
  const stop = values(sections, 'Service', 'TimeoutStopSec');
  assert.equal(stop.length, 1, 'TimeoutStopSec in [Service]');
  assert.ok(seconds(stop[0]!) > 10, `TimeoutStopSec=${stop[0]} leaves a guest too little time to shut down`);
  // TimeoutSec= would set the stop timeout too (Lima's own unit has TimeoutSec=10).
  assert.deepEqual(values(sections, 'Service', 'TimeoutSec'), []);

  const service = serviceLikeSystemd(text);
  assert.deepEqual(service.execStart, serviceArgv(sb.limactl));
  assert.equal(service.workingDirectory, path.join(sb.limaHome, 'default'));
  assert.equal(service.environment.LIMA_HOME, sb.limaHome);
  assert.ok(service.environment.PATH?.startsWith(`${sb.bin}:`), `PATH=${service.environment.PATH}`);
  return text;
}

// ---------------------------------------------------------------------------------------------

describe('systemd: enable at login', () => {
  cleanUpSandboxes();
  for (const keepAlive of [true, false]) {
    it(`writes ~/.config/systemd/user/${UNIT} (keep-alive ${keepAlive}), 0644, wanted by default.target, and enables it`, () => {
      const sb = linux();
      const r = ok(sb.run(['enable', 'default', ...(keepAlive ? [] : ['--keep-alive=false'])]));
      assert.equal(sb.unitFile(), path.join(sb.home, '.config', 'systemd', 'user', UNIT));
      checkUnit(sb, sb.unitFile(), { condition: 'login', keepAlive });
      assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT)]);
      assert.match(r.stderr, /starts at login/);
      assert.match(r.stderr, /add --now/);
      assert.equal(r.stdout, '');
      assert.ok(!existsSync(sb.lingerFile()), 'login does not turn lingering on');
      assert.ok(!existsSync(marker(sb)));
    });
  }

  it('writes the unit under $XDG_CONFIG_HOME/systemd/user when XDG_CONFIG_HOME is set, and nothing under ~/.config', () => {
    const sb = linux();
    const xdg = path.join(sb.root, 'xdg config %h $HOME');
    const r = ok(sb.run(['enable', 'default', '--keep-alive=false'], { XDG_CONFIG_HOME: xdg }));
    const file = path.join(xdg, 'systemd', 'user', UNIT);
    checkUnit(sb, file, { condition: 'login', keepAlive: false });
    assert.ok(!existsSync(path.join(sb.home, '.config')), 'nothing under ~/.config');
    assert.ok(r.stderr.includes(file), r.stderr);
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT)]);
    // and disable finds it there
    sb.clearCalls();
    ok(sb.run(['disable', 'default'], { XDG_CONFIG_HOME: xdg }));
    assert.ok(!existsSync(file));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('disable', UNIT), systemctl('daemon-reload')]);
  });

  it('runs systemctl --user with XDG_RUNTIME_DIR=/run/user/<uid> when it is unset (dry run and real run)', () => {
    const sb = linux();
    const dry = readDryRun(ok(sb.run(['enable', 'default', '--now', '--dry-run'])).stdout);
    const runs = dry.actions.filter((a) => a.argv[0] === 'systemctl');
    assert.equal(runs.length, 4, JSON.stringify(dry.actions));
    for (const action of runs) assert.deepEqual(action.env, { XDG_RUNTIME_DIR: `/run/user/${sb.uid}` }, JSON.stringify(action));

    const stub = observingSystemctl(sb);
    ok(sb.run(['enable', 'default', '--now']));
    assert.deepEqual(stub.observed().map((o) => [o.verb, o.runtimeDir]), [
      ['show-environment', `/run/user/${sb.uid}`],
      ['is-active', `/run/user/${sb.uid}`],
      ['daemon-reload', `/run/user/${sb.uid}`],
      ['enable', `/run/user/${sb.uid}`],
      ['reset-failed', `/run/user/${sb.uid}`],
      ['start', `/run/user/${sb.uid}`],
    ]);
  });

  it('leaves XDG_RUNTIME_DIR alone when it is set: no prefix in the dry run, the same value in the real run', () => {
    const sb = linux();
    const runtime = path.join(sb.root, 'runtime dir');
    const dry = readDryRun(ok(sb.run(['enable', 'default', '--now', '--dry-run'], { XDG_RUNTIME_DIR: runtime })).stdout);
    const runs = dry.actions.filter((a) => a.argv[0] === 'systemctl');
    assert.equal(runs.length, 4);
    for (const action of runs) assert.deepEqual(action.env, {}, JSON.stringify(action));
    assert.doesNotMatch(ok(sb.run(['enable', 'default', '--dry-run'], { XDG_RUNTIME_DIR: runtime })).stdout, /XDG_RUNTIME_DIR/);

    const stub = observingSystemctl(sb);
    ok(sb.run(['enable', 'default'], { XDG_RUNTIME_DIR: runtime }));
    assert.deepEqual(stub.observed().map((o) => [o.verb, o.runtimeDir]), [['show-environment', runtime], ['daemon-reload', runtime], ['enable', runtime]]);
  });
});

describe('systemd: enable --now', () => {
  cleanUpSandboxes();
  it('then resets a failed state (allowed to fail) and starts the unit', () => {
    const sb = linux();
    const stub = observingSystemctl(sb);
    stub.failVerb('reset-failed', 1);
    const r = ok(sb.run(['enable', 'default', '--now']));
    assert.deepEqual(sb.calls(), [
      PROBE,
      // Read-only, while planning: a unit that was running before must not be stopped by a rollback.
      systemctl('is-active', '--quiet', UNIT),
      systemctl('daemon-reload'),
      systemctl('enable', UNIT),
      systemctl('reset-failed', UNIT),
      systemctl('start', UNIT),
    ]);
    assert.doesNotMatch(r.stderr, /add --now/);
    assert.doesNotMatch(r.stderr, /error/);
  });

  it('fails with exit 1 when start fails, naming the command, and rolls the registration back', () => {
    const sb = linux();
    const stub = observingSystemctl(sb);
    stub.failVerb('start', 3);
    stub.failVerb('is-active', 3); // not running before
    const r = sb.run(['enable', 'default', '--now']);
    assert.equal(r.code, 1, show(r));
    assert.ok(r.stderr.includes(`step 6 of 6 failed: \`systemctl --user start ${UNIT}\` exited with code 3`), r.stderr);
    assert.match(r.stderr, /Rolled back: undid the 4 earlier steps that had changed something; files and jobs are as they were before\./);
    noStackTrace(r);
    // Undone in reverse: the enable, then (once the file is gone) the reload.
    assert.deepEqual(sb.calls().slice(-3), [systemctl('start', UNIT), systemctl('disable', UNIT), systemctl('daemon-reload')]);
    assert.ok(!existsSync(sb.unitFile()), 'the new unit file is removed again');
    assert.ok(!existsSync(path.dirname(sb.unitFile())), 'so is the directory enable created');
  });
});

describe('systemd: enable at boot (lingering)', () => {
  cleanUpSandboxes();
  it('turns lingering on after enabling, notes that it did, and disable turns it off again', () => {
    const sb = linux();
    const r = ok(sb.run(['enable', 'default', '--condition=boot']));
    checkUnit(sb, sb.unitFile(), { condition: 'boot', keepAlive: true });
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT), ['loginctl', 'enable-linger', 'limauser']]);
    assert.ok(existsSync(sb.lingerFile()), 'lingering is on');
    assert.ok(existsSync(marker(sb)), 'the marker says limactl-autostart turned it on');
    assert.match(readFileSync(marker(sb), 'utf8'), /limauser/);
    assert.match(r.stderr, /at boot \(lingering on for limauser\)/);

    sb.clearCalls();
    const d = ok(sb.run(['disable', 'default']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('disable', UNIT), systemctl('daemon-reload'), ['loginctl', 'disable-linger', 'limauser']]);
    assert.ok(!existsSync(sb.lingerFile()), 'lingering is off');
    assert.ok(!existsSync(marker(sb)), 'the marker is gone');
    assert.ok(!existsSync(sb.unitFile()));
    assert.match(d.stderr, /lingering turned off/);
  });

  it('keeps the marker under $XDG_STATE_HOME when it is set', () => {
    const sb = linux();
    const state = path.join(sb.root, 'state home');
    ok(sb.run(['enable', 'default', '--condition=boot'], { XDG_STATE_HOME: state }));
    assert.ok(existsSync(marker(sb, state)));
    assert.ok(!existsSync(marker(sb)));
    sb.clearCalls();
    ok(sb.run(['disable', 'default'], { XDG_STATE_HOME: state }));
    assert.deepEqual(sb.calls().at(-1), ['loginctl', 'disable-linger', 'limauser']);
    assert.ok(!existsSync(marker(sb, state)));
  });

  it('does not touch lingering that was on before: no loginctl call on enable or disable, and it stays on', () => {
    const sb = linux();
    lingerByHand(sb);
    const r = ok(sb.run(['enable', 'default', '--condition=boot']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT)]);
    assert.ok(!existsSync(marker(sb)), 'no marker: limactl-autostart did not turn it on');
    assert.match(r.stderr, /lingering was already on/);

    sb.clearCalls();
    const d = ok(sb.run(['disable', 'default']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('disable', UNIT), systemctl('daemon-reload')]);
    assert.ok(existsSync(sb.lingerFile()), 'lingering is still on');
    assert.match(d.stderr, /lingering stays on/);
    assert.match(d.stderr, /on before/);
  });

  it('keeps lingering while another instance still starts at boot, and turns it off with the last one', () => {
    const sb = linux();
    sb.addInstance('second');
    ok(sb.run(['enable', 'default', '--condition=boot']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT), ['loginctl', 'enable-linger', 'limauser']]);
    sb.clearCalls();
    ok(sb.run(['enable', 'second', '--condition=boot']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', 'lima-vm@second.service')]);
    assert.ok(existsSync(marker(sb)));

    sb.clearCalls();
    const first = ok(sb.run(['disable', 'default', '--now']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('is-active', '--quiet', UNIT), systemctl('stop', UNIT), systemctl('disable', UNIT), systemctl('daemon-reload')]);
    assert.ok(existsSync(sb.lingerFile()), 'lingering stays on for second');
    assert.ok(existsSync(marker(sb)));
    assert.match(first.stderr, /lingering stays on for limauser: second still starts? at boot/);

    sb.clearCalls();
    const last = ok(sb.run(['disable', 'second', '--now']));
    assert.deepEqual(sb.calls(), [
      PROBE,
      systemctl('is-active', '--quiet', 'lima-vm@second.service'),
      systemctl('stop', 'lima-vm@second.service'),
      systemctl('disable', 'lima-vm@second.service'),
      systemctl('daemon-reload'),
      ['loginctl', 'disable-linger', 'limauser'],
    ]);
    assert.ok(!existsSync(sb.lingerFile()));
    assert.ok(!existsSync(marker(sb)));
    assert.match(last.stderr, /lingering turned off/);
  });

  it('login → boot takes lingering, boot → login releases it (enable again with the other condition)', () => {
    const sb = linux();
    ok(sb.run(['enable', 'default', '--condition=login']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT)]);
    assert.ok(!existsSync(sb.lingerFile()));

    sb.clearCalls();
    ok(sb.run(['enable', 'default', '--condition=boot']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT), ['loginctl', 'enable-linger', 'limauser']]);
    assert.ok(existsSync(sb.lingerFile()));
    assert.ok(existsSync(marker(sb)));
    checkUnit(sb, sb.unitFile(), { condition: 'boot', keepAlive: true });

    sb.clearCalls();
    const back = ok(sb.run(['enable', 'default', '--condition=login']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT), ['loginctl', 'disable-linger', 'limauser']]);
    assert.ok(!existsSync(sb.lingerFile()));
    assert.ok(!existsSync(marker(sb)));
    checkUnit(sb, sb.unitFile(), { condition: 'login', keepAlive: true });
    assert.match(back.stderr, /lingering turned off/);
  });

  it('boot → login keeps lingering while another instance starts at boot, and when it was on before', () => {
    const sb = linux();
    sb.addInstance('second');
    ok(sb.run(['enable', 'default', '--condition=boot']));
    ok(sb.run(['enable', 'second', '--condition=boot']));
    sb.clearCalls();
    const r = ok(sb.run(['enable', 'default', '--condition=login']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT)]);
    assert.ok(existsSync(sb.lingerFile()));
    assert.ok(existsSync(marker(sb)));
    assert.match(r.stderr, /second/);

    const other = linux();
    lingerByHand(other);
    ok(other.run(['enable', 'default', '--condition=boot']));
    other.clearCalls();
    const o = ok(other.run(['enable', 'default', '--condition=login']));
    assert.deepEqual(other.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT)]);
    assert.ok(existsSync(other.lingerFile()));
    assert.match(o.stderr, /on before/);
  });

  it('fails with exit 1 and the sudo hint when loginctl enable-linger fails, rolls back (marker too); enabling again then turns it on', () => {
    const sb = linux();
    sb.failAlways('loginctl', 'enable-linger', 1);
    const before = sb.snapshot();
    const r = sb.run(['enable', 'default', '--condition=boot']);
    assert.equal(r.code, 1, show(r));
    assert.ok(r.stderr.includes('`loginctl enable-linger limauser` exited with code 1'), r.stderr);
    assert.ok(r.stderr.includes('sudo loginctl enable-linger limauser'), r.stderr);
    noStackTrace(r);
    assert.deepEqual(sb.calls(), [
      PROBE,
      systemctl('daemon-reload'),
      systemctl('enable', UNIT),
      ['loginctl', 'enable-linger', 'limauser'],
      systemctl('disable', UNIT),
      systemctl('daemon-reload'),
    ]);
    assert.ok(!existsSync(sb.lingerFile()), 'lingering is still off');
    // Only files: `systemctl enable` made default.target.wants/, and `disable` leaves it, empty, as systemd does.
    const files = (snap: Record<string, string>): string[] => Object.keys(snap).filter((p) => !p.endsWith('/'));
    assert.deepEqual(files(sb.snapshot()), files(before), 'no unit and no marker left behind');

    rmSync(path.join(sb.fakeDir, 'fail', 'loginctl.enable-linger'));
    sb.clearCalls();
    ok(sb.run(['enable', 'default', '--condition=boot']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT), ['loginctl', 'enable-linger', 'limauser']]);
    assert.ok(existsSync(sb.lingerFile()));
    assert.ok(existsSync(marker(sb)));
  });
});

describe('systemd: disable', () => {
  cleanUpSandboxes();
  it('disables, then removes the unit, then reloads, in that order', () => {
    const sb = linux();
    ok(sb.run(['enable', 'default']));
    sb.clearCalls();
    const stub = observingSystemctl(sb);
    const r = ok(sb.run(['disable', 'default'], { PROBE_FILE: sb.unitFile() }));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('disable', UNIT), systemctl('daemon-reload')]);
    // disable reads [Install] from the file; the reload must no longer see it.
    assert.deepEqual(stub.observed().map((o) => [o.verb, o.probe]), [['show-environment', 'present'], ['disable', 'present'], ['daemon-reload', 'absent']]);
    assert.ok(!existsSync(sb.unitFile()));
    assert.ok(r.stderr.includes(`removed ${sb.unitFile()}`), r.stderr);
    assert.match(r.stderr, /add --now/);
  });

  it('--now stops the unit first', () => {
    const sb = linux();
    ok(sb.run(['enable', 'default']));
    sb.clearCalls();
    const stub = observingSystemctl(sb);
    const r = ok(sb.run(['disable', 'default', '--now'], { PROBE_FILE: sb.unitFile() }));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('is-active', '--quiet', UNIT), systemctl('stop', UNIT), systemctl('disable', UNIT), systemctl('daemon-reload')]);
    assert.deepEqual(stub.observed().map((o) => [o.verb, o.probe]), [['show-environment', 'present'], ['is-active', 'present'], ['stop', 'present'], ['disable', 'present'], ['daemon-reload', 'absent']]);
    assert.ok(!existsSync(sb.unitFile()));
    assert.doesNotMatch(r.stderr, /add --now/);
  });

  it('a second disable exits 0, says "not registered", and runs nothing', () => {
    const sb = linux();
    ok(sb.run(['enable', 'default']));
    ok(sb.run(['disable', 'default']));
    sb.clearCalls();
    const before = sb.snapshot();
    const r = ok(sb.run(['disable', 'default', '--now']));
    assert.match(r.stderr, /not registered/);
    assert.deepEqual(sb.calls(), []);
    assert.deepEqual(sb.snapshot(), before);
  });

  it('works when the instance directory is gone but the unit is still there', () => {
    const sb = linux();
    ok(sb.run(['enable', 'default']));
    rmSync(path.join(sb.limaHome, 'default'), { recursive: true });
    sb.clearCalls();
    ok(sb.run(['disable', 'default']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('disable', UNIT), systemctl('daemon-reload')]);
    assert.ok(!existsSync(sb.unitFile()));
  });
});

describe('systemd: enabling again', () => {
  cleanUpSandboxes();
  it('rewrites the unit and reloads each time, exit 0', () => {
    const sb = linux();
    ok(sb.run(['enable', 'default']));
    const original = readFileSync(sb.unitFile(), 'utf8');
    // Spoil the file (keeping our header): the second enable must write it again, not keep it.
    writeFileSync(sb.unitFile(), original.replace('Restart=on-failure', 'Restart=always'));
    const again = ok(sb.run(['enable', 'default']));
    assert.equal(readFileSync(sb.unitFile(), 'utf8'), original);
    assert.doesNotMatch(again.stderr, /had not written/);
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT), PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT)]);

    sb.clearCalls();
    ok(sb.run(['enable', 'default', '--keep-alive=false']));
    checkUnit(sb, sb.unitFile(), { condition: 'login', keepAlive: false });
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT)]);
  });

  it('replaces a unit it did not write, and says so', () => {
    const sb = linux();
    mkdirSync(path.dirname(sb.unitFile()), { recursive: true });
    writeFileSync(sb.unitFile(), '[Service]\nExecStart=/usr/bin/true\n');
    const r = ok(sb.run(['enable', 'default']));
    assert.ok(r.stderr.includes(`replaced ${sb.unitFile()}, which limactl-autostart had not written`), r.stderr);
    checkUnit(sb, sb.unitFile(), { condition: 'login', keepAlive: true });
  });
});

describe('systemd: --dry-run', () => {
  cleanUpSandboxes();
  it('enable prints the whole unit and every command, and changes nothing', () => {
    const sb = linux();
    const before = sb.snapshot();
    const r = ok(sb.run(['enable', 'default', '--condition=boot', '--now', '--dry-run']));
    assert.deepEqual(sb.snapshot(), before, 'the dry run changed files');
    assert.deepEqual(sb.calls(), [PROBE, systemctl('is-active', '--quiet', UNIT)], 'the dry run asked only its read-only questions');
    assert.equal(r.stderr, '');

    const dry = readDryRun(r.stdout);
    assert.deepEqual(dry.header, ['# enable "default" at boot (systemd, keep-alive true)', '# dry run: nothing below was done']);
    const xdg = { XDG_RUNTIME_DIR: `/run/user/${sb.uid}` };
    assert.deepEqual(dry.actions, [
      { env: {}, argv: ['mkdir', '-p', path.dirname(sb.unitFile())] },
      { env: {}, argv: ['write', sb.unitFile(), 'mode', '0644'] },
      { env: xdg, argv: systemctl('daemon-reload') },
      { env: xdg, argv: systemctl('enable', UNIT) },
      // The marker first: lingering turned on without one would never be turned off again.
      { env: {}, argv: ['mkdir', '-p', path.dirname(marker(sb))] },
      { env: {}, argv: ['write', marker(sb), 'mode', '0644'] },
      { env: {}, argv: ['loginctl', 'enable-linger', 'limauser'] },
      { env: xdg, argv: systemctl('reset-failed', UNIT), note: 'may fail: the unit may not have failed' },
      { env: xdg, argv: systemctl('start', UNIT) },
    ]);

    const env = `XDG_RUNTIME_DIR=/run/user/${sb.uid}`;
    assert.deepEqual(dry.undo, [
      `#   after \`systemctl --user daemon-reload\`: ${env} systemctl --user daemon-reload`,
      `#   after \`systemctl --user enable ${UNIT}\`: ${env} systemctl --user disable ${UNIT}`,
      '#   after `loginctl enable-linger limauser`: loginctl disable-linger limauser',
      // Not running before (is-active said no), so a rollback stops it again.
      `#   after \`systemctl --user start ${UNIT}\`: ${env} systemctl --user stop ${UNIT}`,
    ]);

    // The text printed is the text a real run writes, byte for byte.
    sb.clearCalls();
    ok(sb.run(['enable', 'default', '--condition=boot', '--now']));
    assert.equal(dry.writes.get(sb.unitFile())?.content, readFileSync(sb.unitFile(), 'utf8'));
    assert.equal(dry.writes.get(marker(sb))?.content, readFileSync(marker(sb), 'utf8'));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('is-active', '--quiet', UNIT), ...dry.actions.filter((a) => a.argv[0] !== 'mkdir' && a.argv[0] !== 'write').map((a) => a.argv)]);
  });

  it('disable prints every command and changes nothing', () => {
    const sb = linux();
    ok(sb.run(['enable', 'default', '--condition=boot']));
    sb.clearCalls();
    const before = sb.snapshot();
    const r = ok(sb.run(['disable', 'default', '--now', '--dry-run']));
    assert.deepEqual(sb.snapshot(), before, 'the dry run changed files');
    assert.deepEqual(sb.calls(), [PROBE, systemctl('is-active', '--quiet', UNIT)], 'the dry run asked only its read-only questions');
    const xdg = { XDG_RUNTIME_DIR: `/run/user/${sb.uid}` };
    const dry = readDryRun(r.stdout);
    assert.deepEqual(dry.header, ['# disable "default" (systemd)', '# dry run: nothing below was done']);
    assert.deepEqual(dry.actions, [
      { env: xdg, argv: systemctl('stop', UNIT) },
      { env: xdg, argv: systemctl('disable', UNIT) },
      { env: {}, argv: ['rm', '-f', sb.unitFile()] },
      { env: xdg, argv: systemctl('daemon-reload') },
      { env: {}, argv: ['loginctl', 'disable-linger', 'limauser'] },
      { env: {}, argv: ['rm', '-f', marker(sb)] },
    ]);
    const env = `XDG_RUNTIME_DIR=/run/user/${sb.uid}`;
    assert.deepEqual(dry.undo, [
      // Enabled before (the .wants link exists) but not running, so no start on a rollback.
      `#   after \`systemctl --user disable ${UNIT}\`: ${env} systemctl --user enable ${UNIT}`,
      `#   after \`systemctl --user daemon-reload\`: ${env} systemctl --user daemon-reload`,
      '#   after `loginctl disable-linger limauser`: loginctl enable-linger limauser',
    ]);
  });
});

describe('systemd: who may run it', () => {
  cleanUpSandboxes();
  const uid = process.getuid?.() ?? 0;
  const title = uid === 0
    ? 'refuses to run under sudo (SUDO_USER set, uid 0): exit 1, a message about sudo, nothing written, nothing run'
    : `with SUDO_USER set but uid ${uid} (not root: sudo -u to this user), it runs normally`;
  it(title, () => {
    const sb = linux();
    if (uid !== 0) {
      ok(sb.run(['enable', 'default'], { SUDO_USER: 'someone' }));
      assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT)]);
      return;
    }
    const before = sb.snapshot();
    for (const args of [['enable', 'default'], ['enable', 'default', '--condition=boot', '--dry-run'], ['disable', 'default']]) {
      const r = sb.run(args, { SUDO_USER: 'someone' });
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /sudo/);
      assert.match(r.stderr, /someone/);
      assert.equal(r.stdout, '');
      noStackTrace(r);
    }
    assert.deepEqual(sb.snapshot(), before);
    assert.deepEqual(sb.calls(), []);
  });

  it('refuses --user naming another account with exit 2, writing and running nothing', () => {
    const sb = linux();
    const before = sb.snapshot();
    for (const condition of ['boot', 'login']) {
      const r = sb.run(['enable', 'default', `--condition=${condition}`, '--user', 'someoneelse']);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /--user someoneelse/);
      assert.match(r.stderr, /limauser/);
      noStackTrace(r);
    }
    assert.deepEqual(sb.snapshot(), before);
    assert.deepEqual(sb.calls(), []);
    // --user naming yourself is fine.
    ok(sb.run(['enable', 'default', '--condition=boot', '--user', 'limauser']));
    assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload'), systemctl('enable', UNIT), ['loginctl', 'enable-linger', 'limauser']]);
  });
});

describe('systemd: a failing systemctl', () => {
  cleanUpSandboxes();
  for (const code of [1, 4]) {
    it(`exits 1 and names the command, its exit code (${code}), its stderr and the bus hint, without a stack trace`, () => {
      const sb = linux();
      // Only the step: a failing `show-environment` before it is a missing manager (test/no-manager.test.ts).
      sb.failAlways('systemctl', 'daemon-reload', code);
      const r = sb.run(['enable', 'default']);
      assert.equal(r.code, 1, show(r));
      assert.ok(r.stderr.includes(`\`systemctl --user daemon-reload\` exited with code ${code}`), r.stderr);
      assert.ok(r.stderr.includes(`systemctl: failing with exit code ${code}, as the test asked`), r.stderr);
      assert.match(r.stderr, /Failed to connect to bus/);
      assert.match(r.stderr, /sudo/);
      noStackTrace(r);
      assert.deepEqual(sb.calls(), [PROBE, systemctl('daemon-reload')], 'nothing runs after the failure');
    });
  }
});

// ---------------------------------------------------------------------------------------------

interface QuotingCase {
  label: string;
  /** Put into the names of HOME, LIMA_HOME and (when systemd can execute such a path) limactl's directory. */
  text: string;
  inBin: boolean;
}

const QUOTING: QuotingCase[] = [
  { label: 'a space', text: 'a b', inBin: true },
  { label: '%', text: '100%', inBin: true },
  { label: '%h', text: '%h', inBin: true },
  { label: '$', text: 'a$b', inBin: true },
  { label: '$HOME', text: '$HOME', inBin: true },
  { label: '${HOME}', text: '${HOME}', inBin: true },
  { label: '&', text: 'a&b', inBin: true },
  { label: '<', text: 'a<b', inBin: true },
  // systemd refuses to execute a program path with a quote or a backslash; limactl is an argument
  // of /bin/sh, where any character goes.
  { label: '"', text: 'a"b', inBin: true },
  { label: 'a backslash', text: 'a\\n\\x41\\', inBin: true },
  { label: "'", text: "a'b", inBin: true },
];

describe('systemd: quoting, checked with the real systemd-analyze', () => {
  cleanUpSandboxes();
  for (const c of QUOTING) {
    it(`${c.label} in HOME and LIMA_HOME${c.inBin ? ' and in limactl\'s directory' : ''}: verify passes, ExecStart/WorkingDirectory/Environment read back exactly`, function () {
      const analyze = needTool(this, 'systemd-analyze', 'systemd');
      const sb = linux({
        homeName: `home ${c.text}`,
        limaHomeName: `lima ${c.text}`,
        binName: c.inBin ? `bin ${c.text}` : 'bin %h $HOME &<',
      });
      ok(sb.run(['enable', 'default']));
      const file = sb.unitFile();
      const text = readFileSync(file, 'utf8');

      // (a) the real parser accepts it: no warning, no error, and ExecStart's program exists.
      const v = verify(analyze, file);
      assert.deepEqual(v, { code: 0, output: '' }, `systemd-analyze verify ${file}:\n${v.output}\n--- unit\n${text}`);

      // (b) it reads back as the values that went in: with the project's parser …
      const expectedExec = serviceArgv(sb.limactl);
      const dir = path.join(sb.limaHome, 'default');
      const project = serviceLikeTheProject(text);
      assert.deepEqual(project.execStart, expectedExec);
      assert.equal(project.workingDirectory, dir);
      assert.equal(project.environment.LIMA_HOME, sb.limaHome);
      assert.ok(project.environment.PATH?.startsWith(`${path.dirname(sb.limactl)}:`), project.environment.PATH);
      // … and with the independent reading above.
      const mine = serviceLikeSystemd(text);
      assert.deepEqual(mine.execStart, expectedExec);
      assert.equal(mine.workingDirectory, dir);
      assert.deepEqual(Object.keys(mine.environment), ['LIMA_HOME', 'PATH']);
      assert.equal(mine.environment.LIMA_HOME, sb.limaHome);
      assert.ok(mine.environment.PATH!.startsWith(`${path.dirname(sb.limactl)}:`), mine.environment.PATH);
      assert.deepEqual(project, mine);

      // (c) negative controls: verify does fail on a broken copy, and so does the reading.
      const controls = path.join(sb.root, 'negative control');
      mkdirSync(controls);
      const copy = path.join(controls, UNIT);
      writeFileSync(copy, text.replace(/^Restart=.*$/m, 'Restart=bogus'));
      const bogus = verify(analyze, copy);
      assert.ok(bogus.code !== 0 || bogus.output.includes('bogus'), `verify accepted Restart=bogus: ${JSON.stringify(bogus)}`);
      // The sandbox root has a space: an unquoted ExecStart names a program that does not exist.
      writeFileSync(copy, text.replace(/^ExecStart=.*$/m, `ExecStart=${sb.limactl} start default --foreground`));
      const unquoted = verify(analyze, copy);
      assert.ok(unquoted.code !== 0 && unquoted.output !== '', `verify accepted an unquoted ExecStart: ${JSON.stringify(unquoted)}`);
      // LIMA_HOME written without quoting and escaping does not read back as LIMA_HOME.
      const naive = text.replace(/^Environment="LIMA_HOME=.*$/m, `Environment=LIMA_HOME=${sb.limaHome}`);
      assert.notEqual(naive, text);
      let naiveHome: string | Error;
      try {
        naiveHome = serviceLikeSystemd(naive).environment.LIMA_HOME ?? '';
      } catch (err) {
        naiveHome = err as Error;
      }
      assert.notEqual(naiveHome, sb.limaHome);
    });
  }
});
