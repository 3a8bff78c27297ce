import { readHost, validateInstanceName } from '../host.js';
import { backendFor } from '../backends/index.js';
import { runPlan } from '../run-plan.js';
import * as log from '../log.js';

export interface DisableArgs {
  instance: string;
  now: boolean;
  dryRun: boolean;
}

export async function disable(args: DisableArgs): Promise<void> {
  validateInstanceName(args.instance);
  const host = readHost();
  const backend = await backendFor(host);
  const ran = await runPlan(host, backend, args.instance, args.dryRun, () => backend.planDisable({ instance: args.instance, now: args.now }));
  // Not an error: the state the user asked for is already the state on disk.
  if (!ran) log.info(`instance "${args.instance}" is not registered for autostart; nothing to do`);
}
