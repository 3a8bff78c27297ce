import { closeSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from './errors.js';
import { fileType } from './files/fs.js';
import { poll, realClock } from './poll.js';
import { Interrupted, onExit } from './signals.js';
import { LOCK_WAIT_SEC } from './tunables.js';
import * as log from './log.js';

export interface Lock {
  release(): void;
}

/**
 * A lock file holding its owner's pid, taken over when stale (no pid, a dead one, or written before
 * the last boot: the pid may be reused); a live one, another run of ours, is waited for in real time.
 */
export async function acquireLock(file: string, what: string): Promise<Lock> {
  const dir = path.dirname(file);
  let made: string | undefined;
  let holder: number | undefined;
  try {
    const got = await poll({
      boundSec: LOCK_WAIT_SEC,
      intervalMs: 25,
      clock: realClock,
      ask: async () => {
        // Made again at every try: another run that also found it missing may remove it when done.
        // What is missing is noted first: a mkdir that fails part-way leaves what it made.
        made ??= topMissing(dir);
        mkdirSync(dir, { recursive: true });
        if (create(file)) return true;
        // The last live holder seen is the one named: the lock may change hands between two looks.
        const live = liveHolder(file);
        if (live !== undefined) holder = live;
        return live === undefined && create(file) ? true : undefined;
      },
      onWait: () => log.info(`waiting for another limactl-autostart run on ${what}${pidOf(holder)} to finish`),
    });
    if (!got) throw new UserError(`another limactl-autostart run holds the lock on ${what}${pidOf(holder)}`, `Wait for it to finish and try again. If no such run exists, remove ${file}.`);
  } catch (err) {
    removeMade(dir, made);
    if (err instanceof UserError || err instanceof Interrupted) throw err;
    throw new UserError(`cannot create the lock ${file}: ${(err as Error).message}`, 'Check that its directory is writable by you and that its file system has space, then try again.');
  }
  const release = (): void => {
    forget();
    try {
      unlinkSync(file);
    } catch {
      // gone already
    }
    removeMade(dir, made);
  };
  // Released however the process ends.
  const forget = onExit(release);
  return { release };
}

/** Written under another name, then linked into place (link() fails if the lock exists): another run never sees it empty, as if stale. */
function create(file: string): boolean {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    rmSync(temp, { force: true }); // left by an earlier process with this pid
    writeFileSync(temp, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
    linkSync(temp, file);
    return true;
  } catch (err) {
    // EEXIST: held. ENOENT: the run that made the directory removed it meanwhile; try again.
    if (['EEXIST', 'ENOENT'].includes((err as NodeJS.ErrnoException).code ?? '')) return false;
    throw err;
  } finally {
    rmSync(temp, { force: true });
  }
}

/** The pid of a live holder; undefined once a stale lock was removed (or it was released meanwhile). */
function liveHolder(file: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const { ino, mtimeMs } = fstatSync(fd);
    const bytes = Buffer.alloc(64);
    const pid = Number(/^(\d+)\b/.exec(bytes.subarray(0, readSync(fd, bytes)).toString())?.[1] ?? 0);
    if (pid > 0 && mtimeMs >= Date.now() - os.uptime() * 1000 && alive(pid)) return pid;
    // Only the file that was judged: another run may have taken it over a moment ago.
    try {
      if (lstatSync(file).ino === ino) unlinkSync(file);
    } catch {
      // gone meanwhile
    }
    return undefined;
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    if (code === 'ENOENT') return undefined;
    throw new UserError(`cannot read the lock ${file}: ${code ?? message}`, `If no limactl-autostart run is going on, remove ${file} and try again.`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const pidOf = (pid: number | undefined): string => (pid === undefined ? '' : ` (pid ${pid})`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Removes the directories this lock made (from `dir` up to `top`) when empty: a run leaves nothing behind. */
function removeMade(dir: string, top: string | undefined): void {
  for (let d = dir; top !== undefined && d.startsWith(top); d = path.dirname(d)) {
    try {
      rmdirSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return; // another run's lock is in it
    }
  }
}

/** The outermost of the directories `mkdir -p dir` would create; undefined when `dir` is there. */
function topMissing(dir: string): string | undefined {
  let top: string | undefined;
  for (let d = dir; fileType(d) === 'none' && path.dirname(d) !== d; d = path.dirname(d)) top = d;
  return top;
}
