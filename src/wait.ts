import { setTimeout as sleep } from 'node:timers/promises';
import type { Host } from './host.js';
import { listInstances } from './lima.js';
import { pollingFrom, triesFor, type Polling } from './settle.js';
import { Interrupted, onInterrupt, SIGNAL_EXIT } from './plan.js';
import { recentLog, serviceLog } from './service-log.js';
import { UserError } from './errors.js';
import { WAIT_LOG_LINES, WAIT_PROGRESS_MS } from './tunables.js';
import * as log from './log.js';

/**
 * The wait comes after the plan, outside its lock and its rollback: the registration and the start
 * are done and stay, whatever the instance then does. A signal ends the wait alone (with 128 + its
 * number), and the service manager goes on starting the instance.
 */
export async function waitAfterStart(host: Host, name: string, limactl: string, timeoutSec: number): Promise<void> {
  const interrupt = new AbortController();
  const stopListening = onInterrupt((signal) => interrupt.abort(new Interrupted(signal)));
  try {
    await waitUntilRunning(host, name, limactl, timeoutSec, { ...pollingFrom(host.env), interrupt: interrupt.signal });
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    log.warn(`${err.signal}: stopped waiting; "${name}" stays registered and its service keeps starting it (see \`limactl-autostart status ${name}\`)`);
    process.exitCode = SIGNAL_EXIT[err.signal];
  } finally {
    stopListening();
  }
}

/**
 * `enable --now --wait`: asks Lima (`limactl list --json INSTANCE`) until it says the instance is
 * Running (returns), Broken, or the time is up (throws, with the last lines of the service's log).
 * The bound counts polls, as the waits of src/settle.ts do, so that a test can make it exact; the
 * seconds shown are the clock's. An interrupt ends the wait with its reason.
 */
async function waitUntilRunning(host: Host, instance: string, limactl: string, timeoutSec: number, polling: Polling): Promise<void> {
  const start = Date.now();
  const seconds = (): number => Math.round((Date.now() - start) / 1000);
  log.info(`waiting up to ${timeoutSec} s for Lima to report "${instance}" Running`);
  const progress = new Progress(instance);
  let failed: string | undefined;
  try {
    failed = await poll(instance, limactl, triesFor(timeoutSec, polling), polling, (said) => progress.show(said, seconds()));
  } finally {
    progress.end();
  }
  if (failed === undefined) {
    log.info(`"${instance}" is Running (after ${seconds()} s)`);
    return;
  }
  throw new UserError(`${failed} (after ${seconds()} s)`, await failureHint(host, instance));
}

/** Polls until Running (undefined) or Broken or the last try (what went wrong). */
async function poll(instance: string, limactl: string, tries: number, polling: Polling, show: (said: string) => void): Promise<string | undefined> {
  for (let i = 1; ; i++) {
    const lima = await listInstances(limactl, [instance], polling.interrupt);
    if (polling.interrupt?.aborted) throw polling.interrupt.reason;
    const status = lima.answered ? lima.instances.get(instance)?.status : undefined;
    const said = !lima.answered ? `no answer from Lima (${lima.reason})` : status === undefined ? 'Lima does not list it' : `Lima says ${status}`;
    show(said);
    if (status === 'Running') return undefined;
    if (status === 'Broken') return `Lima says "${instance}" is Broken`;
    if (i >= tries) return `"${instance}" is not Running in time: ${said}`;
    try {
      await sleep(polling.intervalMs, undefined, { signal: polling.interrupt });
    } catch (err) {
      throw polling.interrupt?.aborted ? polling.interrupt.reason : err;
    }
  }
}

/** What the service logged last, and where to go from there: the registration is in place either way. */
async function failureHint(host: Host, instance: string): Promise<string> {
  const text = await recentLog(await serviceLog(host, instance), WAIT_LOG_LINES);
  return [
    `The last ${WAIT_LOG_LINES} lines of its log (\`limactl-autostart logs ${instance}\` shows more):`,
    text.trimEnd() || '(empty)',
    `The registration is in place, and its service manager goes on with it. \`limactl-autostart status ${instance}\` names common causes and their fixes.`,
  ].join('\n');
}

/**
 * The progress of the wait on stderr: on a terminal one line, written over at each poll; else a
 * line when Lima's answer changes, and every few seconds while it does not.
 */
class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private lastSaid: string | undefined;
  private lastAt = 0;
  private written = false;

  constructor(private readonly instance: string) {}

  show(said: string, seconds: number): void {
    const line = `waiting for "${this.instance}": ${said} (${seconds} s)`;
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${line}`);
      this.written = true;
      return;
    }
    if (said === this.lastSaid && Date.now() - this.lastAt < WAIT_PROGRESS_MS) return;
    this.lastSaid = said;
    this.lastAt = Date.now();
    log.info(line);
  }

  /** Ends the terminal's line, so that what follows starts on a line of its own. */
  end(): void {
    if (this.written) process.stderr.write('\n');
    this.written = false;
  }
}
