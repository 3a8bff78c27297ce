import { readHost, type Host } from '../host.js';
import { findInstance, findLimactl, validateInstanceName } from '../instance.js';
import { backendFor } from '../backends/index.js';
import type { Condition } from '../model.js';
import { checkLimactl } from '../limactl.js';
import { execute } from './execute.js';
import { Interrupted, SIGNAL_EXIT } from '../plan.js';
import { pollingFrom } from '../settle.js';
import { waitUntilRunning } from '../wait.js';
import * as log from '../log.js';

export interface EnableArgs {
  instance: string;
  condition: Condition;
  keepAlive: boolean;
  user: string | undefined;
  now: boolean;
  /** --wait: seconds to wait for Lima to report the instance Running after --now started it. */
  wait: number | undefined;
  dryRun: boolean;
}

export async function enable(args: EnableArgs): Promise<void> {
  validateInstanceName(args.instance);
  const host = readHost();
  const instance = findInstance(host, args.instance);
  const limactl = findLimactl(host);
  // The limactl the service will run is the one whose version matters. It is asked while the
  // plan is made (which asks the service manager too), and what it says comes before the plan's
  // warnings, or before the error if there is one.
  const versionChecked = checkLimactl(limactl);
  try {
    const backend = await backendFor(host);
    await execute(host, instance.name, args.dryRun, async () => {
      const plan = await backend.planEnable({
        instance,
        condition: args.condition,
        keepAlive: args.keepAlive,
        user: args.user,
        now: args.now,
        limactl,
      });
      await versionChecked;
      return plan;
    });
  } finally {
    await versionChecked;
  }
  if (!args.now && !args.dryRun) log.info('nothing was started or stopped; add --now to start it now');
  if (args.wait === undefined) return;
  if (args.dryRun) {
    log.info('--wait: a dry run starts nothing, so there is nothing to wait for');
    return;
  }
  await waitAfterStart(host, instance.name, limactl, args.wait);
}

/**
 * The wait comes after the plan, outside its lock and its rollback: the registration and the start
 * are done and stay, whatever the instance then does. A signal ends the wait alone (with 128 + its
 * number), and the service manager goes on starting the instance.
 */
async function waitAfterStart(host: Host, name: string, limactl: string, timeoutSec: number): Promise<void> {
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => interrupt.abort(new Interrupted(signal));
  const signals = Object.keys(SIGNAL_EXIT) as NodeJS.Signals[];
  for (const signal of signals) process.on(signal, onSignal);
  try {
    await waitUntilRunning(host, name, limactl, timeoutSec, { ...pollingFrom(host.env), interrupt: interrupt.signal });
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    log.warn(`${err.signal}: stopped waiting; "${name}" stays registered and its service keeps starting it (see \`limactl-autostart status ${name}\`)`);
    process.exitCode = SIGNAL_EXIT[err.signal];
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
  }
}
