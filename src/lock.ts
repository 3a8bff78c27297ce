import { lstatSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from './errors.js';
import * as log from './log.js';

/** How long a run waits for another one on the same instance: long enough for a sudo prompt. */
const WAIT_MS = 180_000;
const POLL_MS = 25;
/** The takeover guard is held for a few file operations only, and a lock file is empty only
 *  between open() and write(): older than this, their owner died. */
const GUARD_STALE_MS = 10_000;

interface Holder {
  pid: number;
  host: string;
}

export interface Lock {
  release(): void;
}

/**
 * Serializes enable/disable runs on one instance: a lock file created with O_EXCL holding the
 * owner's pid and host name. A lock whose process is gone (killed, crashed, power loss) is taken
 * over; a lock held by a live process, or by another host (a LIMA_HOME on a network share), is
 * waited for.
 */
/** Locks this process holds: released however it exits (process.exit on a signal included). */
const held = new Set<() => void>();
process.on('exit', () => { for (const release of held) release(); });

export async function acquireLock(file: string, what: string, waitMs = WAIT_MS): Promise<Lock> {
  mkdirSync(path.dirname(file), { recursive: true });
  const me = thisProcess();
  const deadline = Date.now() + waitMs;
  let told = false;
  for (;;) {
    if (tryCreate(file, me)) {
      const release = (): void => {
        held.delete(release);
        releaseIfOurs(file, me);
      };
      held.add(release);
      return { release };
    }
    const holder = readHolder(file);
    if (holder && isStale(file, holder, me)) {
      takeOver(file, holder);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new UserError(
        `another limactl-autostart run holds the lock on ${what}${holder ? ` (pid ${holder.pid} on ${holder.host})` : ''}`,
        `Wait for it to finish and try again. If no such run exists, remove ${file}.`,
      );
    }
    if (!told && holder) {
      log.info(`waiting for another limactl-autostart run on ${what} (pid ${holder.pid}) to finish`);
      told = true;
    }
    await sleep(POLL_MS);
  }
}

function tryCreate(file: string, me: Holder): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, `${me.pid} ${me.host}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readHolder(file: string): Holder | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined; // released meanwhile
  }
  const m = /^(\d+) (\S+)\n$/.exec(text);
  // Empty or half-written: its owner is between open() and write(), or died there.
  return m ? { pid: Number(m[1]), host: m[2]! } : { pid: 0, host: '' };
}

function thisProcess(): Holder {
  return { pid: process.pid, host: os.hostname() };
}

function isStale(file: string, holder: Holder, self: Holder): boolean {
  if (holder.pid === 0) {
    // Half-written: its owner is about to write its pid, unless it died in between.
    try {
      return Date.now() - lstatSync(file).mtimeMs > GUARD_STALE_MS;
    } catch {
      return false;
    }
  }
  if (holder.host !== self.host) return false; // cannot see processes on another machine
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Removes a stale lock so the caller can create its own. Two runs may find the same stale lock:
 * the guard file lets only one of them look again and remove it, so that nobody removes a lock
 * that another run has just created.
 */
function takeOver(file: string, stale: Holder): void {
  const guard = `${file}.takeover`;
  if (!tryCreate(guard, thisProcess())) {
    try {
      if (Date.now() - lstatSync(guard).mtimeMs > GUARD_STALE_MS) rmSync(guard, { force: true });
    } catch {
      // gone meanwhile
    }
    return;
  }
  try {
    const now = readHolder(file);
    if (now && now.pid === stale.pid && now.host === stale.host) rmSync(file, { force: true });
  } finally {
    rmSync(guard, { force: true });
  }
}

function releaseIfOurs(file: string, self: Holder): void {
  const holder = readHolder(file);
  if (holder && holder.pid === self.pid && holder.host === self.host) {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }
}
