import path from 'node:path';
import type { Condition, GeneratedBy, ReadableFile, Registration, ServiceFile } from '../model.js';
import { PLIST_KEYS, UNIT_KEYS, headerAge, readHeader } from '../service.js';
import { danglingTarget, listDir, readRegularFile } from './fs.js';
import { parsePlist } from './plist.js';
import { environmentOf, parseUnit, splitWords, unescapeSpecifiers, unitValues } from './unit.js';

// The one reader of registration files, written by this program (any version), by Lima
// (`limactl start-at-login`, `limactl autostart`) or by hand: every question about such a file
// (its condition, keep-alive, LIMA_HOME, who wrote it, what a rewrite would lose) is answered here.

// Lima's unit has TimeoutSec=10, which this program replaces on purpose (it is also the stop timeout).
const LIMA_UNIT_KEYS = ['Service.TimeoutSec'];
// The environment this program writes; anything else was put there by someone, and would be dropped.
const ENV_NAMES = new Set(['LIMA_HOME', 'PATH', 'HOME']);
// `limactl start` options Lima's files add; dropping them changes nothing.
const START_OPTIONS = new Set(['--foreground', '--progress']);

/**
 * Keep-alive means: restarted after a crash (killed by a signal, or a non-zero exit).
 * - A unit's last `Restart=`: on-failure, on-abnormal, on-abort and always do; none is systemd's `no`.
 * - A plist's `KeepAlive`: <true/> restarts after every exit; a dictionary after a crash when it
 *   has Crashed <true/> or SuccessfulExit <false/>; absent or <false/> never.
 */
const RESTARTS_AFTER_CRASH = new Set(['on-failure', 'on-abnormal', 'on-abort', 'always']);

function keepAliveOfPlist(keepAlive: unknown): boolean {
  return keepAlive === true || (isDict(keepAlive) && (keepAlive.Crashed === true || keepAlive.SuccessfulExit === false));
}

/** The files in `dir` whose names match `pattern` (the instance name is its first group). */
export function listRegistrations(dir: string, pattern: RegExp, make: (instance: string, file: string) => Registration): Registration[] {
  return listDir(dir).sort().flatMap((name) => {
    const instance = pattern.exec(name)?.[1];
    return instance === undefined ? [] : [make(instance, path.join(dir, name))];
  });
}

/** What the file of a registration says, or why it cannot be read. */
export function readServiceFile(registration: Registration): ServiceFile {
  let content: Buffer;
  try {
    content = readRegularFile(registration.file);
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    const dangling = code === 'ENOENT' ? danglingTarget(registration.file) : undefined;
    const cause = dangling !== undefined ? `it is a symbolic link to ${JSON.stringify(dangling)}, which does not exist` : message;
    return { registration, condition: conditionOf(registration, undefined), header: undefined, unreadable: `it cannot be read (${code ?? message})`, cause, opened: false };
  }
  return readServiceText(registration, content);
}

export function readServiceText(registration: Registration, content: Buffer): ServiceFile {
  // A binary plist has no header: this program writes XML.
  const text = content.toString('utf8');
  const header = readHeader(text);
  const condition = conditionOf(registration, header);
  const conditionFrom = registration.kind === 'user unit' && !header ? { conditionFrom: 'lingering' as const } : {};
  let settings: Settings;
  try {
    settings = registration.kind === 'user unit' ? unitSettings(text, registration.instance) : plistSettings(content, registration);
  } catch (err) {
    const cause = (err as Error).message;
    const unreadable = err === NOT_A_DICTIONARY ? 'it is not a property list with a dictionary' : `it is not ${registration.kind === 'user unit' ? 'a unit file' : 'a property list'} that can be read (${cause})`;
    return { registration, condition, ...conditionFrom, header, unreadable, cause, opened: true };
  }
  const { restart, ...rest } = settings;
  const differences = [...settings.differences];
  if (header && header.keepAlive !== restart.keepAlive) {
    // Edited by hand since: which of the two the user wants cannot be told.
    differences.push(`its header says keep-alive=${header.keepAlive}, but its ${restart.key} ${restart.said ? 'does' : 'is not set and does'}${restart.keepAlive ? '' : ' not'} restart the instance after a crash`);
  }
  return {
    registration,
    condition,
    ...conditionFrom,
    ...rest,
    differences,
    header,
    text,
    // No template of Lima's (1.x start-at-login through 2.2's autostart) sets an environment.
    writtenBy: header ? 'limactl-autostart' : differences.length > 0 || rest.searchPath !== undefined || rest.limaHome !== undefined ? 'hand' : 'lima',
    keepAlive: restart.keepAlive,
    keepAliveFrom: header ? 'header' : restart.said ? 'settings' : 'unsaid',
  };
}

