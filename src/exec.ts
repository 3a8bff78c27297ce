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
  /** Ends the command (SIGTERM) when aborted: the program was interrupted. */
  cancelSignal?: AbortSignal;
  /** Its stdout and stderr are the program's own (a log it prints or follows); none is captured. */
  passOutput?: boolean;
}

export interface RunResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The signal that ended it, if one did. */
  signal: string | undefined;
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
    stdin: options.noInput ? 'ignore' : 'inherit',
    ...(options.passOutput ? { stdout: 'inherit', stderr: 'inherit' } as const : {}),
    reject: false,
    ...(options.cancelSignal ? { cancelSignal: options.cancelSignal } : {}),
    // A process group of its own, so that a timeout can kill what the command started too: a
    // wrapper script's child would otherwise hold our end of its output pipe open, and we would
    // wait for it after all. (execa's own `timeout` kills the command alone.)
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
  // execa gives no exit code for a command killed by a signal or never started.
  const exitCode = timedOut ? undefined : result.exitCode;
  // Without an exit code, the reason stands where the command's own stderr would end.
  const why = timedOut ? `no answer within ${options.timeoutMs} ms`
    : result.signal ? `killed by ${result.signal}`
      : exitCode === undefined ? notStarted(result.cause) : undefined;
  const outcome: RunResult = {
    exitCode,
    stdout: String(result.stdout ?? ''),
    stderr: why ? `${String(result.stderr ?? '')}\n${why}`.trim() : String(result.stderr ?? ''),
    timedOut,
    signal: result.signal ?? undefined,
  };
  if (outcome.exitCode !== 0 && !options.mayFail) throw new CommandError(argv, outcome.exitCode, outcome.stderr, options.hint, result.signal);
  return outcome;
}

/** Why a command could not be started: the error of spawn(), which execa keeps as the cause. */
function notStarted(cause: unknown): string {
  const err = cause as NodeJS.ErrnoException | undefined;
  if (!err?.message) return 'it could not be started';
  return err.code === 'ENOENT' ? `${err.message} (not found on PATH)` : err.message;
}

/** A read-only question to a service manager: only whether it answered 0 matters. */
export async function probe(argv: readonly string[], env?: Record<string, string>): Promise<boolean> {
  return (await run(argv, { env, mayFail: 'a no is an answer', noInput: true })).exitCode === 0;
}
