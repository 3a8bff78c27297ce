import { existsSync } from 'node:fs';
import path from 'node:path';
import { readHost, validateInstanceName } from '../host.js';
import { backendFor } from '../backends/index.js';
import { followLog, printLog } from '../service-log.js';
import { UserError } from '../errors.js';
import * as log from '../log.js';

export interface LogsArgs {
  instance: string;
  lines: number;
  follow: boolean;
}

export async function logs(args: LogsArgs): Promise<void> {
  validateInstanceName(args.instance);
  const host = readHost();
  const source = (await backendFor(host)).logs(args.instance, args.lines, args.follow);
  if (!source.registered && !existsSync(path.join(host.limaHome, args.instance, 'lima.yaml'))) {
    throw new UserError(
      `no instance "${args.instance}" in ${host.limaHome}, and no autostart registration for it`,
      'Run `limactl list` to see your instances, or `limactl-autostart status` for all of them.',
    );
  }
  for (const note of source.notes) log.warn(note);
  if (!args.follow) {
    await printLog(source, args.lines);
    return;
  }
  for (const file of source.files.filter((f) => !existsSync(f))) log.info(`${file} does not exist yet: it is followed once it appears`);
  await followLog(source, args.lines);
}
