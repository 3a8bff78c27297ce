import { readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { listDir } from './list-dir.js';
import { fileType, readRegularFile } from './file-type.js';
import { parsePlist } from './plist-file.js';
import { headerAge, readHeader } from './header.js';
import { environmentOf, parseUnit, splitWords, unescapeSpecifiers, unitValues } from './unit-file.js';
import type { Condition, GeneratedBy, PlistRegistration, ReadableFile, Registration, ServiceFile } from './model.js';

/**
 * The one reader of registration files: the files in Lima's locations, written by this program
 * (any version), by Lima (`limactl start-at-login`, `limactl autostart`), or by hand. Every
 * question about such a file (its condition, keep-alive, LIMA_HOME, who wrote it, what a rewrite
 * would lose) is answered here, for status, migrate, and enable and disable replacing one.
 */

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

/**
 * Keep-alive means: the service is restarted after a crash (the host agent killed by a signal, or
 * exiting non-zero). Decided here once, for both formats:
 * - a unit's last `Restart=`: on-failure, on-abnormal, on-abort and always restart after a crash;
 *   no, on-success and on-watchdog do not; none at all is `no`, systemd's default.
 * - a plist's `KeepAlive`: <true/> restarts after every exit, a crash included; absent or <false/>
 *   never restarts; a dictionary restarts after a crash when it has `Crashed` <true/> or
 *   `SuccessfulExit` <false/> (a crash is not a successful exit); its other conditions (paths,
 *   network, other jobs) are not about crashes.
 * A file that sets neither says nothing: its service is not restarted, and `migrate` gives it the
 * default of `enable` (keep-alive on), saying so.
 */
const RESTARTS_AFTER_CRASH = new Set(['on-failure', 'on-abnormal', 'on-abort', 'always']);

export function keepAliveOfUnit(restart: string | undefined): boolean {
  return restart !== undefined && RESTARTS_AFTER_CRASH.has(restart);
}

export function keepAliveOfPlist(keepAlive: unknown): boolean {
  if (keepAlive === true) return true;
  if (!isDict(keepAlive)) return false;
  return keepAlive.Crashed === true || keepAlive.SuccessfulExit === false;
}

/** Lists the files in `dir` whose names match `pattern` (the instance name is its first group). */
export function listRegistrations(dir: string, pattern: RegExp, make: (instance: string, file: string) => Registration): Registration[] {
  return listDir(dir).sort().flatMap((name) => {
    const instance = pattern.exec(name)?.[1];
    return instance === undefined ? [] : [make(instance, path.join(dir, name))];
  });
}

/** Reads the file of a registration from disk: what it says, or why it cannot be read. */
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

/** The target of a symbolic link at `file` that points nowhere; undefined for anything else. */
export function danglingTarget(file: string): string | undefined {
  if (fileType(file) !== 'symlink' || statSync(file, { throwIfNoEntry: false })) return undefined;
  try {
    return readlinkSync(file);
  } catch {
    return undefined; // gone meanwhile
  }
}

/** What the content of a registration's file says. */
export function readServiceText(registration: Registration, content: Buffer): ServiceFile {
  // A binary plist has no header: this program writes XML.
  const text = content.toString('utf8');
  const header = readHeader(text);
  const condition = conditionOf(registration, header);
  const conditionFrom = registration.format === 'unit' && !header ? { conditionFrom: 'lingering' as const } : {};
  let settings: Settings;
  try {
    settings = registration.format === 'plist' ? plistSettings(content, registration) : unitSettings(text, registration.instance);
  } catch (err) {
    const cause = (err as Error).message;
    const unreadable = err === NOT_A_DICTIONARY ? 'it is not a property list with a dictionary' : `it is not ${registration.format === 'plist' ? 'a property list' : 'a unit file'} that can be read (${cause})`;
    return { registration, condition, ...conditionFrom, header, unreadable, cause, opened: true };
  }
  const { restart, ...rest } = settings;
  const keepAlive = restart.keepAlive;
  const problems = [...settings.problems];
  if (header && header.keepAlive !== keepAlive) {
    // Edited by hand since: which of the two the user wants cannot be told.
    problems.push(`its header says keep-alive=${header.keepAlive}, but its ${restart.key} ${restart.said ? 'does' : 'is not set and does'}${keepAlive ? '' : ' not'} restart the instance after a crash`);
  }
  return {
    registration,
    condition,
    ...conditionFrom,
    ...rest,
    problems,
    header,
    text,
    // No template of Lima's (1.x start-at-login through 2.2's autostart) sets an environment.
    writtenBy: header ? 'limactl-autostart' : problems.length > 0 || settings.searchPath !== undefined || settings.limaHome !== undefined ? 'hand' : 'lima',
    keepAlive,
    keepAliveFrom: header ? 'header' : restart.said ? 'settings' : 'unsaid',
  };
}

/**
 * The condition: a plist's location (launchd loads agents at login and daemons at boot, whatever
 * a header says); a unit's header, else lingering (a lingering user's manager starts at boot).
 */
function conditionOf(registration: Registration, header: GeneratedBy | undefined): Condition {
  if (registration.format === 'plist') return registration.kind === 'LaunchDaemon' ? 'boot' : 'login';
  return header?.condition ?? (registration.lingering ? 'boot' : 'login');
}

type Settings = Pick<ReadableFile, 'program' | 'limaHome' | 'searchPath' | 'userName' | 'logFiles' | 'problems'> & {
  /** The setting that decides keep-alive: its name, whether the file has it, and what it means. */
  restart: { key: string; said: boolean; keepAlive: boolean };
};

const NOT_A_DICTIONARY = new Error('its top level is not a dictionary');

function plistSettings(content: Buffer, registration: PlistRegistration): Settings {
  const plist = parsePlist(content);
  if (!isDict(plist)) throw NOT_A_DICTIONARY;
  const { instance, label } = registration;
  const problems: string[] = [];
  const daemon = registration.kind === 'LaunchDaemon';
  const unknown = Object.keys(plist).filter((key) => !PLIST_KEYS.has(key) && !(daemon && key === 'UserName'));
  if (unknown.length > 0) problems.push(`it has settings limactl-autostart does not write: ${unknown.join(', ')}`);
  if (plist.Label !== label) problems.push(`its Label is ${JSON.stringify(plist.Label)}, not "${label}"`);
  const args = plist.ProgramArguments;
  const argv = Array.isArray(args) && args.every((a): a is string => typeof a === 'string') ? args : [];
  if (!startsInstance(argv, [instance])) problems.push(`it does not run \`limactl start ${instance} --foreground\``);
  if (plist.RunAtLoad !== undefined && plist.RunAtLoad !== true) problems.push('its RunAtLoad is not true: it does not start the instance when loaded');
  let environment: Record<string, unknown> = {};
  if (isDict(plist.EnvironmentVariables)) environment = plist.EnvironmentVariables;
  else if (plist.EnvironmentVariables !== undefined) problems.push('its EnvironmentVariables is not a dictionary');
  problems.push(...foreignVariables(Object.keys(environment)));
  const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  return {
    problems,
    program: str(argv[0]),
    limaHome: str(environment.LIMA_HOME),
    searchPath: str(environment.PATH),
    userName: daemon ? str(plist.UserName) : undefined,
    logFiles: logFilesOf(plist),
    restart: { key: 'KeepAlive', said: plist.KeepAlive !== undefined, keepAlive: keepAliveOfPlist(plist.KeepAlive) },
  };
}

function unitSettings(text: string, instance: string): Settings {
  const unit = parseUnit(text);
  const problems: string[] = [];
  const unknown = [...unit].flatMap(([section, keys]) => [...keys.keys()].filter((key) => !UNIT_KEYS[section]?.has(key)).map((key) => `${section}.${key}`));
  if (unknown.length > 0) problems.push(`it has settings limactl-autostart does not write: ${unknown.join(', ')}`);
  const execStart = unitValues(unit, 'Service', 'ExecStart');
  let argv: string[] = [];
  try {
    // Split as written: Lima's unit is a template that names the instance as %i.
    argv = execStart.length === 1 ? splitWords(execStart[0]!) : [];
  } catch {
    // an ExecStart that cannot be split is not one this program or Lima writes
  }
  if (!startsInstance(argv, [instance, '%i'])) problems.push(`it does not run \`limactl start ${instance} --foreground\``);
  let environment = new Map<string, string>();
  try {
    environment = new Map(environmentOf(unit).map((e) => [e.name, e.value]));
  } catch (err) {
    problems.push(`its Environment= cannot be read (${(err as Error).message})`);
  }
  problems.push(...foreignVariables([...environment.keys()]));
  const restart = unitValues(unit, 'Service', 'Restart').at(-1);
  return {
    problems,
    program: argv[0] === undefined ? undefined : withoutSpecifiers(argv[0]),
    limaHome: environment.get('LIMA_HOME'),
    searchPath: environment.get('PATH'),
    userName: undefined,
    logFiles: [],
    restart: { key: 'Restart=', said: restart !== undefined, keepAlive: keepAliveOfUnit(restart) },
  };
}

/**
 * Where launchd writes the job's output: StandardOutPath and StandardErrorPath, once each. A
 * relative path (Lima's own plists) is opened by the job after launchd has changed into its
 * WorkingDirectory, or into / when it has none.
 */
function logFilesOf(plist: Record<string, unknown>): string[] {
  const dir = typeof plist.WorkingDirectory === 'string' && path.isAbsolute(plist.WorkingDirectory) ? plist.WorkingDirectory : '/';
  const files = [plist.StandardOutPath, plist.StandardErrorPath].filter((f): f is string => typeof f === 'string' && f !== '');
  return [...new Set(files.map((f) => path.resolve(dir, f)))];
}

/** A path with `%%` for `%`; undefined when it holds a specifier systemd would expand (then it cannot be checked). */
function withoutSpecifiers(value: string): string | undefined {
  try {
    return unescapeSpecifiers(value);
  } catch {
    return undefined;
  }
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

/**
 * The LIMA_HOME the service uses: the one it sets, else Lima's default in `home`. Relative to
 * nothing: launchd and systemd start jobs elsewhere, so it is resolved as the job would.
 */
export function serviceLimaHome(file: ReadableFile, home: string): string {
  return path.resolve(file.limaHome ?? path.join(home, '.lima'));
}

/**
 * The keep-alive a rewrite of the file gets: what the file says, else the default of `enable`.
 * A file that says nothing (Lima's plists) could not choose: Lima's start-at-login had no option.
 */
export function keepAliveToWrite(file: ReadableFile): boolean {
  return file.keepAliveFrom === 'unsaid' ? true : file.keepAlive;
}

/**
 * What would be lost if the file were written again by this program, which gives the service
 * `servicePath`: its problems, and, in a file that did not come from this program, the
 * directories of its PATH that are not in that one. (This program's own PATH is its own making,
 * limactl's directory first, so it is not kept.)
 */
export function rewriteLoses(file: ReadableFile, servicePath: string): string[] {
  if (file.header || file.searchPath === undefined) return file.problems;
  const kept = new Set(servicePath.split(':'));
  const dropped = file.searchPath.split(':').filter((dir) => dir && !kept.has(dir));
  return dropped.length > 0 ? [...file.problems, `its PATH has directories limactl-autostart would drop: ${dropped.join(', ')}`] : file.problems;
}

/**
 * What `enable` says when it replaces an existing file: who wrote it, and what of it is lost.
 * Undefined for a file it cannot read (a root-only LaunchDaemon: replaced all the same).
 */
export function replacedNote(registration: Registration, servicePath: string): string | undefined {
  const dangling = danglingTarget(registration.file);
  if (dangling !== undefined) return `replaced ${registration.file}, a symbolic link to ${JSON.stringify(dangling)}, which does not exist`;
  const file = readServiceFile(registration);
  if (file.unreadable !== undefined && !file.opened) return undefined;
  const lost = file.unreadable !== undefined ? [file.unreadable] : rewriteLoses(file, servicePath);
  const notCarried = lost.length > 0 ? `; not carried over: ${lost.join('; ')}` : '';
  const where = registration.file;
  if (file.header) {
    // A file of this very version, not edited since: nothing worth saying.
    if (headerAge(file.header) === 'current' && !notCarried) return undefined;
    const { version, condition, keepAlive } = file.header;
    return `replaced ${where}, written by limactl-autostart ${version} (condition=${condition} keep-alive=${keepAlive})${notCarried}`;
  }
  const lima = file.unreadable === undefined && file.writtenBy === 'lima';
  return `replaced ${where}, which limactl-autostart had not written${notCarried || (lima ? ': it reads as one Lima wrote (`limactl start-at-login` or `limactl autostart`)' : '')}`;
}
