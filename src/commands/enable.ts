import { readHost } from '../host.js';
import { findInstance, findLimactl, validateInstanceName } from '../instance.js';
import { backendFor, type Condition } from '../backends/backend.js';
import { execute } from './execute.js';

export interface EnableArgs {
  instance: string;
  condition: Condition;
  keepAlive: boolean;
  user: string | undefined;
  now: boolean;
  dryRun: boolean;
}

export async function enable(args: EnableArgs): Promise<void> {
  validateInstanceName(args.instance);
  const host = readHost();
  const instance = findInstance(host, args.instance);
  const limactl = findLimactl(host);
  const backend = await backendFor(host);
  await execute(host, instance.name, args.dryRun, () => backend.planEnable({
    instance,
    condition: args.condition,
    keepAlive: args.keepAlive,
    user: args.user,
    now: args.now,
    limactl,
  }));
}
