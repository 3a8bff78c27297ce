import { enable } from './enable.js';
import { disable } from './disable.js';
import * as log from '../log.js';

export interface StartAtLoginArgs {
  instance: string;
  enabled: boolean;
}

/**
 * Lima's deprecated `limactl start-at-login [INSTANCE] [--enabled[=BOOL]]`, done by the commands
 * that replace it: `--enabled` (Lima's default) registers at login, with keep-alive on (the
 * default of `enable`); `--enabled=false` removes the registration. Like Lima's, it neither
 * starts nor stops the instance.
 */
export async function startAtLogin(args: StartAtLoginArgs): Promise<void> {
  const replacement = args.enabled ? `enable ${args.instance} --condition=login` : `disable ${args.instance}`;
  // The spelling that works with every Lima: from 2.2 on, `limactl autostart` is Lima's own command.
  log.warn(`start-at-login is deprecated: use \`limactl-autostart ${replacement}\` instead`);
  if (args.enabled) {
    await enable({ instance: args.instance, condition: 'login', keepAlive: true, user: undefined, now: false, wait: undefined, dryRun: false });
  } else {
    await disable({ instance: args.instance, now: false, dryRun: false });
  }
}
