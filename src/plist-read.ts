// Reading an XML property list. Every plist the program writes is read back before it is used,
// and `status` reads one per instance; loading `plist`'s parser (and @xmldom behind it) for that
// costs more than the rest of such a run. The reader here knows the part of XML that real
// launchd plists use and gives, for it, exactly the values `plist`'s parse gives. Anything else
// (CDATA, processing instructions, an internal DTD subset, other entities, unknown elements,
// text where elements belong, bad nesting…) is left to `plist`'s parse, which then reads it or
// throws as it always has. test/plist-read.test.ts holds the two to the same results.
import { parse } from 'plist';

/** The value of an XML plist: read here when the text is in the subset below, else by `plist`. */
export function parsePlist(text: string): unknown {
  const read = readPlist(text);
  return read ? read.value : parse(text);
}

/**
 * The value of `text`, the same as `plist`'s parse gives, or undefined when the text uses
 * anything this reader does not know for certain, malformed input included.
 */
export function readPlist(text: string): { value: unknown } | undefined {
  try {
    return { value: new Reader(text).document() };
  } catch (err) {
    if (err === UNSUPPORTED) return undefined;
    throw err; // a bug here, never the input's fault: it must not pass for "unsupported"
  }
}

const UNSUPPORTED = new Error('not in the subset of XML this reader knows');

