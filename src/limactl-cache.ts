import { closeSync, mkdirSync, openSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// `limactl --version` costs a Go program's start-up, more than the rest of an `enable` run
// (docs/performance.md), and provisioning tools run `enable` for every instance on every run.
// What a limactl binary answered is kept, with the file's identity, so that the same binary is
// asked once. Anything that could answer differently without the file changing is asked every
// time: a script (asdf's shims pick the version at run time, Nix's wrapper may exec anything), a
// program with another name that limactl only links to (mise's and aqua's shims are links to
// one dispatcher that picks by the name it was called as), and an answer that was not a version
// (a timeout, an error, garbage).

/** The file a limactl is, as found behind its symlinks (Homebrew's link into the Cellar). */
interface Identity {
  file: string;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** A remembered answer: valid while the file, plugin.yaml's range and this program are the same. */
export interface Remembered<T> {
  version: string;
  range: string;
  program: string;
  /** What was said about that version; said again the same way. */
  said: T;
}

interface Entry<T> extends Identity, Remembered<T> {}

/** At most this many binaries are remembered (the most recent); most users have one. */
const MAX_ENTRIES = 8;

/** `$XDG_CACHE_HOME/limactl-autostart/limactl-version.json`, or undefined without a usable home. */
export function cacheFile(env: NodeJS.ProcessEnv): string | undefined {
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)
    ? env.XDG_CACHE_HOME
    : env.HOME && path.isAbsolute(env.HOME) ? path.join(env.HOME, '.cache') : undefined;
  return base === undefined ? undefined : path.join(base, 'limactl-autostart', 'limactl-version.json');
}

/** The file behind `limactl`, or undefined when it cannot be read or is not limactl itself. */
function binaryIdentity(limactl: string): Identity | undefined {
  try {
    const file = realpathSync(limactl);
    if (path.basename(file) !== 'limactl') return undefined;
    const st = statSync(file);
    return { file, dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
  } catch {
    return undefined;
  }
}

function isScript(file: string): boolean {
  const head = Buffer.alloc(2);
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    return readSync(fd, head, 0, 2, 0) === 2 && head.toString('latin1') === '#!';
  } catch {
    return true; // unreadable: never remembered
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function readEntries<T>(file: string): Entry<T>[] {
  try {
    const entries: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return Array.isArray(entries) ? (entries as Entry<T>[]) : [];
  } catch {
    return []; // missing or damaged: as if empty, and rewritten on the next answer
  }
}

const sameFile = (a: Identity, b: Identity): boolean =>
  a.file === b.file && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;

/**
 * The cache of one run: `recall()` before asking limactl, `remember()` after a version answer.
 * Never throws: a cache that cannot be read or written only means limactl is asked.
 */
export class LimactlCache<T> {
  private readonly identity: Identity | undefined;

  constructor(private readonly file: string | undefined, limactl: string, private readonly key: { range: string; program: string }) {
    this.identity = file === undefined ? undefined : binaryIdentity(limactl);
  }

  recall(): Remembered<T> | undefined {
    if (!this.file || !this.identity) return undefined;
    const hit = readEntries<T>(this.file).find((e) => typeof e === 'object' && e !== null && sameFile(e, this.identity!));
    return hit && hit.range === this.key.range && hit.program === this.key.program && typeof hit.version === 'string'
      ? { version: hit.version, range: hit.range, program: hit.program, said: hit.said }
      : undefined;
  }

  remember(version: string, said: T): void {
    if (!this.file || !this.identity || isScript(this.identity.file)) return;
    const entry: Entry<T> = { ...this.identity, version, ...this.key, said };
    const others = readEntries<T>(this.file).filter((e) => typeof e === 'object' && e !== null && e.file !== entry.file);
    const temporary = `${this.file}.${process.pid}.tmp`;
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      // Renamed into place: a run reading it at the same moment sees the old list or the new one.
      writeFileSync(temporary, `${JSON.stringify([entry, ...others].slice(0, MAX_ENTRIES))}\n`, { mode: 0o644 });
      renameSync(temporary, this.file);
    } catch {
      // a read-only or full disk: limactl is asked again next time
      rmSync(temporary, { force: true });
    }
  }
}
