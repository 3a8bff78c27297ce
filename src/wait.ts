import type { Backend } from './model.js';
import type { Host } from './host.js';
import { listInstances } from './lima.js';
import { clockFrom, poll } from './poll.js';
import { Interrupted } from './signals.js';
import { recentLog } from './service-log.js';
import { excerpt, UserError } from './errors.js';
import { POLL_INTERVAL_MS, WAIT_LOG_LINES, WAIT_PROGRESS_MS } from './tunables.js';
import * as log from './log.js';

/**
 * `enable --now --wait`: until Lima says Running (returns), Broken or the time is up (throws, with
 * the service's log). After the plan, outside its lock and rollback: the registration and the start
 * stay, whatever the instance does. A signal ends the wait alone (exit 128 + its number).
 */
export async function waitAfterStart(host: Host, backend: Backend, instance: string, limactl: string, timeoutSec: number): Promise<void> {
  const clock = clockFrom(host.env);
  const start = clock.now();
  const seconds = (): number => Math.round((clock.now() - start) / 1000);
  log.info(`waiting up to ${timeoutSec} s for Lima to report "${instance}" Running`);
  const progress = progressLine(instance);
  let said = '';
  let outcome: 'Running' | 'Broken' | undefined;
  try {
    outcome = await poll({
      boundSec: timeoutSec,
      intervalMs: POLL_INTERVAL_MS,
      clock,
      ask: async () => {
        const lima = await listInstances(limactl, [instance]);
        const status = lima.answered ? lima.instances.get(instance)?.status : undefined;
        said = !lima.answered ? `no answer from Lima (${lima.reason})` : status === undefined ? 'Lima does not list it' : `Lima says ${excerpt(status, 40)}`;
        progress.show(said, seconds());
        return status === 'Running' || status === 'Broken' ? status : undefined;
      },
    });
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    progress.end();
    log.warn(`${err.signal}: stopped waiting; "${instance}" stays registered and its service keeps starting it (see \`limactl-autostart status ${instance}\`)`);
    process.exitCode = err.exitCode;
    return;
  }
  progress.end();
  if (outcome === 'Running') {
    log.info(`"${instance}" is Running (after ${seconds()} s)`);
    return;
  }
  const failed = outcome === 'Broken' ? `Lima says "${instance}" is Broken` : `"${instance}" is not Running in time: ${said}`;
  const text = await recentLog(backend.logs(instance, WAIT_LOG_LINES, false), WAIT_LOG_LINES);
  throw new UserError(`${failed} (after ${seconds()} s)`, [
    `The last ${WAIT_LOG_LINES} lines of its log (\`limactl-autostart logs ${instance}\` shows more):`,
    text.trimEnd() || '(empty)',
    `The registration is in place, and its service manager goes on with it. \`limactl-autostart status ${instance}\` names common causes and their fixes.`,
  ].join('\n'));
}

/** On a terminal one line, written over at each poll; else a line when Lima's answer changes, and every few seconds while it does not. */
function progressLine(instance: string): { show(said: string, seconds: number): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let lastSaid: string | undefined;
  let lastAt = 0;
  let written = false;
  return {
    show(said, seconds) {
      const line = `waiting for "${instance}": ${said} (${seconds} s)`;
      if (tty) {
        process.stderr.write(`\r\x1b[K${log.printable(line)}`);
        written = true;
      } else if (said !== lastSaid || Date.now() - lastAt >= WAIT_PROGRESS_MS) {
        lastSaid = said;
        lastAt = Date.now();
        log.info(line);
      }
    },
    // Ends the terminal's line, so that what follows starts on a line of its own.
    end() {
      if (written) process.stderr.write('\n');
    },
  };
}
