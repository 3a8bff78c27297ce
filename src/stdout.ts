import { writeSync } from 'node:fs';

/**
 * Writes `text` to standard output at once. `process.stdout` is a stream whose first use costs
 * a noticeable part of Node's start-up (docs/performance.md); a program that prints once and
 * exits needs only write(2). If the descriptor cannot take the text now (EAGAIN: a
 * non-blocking pipe that is full) or at all, the rest goes through process.stdout, which waits,
 * or handles the failure as it always has.
 */
export function writeStdout(text: string): void {
  const data = Buffer.from(text, 'utf8');
  let offset = 0;
  try {
    while (offset < data.length) offset += writeSync(1, data, offset);
  } catch {
    process.stdout.write(data.subarray(offset));
  }
}
