// One listener for SIGHUP, SIGINT and SIGTERM, for the whole run: a signal aborts `interrupt`,
// which ends every command started through exec.ts and every wait; what was running decides what
// is left to undo, and the run ends with 128 + the signal's number, as a shell reports it.

import { setMaxListeners } from 'node:events';

export const SIGNAL_EXIT: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

export class Interrupted extends Error {
  readonly exitCode: number;
  constructor(readonly signal: string) {
    super(`interrupted by ${signal}`);
    this.exitCode = SIGNAL_EXIT[signal]!;
  }
}

const controller = new AbortController();
export const interrupt: AbortSignal = controller.signal;
// Each command under way listens, and status asks the journal of every restarted instance at once: a count is no leak.
setMaxListeners(Infinity, interrupt);

// What must not outlive the run, however it ends (process.exit included): a lock it holds, a command in a group of its own.
const atExit = new Set<() => void>();
process.on('exit', () => atExit.forEach((undo) => undo()));

/** Runs `undo` when the process exits, unless the returned function was called first. */
export function onExit(undo: () => void): () => void {
  atExit.add(undo);
  return () => atExit.delete(undo);
}

export function listenForSignals(): void {
  for (const signal of Object.keys(SIGNAL_EXIT)) {
    process.on(signal, () => {
      if (!interrupt.aborted) controller.abort(new Interrupted(signal));
    });
  }
}
