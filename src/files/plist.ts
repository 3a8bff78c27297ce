import { parse } from 'plist';

/**
 * Reads a property list with the `plist` package: XML (what this program, Lima and most people
 * write) or binary (what `plutil -convert binary1` makes; launchd reads both).
 *
 * `plist` parses XML with @xmldom/xmldom, which reports what it finds wrong on console.error
 * (`[xmldom warning] …`, `[xmldom error] …`) and throws only on a fatal error; `plist` gives no way
 * to pass it a handler. Its reports are caught here for the length of the parse, which is
 * synchronous: an error (an undefined entity, say, which it reads as literal text) makes the file
 * one that cannot be read, with xmldom's words in the program's own message; a warning changes
 * nothing in the values read and is dropped. Nothing of it reaches the user's terminal.
 */
export function parsePlist(content: string | Buffer): unknown {
  // Bytes go to plist's binary reader as they are; text would mangle them.
  const input = typeof content === 'string' || content.subarray(0, 6).toString('latin1') === 'bplist' ? content : content.toString('utf8');
  const errors: string[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]): void => {
    const m = typeof args[0] === 'string' ? /^\[xmldom (\w+)\]\s*([\s\S]*?)\s*$/.exec(args[0]) : null;
    if (!m) return consoleError(...args);
    if (m[1] !== 'warning') errors.push(`${m[2]}${lineOf(args[1])}`);
  };
  let value: unknown;
  try {
    value = parse(input);
  } catch (err) {
    // A fatal error was reported before it was thrown; the report has the line.
    throw new Error(errors[0] ?? (err instanceof Error ? err.message.split('\n')[0]! : String(err)));
  } finally {
    console.error = consoleError;
  }
  if (errors.length > 0) throw new Error(errors[0]);
  return value;
}

/** xmldom's position of a report (`@#[line:4,col:19]`) as words. */
function lineOf(locator: unknown): string {
  const line = typeof locator === 'string' ? /line:(\d+)/.exec(locator)?.[1] : undefined;
  return line ? ` (line ${line})` : '';
}
