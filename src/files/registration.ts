import path from 'node:path';
import type { Condition, GeneratedBy, ReadableFile, Registration, ServiceFile } from '../model.js';
import { headerAge, readHeader } from '../service.js';
import { danglingTarget, listDir, readRegularFile } from './fs.js';
import { excerpt, quote } from '../errors.js';

// The one reader of registration files, whoever wrote them. Each backend hands in its format's
// reader (files/plist.ts, files/unit.ts), so a Linux run never loads the plist parser.

export type Settings = Pick<ReadableFile, 'program' | 'limaHome' | 'searchPath' | 'userName' | 'logFiles' | 'differences'> & {
  /** The setting that decides keep-alive: its name, whether the file has it, what it means. */
  restart: { key: string; said: boolean; keepAlive: boolean };
};

// The environment this program writes (HOME for a daemon of the user's own); Lima writes LIMA_HOME
// since lima-vm/lima#5489. Anything else was put there by someone, and would be dropped.
const ENV_NAMES = new Set(['LIMA_HOME', 'PATH', 'HOME']);
// `limactl start` options Lima's files add; dropping them changes nothing.
const START_OPTIONS = new Set(['--foreground', '--progress']);

/** `pattern`'s first group is the instance name. */
export function listRegistrations(dir: string, pattern: RegExp, make: (instance: string, file: string) => Registration): Registration[] {
  return listDir(dir).sort().flatMap((name) => {
    const instance = pattern.exec(name)?.[1];
    return instance === undefined ? [] : [make(instance, path.join(dir, name))];
  });
}

export function readServiceFile(registration: Registration, settings: (content: Buffer) => Settings): ServiceFile {
  let content: Buffer;
  try {
    content = readRegularFile(registration.file);
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    const dangling = code === 'ENOENT' ? danglingTarget(registration.file) : undefined;
    const cause = dangling !== undefined ? `it is a symbolic link to ${quote(dangling)}, which does not exist` : message;
    return { registration, condition: conditionOf(registration, undefined), header: undefined, unreadable: `it cannot be read (${code ?? message})`, cause, opened: false };
  }
  return readServiceText(registration, content, settings);
}

export function readServiceText(registration: Registration, content: Buffer, settings: (content: Buffer) => Settings): ServiceFile {
  // A binary plist has no header: this program writes XML.
  const text = content.toString('utf8');
  const header = readHeader(text);
  const condition = conditionOf(registration, header);
  const conditionFrom = registration.kind === 'user unit' && !header ? { conditionFrom: 'lingering' as const } : {};
  let read: Settings;
  try {
    read = settings(content);
  } catch (err) {
    const cause = (err as Error).message;
    return { registration, condition, ...conditionFrom, header, unreadable: `it is not ${registration.kind === 'user unit' ? 'a unit file' : 'a property list'} that can be read (${cause})`, cause, opened: true };
  }
  const { restart, ...rest } = read;
  if (header && header.keepAlive !== restart.keepAlive) {
    // Edited by hand since: which of the two the user wants cannot be told.
    rest.differences.push(`its header says keep-alive=${header.keepAlive}, but its ${restart.key} ${restart.said ? 'does' : 'is not set and does'}${restart.keepAlive ? '' : ' not'} restart the instance after a crash`);
  }
  return {
    registration,
    condition,
    ...conditionFrom,
    ...rest,
    header,
    text,
    // No template of Lima's sets anything it does not know, nor a PATH.
    writtenBy: header ? 'limactl-autostart' : rest.differences.length > 0 || rest.searchPath !== undefined ? 'hand' : 'lima',
    keepAlive: restart.keepAlive,
    keepAliveFrom: header ? 'header' : restart.said ? 'settings' : 'unsaid',
  };
}

/** A plist's place says its condition (launchd loads agents at login, daemons at boot); a unit's header, else lingering. */
function conditionOf(registration: Registration, header: GeneratedBy | undefined): Condition {
  if (registration.kind !== 'user unit') return registration.kind === 'LaunchDaemon' ? 'boot' : 'login';
  return header?.condition ?? (registration.lingering ? 'boot' : 'login');
}

