import { DOMParser, type Element } from '@xmldom/xmldom';

// An XML property list read with its types kept: the `plist` package turns <integer> and <real>
// alike into a JavaScript number, which is too little to tell a mistyped key from a right one.
// The element names are those of Apple's PropertyList-1.0.dtd.

export type PlistNode =
  | { type: 'string'; value: string }
  | { type: 'integer'; value: string }
  | { type: 'real'; value: string }
  | { type: 'boolean'; value: boolean }
  | { type: 'date'; value: string }
  | { type: 'data'; value: string }
  | { type: 'array'; items: PlistNode[] }
  | { type: 'dict'; entries: Array<[string, PlistNode]> };

function elements(parent: Element): Element[] {
  const out: Element[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === node.ELEMENT_NODE) out.push(node as Element);
    else if (node.nodeType === node.TEXT_NODE && node.nodeValue?.trim()) throw new Error(`text outside an element in <${parent.tagName}>: ${JSON.stringify(node.nodeValue.trim())}`);
  }
  return out;
}

function node(element: Element): PlistNode {
  const text = element.textContent ?? '';
  switch (element.tagName) {
    case 'string':
    case 'integer':
    case 'real':
    case 'date':
    case 'data':
      for (let child = element.firstChild; child; child = child.nextSibling) {
        if (child.nodeType === child.ELEMENT_NODE) throw new Error(`<${element.tagName}> holds elements`);
      }
      return { type: element.tagName, value: text };
    case 'true':
    case 'false':
      if (element.firstChild) throw new Error(`<${element.tagName}/> is not empty`);
      return { type: 'boolean', value: element.tagName === 'true' };
    case 'array':
      return { type: 'array', items: elements(element).map(node) };
    case 'dict': {
      const children = elements(element);
      const entries: Array<[string, PlistNode]> = [];
      for (let i = 0; i < children.length; i += 2) {
        const key = children[i]!;
        const value = children[i + 1];
        if (key.tagName !== 'key') throw new Error(`<dict> has <${key.tagName}> where a <key> belongs`);
        if (!value || value.tagName === 'key') throw new Error(`<key>${key.textContent}</key> has no value`);
        entries.push([key.textContent ?? '', node(value)]);
      }
      return { type: 'dict', entries };
    }
    default:
      throw new Error(`<${element.tagName}> is not a property list element`);
  }
}

/** Parses an XML property list; throws on anything that is not one. */
export function readTypedPlist(xml: string): PlistNode {
  const errors: string[] = [];
  let doc;
  try {
    doc = new DOMParser({ onError: (level, message) => { if (level !== 'warning') errors.push(message); } }).parseFromString(xml, 'text/xml');
  } catch (err) {
    errors.push((err as Error).message);
  }
  if (!doc || errors.length > 0) throw new Error(`not well-formed XML: ${errors.join('; ')}`);
  const root = doc.documentElement;
  if (!root || root.tagName !== 'plist') throw new Error(`the root element is <${root?.tagName}>, not <plist>`);
  const [top, ...rest] = elements(root);
  if (!top || rest.length > 0) throw new Error('<plist> must hold exactly one element');
  return node(top);
}
