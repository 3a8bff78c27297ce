import { quote } from '../errors.js';
import { UNIT_KEYS, type EnvVar } from '../service.js';
import { commandDifferences, list, startedLimactl, type Settings } from './registration.js';

/**
 * Read as systemd reads the settings we write. Rendered units go through it before they are
 * written, so an escaping bug fails here instead of starting the wrong program (or LIMA_HOME).
 */
export type UnitFile = Map<string, Map<string, string[]>>;

export function parseUnit(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Map<string, string[]> | undefined;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line[0] === '#' || line[0] === ';') continue;
    const header = line[0] === '[' ? /^\[([^\]]+)\]$/.exec(line) : null;
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 1) throw new Error(`unit line ${index + 1} is neither a section nor Key=value: ${quote(raw, 100)}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

export const unitValues = (unit: UnitFile, section: string, key: string): string[] => unit.get(section)?.get(key) ?? [];

/** `%%` is the only specifier we ever write; any other one would be expanded by systemd. */
export function unescapeSpecifiers(value: string): string {
  return value.replace(/%(.?)/g, (_, c: string) => {
    if (c === '%') return '%';
    throw new Error(`unexpected systemd specifier %${c} in ${quote(value)}`);
  });
}

const C_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", ' ': ' ' };

/** Splits a value into words as systemd does: whitespace outside quotes, C escapes inside and out. */
export function splitWords(value: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let open = ''; // the quote the word is in
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\') {
      const next = value[++i];
      if (next === undefined || !(next in C_ESCAPES)) throw new Error(`unsupported escape \\${next ?? ''} in ${quote(value)}`);
      word = (word ?? '') + C_ESCAPES[next];
    } else if (c === open) {
      open = '';
    } else if (!open && (c === '"' || c === "'")) {
      open = c;
      word ??= '';
    } else if (!open && /\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (open) throw new Error(`unterminated quote in ${quote(value)}`);
  if (word !== undefined) words.push(word);
  return words;
}

/** An Exec* line as the argv systemd runs: the path as written, `$$` → `$` in the arguments. */
export function execArgv(value: string): string[] {
  const [command, ...args] = splitWords(unescapeSpecifiers(value));
  if (command === undefined) throw new Error('empty Exec line');
  return [
    command,
    ...args.map((arg) => arg.replace(/\$(\$|\{?[A-Za-z_]?)/g, (m: string, c: string) => {
      if (c === '$') return '$';
      throw new Error(`unescaped ${m} in Exec argument ${quote(arg)}: systemd would expand it`);
    })),
  ];
}

export function environmentOf(unit: UnitFile): EnvVar[] {
  return unitValues(unit, 'Service', 'Environment').flatMap((line) =>
    splitWords(unescapeSpecifiers(line)).map((assignment) => {
      const eq = assignment.indexOf('=');
      return { name: assignment.slice(0, eq), value: assignment.slice(eq + 1) };
    }));
}

// Lima's unit has TimeoutSec=10, which this program replaces on purpose (it is also the stop timeout).
const KNOWN_KEYS = new Set([...Object.entries(UNIT_KEYS).flatMap(([section, keys]) => keys.map((key) => `${section}.${key}`)), 'Service.TimeoutSec']);
/** Restart= values that restart a unit after a crash; without any, systemd's default is `no`. */
const RESTARTS_AFTER_CRASH = new Set(['on-failure', 'on-abnormal', 'on-abort', 'always']);

export function unitSettings(instance: string): (content: Buffer) => Settings {
  return (content) => {
    const unit = parseUnit(content.toString('utf8'));
    const differences: string[] = [];
    const unknown = [...unit].flatMap(([section, keys]) => [...keys.keys()].map((key) => `${section}.${key}`).filter((key) => !KNOWN_KEYS.has(key)));
    if (unknown.length > 0) differences.push(`it has settings limactl-autostart does not write: ${list(unknown)}`);
    const execStart = unitValues(unit, 'Service', 'ExecStart');
    let argv: string[] = [];
    try {
      // As systemd runs it; Lima's unit is a template that names the instance as %i.
      argv = execStart.length === 1 ? execArgv(execStart[0]!.replace(/%i/g, '%%i')) : [];
    } catch {
      // an ExecStart that cannot be split is neither this program's nor Lima's
    }
    let environment = new Map<string, string>();
    try {
      environment = new Map(environmentOf(unit).map((e) => [e.name, e.value]));
    } catch (err) {
      differences.push(`its Environment= cannot be read (${(err as Error).message})`);
    }
    differences.push(...commandDifferences(argv, [instance, '%i'], [...environment.keys()]));
    const restart = unitValues(unit, 'Service', 'Restart').at(-1);
    return {
      differences,
      program: startedLimactl(argv, [instance, '%i']),
      limaHome: environment.get('LIMA_HOME'),
      searchPath: environment.get('PATH'),
      userName: undefined,
      logFiles: [],
      restart: { key: 'Restart=', said: restart !== undefined, keepAlive: restart !== undefined && RESTARTS_AFTER_CRASH.has(restart) },
    };
  };
}
