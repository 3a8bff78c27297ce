import { closeSync, openSync, readSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

/**
 * `bytes` random bytes as hex, for file names no one else can guess. Read from the kernel's
 * /dev/urandom (macOS and Linux have it): loading node:crypto for six bytes costs a dry run
 * a sixth of Node's start-up. node:crypto, which the bundle loads on first call, serves where
 * the device cannot be read.
 */
export function randomHex(bytes: number): string {
  const buffer = Buffer.alloc(bytes);
  let fd: number | undefined;
  try {
    fd = openSync('/dev/urandom', 'r');
    if (readSync(fd, buffer, 0, bytes, null) === bytes) return buffer.toString('hex');
  } catch {
    // fall through to node:crypto
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return randomBytes(bytes).toString('hex');
}
