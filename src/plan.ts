import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { formatArgv, shellQuote } from './errors.js';
import { run } from './exec.js';

/**
 * A plan is plain data: `--dry-run` prints it, tests assert on it, apply executes it.
 * Nothing outside apply() writes service files or runs service-manager commands.
 */
export type Step =
  | { kind: 'mkdir'; path: string }
  /** Written atomically (temporary file in the same directory, then rename). `temporary`
   *  files are staging copies for a privileged install and are removed when apply ends. */
  | { kind: 'write'; path: string; content: string; mode: number; temporary?: boolean }
  | { kind: 'remove'; path: string }
  | { kind: 'run'; argv: string[]; env?: Record<string, string>; mayFail?: string; hint?: string };

export interface Plan {
  /** One line, e.g. `enable "default" at login (launchd, keep-alive true)`. */
  summary: string;
  steps: Step[];
  /** Said on stderr before the plan runs (or is printed): what the user should know. */
  warnings: string[];
  /** Said on stderr after the plan ran. */
  done: string[];
}

export function formatPlan(plan: Plan): string {
  const lines = [`# ${plan.summary}`, '# dry run: nothing below was done'];
  for (const step of plan.steps) lines.push(...formatStep(step));
  return `${lines.join('\n')}\n`;
}

export function formatStep(step: Step): string[] {
  switch (step.kind) {
    case 'mkdir':
      return [`mkdir -p ${shellQuote(step.path)}`];
    case 'remove':
      return [`rm -f ${shellQuote(step.path)}`];
    case 'run': {
      const env = Object.entries(step.env ?? {}).map(([k, v]) => `${k}=${shellQuote(v)} `).join('');
      const note = step.mayFail ? `  # may fail: ${step.mayFail}` : '';
      return [`${env}${formatArgv(step.argv)}${note}`];
    }
    case 'write': {
      const mode = step.mode.toString(8).padStart(4, '0');
      const what = step.temporary ? ' (staging copy, removed afterwards)' : '';
      const body = step.content.endsWith('\n') ? step.content : `${step.content}\n`;
      return [`write ${shellQuote(step.path)} mode ${mode}${what} <<'EOF'`, ...body.slice(0, -1).split('\n'), 'EOF'];
    }
  }
}

export async function applyPlan(plan: Plan): Promise<void> {
  const staged: string[] = [];
  try {
    for (const step of plan.steps) {
      if (step.kind === 'write' && step.temporary) staged.push(step.path);
      await applyStep(step);
    }
  } finally {
    await Promise.all(staged.map((p) => rm(p, { force: true })));
  }
}

async function applyStep(step: Step): Promise<void> {
  switch (step.kind) {
    case 'mkdir':
      await mkdir(step.path, { recursive: true });
      return;
    case 'remove':
      await rm(step.path, { force: true });
      return;
    case 'run':
      await run(step.argv, { env: step.env, mayFail: step.mayFail, hint: step.hint });
      return;
    case 'write':
      await writeAtomically(step.path, step.content, step.mode, step.temporary ?? false);
      return;
  }
}

async function writeAtomically(file: string, content: string, mode: number, exclusive: boolean): Promise<void> {
  if (exclusive) {
    // A staging copy in a shared temporary directory: refuse to follow anything already there.
    const handle = await open(file, 'wx', mode);
    try { await handle.writeFile(content); } finally { await handle.close(); }
    return;
  }
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await chmod(temp, mode); // open()'s mode is filtered by the umask
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
