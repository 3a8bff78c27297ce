import { execa } from 'execa';
import { CommandError } from './errors.js';

export interface RunOptions {
  env?: Record<string, string>;
  /** Why a failure is expected and harmless; such a failure is returned, not thrown. */
  mayFail?: string;
  /** Likely causes, appended to the error message when the command fails. */
  hint?: string;
  /** A question asked without a terminal: nothing may prompt. */
  noInput?: boolean;
  /** Milliseconds before the command and every process it started are killed; it then counts as failed. */
  timeoutMs?: number;
}

export interface RunResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs one external command from a fixed argument vector (never through a shell).
 * stdin is inherited so that sudo can ask for a password on the user's terminal.
 */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error('run() needs a command');
  const subprocess = execa(file, args, {
    env: options.env,
    extendEnv: true,
    stdin: options.noInput ? 'ignore' : 'inherit',
    reject: false,
    stripFinalNewline: true,
    // A process group of its own, so that a timeout can kill what the command started too: a
    // wrapper script's child would otherwise hold our end of its output pipe open, and we would
    // wait for it after all.
    detached: options.timeoutMs !== undefined,
  });
  let timedOut = false;
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-subprocess.pid!, 'SIGKILL');
    } catch {
      // it ended meanwhile
    }
  }, options.timeoutMs);
  const result = await subprocess;
  clearTimeout(timer);
  const exitCode = typeof result.exitCode === 'number' && !timedOut ? result.exitCode : undefined;
  // A command that could not be started (ENOENT) has no exit code; say so instead of "undefined".
  const stderr = result.failed && exitCode === undefined ? `${result.stderr}\n${result.shortMessage}`.trim() : result.stderr;
  const outcome = { exitCode, stdout: result.stdout, stderr, timedOut };
  if (exitCode !== 0 && !options.mayFail) throw new CommandError(argv, exitCode, stderr, options.hint);
  return outcome;
}

/** A read-only question to a service manager: only whether it answered 0 matters. */
export async function probe(argv: readonly string[]): Promise<boolean> {
  return (await run(argv, { mayFail: 'a no is an answer', noInput: true })).exitCode === 0;
}
