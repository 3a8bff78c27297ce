// Exit codes are part of the interface: scripts branch on them.
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** An error the user can act on: printed as a message (what, why, what to do), never as a stack trace. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** Bad arguments: exit code 2, like yargs' own usage errors. */
export class UsageError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, hint, EXIT_USAGE);
    this.name = 'UsageError';
  }
}

/** An external command that failed while a plan was applied. */
export class CommandError extends UserError {
  constructor(
    readonly argv: readonly string[],
    readonly commandExitCode: number | undefined,
    readonly stderr: string,
    hint?: string,
    /** The signal that killed it, if one did. */
    readonly signal?: string,
  ) {
    const status = commandExitCode === undefined ? 'could not be run' : `exited with code ${commandExitCode}`;
    const detail = stderr.trim() ? `: ${stderr.trim()}` : '';
    super(`\`${formatArgv(argv)}\` ${status}${detail}`, hint);
    this.name = 'CommandError';
  }
}

/** Shell-style quoting, for messages and dry-run output only: nothing is ever run through a shell. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
