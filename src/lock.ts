import { linkSync, lstatSync, mkdirSync, readFileSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from './errors.js';
import * as log from './log.js';

/** How long a run waits for another one on the same instance: long enough for a sudo prompt. */
const WAIT_MS = 180_000;
const POLL_MS = 25;
/** The takeover guard is held for a few file operations only: older than this, its owner died. */
const GUARD_STALE_MS = 10_000;

interface Holder {
  pid: number;
  host: string;
}

export interface Lock {
  release(): void;
}

/**
 * Serializes enable/disable runs on one instance: a lock file holding the owner's pid and host
 * name, written whole under another name and then linked into place (link() fails if the lock
 * exists), so that a lock is never seen empty or half-written. A lock whose process is gone
 * (killed, crashed, power loss), that was written before the last boot, or whose pid now
 * belongs to a process started after it was written (pid reuse) is taken over; an empty or
 * unreadable one is stale at once. A lock held by a live process, or by another host (a
 * LIMA_HOME on a network share), is waited for.
 */
/** Locks this process holds: released however it exits (process.exit on a signal included). */
const held = new Set<() => void>();
process.on('exit', () => { for (const release of held) release(); });

export async function acquireLock(file: string, what: string, waitMs = WAIT_MS): Promise<Lock> {
  const me = thisProcess();
  const deadline = Date.now() + waitMs;
  let told = false;
  let created: string | undefined;
  for (;;) {
    // Made again each time: a run that made the directory removes it when it is done.
    try {
      created ??= mkdirSync(path.dirname(file), { recursive: true });
    } catch (err) {
      throw cannotLock(file, err);
    }
    if (tryCreate(file, me)) {
      const release = (): void => {
        held.delete(release);
        releaseIfOurs(file, me);
        removeEmptyDirs(path.dirname(file), created);
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

/**
 * The directories a lock made (from `dir` up to `top`, the first one mkdir created), when empty:
 * a run that changed nothing leaves nothing behind, not even an empty state directory.
 */
function removeEmptyDirs(dir: string, top: string | undefined): void {
  if (top === undefined) return;
  for (let d = dir; d.startsWith(top); d = path.dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return; // another run's lock is in it, or it is gone
    }
  }
}

function tryCreate(file: string, me: Holder): boolean {
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, `${me.pid} ${me.host}\n`, { flag: 'wx', mode: 0o644 });
    linkSync(temp, file);
    return true;
  } catch (err) {
    // EEXIST: held. ENOENT: the run that made the directory removed it meanwhile; try again.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw cannotLock(file, err);
  } finally {
    rmSync(temp, { force: true });
  }
}

function cannotLock(file: string, err: unknown): UserError {
  return new UserError(`cannot create the lock ${file}: ${(err as Error).message}`, 'Check that its directory exists, is writable by you, and that its file system has space, then try again.');
}

function readHolder(file: string): Holder | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // released meanwhile
    throw new UserError(`cannot read the lock ${file}: ${(err as Error).message}`, `If no limactl-autostart run is going on, remove ${file} and try again.`);
  }
  const m = /^(\d+) (\S+)\n$/.exec(text);
  // Never half-written (see acquireLock): empty or garbled means written by something else.
  return m ? { pid: Number(m[1]), host: m[2]! } : { pid: 0, host: '' };
}

function thisProcess(): Holder {
  return { pid: process.pid, host: os.hostname() };
}

function isStale(file: string, holder: Holder, self: Holder): boolean {
  if (holder.pid === 0) return true;
  if (holder.host !== self.host) return false; // cannot see processes on another machine
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  // Alive; but a pid is reused after a reboot, and after enough other processes.
  let written: number;
  try {
    written = lstatSync(file).mtimeMs;
  } catch {
    return false; // released meanwhile
  }
  const started = startTime(holder.pid);
  return written < Date.now() - os.uptime() * 1000 || (started !== undefined && started > written + 1000);
}

/**
 * When a process started (ms since the epoch), where /proc tells it (Linux); undefined elsewhere.
 * Its field 22 counts clock ticks since boot, 100 a second on every Linux this runs on.
 */
function startTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const boot = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    return Number.isFinite(ticks) && boot > 0 ? boot * 1000 + ticks * 10 : undefined;
  } catch {
    return undefined;
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
