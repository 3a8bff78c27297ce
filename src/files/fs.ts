import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, statSync, type Stats } from 'node:fs';

/** What lstat finds: where a file should be, a user's directory may hold a dotfile manager's symlink, a dangling one, a FIFO. */
export type FileType = 'none' | 'file' | 'symlink' | 'directory' | 'fifo' | 'socket' | 'device';

export function fileType(file: string): FileType {
  try {
    return typeOf(lstatSync(file));
  } catch {
    return 'none';
  }
}

/** Something is there, a dangling symbolic link included. */
export const present = (file: string): boolean => fileType(file) !== 'none';

function typeOf(st: Stats): FileType {
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'fifo';
  return st.isSocket() ? 'socket' : 'device';
}

const WITH_ARTICLE: Partial<Record<FileType, string>> = { directory: 'a directory', fifo: 'a FIFO', socket: 'a socket', device: 'a device file' };

export const describeType = (type: FileType): string => WITH_ARTICLE[type] ?? type;

/** Follows a symbolic link; see readRegularFileEnd. */
export const readRegularFile = (file: string): Buffer => readRegularFileEnd(file, Infinity).bytes;

/**
 * At most the last `limit` bytes. Opened without blocking (a FIFO would wait for a writer) and
 * checked after opening, so a file swapped for something else after a check is caught too.
 */
export function readRegularFileEnd(file: string, limit: number): { bytes: Buffer; whole: boolean } {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`it is ${describeType(typeOf(st))}, not a file`);
    const start = Math.max(0, st.size - limit);
    const chunks: Buffer[] = [];
    for (let at = start; ;) {
      const chunk = Buffer.alloc(64 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, at);
      if (n === 0 || (start > 0 && at >= st.size)) return { bytes: Buffer.concat(chunks), whole: start === 0 };
      chunks.push(chunk.subarray(0, n));
      at += n;
    }
  } finally {
    closeSync(fd);
  }
}

export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Undefined unless `file` is a symbolic link that points nowhere. */
export function danglingTarget(file: string): string | undefined {
  try {
    return fileType(file) === 'symlink' && !statSync(file, { throwIfNoEntry: false }) ? readlinkSync(file) : undefined;
  } catch {
    return undefined; // a loop, or gone meanwhile
  }
}
