import type { LogSource } from './model.js';
import { readRegularFileEnd } from './files/fs.js';
import { run } from './exec.js';
import { CommandError, excerpt } from './errors.js';
import { LOG_LINE_MAX } from './tunables.js';
import { printable } from './log.js';

/** As tail writes it; the name comes from a plist, so it is bounded and escaped. */
export const heading = (file: string): string => `==> ${excerpt(file)} <==`;

/**
 * A line of a log as shown: what a guest or another program wrote may hold escape sequences a terminal would obey,
 * so control characters (but tab) are escaped as messages' are, and a line is cut after LOG_LINE_MAX characters.
 */
function logLine(line: string): string {
  return printable(line.length > LOG_LINE_MAX ? `${line.slice(0, LOG_LINE_MAX)}… (${line.length} characters)` : line);
}

const lastLinesOfFiles = (files: string[], lines: number): string => files.map((file) => `${heading(file)}\n${lastLines(file, lines)}`).join('\n');

function lastLines(file: string, count: number): string {
  try {
    // Read from the end, more each time, until the count of lines is there or the file is whole.
    for (let limit = 64 * 1024; ; limit *= 4) {
      const { bytes, whole } = readRegularFileEnd(file, limit);
      const lines = bytes.toString('utf8').split('\n');
      if (lines.at(-1) === '') lines.pop();
      // Without the start of the file, the first line may be cut: it does not count.
      if (!whole) lines.shift();
      if (whole || lines.length >= count) return lines.slice(Math.max(0, lines.length - count)).map((l) => `${logLine(l)}\n`).join('');
    }
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    return code === 'ENOENT' ? '(no such file: nothing was written to it yet)\n' : `(cannot be read: ${code ?? message})\n`;
  }
}

/** For a message: the command's answer (or why it gave none), then the files'. */
export async function recentLog(source: LogSource, lines: number): Promise<string> {
  let text = '';
  if (source.command) {
    const answer = await run(source.command, { mayFail: 'the log is shown as far as it can be', noInput: true });
    text = answer.exitCode === 0 ? answer.stdout.split('\n').map(logLine).join('\n') : `(${new CommandError(source.command, answer.exitCode, answer.stderr).message})\n`;
  }
  return text + lastLinesOfFiles(source.files, lines);
}

/** `logs` without -f: the command's output and its errors go to ours, a line at a time, then the files'. */
export async function printLog(source: LogSource, lines: number): Promise<void> {
  if (source.command) await run(source.command, { noInput: true, passOutput: logLine });
  if (source.files.length > 0) process.stdout.write(lastLinesOfFiles(source.files, lines));
}

/** `logs -f`: the command and `tail -F` (which follows rotation, and files that appear later) side by side, until a signal. */
export async function followLog(source: LogSource, lines: number): Promise<void> {
  // tail puts headings over several files only: one file gets the same heading from here.
  if (source.files.length === 1) process.stdout.write(`${heading(source.files[0]!)}\n`);
  const commands = [...(source.command ? [source.command] : []), ...(source.files.length > 0 ? [['tail', '-n', String(lines), '-F', ...source.files]] : [])];
  await Promise.all(commands.map(async (argv) => {
    const result = await run(argv, { noInput: true, passOutput: logLine, mayFail: 'reported below' });
    if (result.exitCode !== 0) throw new CommandError(argv, result.exitCode, result.stderr);
  }));
}