/** A plist's place says its condition (launchd loads agents at login, daemons at boot); a unit's header, else lingering. */
function conditionOf(registration: Registration, header: GeneratedBy | undefined): Condition {
  if (registration.kind !== 'user unit') return registration.kind === 'LaunchDaemon' ? 'boot' : 'login';
  return header?.condition ?? (registration.lingering ? 'boot' : 'login');
}

type Settings = Pick<ReadableFile, 'program' | 'limaHome' | 'searchPath' | 'userName' | 'logFiles' | 'differences'> & {
  /** The setting that decides keep-alive: its name, whether the file has it, what it means. */
  restart: { key: string; said: boolean; keepAlive: boolean };
};

const NOT_A_DICTIONARY = new Error('its top level is not a dictionary');

function plistSettings(content: Buffer, registration: Registration): Settings {
  const plist = parsePlist(content);
  if (!isDict(plist)) throw NOT_A_DICTIONARY;
  const daemon = registration.kind === 'LaunchDaemon';
  const differences: string[] = [];
  const unknown = Object.keys(plist).filter((key) => !(PLIST_KEYS as readonly string[]).includes(key) || (key === 'UserName' && !daemon));
  if (unknown.length > 0) differences.push(`it has settings limactl-autostart does not write: ${unknown.join(', ')}`);
  if (plist.Label !== registration.label) differences.push(`its Label is ${JSON.stringify(plist.Label)}, not "${registration.label}"`);
  const args = plist.ProgramArguments;
  const argv = Array.isArray(args) && args.every((a): a is string => typeof a === 'string') ? args : [];
  if (!startsInstance(argv, [registration.instance])) differences.push(`it does not run \`limactl start ${registration.instance} --foreground\``);
  if (plist.RunAtLoad !== undefined && plist.RunAtLoad !== true) differences.push('its RunAtLoad is not true: it does not start the instance when loaded');
  let environment: Record<string, unknown> = {};
  if (isDict(plist.EnvironmentVariables)) environment = plist.EnvironmentVariables;
  else if (plist.EnvironmentVariables !== undefined) differences.push('its EnvironmentVariables is not a dictionary');
  differences.push(...foreignVariables(Object.keys(environment)));
  const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  // A relative log path (Lima's) is opened in the job's WorkingDirectory, or in / without one.
  const dir = str(plist.WorkingDirectory) !== undefined && path.isAbsolute(plist.WorkingDirectory as string) ? plist.WorkingDirectory as string : '/';
  const logs = [plist.StandardOutPath, plist.StandardErrorPath].filter((f): f is string => typeof f === 'string' && f !== '');
  return {
    differences,
    program: str(argv[0]),
    limaHome: str(environment.LIMA_HOME),
    searchPath: str(environment.PATH),
    userName: daemon ? str(plist.UserName) : undefined,
    logFiles: [...new Set(logs.map((f) => path.resolve(dir, f)))],
    restart: { key: 'KeepAlive', said: plist.KeepAlive !== undefined, keepAlive: keepAliveOfPlist(plist.KeepAlive) },
  };
}

function unitSettings(text: string, instance: string): Settings {
  const unit = parseUnit(text);
  const known = new Set([...Object.entries(UNIT_KEYS).flatMap(([section, keys]) => keys.map((key) => `${section}.${key}`)), ...LIMA_UNIT_KEYS]);
  const differences: string[] = [];
  const unknown = [...unit].flatMap(([section, keys]) => [...keys.keys()].map((key) => `${section}.${key}`).filter((key) => !known.has(key)));
  if (unknown.length > 0) differences.push(`it has settings limactl-autostart does not write: ${unknown.join(', ')}`);
  const execStart = unitValues(unit, 'Service', 'ExecStart');
  let argv: string[] = [];
  try {
    // As written: Lima's unit is a template that names the instance as %i.
    argv = execStart.length === 1 ? splitWords(execStart[0]!) : [];
  } catch {
    // an ExecStart that cannot be split is neither this program's nor Lima's
  }
  if (!startsInstance(argv, [instance, '%i'])) differences.push(`it does not run \`limactl start ${instance} --foreground\``);
  let environment = new Map<string, string>();
  try {
    environment = new Map(environmentOf(unit).map((e) => [e.name, e.value]));
  } catch (err) {
    differences.push(`its Environment= cannot be read (${(err as Error).message})`);
  }
  differences.push(...foreignVariables([...environment.keys()]));
  const restart = unitValues(unit, 'Service', 'Restart').at(-1);
  let program: string | undefined;
  try {
    program = argv[0] === undefined ? undefined : unescapeSpecifiers(argv[0]);
  } catch {
    // a specifier systemd would expand: the path cannot be checked
  }
  return {
    differences,
    program,
    limaHome: environment.get('LIMA_HOME'),
    searchPath: environment.get('PATH'),
    userName: undefined,
    logFiles: [],
    restart: { key: 'Restart=', said: restart !== undefined, keepAlive: restart !== undefined && RESTARTS_AFTER_CRASH.has(restart) },
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

function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date) && !(value instanceof Uint8Array);
}

