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
// The prolog's parts and the root tag, each matched as one whole token (see TOKENS).
const XML_DECL = /^<\?xml\s+version\s*=\s*(["'])1\.0\1(?:\s+encoding\s*=\s*(["'])(?:UTF|utf)-8\2)?(?:\s+standalone\s*=\s*(["'])(?:yes|no)\3)?\s*\?>$/;
// Without an internal subset: no entity beyond XML's five can be declared.
const DOCTYPE = /^<!DOCTYPE\s+plist(?:\s+PUBLIC\s+"[-a-zA-Z0-9 \r\n'()+,./:=?;!*#@$_%]*"\s+"[^"<>]*"|\s+SYSTEM\s+"[^"<>]*")?\s*>$/;
const PLIST_OPEN = /^<plist(?:\s+version\s*=\s*(?:"[^"<&]*"|'[^'<&]*'))?\s*>$/;
const PLIST_CLOSE = /^<\/plist[ \t\r\n]*>$/;
const TAG = /^<(\/?)([a-z]+)[ \t\r\n]*(\/?)>$/;
const SPACE = /^[ \t\r\n]*$/;
const ENTITY = /&(?:(amp|lt|gt|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const INTEGER = /^[+-]?[0-9]+$/;
const REAL = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
// Deeper than any launchd plist; the limit keeps hostile nesting from exhausting the stack here.
const MAX_DEPTH = 256;

/**
 * The text split, in one native call, into character data (even indexes) and markup (odd
 * indexes): a comment, or anything from `<` to the next `>`. A `<` that opens no such token
 * stays in the text beside it, where the reader refuses it. Code that runs once per process
 * runs in V8's interpreter, where this is several times faster than scanning by character.
 */
const TOKENS = /(<!--[\s\S]*?-->|<[^>]*>)/;

interface Tag {
  name: string;
  close: boolean;
  empty: boolean;
}

/** The tags as launchd plists write them, looked up whole; others go through TAG. */
const KNOWN_TAGS = new Map<string, Tag>(['dict', 'array', 'key', 'string', 'integer', 'real', 'true', 'false', 'date', 'data'].flatMap((name) => [
  [`<${name}>`, { name, close: false, empty: false }],
  [`</${name}>`, { name, close: true, empty: false }],
  [`<${name}/>`, { name, close: false, empty: true }],
]));

function tag(token: string): Tag {
  const known = KNOWN_TAGS.get(token);
  if (known) return known;
  const m = TAG.exec(token);
  if (!m || (m[1] && m[3])) throw UNSUPPORTED;
  return { name: m[2]!, close: m[1] === '/', empty: m[3] === '/' };
}

class Reader {
  private readonly t: string[];
  /** The next token: character data at even indexes, markup at odd ones. */
  private i = 0;

  constructor(text: string) {
    if (BAD_CHAR.test(text)) throw UNSUPPORTED;
    this.t = text.split(TOKENS);
  }

  document(): unknown {
    const t = this.t;
    // The declaration, if any, is the very first thing; then comments, whitespace, a doctype.
    if (t[0] === '' && t[1]?.startsWith('<?') && XML_DECL.test(t[1])) this.i = 2;
    this.misc();
    if (t[this.i]?.startsWith('<!DOCTYPE')) {
      if (!DOCTYPE.test(t[this.i]!)) throw UNSUPPORTED;
      this.i++;
      this.misc();
    }
    if (!PLIST_OPEN.test(t[this.i] ?? '')) throw UNSUPPORTED;
    this.i++;
    this.misc();
    const value = this.value(this.tag(), 0);
    this.misc();
    if (!PLIST_CLOSE.test(t[this.i] ?? '')) throw UNSUPPORTED;
    this.i++;
    this.misc();
    if (this.i !== t.length) throw UNSUPPORTED;
    return value;
  }

  /** Whitespace and comments, which `plist`'s parse skips between elements. */
  private misc(): void {
    const t = this.t;
    for (;;) {
      const text = t[this.i];
      if (text !== '' && !SPACE.test(text ?? 'x')) throw UNSUPPORTED;
      this.i++;
      const token = t[this.i];
      if (token === undefined || !token.startsWith('<!--')) return;
      // A `<!--` without its `-->` comes here too, cut at the next `>`.
      const body = token.slice(4, -3);
      if (token.length < 7 || !token.endsWith('-->') || body.includes('--') || body.endsWith('-')) throw UNSUPPORTED;
      this.i++;
    }
  }

  /** The markup token at i, as a tag. */
  private tag(): Tag {
    const token = this.t[this.i++];
    if (token === undefined) throw UNSUPPORTED;
    return tag(token);
  }

  /** The value of the element that `open` starts. */
  private value(open: Tag, depth: number): unknown {
    if (open.close) throw UNSUPPORTED;
    const empty = open.empty;
    switch (open.name) {
      case 'dict':
        return empty ? {} : this.dict(depth + 1);
      case 'array':
        return empty ? [] : this.array(depth + 1);
      case 'string':
        return empty ? '' : this.text('string');
      case 'true':
      case 'false':
        if (!empty && this.text(open.name) !== '') throw UNSUPPORTED;
        return open.name === 'true';
      case 'integer': {
        const t = empty ? '' : this.text('integer');
        if (!INTEGER.test(t)) throw UNSUPPORTED;
        return parseInt(t, 10);
      }
      case 'real': {
        const t = empty ? '' : this.text('real');
        if (!REAL.test(t)) throw UNSUPPORTED;
        return parseFloat(t);
      }
      case 'date': {
        const t = empty ? '' : this.text('date');
        if (!DATE.test(t)) throw UNSUPPORTED;
        return new Date(t);
      }
      case 'data':
        return base64(empty ? '' : this.text('data'));
      default:
        throw UNSUPPORTED; // `key` included: it stands only where dict() reads it
    }
  }

  private dict(depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) throw UNSUPPORTED;
    const dict: Record<string, unknown> = {};
    for (;;) {
      this.misc();
      const open = this.tag();
      if (open.close) {
        if (open.name !== 'dict') throw UNSUPPORTED;
        return dict;
      }
      if (open.name !== 'key') throw UNSUPPORTED;
      const key = open.empty ? '' : this.text('key');
      // `plist`'s parse refuses it (prototype pollution); an assignment here would set the prototype.
      if (key === '__proto__') throw UNSUPPORTED;
      this.misc();
      dict[key] = this.value(this.tag(), depth);
    }
  }

  private array(depth: number): unknown[] {
    if (depth > MAX_DEPTH) throw UNSUPPORTED;
    const array: unknown[] = [];
    for (;;) {
      this.misc();
      const open = this.tag();
      if (open.close) {
        if (open.name !== 'array') throw UNSUPPORTED;
        return array;
      }
      array.push(this.value(open, depth));
    }
  }

  /**
   * The character data of a leaf element up to its `</name>`: no markup inside (no comment, no
   * CDATA), only XML's entities and character references.
   */
  private text(name: string): string {
    let raw = this.t[this.i++]!;
    const close = this.tag();
    if (!close.close || close.name !== name) throw UNSUPPORTED;
    if (raw.includes('<') || raw.includes(']]>')) throw UNSUPPORTED;
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
