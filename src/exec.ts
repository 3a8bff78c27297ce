import { spawn } from 'node:child_process';
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
  const outcome = await spawnAndWait(file, args, options);
  if (outcome.exitCode !== 0 && !options.mayFail) throw new CommandError(argv, outcome.exitCode, outcome.stderr, options.hint);
  return outcome;
}

// node:child_process directly, not execa: a run that asks one question of a service manager
// (status) would spend more loading execa than starting Node (docs/performance.md), and this
// is all of it the program used: an argument vector, the environment, stdin, the output.
function spawnAndWait(file: string, args: string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      env: { ...process.env, ...options.env },
      stdio: [options.noInput ? 'ignore' : 'inherit', 'pipe', 'pipe'],
      // A process group of its own, so that a timeout can kill what the command started too: a
      // wrapper script's child would otherwise hold our end of its output pipe open, and we would
      // wait for it after all.
      detached: options.timeoutMs !== undefined,
    });
    let timedOut = false;
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // it ended meanwhile
      }
    }, options.timeoutMs);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    let failure: string | undefined;
    child.on('error', (err: NodeJS.ErrnoException) => {
      // Could not be started: no exit code, so say why instead.
      failure = err.code === 'ENOENT' ? `${err.message} (not found on PATH)` : err.message;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      const exitCode = failure === undefined && typeof code === 'number' && !timedOut ? code : undefined;
      const why = failure ?? (timedOut ? `no answer within ${options.timeoutMs} ms` : signal ? `killed by ${signal}` : undefined);
      resolve({ exitCode, stdout: text(stdout), stderr: exitCode === undefined && why ? `${text(stderr)}\n${why}`.trim() : text(stderr), timedOut });
    });
  });
}

/** A read-only question to a service manager: only whether it answered 0 matters. */
export async function probe(argv: readonly string[], env?: Record<string, string>): Promise<boolean> {
  return (await run(argv, { env, mayFail: 'a no is an answer', noInput: true })).exitCode === 0;
}
