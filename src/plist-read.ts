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
// The prolog's parts and the root's tag, matched where they must stand. Whitespace is XML's
// four characters, not \s.
const XML_DECL = /<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.0\1(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])(?:UTF|utf)-8\2)?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])(?:yes|no)\3)?[ \t\r\n]*\?>/y;
// Without an internal subset: no entity beyond XML's five can be declared.
const DOCTYPE = /<!DOCTYPE[ \t\r\n]+plist(?:[ \t\r\n]+PUBLIC[ \t\r\n]+"[-a-zA-Z0-9 \r\n'()+,./:=?;!*#@$_%]*"[ \t\r\n]+"[^"<>]*"|[ \t\r\n]+SYSTEM[ \t\r\n]+"[^"<>]*")?[ \t\r\n]*>/y;
const PLIST_OPEN = /<plist(?:[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:"[^"<&]*"|'[^'<&]*'))?[ \t\r\n]*>/y;
/**
 * The next item after whitespace: a comment (1: its text); a leaf element with its character
 * data, nothing else inside (2: name, 3: data); or a tag (4: "/" of a closing tag, 5: name,
 * 6: "/" of an empty element). One native match per item: the reader runs once per plist in a
 * process that lives 100 ms, in V8's interpreter, where fewer, larger steps are faster.
 */
const ITEM = /[ \t\r\n]*(?:<!--([\s\S]*?)-->|<(key|string|integer|real|date|data)[ \t\r\n]*>([^<]*)<\/\2[ \t\r\n]*>|<(\/?)([a-z]+)[ \t\r\n]*(\/?)>)/y;
const TRAILER = /[ \t\r\n]*(?:<!--([\s\S]*?)-->)?/y;
const ENTITY = /&(?:(amp|lt|gt|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const INTEGER = /^[+-]?[0-9]+$/;
const REAL = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
// Deeper than any launchd plist; the limit keeps hostile nesting from exhausting the stack here.
const MAX_DEPTH = 256;

function comment(body: string): void {
  if (body.includes('--') || body.endsWith('-')) throw UNSUPPORTED;
}

class Reader {
  private i = 0;

  constructor(private readonly s: string) {
    if (BAD_CHAR.test(s)) throw UNSUPPORTED;
  }

  document(): unknown {
    this.match(XML_DECL);
    this.trailer();
    if (this.match(DOCTYPE)) this.trailer();
    if (!this.match(PLIST_OPEN)) throw UNSUPPORTED;
    const value = this.value(this.item(), 0);
    const close = this.item();
    if (!close[4] || close[5] !== 'plist' || close[6]) throw UNSUPPORTED;
    this.trailer();
    if (this.i !== this.s.length) throw UNSUPPORTED;
    return value;
  }

  private match(re: RegExp): boolean {
    re.lastIndex = this.i;
    if (!re.test(this.s)) return false;
    this.i = re.lastIndex;
    return true;
  }

  /** Whitespace and comments, up to the next element. */
  private trailer(): void {
    for (;;) {
      TRAILER.lastIndex = this.i;
      const m = TRAILER.exec(this.s)!;
      if (m[1] !== undefined) comment(m[1]);
      if (TRAILER.lastIndex === this.i) return;
      this.i = TRAILER.lastIndex;
    }
  }

  /** The next element or tag, comments skipped. */
  private item(): RegExpExecArray {
    for (;;) {
      ITEM.lastIndex = this.i;
      const m = ITEM.exec(this.s);
      if (!m) throw UNSUPPORTED;
      this.i = ITEM.lastIndex;
      if (m[1] === undefined) return m;
      comment(m[1]);
    }
  }

  /** The value of the element that the item `m` starts. */
  private value(m: RegExpExecArray, depth: number): unknown {
    const leaf = m[2];
    if (leaf !== undefined) {
      const t = text(m[3]!);
      switch (leaf) {
        case 'string':
          return t;
        case 'integer':
          if (!INTEGER.test(t)) throw UNSUPPORTED;
          return parseInt(t, 10);
        case 'real':
          if (!REAL.test(t)) throw UNSUPPORTED;
          return parseFloat(t);
        case 'date':
          if (!DATE.test(t)) throw UNSUPPORTED;
          return new Date(t);
        case 'data':
          return base64(t);
        default:
          throw UNSUPPORTED; // a key stands only where dict() reads it
      }
    }
    if (m[4]) throw UNSUPPORTED;
    const name = m[5];
    if (m[6]) {
      switch (name) {
        case 'dict':
          return {};
        case 'array':
          return [];
        case 'string':
          return '';
        case 'true':
          return true;
        case 'false':
          return false;
        case 'data':
          return new Uint8Array(0);
        default:
          throw UNSUPPORTED; // `<integer/>`, `<key/>` here, and unknown elements
      }
    }
    switch (name) {
      case 'dict':
        return this.dict(depth + 1);
      case 'array':
        return this.array(depth + 1);
      case 'true':
      case 'false': {
        // `<true></true>`: nothing between the tags.
        const close = this.s.startsWith(`</${name}>`, this.i);
        if (!close) throw UNSUPPORTED;
        this.i += name.length + 3;
        return name === 'true';
      }
      default:
        // A leaf whose content is not plain character data (a comment, CDATA, an element…).
        throw UNSUPPORTED;
    }
  }

  private dict(depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) throw UNSUPPORTED;
    const dict: Record<string, unknown> = {};
    for (;;) {
      const m = this.item();
      let key: string;
      if (m[2] === 'key') {
        key = text(m[3]!);
      } else if (m[5] === 'key' && m[6] && !m[4]) {
        key = '';
      } else if (m[4] && m[5] === 'dict' && !m[6]) {
        return dict;
      } else {
        throw UNSUPPORTED;
      }
      // `plist`'s parse refuses it (prototype pollution); an assignment here would set the prototype.
      if (key === '__proto__') throw UNSUPPORTED;
      dict[key] = this.value(this.item(), depth);
    }
  }

  private array(depth: number): unknown[] {
    if (depth > MAX_DEPTH) throw UNSUPPORTED;
    const array: unknown[] = [];
    for (;;) {
      const m = this.item();
      if (m[4]) {
        if (m[5] !== 'array' || m[6]) throw UNSUPPORTED;
        return array;
      }
      array.push(this.value(m, depth));
    }
  }
}

/** A leaf's character data: XML's entities and character references, and XML's line ends. */
function text(data: string): string {
  if (data.includes(']]>')) throw UNSUPPORTED;
  // XML reads CR LF and a lone CR as LF; a CR written as &#13; stays.
  const raw = data.includes('\r') ? data.replace(/\r\n?/g, '\n') : data;
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
