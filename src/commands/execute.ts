import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Host } from '../host.js';
import { applyPlan, formatPlan, Interrupted, onInterrupt, SIGNAL_EXIT } from '../plan.js';
import { pollingFrom } from '../settle.js';
import type { Plan } from '../model.js';
import { acquireLock, type Lock } from '../lock.js';
import * as log from '../log.js';
import { UserError } from '../errors.js';

/**
 * Plans and then prints (--dry-run) or applies the plan; warnings come first either way.
 * A real run holds the instance's lock from planning to the end of apply: the plan is made
 * from what is on disk, and another run must not change that in between.
 */
export async function execute(host: Host, instance: string, dryRun: boolean, makePlan: () => Promise<Plan>, onEmpty?: () => void): Promise<void> {
  // SIGINT (Ctrl-C, at a sudo prompt too), SIGTERM, SIGHUP: before the plan runs, nothing was
  // changed and the run ends at once (its lock is released on exit); while it runs, the plan
  // stops and is rolled back, and the run ends with 128 + the signal number.
  const interrupt = new AbortController();
  let applying = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupt.signal.aborted) return;
    if (!applying) process.exit(SIGNAL_EXIT[signal]);
    log.warn(`${signal}: stopping and undoing what was done`);
    interrupt.abort(new Interrupted(signal));
  };
  const stopListening = onInterrupt(onSignal);
  const locks: Lock[] = [];
  try {
    if (!dryRun) {
      locks.push(await acquireLock(lockFile(host, instance), `instance "${instance}"`));
      if (host.platform === 'linux') locks.push(await acquireLock(lingeringLock(host), `lingering for ${host.user}`));
    }
    const plan = await makePlan();
    if (plan.steps.length === 0 && onEmpty) {
      onEmpty();
      return;
    }
    if (plan.cannotRun && !dryRun) throw new UserError(plan.cannotRun.message, `${plan.cannotRun.hint}\nNothing was changed.`);
    for (const warning of plan.warnings) log.warn(warning);
    if (plan.cannotRun) log.warn(`${plan.cannotRun.message}; the plan below would stop before its first step.\n  ${plan.cannotRun.hint.replace(/\n/g, '\n  ')}`);
    if (dryRun) {
      process.stdout.write(formatPlan(plan));
      return;
    }
    applying = true;
    await applyPlan(plan, { failStep: Number(host.env.LIMA_AUTOSTART_FAIL_STEP) || undefined, polling: pollingFrom(host.env), interrupt: interrupt.signal });
    for (const line of plan.done) log.info(line);
  } finally {
    for (const lock of locks.reverse()) lock.release();
    stopListening();
  }
}

/** In the instance's directory; an instance removed with `limactl delete` has none left. */
function lockFile(host: Host, instance: string): string {
  const dir = path.join(host.limaHome, instance);
  return existsSync(dir) ? path.join(dir, 'autostart.lock') : path.join(host.xdgStateHome, 'limactl-autostart', `${instance}.lock`);
}

/**
 * Lingering belongs to the user, not to one instance: whether to turn it on or off is decided
 * from every unit on disk, so runs on different instances take this lock too (after their
 * instance's), and one run's decision cannot be undone by another's made from the same disk.
 * Here, beside the instance's lock, so that a command on macOS does not load the systemd backend.
 */
function lingeringLock(host: Host): string {
  return path.join(host.xdgStateHome, 'limactl-autostart', 'lingering.lock');
}
