import { chmod, lstat, mkdir, open, readlink, rename, rm, rmdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CommandError, formatArgv, shellQuote, UserError } from './errors.js';
import { run, type RunResult } from './exec.js';
import { describeType, fileType, readRegularFile } from './files/fs.js';
import type { Check, Plan, RunStep, Step } from './model.js';
import { type Clock, poll } from './poll.js';
import { Interrupted, interrupt } from './signals.js';
import { QUESTION_TIMEOUT_MS, POLL_INTERVAL_MS, SETTLE_INTERVAL_MS } from './tunables.js';
import * as log from './log.js';

/** A piece of a plan, as each part of a planner returns it; planOf() joins them in order. */
export type Part = Partial<Pick<Plan, 'steps' | 'warnings' | 'done'>>;

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
  const lines = [`# ${plan.summary}`, '# dry run: nothing below was done', ...plan.steps.flatMap(formatStep)];
  const undoable = plan.steps.filter((s): s is RunStep => s.kind === 'run' && (s.undo?.length ?? 0) > 0);
  if (undoable.length > 0) {
    lines.push('# if a step fails, the steps before it are undone: files are restored as they were, and');
    for (const step of undoable) lines.push(`#   after \`${formatArgv(step.argv)}\`: ${step.undo!.map(describeStep).join('; ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A step as --dry-run prints it: the content a step writes follows it as a here-document. */
function formatStep(step: Step): string[] {
  const content = step.kind === 'write' ? step.content : step.kind === 'run' ? step.input : undefined;
  if (content === undefined) return [describeStep(step)];
  if (typeof content !== 'string') return [`${describeStep(step)} (${content.length} bytes saved earlier)`];
  return [`${describeStep(step)} <<'EOF'`, ...content.replace(/\n$/, '').split('\n'), 'EOF'];
}

export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'mkdir':
    case 'remove':
    case 'rmdir':
      return `${{ mkdir: 'mkdir -p', remove: 'rm -f', rmdir: 'rmdir' }[step.kind]} ${shellQuote(step.path)}`;
    case 'symlink':
      return `ln -sfn ${shellQuote(step.target)} ${shellQuote(step.path)}`;
    case 'write':
      return `write ${shellQuote(step.path)} mode ${step.mode.toString(8).padStart(4, '0')}`;
    case 'run': {
      const env = Object.entries(step.env ?? {}).map(([k, v]) => `${k}=${shellQuote(v)} `).join('');
      const notes = [
        step.mayFail ? `may fail: ${step.mayFail}` : '',
        step.retry ? `tried again while it fails with ${step.retry.codes.join(' or ')} (up to ${step.retry.boundSec} s)` : '',
        step.settle ? `then wait until ${awaited(step.settle.checks)} (up to ${step.settle.boundSec} s)` : '',
      ].filter(Boolean);
      return `${env}${formatArgv(step.argv)}${notes.length > 0 ? `  # ${notes.join('; ')}` : ''}`;
    }
  }
}

const awaited = (checks: Check[]): string => checks.map((c) => c.awaited).join(' and ');

/** What undoes one step that took effect; `last`: it loads a job from its file, so it runs after every file is back. */
type Undo = { steps: Step[]; last: boolean };

function planFailed(plan: Plan, stepNumber: number, cause: unknown, rollbackFailures: string[], undone: number): UserError {
  const step = plan.steps[stepNumber - 1]!;
  const hints = cause instanceof UserError && cause.hint ? [cause.hint] : [];
  if (rollbackFailures.length > 0) hints.push(`The rollback was incomplete; fix these by hand, then run the command again:\n${rollbackFailures.map((f) => `- ${f}`).join('\n')}`);
  else if (undone === 0) hints.push('Nothing had been changed yet.');
  else hints.push(`Rolled back: undid the ${undone === 1 ? 'earlier step' : `${undone} earlier steps`} that had changed something; files and jobs are as they were before.`);
  const what = step.kind === 'run' ? '' : `${describeStep(step)}: `;
  const message = `${plan.summary}: step ${stepNumber} of ${plan.steps.length} failed: ${what}${cause instanceof Error ? cause.message : String(cause)}`;
  return new UserError(message, hints.join('\n'), cause instanceof Interrupted ? cause.exitCode : undefined);
}

/**
 * When a step fails, or a signal comes, every step before it that took effect is undone in reverse
 * order, and no signal ends the rollback. `failStep` (LIMA_AUTOSTART_FAIL_STEP) lets tests prove each rollback.
 */
export async function applyPlan(plan: Plan, clock: Clock, failStep?: number): Promise<void> {
  // Every path a step replaces or removes is checked before the first step changes anything.
  for (const step of plan.steps) if (step.kind === 'write' || step.kind === 'remove' || step.kind === 'symlink') replaceable(step.path);
  const journal: Undo[] = [];
  for (const [index, step] of plan.steps.entries()) {
    try {
      if (failStep === index + 1) throw new Error(`fault injected before this step (LIMA_AUTOSTART_FAIL_STEP=${index + 1})`);
      if (interrupt.aborted) throw interrupt.reason;
      const undo = await applyStep(step, clock, false);
      if (undo) journal.push(undo);
      // After the undo is in the journal: a wait that gives up fails the step, and the job it booted out must be loaded again.
      if (step.kind === 'run' && step.settle && undo !== false) await settle(step.settle, clock, false);
      // A command that ended in time still took effect (its undo is in the journal): stop here.
      if (interrupt.aborted) throw interrupt.reason;
    } catch (err) {
      const reversed = journal.reverse();
      const failures: string[] = [];
      for (const s of [...reversed.filter((u) => !u.last), ...reversed.filter((u) => u.last)].flatMap((u) => u.steps)) {
        try {
          if ((await applyStep(s, clock, true)) !== false && s.kind === 'run' && s.settle) await settle(s.settle, clock, true);
        } catch (undoErr) {
          failures.push(`${describeStep(s)}: ${undoErr instanceof Error ? undoErr.message : String(undoErr)}`);
        }
      }
      throw planFailed(plan, index + 1, interrupt.aborted ? interrupt.reason : err, failures, journal.length);
    }
  }
}

/**
 * Does one step and returns what would undo it; undefined when it changed nothing; false for a
 * command that was allowed to fail and did (it changed nothing, and nothing waits for it).
 */
async function applyStep(step: Step, clock: Clock, undoing: boolean): Promise<Undo | undefined | false> {
  switch (step.kind) {
    case 'mkdir': {
      // Deepest first, the order they are undone in.
      const created: Step[] = [];
      for (let d = path.resolve(step.path); fileType(d) === 'none' && path.dirname(d) !== d; d = path.dirname(d)) created.push({ kind: 'rmdir', path: d });
      await mkdir(step.path, { recursive: true });
      return created.length > 0 ? { steps: created, last: false } : undefined;
    }
    case 'rmdir':
      // Something else put a file there meanwhile: it is not ours to remove.
      await rmdir(step.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOTEMPTY' && err.code !== 'ENOENT') throw err;
      });
      return undefined;
    case 'remove': {
      const saved = await save(step.path);
      await rm(step.path, { force: true });
      return saved ? { steps: [saved], last: false } : undefined;
    }
    case 'write':
    case 'symlink': {
      const saved = await save(step.path);
      await putInPlace(step.path, step.kind === 'write' ? (temp) => writeNew(temp, step) : (temp) => symlink(step.target, temp));
      return { steps: [saved ?? { kind: 'remove', path: step.path }], last: false };
    }
    case 'run':
      if ((await runStep(step, clock, undoing)).exitCode !== 0) return false;
      return step.undo?.length ? { steps: step.undo, last: step.undoLast ?? false } : undefined;
  }
}

/** A command, tried again while it answers one of `retry.codes`; throws as run() does once it gives up. */
async function runStep(step: RunStep, clock: Clock, undoing: boolean): Promise<RunResult> {
  const options = { env: step.env, input: step.input, hint: step.hint, uninterruptible: undoing };
  if (!step.retry) return run(step.argv, { ...options, mayFail: step.mayFail });
  const { codes, boundSec, why } = step.retry;
  let last: RunResult | undefined;
  const settled = await poll({
    boundSec, intervalMs: POLL_INTERVAL_MS, clock, uninterruptible: undoing,
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

async function settle({ checks, boundSec }: NonNullable<RunStep['settle']>, clock: Clock, undoing: boolean): Promise<void> {
  let pending: Check | undefined;
  const settled = await poll({
    boundSec, intervalMs: SETTLE_INTERVAL_MS, clock, uninterruptible: undoing,
    ask: async () => {
      for (const check of checks) {
        pending = check;
        const answer = await run(check.argv, { mayFail: 'an answer either way', noInput: true, timeoutMs: QUESTION_TIMEOUT_MS, uninterruptible: undoing });
        if (check.until === 'fails' ? answer.exitCode === 0 : answer.stdout.includes(check.until.lacks)) return undefined;
      }
      return true;
    },
    onWait: () => log.info(`waiting until ${awaited(checks)} (up to ${boundSec} s)`),
  });
  if (!settled) {
    throw new UserError(`${pending!.still} after ${boundSec} s: the old host agent has not stopped`, `See ${checks.map((c) => `\`${formatArgv(c.argv)}\``).join(' and ')}; once it has stopped, run the command again.`);
  }
}

/**
 * The step that restores `file` as it is now: a symbolic link as the same link (dotfile managers make them;
 * writing through it would replace the link), a file with its bytes, mode and owner.
 */
async function save(file: string): Promise<Step | undefined> {
  const type = replaceable(file);
  if (type === 'none') return undefined;
  if (type === 'symlink') return { kind: 'symlink', path: file, target: await readlink(file) };
  const stat = await lstat(file);
  return { kind: 'write', path: file, content: readRegularFile(file), mode: stat.mode & 0o7777, owner: { uid: stat.uid, gid: stat.gid } };
}

/** What is at `file`, refused when it is not ours to replace: a directory, a FIFO, a device. */
export function replaceable(file: string): 'none' | 'file' | 'symlink' {
  const type = fileType(file);
  if (type === 'none' || type === 'file' || type === 'symlink') return type;
  throw new UserError(`${file} is ${describeType(type)}, not a file`, 'Move it away (or remove it if it is not needed), then run the command again.');
}

/** Never writable by group or others, never set-id, whatever the mode asked for: others could rewrite what runs as its owner. */
const SAFE_MODE = 0o1755;

/** Makes the new file or link beside `file`, then renames it over `file`: a reader sees the old one or the new one. */
async function putInPlace(file: string, make: (temp: string) => Promise<void>): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await make(temp);
    await rename(temp, file);
  } catch (err) {
    // The cleanup never hides the error that caused it.
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}

async function writeNew(temp: string, { content, mode, owner }: Extract<Step, { kind: 'write' }>): Promise<void> {
  const handle = await open(temp, 'wx', mode & SAFE_MODE & 0o700);
  try {
    await handle.writeFile(content);
    await handle.sync();
    // A saved file goes back to its owner; only root can give a file away, and a file that is
    // not ours any more is a rollback that did not complete, said as such.
    if (owner && (owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.())) await handle.chown(owner.uid, owner.gid);
  } finally {
    await handle.close();
  }
  await chmod(temp, mode & SAFE_MODE); // open()'s mode is filtered by the umask
}
