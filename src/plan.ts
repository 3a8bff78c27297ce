import { chmod, lstat, mkdir, open, readlink, rename, rm, rmdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CommandError, formatArgv, shellQuote, UserError } from './errors.js';
import { run, type RunResult } from './exec.js';
import { describeType, fileType, readRegularFile } from './files/fs.js';
import type { Check, Plan, RunStep, Step } from './model.js';
import { type Clock, poll } from './poll.js';
import { Interrupted, interrupt } from './signals.js';
import { LIMACTL_TIMEOUT_MS, POLL_INTERVAL_MS } from './tunables.js';
import * as log from './log.js';

// A plan (its types are in model.ts) is printed by --dry-run and executed by applyPlan, which
// undoes what it did when a step fails.

/** A piece of a plan, as each part of a planner returns it; planOf() joins them in order. */
export interface Part {
  steps?: Step[];
  warnings?: string[];
  done?: string[];
}

export function planOf(summary: string, parts: Part[], cannotRun?: Plan['cannotRun']): Plan {
  return {
    summary,
    steps: parts.flatMap((p) => p.steps ?? []),
    warnings: parts.flatMap((p) => p.warnings ?? []),
    done: parts.flatMap((p) => p.done ?? []),
    ...(cannotRun ? { cannotRun } : {}),
  };
}

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
        step.retry ? `tried again while it fails with ${step.retry.codes.join(' or ')} (up to ${step.retry.boundSec} s)` : '',
        step.settle ? `then wait until ${awaited(step.settle.checks)} (up to ${step.settle.boundSec} s)` : '',
      ].filter(Boolean);
      return `${env}${formatArgv(step.argv)}${notes.length > 0 ? `  # ${notes.join('; ')}` : ''}`;
    }
    case 'write': {
      const mode = step.mode.toString(8).padStart(4, '0');
      return `write ${shellQuote(step.path)} mode ${mode}${step.temporary ? ' (staging copy, removed afterwards)' : ''}`;
    }
  }
}

const awaited = (checks: Check[]): string => checks.map((c) => c.awaited).join(' and ');

/** What undoes one step that took effect. */
interface Undo {
  steps: Step[];
  last: boolean;
}

/** A plan that failed part-way: names the step, its cause, and how far the rollback got. */
export class PlanError extends UserError {
  constructor(plan: Plan, stepNumber: number, cause: unknown, rollbackFailures: string[], undone: number) {
    const step = plan.steps[stepNumber - 1]!;
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
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`${plan.summary}: step ${stepNumber} of ${plan.steps.length} failed: ${what}${why}`, hints.join('\n'), cause instanceof Interrupted ? cause.exitCode : undefined);
    this.name = 'PlanError';
  }
}

/** A step as apply runs it: `undoing` steps are part of a rollback, which no signal ends. */
interface Context {
  clock: Clock;
  temporaries: Set<string>;
  undoing: boolean;
}

/**
 * Runs the steps in order. When one fails, or a signal comes, every step before it that took
 * effect is undone in reverse order (files byte for byte, jobs loaded or stopped again), and the
 * error says which step failed and how. `failStep` (LIMA_AUTOSTART_FAIL_STEP, a test seam) makes
 * step N fail before it runs, so that the rollback of every step can be proved.
 */
export async function applyPlan(plan: Plan, clock: Clock, failStep?: number): Promise<void> {
  const journal: Undo[] = [];
  const ctx: Context = { clock, temporaries: new Set(), undoing: false };
  try {
    for (const [index, step] of plan.steps.entries()) {
      try {
        if (failStep === index + 1) throw new Error(`fault injected before this step (LIMA_AUTOSTART_FAIL_STEP=${index + 1})`);
        if (interrupt.aborted) throw interrupt.reason;
        const undo = await applyStep(step, ctx);
        if (undo) journal.push(undo);
        if (step.kind === 'run' && step.settle && undo !== false) await settle(step.settle, ctx);
        // A command that ended in time still took effect (its undo is in the journal): stop here.
        if (interrupt.aborted) throw interrupt.reason;
      } catch (err) {
        const undone = journal.length;
        const failures = await rollBack(journal, { ...ctx, undoing: true });
        throw new PlanError(plan, index + 1, interrupt.aborted ? interrupt.reason : err, failures, undone);
      }
    }
  } finally {
    await Promise.all([...ctx.temporaries].map((p) => rm(p, { force: true }).catch(() => undefined)));
  }
}

