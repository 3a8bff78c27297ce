import { setTimeout as sleep } from 'node:timers/promises';
import { interrupt } from './signals.js';

/**
 * The clock of every wait. LIMA_AUTOSTART_FAKE_CLOCK=1 (tests) makes time pass only in pauses:
 * each returns at once and moves the clock on by its length, so a wait's outcome depends on what
 * the stand-ins answer, never on the machine's speed.
 */
export interface Clock {
  now(): number;
  /** Ended by a signal unless `uninterruptible` (a rollback must finish). */
  pause(ms: number, uninterruptible?: boolean): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  pause: (ms, uninterruptible) => sleep(ms, undefined, uninterruptible ? {} : { signal: interrupt }).catch((err: unknown) => {
    throw interrupt.aborted ? interrupt.reason : err;
  }),
};

let fake = 0;
const fakeClock: Clock = {
  now: () => fake,
  pause: async (ms, uninterruptible) => {
    if (interrupt.aborted && !uninterruptible) throw interrupt.reason;
    fake += ms;
  },
};

export function clockFrom(env: NodeJS.ProcessEnv): Clock {
  return env.LIMA_AUTOSTART_FAKE_CLOCK === '1' ? fakeClock : realClock;
}

export interface Poll<T> {
  boundSec: number;
  intervalMs: number;
  clock: Clock;
  ask: () => Promise<T | undefined>;
  /** Called once, after the first answer that was not yet the awaited one. */
  onWait?: () => void;
  uninterruptible?: boolean;
}

/** The one bounded poll: the awaited answer, or undefined once `boundSec` has passed without it. */
export async function poll<T>({ boundSec, intervalMs, clock, ask, onWait, uninterruptible }: Poll<T>): Promise<T | undefined> {
  const deadline = clock.now() + boundSec * 1000;
  for (let first = true; ; first = false) {
    const answer = await ask();
    if (answer !== undefined) return answer;
    if (clock.now() >= deadline) return undefined;
    if (first) onWait?.();
    await clock.pause(intervalMs, uninterruptible);
  }
}
