import { applyPlan, formatPlan, type Plan } from '../plan.js';
import * as log from '../log.js';
import { writeStdout } from '../stdout.js';

/** Prints a plan (--dry-run) or applies it; warnings come first either way. */
export async function execute(plan: Plan, dryRun: boolean): Promise<void> {
  for (const warning of plan.warnings) log.warn(warning);
  if (dryRun) {
    writeStdout(formatPlan(plan));
    return;
  }
  await applyPlan(plan);
  for (const line of plan.done) log.info(line);
}