/** Undoes in reverse order; loading jobs again waits until every file is back. */
async function rollBack(journal: Undo[], ctx: Context): Promise<string[]> {
  const reversed = [...journal].reverse();
  const failures: string[] = [];
  for (const undo of [...reversed.filter((u) => !u.last), ...reversed.filter((u) => u.last)]) {
    for (const step of undo.steps) {
      try {
        const done = await applyStep(step, ctx);
        if (step.kind === 'run' && step.settle && done !== false) await settle(step.settle, ctx);
      } catch (err) {
        failures.push(`${describeStep(step)}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  return failures;
}

/**
 * Does one step: what would undo it; undefined when it changed nothing; false for a command that
 * was allowed to fail and did (it changed nothing, and what comes after it does not wait for it).
 */
async function applyStep(step: Step, ctx: Context): Promise<Undo | undefined | false> {
  switch (step.kind) {
    case 'mkdir': {
      const created = await missingDirs(step.path);
      await mkdir(step.path, { recursive: true });
      return created.length > 0 ? { steps: created.map((dir) => ({ kind: 'rmdir', path: dir })), last: false } : undefined;
    }
    case 'rmdir':
      try {
        await rmdir(step.path);
      } catch (err) {
        // Something else put a file there meanwhile: it is not ours to remove.
        if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      return undefined;
    case 'remove': {
      const saved = await save(step.path);
      await rm(step.path, { force: true });
      return saved ? { steps: [saved], last: false } : undefined;
    }
    case 'run': {
      const result = await runStep(step, ctx);
      if (result.exitCode !== 0) return false;
      return step.undo?.length ? { steps: step.undo, last: step.undoLast ?? false } : undefined;
    }
    case 'write': {
      if (step.temporary) {
        ctx.temporaries.add(step.path);
        await writeExclusive(step.path, step.content, step.mode);
        return undefined;
      }
      const saved = await save(step.path);
      await writeAtomically(step.path, step.content, step.mode, step.owner);
      return { steps: [saved ?? { kind: 'remove', path: step.path }], last: false };
    }
    case 'symlink': {
      const saved = await save(step.path);
      await replaceWithLink(step.path, step.target);
      return { steps: [saved ?? { kind: 'remove', path: step.path }], last: false };
    }
  }
}

/** A command, tried again while it answers one of `retry.codes`; throws as run() does once it gives up. */
async function runStep(step: RunStep, ctx: Context): Promise<RunResult> {
  const options = { env: step.env, hint: step.hint, uninterruptible: ctx.undoing };
  if (!step.retry) return run(step.argv, { ...options, mayFail: step.mayFail });
  const { codes, boundSec, why } = step.retry;
  let last: RunResult | undefined;
  const settled = await poll({
    boundSec,
    intervalMs: POLL_INTERVAL_MS,
    clock: ctx.clock,
    uninterruptible: ctx.undoing,
    ask: async () => {
      last = await run(step.argv, { ...options, mayFail: 'tried again or reported below' });
      return last.exitCode !== undefined && codes.includes(last.exitCode) ? undefined : true;
    },
    onWait: () => log.info(`\`${formatArgv(step.argv)}\` answered ${last!.exitCode}: ${why}; trying again for up to ${boundSec} s`),
  });
  if (last!.exitCode === 0 || step.mayFail) return last!;
  const gaveUp = settled ? undefined : `Tried again for ${boundSec} s (${why}): it still answered ${last!.exitCode}.`;
  throw new CommandError(step.argv, last!.exitCode, last!.stderr, [gaveUp, step.hint].filter(Boolean).join('\n') || undefined);
}

/** Waits until every check holds: the job that was stopped has gone. */
async function settle({ checks, boundSec }: NonNullable<RunStep['settle']>, ctx: Context): Promise<void> {
  let pending: Check | undefined;
  const holds = async (check: Check): Promise<boolean> => {
    const answer = await run(check.argv, { mayFail: 'an answer either way', noInput: true, timeoutMs: LIMACTL_TIMEOUT_MS, uninterruptible: ctx.undoing });
    return check.until === 'fails' ? answer.exitCode !== 0 : !answer.stdout.includes(check.until.lacks);
  };
  const settled = await poll({
    boundSec,
    intervalMs: POLL_INTERVAL_MS,
    clock: ctx.clock,
    uninterruptible: ctx.undoing,
    ask: async () => {
      for (const check of checks) {
        pending = check;
        if (!(await holds(check))) return undefined;
      }
      return true;
    },
    onWait: () => log.info(`waiting until ${awaited(checks)} (up to ${boundSec} s)`),
  });
  if (!settled) {
    throw new UserError(`${pending!.still} after ${boundSec} s: the old host agent has not stopped`, `See ${checks.map((c) => `\`${formatArgv(c.argv)}\``).join(' and ')}; once it has stopped, run the command again.`);
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
