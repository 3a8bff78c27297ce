import { execa } from 'execa';
import type { RunStep } from './model.js';
import { CommandError } from './errors.js';
import { Interrupted, interrupt, onExit, SIGNAL_EXIT } from './signals.js';

export interface RunOptions extends Pick<RunStep, 'env' | 'input' | 'mayFail' | 'hint'> {
  /** A question asked without a terminal: nothing may prompt. */
  noInput?: boolean;
  /** Milliseconds before the command and everything it started are killed; it then counts as failed. */
  timeoutMs?: number;
  /** Its stdout and stderr are the program's own (a log it shows), each line as this makes it; neither is kept. */
  passOutput?: (line: string) => string;
  /** Not ended by a signal: a rollback must finish. */
  uninterruptible?: boolean;
}

export interface RunResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * A fixed argument vector, never a shell. A signal ends the command and throws Interrupted, as does
 * its own death by SIGINT, SIGTERM or SIGHUP (Ctrl-C reaches the whole group; it may die first).
 */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error('run() needs a command');
  const cancel = !options.uninterruptible;
  if (cancel && interrupt.aborted) throw interrupt.reason;
  // A process group of its own for a command with a timeout: a wrapper script's child would
  // otherwise outlive a kill and hold our end of its output pipe open.
  const group = options.timeoutMs !== undefined;
  const pass = options.passOutput;
  // execa hands over one line at a time and adds its newline back.
  const passLine = pass && function* (line: unknown): Generator<string> { yield pass(String(line)); };
  const subprocess = execa(file, args, {
    env: options.env,
    ...(options.input !== undefined ? { input: options.input } : { stdin: options.noInput ? 'ignore' : 'inherit' }),
    ...(passLine ? { stdout: [passLine, 'inherit'], stderr: [passLine, 'inherit'], buffer: false } as const : {}),
    reject: false,
    detached: group,
  });
  let timedOut = false;
  const kill = (signal: NodeJS.Signals): void => {
    try {
      if (group) process.kill(-subprocess.pid!, signal);
      else subprocess.kill(signal);
    } catch {
      // it ended meanwhile
    }
  };
  const timer = group ? setTimeout(() => { timedOut = true; kill('SIGKILL'); }, options.timeoutMs) : undefined;
  const onInterrupt = (): void => kill('SIGTERM');
  if (cancel) interrupt.addEventListener('abort', onInterrupt);
  // execa's cleanup leaves a detached command alone: one under way when we exit (stdout closed, say) would outlive us.
  const forget = group ? onExit(() => kill('SIGKILL')) : undefined;
  const result = await subprocess;
  clearTimeout(timer);
  interrupt.removeEventListener('abort', onInterrupt);
  forget?.();
  if (cancel && interrupt.aborted) throw interrupt.reason;
  if (cancel && result.signal && result.signal in SIGNAL_EXIT && !timedOut) throw new Interrupted(result.signal);
  const exitCode = timedOut ? undefined : result.exitCode;
  const why = timedOut ? `no answer within ${options.timeoutMs} ms` : result.signal ? `killed by ${result.signal}` : exitCode === undefined ? notStarted(result.cause) : undefined;
  const output = String(result.stderr ?? '');
  const stderr = why ? `${output}\n${why}`.trim() : output;
  if (exitCode !== 0 && !options.mayFail) throw new CommandError(argv, exitCode, stderr, options.hint);
  return { exitCode, stdout: String(result.stdout ?? ''), stderr, timedOut };
}

function notStarted(cause: unknown): string {
  const err = cause as NodeJS.ErrnoException | undefined;
  if (!err?.message) return 'it could not be started';
  return err.code === 'ENOENT' ? `${err.message} (not found on PATH)` : err.message;
}

/** A read-only question: only whether it answered 0 matters. */
export async function probe(argv: readonly string[], env?: Record<string, string>): Promise<boolean> {
  return (await run(argv, { env, mayFail: 'a no is an answer', noInput: true })).exitCode === 0;
}
