// Exit codes are part of the interface: scripts branch on them.
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** An error the user can act on: printed as a message (what, why, what to do), never a stack trace. */
export class UserError extends Error {
  constructor(message: string, readonly hint?: string, readonly exitCode: number = EXIT_FAILED) {
    super(message);
  }
}

export class UsageError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, hint, EXIT_USAGE);
  }
}

/** An external command that failed: the command, its exit code and (the end of) its stderr. */
export class CommandError extends UserError {
  constructor(readonly argv: readonly string[], readonly commandExitCode: number | undefined, readonly stderr: string, hint?: string) {
    const status = commandExitCode === undefined ? 'could not be run' : `exited with code ${commandExitCode}`;
    const said = stderr.trim();
    super(`\`${formatArgv(argv)}\` ${status}${said ? `: ${said.length > STDERR_MAX ? `…${said.slice(-STDERR_MAX)}` : said}` : ''}`, hint);
  }
}

/** How much of a failed command's stderr a message quotes: its end, where the reason is. */
const STDERR_MAX = 2000;

/** Text from outside (a file's content or name, another program's output) for a message: control characters escaped, a long text cut. */
export function quote(text: string, max = 200): string {
  const quoted = (t: string): string => JSON.stringify(t).replace(/[\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text.length > max ? `${quoted(text.slice(0, max))}… (${text.length} characters)` : quoted(text);
}

/** A path or word from outside, for a message: as it is when short and printable, else as quote() gives it. */
export function excerpt(text: string, max = 200): string {
  return text.length <= max && !/[\x00-\x1f\x7f-\x9f]/.test(text) ? text : quote(text, max);
}

/** Shell-style quoting, for messages and dry-run output only: nothing is run through a shell. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
