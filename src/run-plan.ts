import type { Backend, Plan } from './model.js';
import type { Host } from './host.js';
import { applyPlan, formatPlan } from './plan.js';
import { clockFrom } from './poll.js';
import { acquireLock, type Lock } from './lock.js';
import { UserError } from './errors.js';
import * as log from './log.js';

/**
 * A real run holds the backend's locks from planning to the end of apply: the plan is made from what
 * is on disk, and another run must not change that in between. False when the plan had no step: nothing was said.
 */
export async function runPlan(host: Host, backend: Backend, instance: string, dryRun: boolean, makePlan: () => Promise<Plan>): Promise<boolean> {
  const locks: Lock[] = [];
  try {
    if (!dryRun) for (const { file, what } of backend.locks(instance)) locks.push(await acquireLock(file, what));
    const plan = await makePlan();
    if (plan.steps.length === 0) return false;
    if (plan.cannotRun && !dryRun) throw new UserError(plan.cannotRun.message, `${plan.cannotRun.hint}\nNothing was changed.`);
    for (const warning of plan.warnings) log.warn(warning);
    if (plan.cannotRun) log.warn(`${plan.cannotRun.message}; the plan below would stop before its first step.\n  ${plan.cannotRun.hint.replace(/\n/g, '\n  ')}`);
    if (dryRun) {
      process.stdout.write(formatPlan(plan));
      return true;
    }
    await applyPlan(plan, clockFrom(host.env), Number(host.env.LIMA_AUTOSTART_FAIL_STEP) || undefined);
    for (const line of plan.done) log.info(line);
    return true;
  } finally {
    for (const lock of locks.reverse()) lock.release();
  }
}
