import { readFileSync } from 'node:fs';
import { listDir } from './list-dir.js';
import path from 'node:path';
import { parsePlist } from './plist-read.js';
import { headerAge, readHeader, type GeneratedBy } from './header.js';
import { parseUnit, splitWords, unescapeSpecifiers, unitValues } from './unit-file.js';
import type { Condition } from './backends/backend.js';

/**
 * Registration files that are already in Lima's locations: written by this program (any
 * version), by Lima (`limactl start-at-login`, `limactl autostart`), or by hand. `enable` replaces
 * whatever is there and says what it replaced; `migrate` rewrites a file only when nothing the
 * file says would be lost, and leaves the rest alone.
 */

/** How a registration file is read: a launchd plist with its label, or a systemd user unit. */
export type FileFormat = { format: 'plist'; label: string; daemon: boolean } | { format: 'unit' };

export interface FoundRegistration {
  /** The instance name as the file name gives it (not yet checked against Lima's rule). */
  instance: string;
  file: string;
  condition: Condition;
  /** Why that condition, when the file does not say it (a unit without our header). */
  conditionFrom?: string;
  /** For messages: LaunchAgent, LaunchDaemon, user unit. */
  kind: string;
  expect: FileFormat;
  /** The file's text; undefined when it cannot be read (a LaunchDaemon readable by root only). */
  text?: string;
}

/** What an existing file says, as far as this program can read it. */
export interface Reading {
  /** The header this program writes, when the file has one. */
  header?: GeneratedBy;
  /** Keep-alive as the file records it (our header, else its KeepAlive or Restart=); undefined when it does not say. */
  keepAlive?: boolean;
  /** The LIMA_HOME in the service's environment, when it sets one. */
  limaHome?: string;
  /** A LaunchDaemon's UserName. */
  userName?: string;
  /** What would be lost or changed in meaning if the file were rewritten; empty when nothing. */
  problems: string[];
}

// Every key that this program or any Lima version writes. Lima's values for some of them
// (relative log paths, ProcessType Background, KeepAlive <true/>) are replaced on purpose.
const PLIST_KEYS = new Set([
  'Label', 'ProgramArguments', 'EnvironmentVariables', 'WorkingDirectory', 'StandardOutPath', 'StandardErrorPath',
  'RunAtLoad', 'KeepAlive', 'ThrottleInterval', 'ExitTimeOut', 'ProcessType', 'LimitLoadToSessionType',
]);
const UNIT_KEYS: Record<string, Set<string>> = {
  Unit: new Set(['Description', 'Documentation', 'StartLimitIntervalSec', 'StartLimitBurst']),
  Service: new Set(['Type', 'ExecStart', 'WorkingDirectory', 'Environment', 'TimeoutSec', 'TimeoutStopSec', 'Restart', 'RestartSec', 'KillMode']),
  Install: new Set(['WantedBy']),
};
// The environment this program writes itself (service-env.ts). Anything else was put there by
// someone for a reason, and would be dropped.
const ENV_NAMES = new Set(['LIMA_HOME', 'PATH', 'HOME']);
// `limactl start` options Lima's files add; dropping them changes nothing for the service.
const START_OPTIONS = new Set(['--foreground', '--progress']);

type ListedFile = Pick<FoundRegistration, 'instance' | 'file' | 'text'>;

/** Lists the files in `dir` whose names match `pattern` (the instance name is its first group). */
export function listRegistrationFiles(dir: string, pattern: RegExp): ListedFile[] {
  return listDir(dir).sort().flatMap((name): ListedFile[] => {
    const instance = pattern.exec(name)?.[1];
    if (instance === undefined) return [];
    const file = path.join(dir, name);
    try {
      return [{ instance, file, text: readFileSync(file, 'utf8') }];
    } catch {
      return [{ instance, file }];
    }
  });
}

/**
 * Reads a registration file for `instance`. `servicePath` is the PATH this program would give the
 * service: a file that did not come from this program may carry directories that are not in it.
 */
export function readRegistration(text: string, instance: string, expect: FileFormat, servicePath: string): Reading {
  const header = readHeader(text);
  const { reading, searchPath } = expect.format === 'plist' ? readPlist(text, instance, expect) : readUnit(text, instance);
  if (header) {
    // This program leaves KeepAlive out when it is off; its header is the record of the choice.
    // Its PATH is its own making (limactl's directory first), so it is not kept either.
    return { ...reading, header, keepAlive: header.keepAlive };
  }
  if (searchPath !== undefined) {
    const kept = new Set(servicePath.split(':'));
    const dropped = searchPath.split(':').filter((dir) => dir && !kept.has(dir));
    if (dropped.length > 0) reading.problems.push(`its PATH has directories limactl-autostart would drop: ${dropped.join(', ')}`);
  }
  return reading;
}

/** A file's reading, and the PATH it gives the service (checked only in files of others). */
type RawReading = { reading: Reading; searchPath?: string };

