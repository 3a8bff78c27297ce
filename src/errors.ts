// Exit codes are part of the interface: scripts branch on them.
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** An error the user can act on: printed as a message (what, why, what to do), never a stack trace. */
export class UserError extends Error {
  constructor(message: string, readonly hint?: string, readonly exitCode: number = EXIT_FAILED) {
    super(message);
    this.name = 'UserError';
  }
}

/** Bad arguments: exit code 2. */
export class UsageError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, hint, EXIT_USAGE);
    this.name = 'UsageError';
  }
}

/** An external command that failed: the command, its exit code and its stderr. */
export class CommandError extends UserError {
  constructor(readonly argv: readonly string[], readonly commandExitCode: number | undefined, readonly stderr: string, hint?: string) {
    const status = commandExitCode === undefined ? 'could not be run' : `exited with code ${commandExitCode}`;
    super(`\`${formatArgv(argv)}\` ${status}${stderr.trim() ? `: ${stderr.trim()}` : ''}`, hint);
    this.name = 'CommandError';
  }
}

/** Shell-style quoting, for messages and dry-run output only: nothing is run through a shell. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
