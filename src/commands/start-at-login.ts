import { enable } from './enable.js';
import { disable } from './disable.js';
import * as log from '../log.js';

export interface StartAtLoginArgs {
  instance: string;
  enabled: boolean;
}

export const START_AT_LOGIN_HELP = `limactl-start-at-login [INSTANCE] [--enabled[=true|false]]

Deprecated: Lima's \`limactl start-at-login\`, kept for scripts that still call it.
Use \`limactl-autostart enable INSTANCE --condition=login\` instead
(and \`limactl-autostart disable INSTANCE\` for --enabled=false).

  INSTANCE   Lima instance name [default: "default"]
  --enabled  Register INSTANCE to start at login, with keep-alive on; --enabled=false
             removes its registration [default: true]. Neither starts nor stops it.
`;

/**
 * Lima's deprecated `limactl start-at-login [INSTANCE] [--enabled[=BOOL]]`, done by the commands
 * that replace it: `--enabled` (Lima's default) registers at login, with keep-alive on (the
 * default of `enable`); `--enabled=false` removes the registration. Like Lima's, it neither
 * starts nor stops the instance.
 */
export async function startAtLogin(args: StartAtLoginArgs): Promise<void> {
  const replacement = args.enabled ? `enable ${args.instance} --condition=login` : `disable ${args.instance}`;
  log.warn(`start-at-login is deprecated: use \`limactl autostart ${replacement}\` instead (\`limactl-autostart ${replacement}\` on Lima 2.2 and later)`);
  if (args.enabled) {
    await enable({ instance: args.instance, condition: 'login', keepAlive: true, user: undefined, now: false, wait: undefined, dryRun: false });
  } else {
    await disable({ instance: args.instance, now: false, dryRun: false });
  }
}
