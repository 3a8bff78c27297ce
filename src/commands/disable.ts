import { readHost } from '../host.js';
import { validateInstanceName } from '../instance.js';
import { backendFor } from '../backends/index.js';
import { execute } from './execute.js';
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
  await execute(
    host,
    args.instance,
    args.dryRun,
    () => backend.planDisable({ instanceName: args.instance, now: args.now }),
    // Not an error: the state the user asked for is already the state on disk.
    () => log.info(`instance "${args.instance}" is not registered for autostart; nothing to do`),
  );
}
