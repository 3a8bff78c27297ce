import { enable } from './enable.js';
import { disable } from './disable.js';
import * as log from '../log.js';

/**
 * Lima's deprecated `limactl start-at-login [INSTANCE] [--enabled[=BOOL]]`, done by the commands that replace it: at login
 * with keep-alive on, or (--enabled=false) no registration. Like Lima's, it neither starts nor stops the instance.
 */
export async function startAtLogin({ instance, enabled }: { instance: string; enabled: boolean }): Promise<void> {
  const replacement = enabled ? `enable ${instance} --condition=login` : `disable ${instance}`;
  // The spelling that works with every Lima: from 2.2 on, `limactl autostart` is Lima's own command.
  log.warn(`start-at-login is deprecated: use \`limactl-autostart ${replacement}\` instead`);
  if (enabled) await enable({ instance, condition: 'login', keepAlive: true, user: undefined, now: false, wait: undefined, dryRun: false });
  else await disable({ instance, now: false, dryRun: false });
}
