import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';

/**
 * What is at a path, without following a symbolic link and without opening anything: the one
 * place that tells a file from the odd things a user's directory may hold instead (a symlink
 * from a dotfile manager, a dangling one, a directory, a FIFO).
 */
export type FileType = 'none' | 'file' | 'symlink' | 'directory' | 'fifo' | 'socket' | 'device';

export function fileType(file: string): FileType {
  let st: Stats;
  try {
    st = lstatSync(file);
  } catch {
    return 'none';
  }
  return typeOf(st);
}

/** Something is there, a dangling symbolic link included (existsSync would say no to that). */
export function present(file: string): boolean {
  return fileType(file) !== 'none';
}

function typeOf(st: Stats): FileType {
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'device';
}

const A = { directory: 'a directory', fifo: 'a FIFO', socket: 'a socket', device: 'a device file' } as const;

/**
 * The bytes of a regular file, through a symbolic link if it is one. Opened without blocking
 * (a FIFO would wait for a writer forever) and checked after opening, so that a file swapped
 * for something else between a check and the read is caught too. Throws an Error whose message
 * says what is there instead ("it is a directory, not a file") or the system's reason.
 */
export function readRegularFile(file: string): Buffer {
  return readRegularFileEnd(file, Infinity).bytes;
}

/**
 * As readRegularFile, but at most the last `limit` bytes (a log may be large); `whole` says
 * whether that is all of the file.
 */
export function readRegularFileEnd(file: string, limit: number): { bytes: Buffer; whole: boolean } {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    const type = typeOf(st);
    if (type !== 'file') throw new Error(`it is ${describeType(type)}, not a file`);
    const start = Math.max(0, st.size - limit);
    if (start > 0) {
      const bytes = Buffer.alloc(st.size - start);
      return { bytes: bytes.subarray(0, readSync(fd, bytes, 0, bytes.length, start)), whole: false };
    }
    const chunks: Buffer[] = [];
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) return { bytes: Buffer.concat(chunks), whole: true };
      chunks.push(chunk.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

/** "a directory", "a FIFO": for messages about what stands where a file should be. */
export function describeType(type: FileType): string {
  return A[type as keyof typeof A] ?? type;
}
