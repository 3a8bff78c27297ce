import path from 'node:path';
import type { Host } from './host.js';
import { backendFor } from './backends/index.js';
import { readServiceFile, serviceLimaHome } from './registration.js';
import { readRegularFileEnd } from './file-type.js';
import { run } from './exec.js';
import { formatArgv } from './errors.js';

/**
 * Where an instance's service logs: on macOS the files its plists name (StandardOutPath,
 * StandardErrorPath: what `limactl start` says) and Lima's own ha.stderr.log (what the host agent
 * says); on Linux the journal, which holds both for the unit. `notes` says what could not be
 * looked at, such as a plist that cannot be read.
 */
export type ServiceLog = ({ kind: 'files'; files: string[] } | { kind: 'journal'; unit: string }) & {
  /** Whether any registration file of the instance exists. */
  registered: boolean;
  notes: string[];
};

export async function serviceLog(host: Host, instance: string): Promise<ServiceLog> {
  const registrations = (await backendFor(host)).registrations().filter((r) => r.instance === instance);
  const registered = registrations.length > 0;
  if (host.platform === 'linux') {
    const { unitName } = await import('./backends/systemd.js');
    return { kind: 'journal', unit: unitName(instance), registered, notes: [] };
  }
  const files: string[] = [];
  const limaHomes: string[] = [];
  const notes: string[] = [];
  for (const registration of registrations) {
    const file = readServiceFile(registration);
    if (file.unreadable !== undefined) {
      notes.push(`${registration.file}: ${file.unreadable}; the log files it names are not shown`);
      continue;
    }
    files.push(...file.logFiles);
    limaHomes.push(serviceLimaHome(file, host.home));
  }
  // Lima's log is in the instance's directory under the LIMA_HOME the service uses.
  for (const limaHome of limaHomes.length > 0 ? limaHomes : [host.limaHome]) files.push(path.join(limaHome, instance, 'ha.stderr.log'));
  return { kind: 'files', files: [...new Set(files)], registered, notes };
}

/** `journalctl` for the unit's last `lines` lines, following it with `follow`. */
export function journalArgv(unit: string, lines: number, follow: boolean): string[] {
  return ['journalctl', '--user', '-u', unit, '-n', String(lines), '--no-pager', ...(follow ? ['-f'] : [])];
}

/**
 * `tail` for the files' last `lines` lines, then following each of them, through rotation, and
 * one that does not exist yet once it appears (-F). tail puts a heading over each file when it
 * is given more than one.
 */
export function tailArgv(files: string[], lines: number): string[] {
  return ['tail', '-n', String(lines), '-F', ...files];
}

/** The heading over each file's lines, as tail writes it. */
export function heading(file: string): string {
  return `==> ${file} <==`;
}

/**
 * The last `lines` lines of each file under its heading, as `logs` prints them; a missing file,
 * or one that cannot be read, is said under its heading.
 */
export function lastLinesOfFiles(files: string[], lines: number): string {
  return files.map((file) => `${heading(file)}\n${lastLines(file, lines)}`).join('\n');
}

function lastLines(file: string, count: number): string {
  // Read from the end, more each time, until the count of lines is there or the file is whole.
  for (let limit = 64 * 1024; ; limit *= 4) {
    let end: { bytes: Buffer; whole: boolean };
    try {
      end = readRegularFileEnd(file, limit);
    } catch (err) {
      const { code, message } = err as NodeJS.ErrnoException;
      return code === 'ENOENT' ? '(no such file: nothing was written to it yet)\n' : `(cannot be read: ${code ?? message})\n`;
    }
    const lines = end.bytes.toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    // Without the start of the file, the first line may be cut: it does not count.
    if (!end.whole) lines.shift();
    if (end.whole || lines.length >= count) return lines.slice(Math.max(0, lines.length - count)).map((l) => `${l}\n`).join('');
  }
}

/**
 * The last `lines` lines of the service's log as text, for a message: the files' under their
 * headings, or what the journal answered (or why it did not).
 */
export async function recentLog(log: ServiceLog, lines: number): Promise<string> {
  if (log.kind === 'files') return lastLinesOfFiles(log.files, lines);
  const argv = journalArgv(log.unit, lines, false);
  const answer = await run(argv, { mayFail: 'the log is shown as far as it can be', noInput: true });
  if (answer.exitCode === 0) return answer.stdout;
  const status = answer.exitCode === undefined ? 'could not be run' : `exited with code ${answer.exitCode}`;
  return `(\`${formatArgv(argv)}\` ${status}${answer.stderr.trim() ? `: ${answer.stderr.trim()}` : ''})\n`;
}
