import path from 'node:path';
import { parse } from 'plist';
import type { Registration } from '../model.js';
import { PLIST_KEYS } from '../service.js';
import { quote } from '../errors.js';
import { commandDifferences, list, startedLimactl, type Settings } from './registration.js';

/**
 * XML or binary (`plutil -convert binary1`). `plist` takes no handler for @xmldom/xmldom, which
 * reports problems on console.error and throws only on fatal ones, so console.error is caught for
 * the (synchronous) parse: an error (an undefined entity, say, read as literal text) makes the
 * file unreadable; a warning changes no value and is dropped. None reaches the user's terminal.
 */
export function parsePlist(content: string | Buffer): unknown {
  // Binary bytes as they are: text would mangle them.
  const input = typeof content === 'string' || content.subarray(0, 6).toString('latin1') === 'bplist' ? content : content.toString('utf8');
  const errors: string[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]): void => {
    const m = typeof args[0] === 'string' ? /^\[xmldom (\w+)\]\s*([\s\S]*?)\s*$/.exec(args[0]) : null;
    if (!m) return consoleError(...args);
    const line = typeof args[1] === 'string' ? /line:(\d+)/.exec(args[1])?.[1] : undefined; // from `@#[line:4,col:19]`
    // Bounded: xmldom quotes what it could not read, and the file may be anything.
    if (m[1] !== 'warning') errors.push(`${m[2]!.slice(0, 200)}${line ? ` (line ${line})` : ''}`);
  };
  let value: unknown;
  try {
    value = parse(input);
  } catch (err) {
    // A fatal error was reported before it was thrown; the report has the line.
    throw new Error(errors[0] ?? (err instanceof Error ? err.message.split('\n')[0]!.slice(0, 200) : String(err)));
  } finally {
    console.error = consoleError;
  }
  if (errors.length > 0) throw new Error(errors[0]);
  return value;
}

/** <true/> restarts after every exit; a dictionary after a crash with Crashed <true/> or SuccessfulExit <false/>. */
function keepAliveOf(keepAlive: unknown): boolean {
  return keepAlive === true || (isDict(keepAlive) && (keepAlive.Crashed === true || keepAlive.SuccessfulExit === false));
}

export function plistSettings(registration: Registration): (content: Buffer) => Settings {
  return (content) => {
    const plist = parsePlist(content);
    if (!isDict(plist)) throw new Error('its top level is not a dictionary');
    const daemon = registration.kind === 'LaunchDaemon';
    const differences: string[] = [];
    const unknown = Object.keys(plist).filter((key) => !(PLIST_KEYS as readonly string[]).includes(key) || (key === 'UserName' && !daemon));
    if (unknown.length > 0) differences.push(`it has settings limactl-autostart does not write: ${list(unknown)}`);
    if (plist.Label !== registration.label) differences.push(`its Label is ${quote(String(plist.Label))}, not "${registration.label}"`);
    const args = plist.ProgramArguments;
    const argv = Array.isArray(args) && args.every((a): a is string => typeof a === 'string') ? args : [];
    if (plist.RunAtLoad !== undefined && plist.RunAtLoad !== true) differences.push('its RunAtLoad is not true: it does not start the instance when loaded');
    let environment: Record<string, unknown> = {};
    if (isDict(plist.EnvironmentVariables)) environment = plist.EnvironmentVariables;
    else if (plist.EnvironmentVariables !== undefined) differences.push('its EnvironmentVariables is not a dictionary');
    differences.push(...commandDifferences(argv, [registration.instance], Object.keys(environment)));
    const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
    // A relative log path (Lima's) is opened in the job's WorkingDirectory, or in / without one.
    const dir = path.isAbsolute(str(plist.WorkingDirectory) ?? '') ? plist.WorkingDirectory as string : '/';
    const logs = [plist.StandardOutPath, plist.StandardErrorPath].filter((f): f is string => typeof f === 'string' && f !== '');
    return {
      differences,
      program: startedLimactl(argv, [registration.instance]),
      limaHome: str(environment.LIMA_HOME),
      searchPath: str(environment.PATH),
      userName: daemon ? str(plist.UserName) : undefined,
      logFiles: [...new Set(logs.map((f) => path.resolve(dir, f)))],
      restart: { key: 'KeepAlive', said: plist.KeepAlive !== undefined, keepAlive: keepAliveOf(plist.KeepAlive) },
    };
  };
}

function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date) && !(value instanceof Uint8Array);
}
