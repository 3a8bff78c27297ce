import { setTimeout as sleep } from 'node:timers/promises';
import { run, type RunResult } from './exec.js';
import { listInstances } from './lima.js';
import type { RunStep, Settle } from './model.js';
import { BOOTSTRAP_RETRY_SEC, POLL_INTERVAL_MS, SETTLE_TIMEOUT_SEC } from './tunables.js';
import { CommandError, UserError, formatArgv } from './errors.js';
import * as log from './log.js';

// launchctl(1): `bootout` may return before launchd has finished tearing the job down, and a
// `bootstrap` meanwhile fails with 37 (EALREADY, "Operation already in progress") and then 5.
// A new job started while the old host agent still shuts the VM down finds the instance Running,
// and Lima's `limactl start` then exits 0 ("already running", cmd/limactl/start.go): launchd
// counts that as a successful exit and, with KeepAlive {SuccessfulExit=false}, never retries.
// Both waits count tries rather than read a clock, so that a test seam can make them short and
// exact: a test asserts an outcome, never a timing margin.

/** How often and how many times a wait asks again. */
export interface Polling {
  intervalMs: number;
  /** Overrides the number of tries each bound gives (test seam). */
  tries?: number;
  /** SIGINT, SIGTERM or SIGHUP: ends the command being run and the wait. */
  interrupt?: AbortSignal;
}

/**
 * Test seams: LIMA_AUTOSTART_POLL_MS (the interval) and LIMA_AUTOSTART_POLL_TRIES (the number of
 * tries of every wait, instead of the bound divided by the interval).
 */
export function pollingFrom(env: NodeJS.ProcessEnv): Polling {
  const ms = Number(env.LIMA_AUTOSTART_POLL_MS);
  const tries = Number(env.LIMA_AUTOSTART_POLL_TRIES);
  return {
    intervalMs: env.LIMA_AUTOSTART_POLL_MS !== undefined && Number.isInteger(ms) && ms >= 0 ? ms : POLL_INTERVAL_MS,
    ...(Number.isInteger(tries) && tries > 0 ? { tries } : {}),
  };
}

/** How many tries a wait of `boundSec` gives: the bound divided by the interval, or the test seam's count. */
export function triesFor(boundSec: number, polling: Polling): number {
  return polling.tries ?? Math.max(1, Math.ceil((boundSec * 1000) / Math.max(1, polling.intervalMs)));
}

/** Runs a command, trying it again while it fails with one of `step.retryOn`; throws as run() does once it gives up. */
export async function runRetrying(step: RunStep, polling: Polling): Promise<RunResult> {
  const tries = triesFor(BOOTSTRAP_RETRY_SEC, polling);
  for (let i = 1; ; i++) {
    const result = await run(step.argv, { env: step.env, mayFail: 'tried again or reported below', hint: step.hint, cancelSignal: polling.interrupt });
    const busy = result.exitCode !== undefined && step.retryOn!.includes(result.exitCode);
    if (!busy || i >= tries) {
      if (result.exitCode === 0 || step.mayFail) return result;
      const gaveUp = busy ? `Tried ${tries} times over about ${Math.round((tries * polling.intervalMs) / 1000)} s: launchd still answered ${result.exitCode}.` : undefined;
      throw new CommandError(step.argv, result.exitCode, result.stderr, [gaveUp, step.hint].filter(Boolean).join('\n') || undefined);
    }
    if (i === 1) log.info(`\`${formatArgv(step.argv)}\` answered ${result.exitCode}: launchd may still be unloading a job; trying again for up to ${BOOTSTRAP_RETRY_SEC} s`);
    await sleep(polling.intervalMs, undefined, { signal: polling.interrupt });
  }
}

/** Waits until launchd no longer knows the job and Lima no longer reports the instance Running. */
export async function waitUntilStopped(settle: Settle, polling: Polling): Promise<void> {
  const tries = triesFor(SETTLE_TIMEOUT_SEC, polling);
  let limaSilent = false;
  for (let i = 1; ; i++) {
    // launchctl print exits 113 for a job launchd does not know; any failure means the same here.
    const known = (await run(['launchctl', 'print', settle.target], { mayFail: 'a job that is gone is the answer awaited', noInput: true, cancelSignal: polling.interrupt })).exitCode === 0;
    let running = false;
    if (!known) {
      const lima = await listInstances(settle.limactl, [settle.instance], polling.interrupt);
      if (lima.answered) running = lima.instances.get(settle.instance)?.status === 'Running';
      else if (!limaSilent) {
        limaSilent = true;
        log.warn(`${lima.reason}; going on with launchd's answer alone`);
      }
    }
    if (!known && !running) return;
    if (i >= tries) {
      const what = known ? `launchd still knows ${settle.target}` : `Lima still reports "${settle.instance}" Running`;
      throw new UserError(
        `${what} after ${tries} tries over about ${Math.round((tries * polling.intervalMs) / 1000)} s: the old host agent has not stopped`,
        `See \`limactl list ${settle.instance}\` and \`launchctl print ${settle.target}\`; once the instance is stopped, run the command again.`,
      );
    }
    if (i === 1) log.info(`waiting until launchd has unloaded ${settle.target} and "${settle.instance}" has stopped (up to ${SETTLE_TIMEOUT_SEC} s)`);
    await sleep(polling.intervalMs, undefined, { signal: polling.interrupt });
  }
}
