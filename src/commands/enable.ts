import { readHost } from '../host.js';
import { findInstance, findLimactl, validateInstanceName } from '../instance.js';
import { backendFor } from '../backends/index.js';
import type { Condition } from '../model.js';
import { checkLimactl } from '../limactl.js';
import { execute } from './execute.js';
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
  // Loaded only here: every other enable does without it.
  const { waitAfterStart } = await import('../wait.js');
  await waitAfterStart(host, instance.name, limactl, args.wait);
}