/**
 * The limactl run by `LIMACTL start NAME --foreground` (Lima's) or this program's `/bin/sh -c SCRIPT
 * limactl-autostart LIMACTL NAME`, for NAME in `names`; undefined for any other command.
 */
export function startedLimactl(argv: string[], names: string[]): string | undefined {
  if (argv[0] === '/bin/sh' && argv[1] === '-c' && argv[3] === 'limactl-autostart' && argv.length === 6 && names.includes(argv[5]!)) return argv[4];
  const [program, verb, name, ...options] = argv;
  const direct = verb === 'start' && name !== undefined && names.includes(name) && options.includes('--foreground') && options.every((o) => START_OPTIONS.has(o));
  return direct ? program : undefined;
}

export function commandDifferences(argv: string[], names: string[], environment: string[]): string[] {
  const foreign = environment.filter((name) => !ENV_NAMES.has(name));
  return [
    ...(startedLimactl(argv, names) === undefined ? [`it does not run \`limactl start ${names[0]} --foreground\``] : []),
    ...(foreign.length > 0 ? [`it sets environment variables limactl-autostart does not set: ${list(foreign)}`] : []),
  ];
}

/** Names from a file: each quoted when it is not a plain word, and no more than ten. */
export function list(names: string[]): string {
  const shown = names.slice(0, 10).map((n) => (/^[\w./:@+-]+$/.test(n) ? n : quote(n, 40)));
  return `${shown.join(', ')}${names.length > 10 ? ` and ${names.length - 10} more` : ''}`;
}

/** The LIMA_HOME it sets, else Lima's default, resolved as the job would. */
export const serviceLimaHome = (file: ReadableFile, home: string): string => path.resolve(file.limaHome ?? path.join(home, '.lima'));

/** Lima's host agent log, in the instance's directory under the LIMA_HOME each readable file sets (this run's without one). */
export function hostAgentLogs(host: { home: string; limaHome: string }, instance: string, files: ServiceFile[]): string[] {
  const read = files.filter((f): f is ReadableFile => f.unreadable === undefined);
  const limaHomes = read.length > 0 ? read.map((f) => serviceLimaHome(f, host.home)) : [host.limaHome];
  return limaHomes.map((limaHome) => path.join(limaHome, instance, 'ha.stderr.log'));
}

/**
 * What writing a file again would lose, and why migrate must leave it alone although nothing is lost.
 * Keep-alive is kept: Lima writes no KeepAlive or Restart= for --keep-alive=false since lima-vm/lima#5086.
 */
export function rewriteOf(file: ServiceFile, servicePath: string, host: { home: string; limaHome: string }): { loses: string[]; leave?: string } {
  if (file.unreadable !== undefined) return { loses: [file.unreadable] };
  const loses = [...file.differences];
  if (!file.header && file.searchPath !== undefined) {
    const kept = new Set(servicePath.split(':'));
    const dropped = file.searchPath.split(':').filter((dir) => dir && !kept.has(dir));
    if (dropped.length > 0) loses.push(`its PATH has directories limactl-autostart would drop: ${list(dropped)}`);
  }
  const limaHome = serviceLimaHome(file, host.home);
  const leave = file.header && headerAge(file.header) === 'newer'
    ? `it was written by limactl-autostart ${file.header.version}, which is newer than this one; upgrade limactl-autostart instead`
    : limaHome !== host.limaHome
      ? `it starts the instance in LIMA_HOME=${excerpt(limaHome)}, and this run's LIMA_HOME is ${host.limaHome}. Run \`LIMA_HOME=${excerpt(limaHome)} limactl-autostart migrate\``
      : undefined;
  return { loses, ...(leave ? { leave } : {}) };
}

/** What `enable` says when it replaces a file; nothing for one of this version or one it cannot open (a root-only LaunchDaemon). */
export function replacedNote(file: ServiceFile, servicePath: string, host: { home: string; limaHome: string }): string | undefined {
  const where = file.registration.file;
  const dangling = danglingTarget(where);
  if (dangling !== undefined) return `replaced ${where}, a symbolic link to ${quote(dangling)}, which does not exist`;
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
