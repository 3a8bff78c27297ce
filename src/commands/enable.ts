import { findInstance, findLimactl, readHost, validateInstanceName } from '../host.js';
import { backendFor } from '../backends/index.js';
import type { EnableRequest } from '../model.js';
import { checkLimactl } from '../lima.js';
import { runPlan } from '../run-plan.js';
import * as log from '../log.js';

/** `wait` (--wait): seconds to wait for Lima to report the instance Running after --now started it. */
export type EnableArgs = Omit<EnableRequest, 'instance' | 'limactl'> & { instance: string; wait: number | undefined; dryRun: boolean };

export async function enable({ instance: name, condition, keepAlive, user, now, wait, dryRun }: EnableArgs): Promise<void> {
  validateInstanceName(name);
  const host = readHost();
  const instance = findInstance(host, name);
  const limactl = findLimactl(host);
  // The limactl the service will run is the one whose version matters; what it says comes first.
  await checkLimactl(limactl);
  const backend = await backendFor(host);
  await runPlan(host, backend, name, dryRun, () => backend.planEnable({ instance, condition, keepAlive, user, now, limactl }));
  if (!now && !dryRun) log.info('nothing was started or stopped; add --now to start it now');
  if (wait === undefined) return;
  if (dryRun) {
    log.info('--wait: a dry run starts nothing, so there is nothing to wait for');
  } else {
    // Loaded only here: every other enable does without it.
    const { waitAfterStart } = await import('../wait.js');
    await waitAfterStart(host, backend, name, limactl, wait);
  }
}
