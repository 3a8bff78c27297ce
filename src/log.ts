// Diagnostics go to stderr so stdout stays clean for machine output (--dry-run text, --json).
export function info(message: string): void {
  process.stderr.write(`info: ${message}\n`);
}

export function warn(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}

export function error(message: string, hint?: string): void {
  process.stderr.write(`error: ${message}\n`);
  if (hint) process.stderr.write(`  ${hint.replace(/\n/g, '\n  ')}\n`);
}
