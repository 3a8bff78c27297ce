import { chmod, lstat, mkdir, open, readlink, rename, rm, rmdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CommandError, formatArgv, shellQuote, UserError } from './errors.js';
import { run } from './exec.js';
import { describeType, fileType, readRegularFile } from './file-type.js';
import type { Plan, RunStep, Step } from './model.js';
import { type Polling, runRetrying, waitUntilStopped } from './settle.js';
import { BOOTSTRAP_RETRY_SEC, SETTLE_TIMEOUT_SEC } from './tunables.js';

// A plan (its types are in model.ts) is printed by --dry-run and executed by applyPlan, which
// undoes what it did when a step fails.

export function formatPlan(plan: Plan): string {
  const lines = [`# ${plan.summary}`, '# dry run: nothing below was done'];
  for (const step of plan.steps) lines.push(...formatStep(step));
  const undoable = plan.steps.filter((s): s is RunStep => s.kind === 'run' && (s.undo?.length ?? 0) > 0);
  if (undoable.length > 0) {
    lines.push('# if a step fails, the steps before it are undone: files are restored as they were, and');
    for (const step of undoable) lines.push(`#   after \`${formatArgv(step.argv)}\`: ${step.undo!.map(describeStep).join('; ')}`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatStep(step: Step): string[] {
  switch (step.kind) {
    case 'mkdir':
    case 'remove':
    case 'rmdir':
    case 'symlink':
    case 'run':
      return [describeStep(step)];
    case 'write': {
      const head = describeStep(step);
      if (typeof step.content !== 'string') return [`${head} (${step.content.length} bytes saved earlier)`];
      const body = step.content.endsWith('\n') ? step.content : `${step.content}\n`;
      return [`${head} <<'EOF'`, ...body.slice(0, -1).split('\n'), 'EOF'];
    }
  }
}

/** One line per step, for dry-run output and error messages. */
export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'mkdir':
      return `mkdir -p ${shellQuote(step.path)}`;
    case 'remove':
      return `rm -f ${shellQuote(step.path)}`;
    case 'rmdir':
      return `rmdir ${shellQuote(step.path)}`;
    case 'symlink':
      return `ln -sfn ${shellQuote(step.target)} ${shellQuote(step.path)}`;
    case 'run': {
      const env = Object.entries(step.env ?? {}).map(([k, v]) => `${k}=${shellQuote(v)} `).join('');
      const notes = [
        step.mayFail ? `may fail: ${step.mayFail}` : '',
        step.retryOn ? `tried again while it fails with ${step.retryOn.join(' or ')} (up to ${BOOTSTRAP_RETRY_SEC} s)` : '',
        step.settle ? `then wait until \`launchctl print ${step.settle.target}\` fails and Lima no longer reports "${step.settle.instance}" Running (up to ${SETTLE_TIMEOUT_SEC} s)` : '',
      ].filter(Boolean);
      return `${env}${formatArgv(step.argv)}${notes.length > 0 ? `  # ${notes.join('; ')}` : ''}`;
    }
    case 'write': {
      const mode = step.mode.toString(8).padStart(4, '0');
      return `write ${shellQuote(step.path)} mode ${mode}${step.temporary ? ' (staging copy, removed afterwards)' : ''}`;
    }
  }
}

export interface ApplyOptions {
  /** Test seam (LIMA_AUTOSTART_FAIL_STEP): step N (from 1) fails before it runs, so that the
   *  rollback of every step can be proved, file steps included. */
  failStep?: number;
  /** How the waits after a bootout and the retries of a bootstrap poll (src/settle.ts). */
  polling: Polling;
  /** Aborted by SIGINT, SIGTERM or SIGHUP: the running command is ended, no further step runs,
   *  and what was done is undone (the rollback itself is not interrupted). */
  interrupt?: AbortSignal;
}

/** The exit codes of a run ended by a signal, as a shell reports them: 128 + the signal number. */
export const SIGNAL_EXIT: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** Calls `handler` on SIGHUP, SIGINT or SIGTERM instead of ending at once, until the returned function is called. */
export function onInterrupt(handler: (signal: NodeJS.Signals) => void): () => void {
  const signals = Object.keys(SIGNAL_EXIT) as NodeJS.Signals[];
  for (const signal of signals) process.on(signal, handler);
  return () => {
    for (const signal of signals) process.off(signal, handler);
  };
}

/** Why a plan stopped when a signal came. */
export class Interrupted extends Error {
  constructor(readonly signal: string) {
    super(`interrupted by ${signal}`);
    this.name = 'Interrupted';
  }
}

/** What undoes one step that took effect. */
interface Undo {
  steps: Step[];
  last: boolean;
}

/** A plan that failed part-way: names the step, its cause, and how far the rollback got. */
export class PlanError extends UserError {
  constructor(
    readonly plan: Plan,
    readonly stepNumber: number,
    readonly cause: unknown,
    readonly rollbackFailures: string[],
    undone: number,
  ) {
    const step = plan.steps[stepNumber - 1]!;
    const why = cause instanceof Error ? cause.message : String(cause);
    const hints: string[] = [];
    if (cause instanceof UserError && cause.hint) hints.push(cause.hint);
    if (rollbackFailures.length === 0) {
      hints.push(undone === 0
        ? 'Nothing had been changed yet.'
        : `Rolled back: undid the ${undone === 1 ? 'earlier step' : `${undone} earlier steps`} that had changed something; files and jobs are as they were before.`);
    } else {
      hints.push(`The rollback was incomplete; fix these by hand, then run the command again:\n${rollbackFailures.map((f) => `- ${f}`).join('\n')}`);
    }
    const what = step.kind === 'run' ? '' : `${describeStep(step)}: `;
    const exitCode = cause instanceof Interrupted ? SIGNAL_EXIT[cause.signal] : undefined;
    super(`${plan.summary}: step ${stepNumber} of ${plan.steps.length} failed: ${what}${why}`, hints.join('\n'), exitCode);
    this.name = 'PlanError';
  }
}

/**
 * Runs the steps in order. When one fails, every step before it that took effect is undone in
 * reverse order (files restored byte for byte, jobs loaded or stopped again), and the error says
 * which step failed and how.
 */
export async function applyPlan(plan: Plan, options: ApplyOptions): Promise<void> {
  const temporaries = new Set<string>();
  const journal: Undo[] = [];
  // A signal ends the running command and any wait of the plan's own steps.
  const polling: Polling = { ...options.polling, interrupt: options.interrupt };
  try {
    for (const [index, step] of plan.steps.entries()) {
      const interrupt = options.interrupt;
      try {
        if (options.failStep === index + 1) throw new Error(`fault injected before this step (LIMA_AUTOSTART_FAIL_STEP=${index + 1})`);
        if (interrupt?.aborted) throw interrupt.reason;
        await applyStep(step, temporaries, polling, journal);
        // A command that ended in time still took effect (its undo is in the journal): the plan stops here.
        if (interrupt?.aborted) throw interrupt.reason;
      } catch (err) {
        const undone = journal.length;
        // The rollback itself is not interrupted: it must finish to leave things as they were.
        const failures = await rollBack(journal, temporaries, options.polling);
        throw new PlanError(plan, index + 1, interrupt?.aborted ? interrupt.reason : interruption(err) ?? err, failures, undone);
      }
    }
  } finally {
    await Promise.all([...temporaries].map((p) => rm(p, { force: true })));
  }
}

/**
 * A command killed by SIGINT, SIGTERM or SIGHUP: Ctrl-C reaches the whole process group, and the
 * command may die of it before this process hears of its own copy. Shells read it the same way.
 */
function interruption(err: unknown): Interrupted | undefined {
  return err instanceof CommandError && err.signal !== undefined && err.signal in SIGNAL_EXIT ? new Interrupted(err.signal) : undefined;
}

/** Undoes in reverse order; loading jobs again waits until every file is back. */
async function rollBack(journal: Undo[], temporaries: Set<string>, polling: Polling): Promise<string[]> {
  const reversed = [...journal].reverse();
  const ordered = [...reversed.filter((u) => !u.last), ...reversed.filter((u) => u.last)];
  const failures: string[] = [];
  for (const undo of ordered) {
    for (const step of undo.steps) {
      try {
        await applyStep(step, temporaries, polling, []);
      } catch (err) {
        failures.push(`${describeStep(step)}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  return failures;
}

/**
 * Applies one step and adds what would undo it to the journal (nothing when it changed nothing).
 * A bootout's undo is in the journal before its wait begins: a wait that gives up fails the step,
 * and the job it booted out must still be loaded again.
 */
async function applyStep(step: Step, temporaries: Set<string>, polling: Polling, journal: Undo[]): Promise<void> {
  const { undo, succeeded } = await takeStep(step, temporaries, polling);
  if (undo) journal.push(undo);
  if (step.kind === 'run' && step.settle && succeeded) await waitUntilStopped(step.settle, polling);
}

/** Does one step; returns what would undo it, or nothing when it changed nothing. */
async function takeStep(step: Step, temporaries: Set<string>, polling: Polling): Promise<{ undo?: Undo; succeeded: boolean }> {
  switch (step.kind) {
    case 'mkdir': {
      const created = await missingDirs(step.path);
      await mkdir(step.path, { recursive: true });
      return { succeeded: true, ...(created.length > 0 ? { undo: { steps: created.map((dir) => ({ kind: 'rmdir', path: dir })), last: false } } : {}) };
    }
    case 'rmdir':
      try {
        await rmdir(step.path);
      } catch (err) {
        // Something else put a file there meanwhile: it is not ours to remove.
        if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      return { succeeded: true };
    case 'remove': {
      const saved = await save(step.path);
      await rm(step.path, { force: true });
      return { succeeded: true, ...(saved ? { undo: { steps: [saved], last: false } } : {}) };
    }
    case 'run': {
      const result = step.retryOn
        ? await runRetrying(step, polling)
        : await run(step.argv, { env: step.env, mayFail: step.mayFail, hint: step.hint, cancelSignal: polling.interrupt });
      // A tolerated failure changed nothing, so there is nothing to undo.
      const succeeded = result.exitCode === 0;
      return { succeeded, ...(succeeded && step.undo?.length ? { undo: { steps: step.undo, last: step.undoLast ?? false } } : {}) };
    }
    case 'write': {
      if (step.temporary) {
        temporaries.add(step.path);
        await writeExclusive(step.path, step.content, step.mode);
        return { succeeded: true };
      }
      const saved = await save(step.path);
      await writeAtomically(step.path, step.content, step.mode, step.owner);
      return { succeeded: true, undo: { steps: [saved ?? { kind: 'remove', path: step.path }], last: false } };
    }
    case 'symlink': {
      const saved = await save(step.path);
      await replaceWithLink(step.path, step.target);
      return { succeeded: true, undo: { steps: [saved ?? { kind: 'remove', path: step.path }], last: false } };
    }
  }
}

/** The directories `mkdir -p dir` would create, deepest first (undone in that order). */
async function missingDirs(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (await exists(d)) return missing;
    missing.push(d);
    if (path.dirname(d) === d) return missing;
  }
}

/**
 * A step that restores `file` exactly as it is now, or undefined when there is nothing there: a
 * symbolic link as the same link (dotfile managers make them; reading through it and writing a
 * file back would replace the link), a file with its bytes, mode and owner. Anything else in
 * the way (a directory, a FIFO) is not ours to replace.
 */
async function save(file: string): Promise<Step | undefined> {
  const type = fileType(file);
  switch (type) {
    case 'none':
      return undefined;
    case 'symlink':
      return { kind: 'symlink', path: file, target: await readlink(file) };
    case 'file': {
      const stat = await lstat(file);
      return { kind: 'write', path: file, content: readRegularFile(file), mode: stat.mode & 0o7777, owner: { uid: stat.uid, gid: stat.gid } };
    }
    default:
      throw new UserError(`${file} is ${describeType(type)}, not a file`, 'Move it away (or remove it if it is not needed), then run the command again.');
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

async function writeExclusive(file: string, content: string | Buffer, mode: number): Promise<void> {
  // A staging copy in a shared temporary directory: refuse to follow anything already there.
  const handle = await open(file, 'wx', mode);
  try { await handle.writeFile(content); } finally { await handle.close(); }
}

/** Never writable by group or others, never set-id: whatever the mode asked for (a saved file's
 *  included), a service file others can rewrite would run their code as its owner. */
const SAFE_MODE = 0o1755;

async function writeAtomically(file: string, content: string | Buffer, mode: number, owner?: { uid: number; gid: number }): Promise<void> {
  const temp = tempPath(file);
  const safe = mode & SAFE_MODE;
  try {
    const handle = await open(temp, 'wx', safe & 0o700);
    try {
      await handle.writeFile(content);
      await handle.sync();
      // A saved file goes back to its owner; only root can give a file away, and a file that is
      // not ours any more is a rollback that did not complete, said as such.
      if (owner && (owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.())) await handle.chown(owner.uid, owner.gid);
    } finally {
      await handle.close();
    }
    await chmod(temp, safe); // open()'s mode is filtered by the umask
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** A symbolic link put in place in one step, as a file is. */
async function replaceWithLink(file: string, target: string): Promise<void> {
  const temp = tempPath(file);
  try {
    await symlink(target, temp);
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

function tempPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
}
