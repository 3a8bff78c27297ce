import { closeSync, fstatSync, lstatSync, mkdirSync, openSync, readSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from './errors.js';
import { poll, realClock } from './poll.js';
import { Interrupted } from './signals.js';
import { LOCK_WAIT_SEC } from './tunables.js';
import * as log from './log.js';

export interface Lock {
  release(): void;
}

// Released however the process ends (process.exit included).
const held = new Set<() => void>();
process.on('exit', () => { for (const release of held) release(); });

/**
 * A lock file holding its owner's pid, created with O_EXCL. One whose pid is gone, or that was
 * written before the last boot (a pid reused since), or that does not hold a pid, is stale and
 * taken over; a live one is waited for, on the real clock: its holder is another run of ours.
 */
export async function acquireLock(file: string, what: string): Promise<Lock> {
  let made: string | undefined;
  try {
    let holder: number | undefined;
    const got = await poll({
      boundSec: LOCK_WAIT_SEC,
      intervalMs: 25,
      clock: realClock,
      ask: async () => {
        // Made again each time: a run that made the directory removes it when it is done.
        made ??= mkdirSync(path.dirname(file), { recursive: true });
        if (create(file)) return true;
        holder = liveHolder(file);
        return holder === undefined && create(file) ? true : undefined;
      },
      onWait: () => log.info(`waiting for another limactl-autostart run on ${what} (pid ${holder}) to finish`),
    });
    if (!got) throw new UserError(`another limactl-autostart run holds the lock on ${what} (pid ${holder})`, `Wait for it to finish and try again. If no such run exists, remove ${file}.`);
  } catch (err) {
    removeMade(path.dirname(file), made);
    throw err instanceof UserError || err instanceof Interrupted ? err : new UserError(`cannot create the lock ${file}: ${(err as Error).message}`, 'Check that its directory is writable by you and that its file system has space, then try again.');
  }
  const release = (): void => {
    held.delete(release);
    try {
      unlinkSync(file);
    } catch {
      // gone already
    }
    removeMade(path.dirname(file), made);
  };
  held.add(release);
  return { release };
}

function create(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (err) {
    // EEXIST: held. ENOENT: the run that made the directory removed it meanwhile; try again.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** The pid of a live holder; undefined once a stale lock was removed (or it was released meanwhile). */
function liveHolder(file: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UserError(`cannot read the lock ${file}: ${(err as Error).message}`, `If no limactl-autostart run is going on, remove ${file} and try again.`);
  }
  let pid: number;
  let st;
  try {
    st = fstatSync(fd);
    const bytes = Buffer.alloc(64);
    pid = Number(/^(\d+)\b/.exec(bytes.subarray(0, readSync(fd, bytes)).toString())?.[1] ?? 0);
  } catch (err) {
    throw new UserError(`cannot read the lock ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, `If no limactl-autostart run is going on, remove ${file} and try again.`);
  } finally {
    closeSync(fd);
  }
  const beforeBoot = st.mtimeMs < Date.now() - os.uptime() * 1000;
  if (pid > 0 && !beforeBoot && alive(pid)) return pid;
  // Only the file that was judged: another run may have taken it over a moment ago.
  try {
    if (lstatSync(file).ino === st.ino) unlinkSync(file);
  } catch {
    // gone meanwhile
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The directories this lock made (from `dir` up to `top`), when empty: a run leaves nothing behind. */
function removeMade(dir: string, top: string | undefined): void {
  if (top === undefined) return;
  for (let d = dir; d.startsWith(top); d = path.dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return; // another run's lock is in it
    }
  }
}