function readPlist(text: string, instance: string, expect: { label: string; daemon: boolean }): RawReading {
  let dict: unknown;
  try {
    dict = parsePlist(text);
  } catch (err) {
    return { reading: { problems: [`it is not a property list that can be read (${(err as Error).message.split('\n')[0]})`] } };
  }
  if (typeof dict !== 'object' || dict === null || Array.isArray(dict)) return { reading: { problems: ['it is not a property list with a dictionary'] } };
  const plist = dict as Record<string, unknown>;
  const problems: string[] = [];
  const unknown = Object.keys(plist).filter((key) => !PLIST_KEYS.has(key) && !(expect.daemon && key === 'UserName'));
  if (unknown.length > 0) problems.push(`it has settings limactl-autostart does not write: ${unknown.join(', ')}`);
  if (plist.Label !== expect.label) problems.push(`its Label is ${JSON.stringify(plist.Label)}, not "${expect.label}"`);
  const args = plist.ProgramArguments;
  if (!Array.isArray(args) || !args.every((a): a is string => typeof a === 'string') || !startsInstance(args, [instance])) {
    problems.push(`it does not run \`limactl start ${instance} --foreground\``);
  }
  if (plist.RunAtLoad !== undefined && plist.RunAtLoad !== true) problems.push('its RunAtLoad is not true: it does not start the instance when loaded');
  const env = plist.EnvironmentVariables;
  let environment: Record<string, unknown> = {};
  if (env !== undefined) {
    if (typeof env === 'object' && env !== null && !Array.isArray(env)) environment = env as Record<string, unknown>;
    else problems.push('its EnvironmentVariables is not a dictionary');
  }
  problems.push(...foreignVariables(Object.keys(environment)));
  return {
    reading: {
      problems,
      // KeepAlive <true/> (Lima) or a dict (this program) means restarts; only <false/> says none.
      keepAlive: plist.KeepAlive === undefined ? undefined : plist.KeepAlive !== false,
      limaHome: typeof environment.LIMA_HOME === 'string' ? environment.LIMA_HOME : undefined,
      userName: typeof plist.UserName === 'string' ? plist.UserName : undefined,
    },
    searchPath: typeof environment.PATH === 'string' ? environment.PATH : undefined,
  };
}

function readUnit(text: string, instance: string): RawReading {
  let unit;
  try {
    unit = parseUnit(text);
  } catch (err) {
    return { reading: { problems: [`it is not a unit file that can be read (${(err as Error).message})`] } };
  }
  const problems: string[] = [];
  const unknown = [...unit].flatMap(([section, keys]) => [...keys.keys()].filter((key) => !UNIT_KEYS[section]?.has(key)).map((key) => `${section}.${key}`));
  if (unknown.length > 0) problems.push(`it has settings limactl-autostart does not write: ${unknown.join(', ')}`);
  const execStart = unitValues(unit, 'Service', 'ExecStart');
  let argv: string[] = [];
  try {
    argv = execStart.length === 1 ? splitWords(execStart[0]!) : [];
  } catch {
    // an ExecStart that cannot be split is not one this program or Lima writes
  }
  // Lima's unit is a template: it names the instance as %i.
  if (!startsInstance(argv, [instance, '%i'])) problems.push(`it does not run \`limactl start ${instance} --foreground\``);
  const environment = new Map<string, string>();
  try {
    for (const line of unitValues(unit, 'Service', 'Environment')) {
      for (const assignment of splitWords(unescapeSpecifiers(line))) {
        const eq = assignment.indexOf('=');
        environment.set(assignment.slice(0, eq), assignment.slice(eq + 1));
      }
    }
  } catch (err) {
    problems.push(`its Environment= cannot be read (${(err as Error).message})`);
  }
  problems.push(...foreignVariables([...environment.keys()]));
  const restart = unitValues(unit, 'Service', 'Restart').at(-1);
  return {
    reading: { problems, keepAlive: restart === undefined ? undefined : restart !== 'no', limaHome: environment.get('LIMA_HOME') },
    searchPath: environment.get('PATH'),
  };
}

/** `LIMACTL start INSTANCE --foreground`, with only the start options Lima adds. */
function startsInstance(argv: string[], names: string[]): boolean {
  const [, verb, name, ...options] = argv;
  return verb === 'start' && name !== undefined && names.includes(name) && options.includes('--foreground') && options.every((o) => START_OPTIONS.has(o));
}

function foreignVariables(names: string[]): string[] {
  const foreign = names.filter((name) => !ENV_NAMES.has(name));
  return foreign.length > 0 ? [`it sets environment variables limactl-autostart does not set: ${foreign.join(', ')}`] : [];
}

/**
 * What `enable` says when it replaces an existing file: who wrote it, and what of it is lost.
 * Undefined for a file it cannot read (a root-only LaunchDaemon: replaced all the same).
 */
export function replacedNote(file: string, expect: FileFormat, instance: string, servicePath: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const reading = readRegistration(text, instance, expect, servicePath);
  const lost = reading.problems.length > 0 ? `; not carried over: ${reading.problems.join('; ')}` : '';
  if (reading.header) {
    // A file of this very version, not edited since: nothing worth saying.
    if (headerAge(reading.header) === 'current' && !lost) return undefined;
    const { version, condition, keepAlive } = reading.header;
    return `replaced ${file}, written by limactl-autostart ${version} (condition=${condition} keep-alive=${keepAlive})${lost}`;
  }
  return `replaced ${file}, which limactl-autostart had not written${lost || ': it reads as one Lima wrote (`limactl start-at-login` or `limactl autostart`)'}`;
}
