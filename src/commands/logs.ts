import { existsSync } from 'node:fs';
import { hasInstance, readHost, validateInstanceName } from '../host.js';
import { backendFor } from '../backends/index.js';
import { followLog, printLog } from '../service-log.js';
import { UserError } from '../errors.js';
import * as log from '../log.js';

export async function logs({ instance, lines, follow }: { instance: string; lines: number; follow: boolean }): Promise<void> {
  validateInstanceName(instance);
  const host = readHost();
  const source = (await backendFor(host)).logs(instance, lines, follow);
  if (!source.registered && !hasInstance(host, instance)) {
    throw new UserError(
      `no instance "${instance}" in ${host.limaHome}, and no autostart registration for it`,
      'Run `limactl list` to see your instances, or `limactl-autostart status` for all of them.',
    );
  }
  for (const note of source.notes) log.warn(note);
  if (follow) {
    for (const file of source.files.filter((f) => !existsSync(f))) log.info(`${file} does not exist yet: it is followed once it appears`);
    await followLog(source, lines);
  } else {
    await printLog(source, lines);
  }
}