// XML 1.0 Char, as UTF-16: no C0 control but tab, LF and CR; no U+FFFE, U+FFFF or lone surrogate.
// Also U+0085, U+2028 and U+2029: @xmldom reads them as line ends (as XML 1.1 does), XML 1.0 not.
const BAD_CHAR = /[\0-\x08\x0B\x0C\x0E-\x1F\x85\u2028\u2029\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const XML_DECL = /<\?xml\s+version\s*=\s*(["'])1\.0\1(?:\s+encoding\s*=\s*(["'])(?:UTF|utf)-8\2)?(?:\s+standalone\s*=\s*(["'])(?:yes|no)\3)?\s*\?>/y;
// Without an internal subset: no entity beyond XML's five can be declared.
const DOCTYPE = /<!DOCTYPE\s+plist(?:\s+PUBLIC\s+"[-a-zA-Z0-9 \r\n'()+,./:=?;!*#@$_%]*"\s+"[^"<>]*"|\s+SYSTEM\s+"[^"<>]*")?\s*>/y;
const PLIST_OPEN = /<plist(?:\s+version\s*=\s*(?:"[^"<&]*"|'[^'<&]*'))?\s*>/y;
const SPACE = /[ \t\r\n]*/y;
const OPEN = /<([a-z]+)\s*(\/?)>/y;
const CLOSE = /<\/([a-z]+)\s*>/y;
const ENTITY = /&(?:(amp|lt|gt|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const INTEGER = /^[+-]?[0-9]+$/;
const REAL = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
// Deeper than any launchd plist; the limit keeps hostile nesting from exhausting the stack here.
const MAX_DEPTH = 256;

class Reader {
  private i = 0;

  constructor(private readonly s: string) {}

  document(): unknown {
    if (BAD_CHAR.test(this.s)) throw UNSUPPORTED;
    this.optional(XML_DECL);
    this.misc();
    if (this.optional(DOCTYPE)) this.misc();
    if (!this.optional(PLIST_OPEN)) throw UNSUPPORTED;
    this.misc();
    const value = this.value(0);
    this.misc();
    this.close('plist');
    this.misc();
    if (this.i !== this.s.length) throw UNSUPPORTED;
    return value;
  }

  /** Matches `re` at the current position and moves past it. */
  private optional(re: RegExp): RegExpExecArray | null {
    re.lastIndex = this.i;
    const m = re.exec(this.s);
    if (m) this.i = re.lastIndex;
    return m;
  }

  /** Whitespace and comments, which `plist`'s parse skips between elements. */
  private misc(): void {
    for (;;) {
      this.optional(SPACE);
      if (!this.s.startsWith('<!--', this.i)) return;
      const end = this.s.indexOf('-->', this.i + 4);
      if (end < 0) throw UNSUPPORTED;
      const body = this.s.slice(this.i + 4, end);
      if (body.includes('--') || body.endsWith('-')) throw UNSUPPORTED;
      this.i = end + 3;
    }
  }

  private close(name: string): void {
    const m = this.optional(CLOSE);
    if (!m || m[1] !== name) throw UNSUPPORTED;
  }

  /** The next element's value; `key` is for a dict's key, where nothing else may stand. */
  private value(depth: number, key = false): unknown {
    const m = this.optional(OPEN);
    if (!m) throw UNSUPPORTED;
    const name = m[1]!;
    const empty = m[2] === '/';
    if ((name === 'key') !== key) throw UNSUPPORTED;
    switch (name) {
      case 'dict':
        return empty ? {} : this.dict(depth + 1);
      case 'array':
        return empty ? [] : this.array(depth + 1);
      case 'key':
      case 'string':
        return empty ? '' : this.text(name);
      case 'true':
      case 'false':
        if (!empty) this.close(name);
        return name === 'true';
      case 'integer': {
        const t = empty ? '' : this.text(name);
        if (!INTEGER.test(t)) throw UNSUPPORTED;
        return parseInt(t, 10);
      }
      case 'real': {
        const t = empty ? '' : this.text(name);
        if (!REAL.test(t)) throw UNSUPPORTED;
        return parseFloat(t);
      }
      case 'date': {
        const t = empty ? '' : this.text(name);
        if (!DATE.test(t)) throw UNSUPPORTED;
        return new Date(t);
      }
      case 'data':
        return base64(empty ? '' : this.text(name));
      default:
        throw UNSUPPORTED;
    }
  }

  private dict(depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) throw UNSUPPORTED;
    const dict: Record<string, unknown> = {};
    for (;;) {
      this.misc();
      if (this.s.startsWith('</', this.i)) {
        this.close('dict');
        return dict;
      }
      const key = this.value(depth, true) as string;
      // `plist`'s parse refuses it (prototype pollution); an assignment here would set the prototype.
      if (key === '__proto__') throw UNSUPPORTED;
      this.misc();
      dict[key] = this.value(depth);
    }
  }

  private array(depth: number): unknown[] {
    if (depth > MAX_DEPTH) throw UNSUPPORTED;
    const array: unknown[] = [];
    for (;;) {
      this.misc();
      if (this.s.startsWith('</', this.i)) {
        this.close('array');
        return array;
      }
      array.push(this.value(depth));
    }
  }

  /** Character data up to `</name>`: no markup inside, only XML's entities and character references. */
  private text(name: string): string {
    const end = this.s.indexOf('<', this.i);
    if (end < 0) throw UNSUPPORTED;
    let raw = this.s.slice(this.i, end);
    this.i = end;
    this.close(name);
    if (raw.includes(']]>')) throw UNSUPPORTED;
    // XML reads CR LF and a lone CR as LF; a CR written as &#13; stays.
    if (raw.includes('\r')) raw = raw.replace(/\r\n?/g, '\n');
    if (!raw.includes('&')) return raw;
    let decoded = '';
    let last = 0;
    ENTITY.lastIndex = 0;
    for (let m = ENTITY.exec(raw); m; m = ENTITY.exec(raw)) {
      if (raw.slice(last, m.index).includes('&')) throw UNSUPPORTED;
      decoded += raw.slice(last, m.index) + (m[1] ? NAMED[m[1]] : character(m[2] ? parseInt(m[2], 10) : parseInt(m[3]!, 16)));
      last = ENTITY.lastIndex;
    }
    if (raw.slice(last).includes('&')) throw UNSUPPORTED;
    return decoded + raw.slice(last);
  }
}

/** A character reference: only to a character XML allows in a document. */
function character(code: number): string {
  const ok = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
  if (!ok) throw UNSUPPORTED;
  return String.fromCodePoint(code);
}

/** `<data>` as `plist`'s parse reads it: base64, whitespace anywhere. */
function base64(text: string): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact)) throw UNSUPPORTED;
  let binary: string;
  try {
    binary = atob(compact);
  } catch {
    throw UNSUPPORTED;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