/** The LIMA_HOME the service uses: the one it sets, else Lima's default, resolved as the job would. */
export function serviceLimaHome(file: ReadableFile, home: string): string {
  return path.resolve(file.limaHome ?? path.join(home, '.lima'));
}

/** What writing a file again would mean: the one answer for enable, migrate and status. */
export interface Rewrite {
  /** What would be lost or change in meaning; empty when nothing. */
  loses: string[];
  /** Why migrate must leave it alone although nothing is lost. */
  leave?: string;
  /** The keep-alive it gets (keepAliveToWrite). */
  keepAlive: boolean;
}

/**
 * `servicePath` is the PATH this program gives the service: a file that did not come from this
 * program loses the directories of its own PATH that are not in it.
 */
export function rewriteOf(file: ServiceFile, servicePath: string, host: { home: string; limaHome: string }): Rewrite {
  if (file.unreadable !== undefined) return { loses: [file.unreadable], keepAlive: true };
  const loses = [...file.differences];
  if (!file.header && file.searchPath !== undefined) {
    const kept = new Set(servicePath.split(':'));
    const dropped = file.searchPath.split(':').filter((dir) => dir && !kept.has(dir));
    if (dropped.length > 0) loses.push(`its PATH has directories limactl-autostart would drop: ${dropped.join(', ')}`);
  }
  const limaHome = serviceLimaHome(file, host.home);
  const leave = file.header && headerAge(file.header) === 'newer'
    ? `it was written by limactl-autostart ${file.header.version}, which is newer than this one; upgrade limactl-autostart instead`
    : limaHome !== host.limaHome
      ? `it starts the instance in LIMA_HOME=${limaHome}, and this run's LIMA_HOME is ${host.limaHome}. Run \`LIMA_HOME=${limaHome} limactl-autostart migrate\``
      : undefined;
  return { loses, ...(leave ? { leave } : {}), keepAlive: keepAliveToWrite(file) };
}

/** The keep-alive a rewrite gets: what the file says, else the default of `enable` (a Lima plist could not choose). */
export function keepAliveToWrite(file: ReadableFile): boolean {
  return file.keepAliveFrom === 'unsaid' ? true : file.keepAlive;
}

/**
 * What `enable` says when it replaces an existing file: who wrote it, and what of it is lost.
 * Undefined for a file of this very version, and for one it cannot open (a root-only LaunchDaemon).
 */
export function replacedNote(registration: Registration, servicePath: string, host: { home: string; limaHome: string }): string | undefined {
  const where = registration.file;
  const dangling = danglingTarget(where);
  if (dangling !== undefined) return `replaced ${where}, a symbolic link to ${JSON.stringify(dangling)}, which does not exist`;
  const file = readServiceFile(registration);
  if (file.unreadable !== undefined && !file.opened) return undefined;
  const { loses } = rewriteOf(file, servicePath, host);
  const notCarried = loses.length > 0 ? `; not carried over: ${loses.join('; ')}` : '';
  if (file.header) {
    if (headerAge(file.header) === 'current' && !notCarried) return undefined;
    const { version, condition, keepAlive } = file.header;
    return `replaced ${where}, written by limactl-autostart ${version} (condition=${condition} keep-alive=${keepAlive})${notCarried}`;
  }
  const lima = file.unreadable === undefined && file.writtenBy === 'lima';
  return `replaced ${where}, which limactl-autostart had not written${notCarried || (lima ? ': it reads as one Lima wrote (`limactl start-at-login` or `limactl autostart`)' : '')}`;
}
