import { readHost, validateInstanceName } from '../host.js';
import { backendFor } from '../backends/index.js';
import { runPlan } from '../run-plan.js';
import * as log from '../log.js';

export async function disable({ instance, now, dryRun }: { instance: string; now: boolean; dryRun: boolean }): Promise<void> {
  validateInstanceName(instance);
  const host = readHost();
  const backend = await backendFor(host);
  const ran = await runPlan(host, backend, instance, dryRun, () => backend.planDisable({ instance, now }));
  // Not an error: the state the user asked for is already the state on disk.
  if (!ran) log.info(`instance "${instance}" is not registered for autostart; nothing to do`);
}
