// Diagnostics go to stderr so stdout stays clean for machine output (--dry-run text, --json). A
// control character from outside (another program's stderr) is escaped: it could move the cursor
// or retitle the terminal.

const hex = (c: string): string => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

export function printable(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, hex);
}

/** As printable(), for one line of a table: a newline or tab from outside is escaped too. */
export function printableLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, hex);
}

export function info(message: string): void {
  process.stderr.write(printable(`info: ${message}\n`));
}

export function warn(message: string): void {
  process.stderr.write(printable(`warning: ${message}\n`));
}

export function error(message: string, hint?: string): void {
  process.stderr.write(printable(`error: ${message}\n${hint ? `  ${hint.replace(/\n/g, '\n  ')}\n` : ''}`));
}
